"""Rebuild migration 0001 from the models (only while no release carries it)."""

import tempfile
from pathlib import Path

from alembic import command

from engine.database import Database
from engine.schema import MIGRATIONS, alembic_config

for old in (MIGRATIONS / "versions").glob("0001_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    db = Database(f"sqlite:///{Path(tmp) / 'gen.db'}")
    config = alembic_config(db)
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, message="initial schema", autogenerate=True, rev_id="0001")
