"""Shared fixtures: a fresh database per test (SQLite by default, PostgreSQL when
``MOTCUA_TEST_DATABASE_URL`` is set), a controllable clock, the demo organisation
and the shipped procedures."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

os.environ.setdefault("MOTCUA_PASSWORD_HASH_COST", "low")

import pytest
from sqlalchemy import make_url, text

from engine import schema, scratch_databases
from engine.clock import FixedClock
from engine.context import Context
from engine.database import Database
from engine.models import Base
from engine.settings import WORKFLOWS_DIR, Settings

VN = ZoneInfo("Asia/Ho_Chi_Minh")
PG_URL = os.environ.get("MOTCUA_TEST_DATABASE_URL")


def vn(*args: int) -> datetime:
    """A Hà Nội local time, as the counters see it."""
    return datetime(*args, tzinfo=VN)


def _worker_database(url: str, worker: str) -> str:
    """A database of its own for each xdist worker, created on first use."""
    if worker == "master":
        return url
    base = make_url(url)
    own = base.set(database=f"{base.database}_{worker}").render_as_string(hide_password=False)
    scratch_databases.create_if_missing(own)
    return own


@pytest.fixture(scope="session")
def pg_url() -> str | None:
    return _worker_database(PG_URL, os.environ.get("PYTEST_XDIST_WORKER", "master")) if PG_URL else None


@pytest.fixture(scope="session")
def _template(tmp_path_factory, pg_url) -> str:
    """A migrated empty database built once per run."""
    if pg_url:
        scratch_databases.reset_schema(pg_url)
        return pg_url
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    schema.upgrade(db)
    db.dispose()
    return str(path)


@pytest.fixture
def db_url(_template, tmp_path, pg_url) -> str:
    if pg_url:
        db = Database(pg_url)
        names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        db.dispose()
        return pg_url
    path = tmp_path / "motcua.db"
    shutil.copy(_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(vn(2026, 3, 2, 9, 0))  # a Monday morning


@pytest.fixture
def ctx(db_url, clock, tmp_path) -> Context:
    settings = Settings(database_url=db_url, instance_dir=tmp_path)
    context = Context(db=Database(db_url), settings=settings, clock=clock)
    yield context
    context.db.dispose()


@pytest.fixture
def org(ctx):
    from engine.directory import load_organisation, read_organisation_file

    with ctx.db.transaction() as session:
        load_organisation(session, read_organisation_file(WORKFLOWS_DIR / "organisation.yaml"))
    return ctx


@pytest.fixture
def deployed(org):
    from engine.deployment import deploy_files

    with org.db.transaction() as session:
        deploy_files(org, session, sorted((WORKFLOWS_DIR / "procedures").glob("*.bpmn")))
    return org


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
