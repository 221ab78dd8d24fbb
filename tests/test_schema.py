"""The Alembic migrations and the SQLAlchemy models describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from engine import schema
from engine.database import Database
from engine.models import Base
from tests.lifecycle_helpers import empty_database


def differences(db: Database) -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, Base.metadata)


def test_upgrade_of_an_empty_database_matches_the_models():
    with empty_database() as url:
        db = Database(url)
        try:
            assert inspect(db.engine).get_table_names() == []
            assert schema.current_revision(db) is None
            assert schema.is_current(db) is False
            schema.upgrade(db)
            assert schema.is_current(db) is True
            assert schema.current_revision(db) == schema.head_revision(db)
            tables = set(inspect(db.engine).get_table_names())
            assert tables == set(Base.metadata.tables) | {"alembic_version"}
            assert differences(db) == []
            schema.upgrade(db)  # running it again on every start-up is harmless
            assert schema.is_current(db) is True
        finally:
            db.dispose()


def test_the_test_database_is_at_head_and_matches_the_models(db_url):
    db = Database(db_url)
    try:
        assert schema.is_current(db) is True
        assert differences(db) == []
    finally:
        db.dispose()


def test_a_model_change_without_migration_would_be_noticed():
    """The comparison itself can fail: a column missing from the database shows up."""
    from sqlalchemy import Column, MetaData, String, Table

    with empty_database() as url:
        db = Database(url)
        try:
            schema.upgrade(db)
            extended = MetaData(naming_convention=Base.metadata.naming_convention)
            for table in Base.metadata.tables.values():
                table.to_metadata(extended)
            Table("unit", extended, Column("phone", String(20)), extend_existing=True)
            with db.engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(conn), extended)
            assert [(d[0], d[3].name) for d in diff if d[0] == "add_column"] == [("add_column", "phone")]
        finally:
            db.dispose()
