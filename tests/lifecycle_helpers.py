"""Helpers for the lifecycle, access, directory, deployment, CLI and web tests."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text

from engine import schema
from engine.clock import FixedClock
from engine.context import Context
from engine.database import Database
from engine.deployment import compiled_version, deploy_files
from engine.directory import get_user, load_organisation, read_organisation_file
from engine.models import (
    Dossier,
    Event,
    Extension,
    Handoff,
    Jurisdiction,
    Pause,
    Procedure,
    ProcedureVersion,
    Task,
    Unit,
    User,
    UserRole,
)
from engine.settings import WORKFLOWS_DIR, Settings
from engine.specs import SpecCache

PG_URL = os.environ.get("MOTCUA_TEST_DATABASE_URL")
TEMPLATE_TIME = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))  # the clock fixture's start
ORG_FILE = WORKFLOWS_DIR / "organisation.yaml"
PROCEDURE_FILES = sorted((WORKFLOWS_DIR / "procedures").glob("*.bpmn"))

LAND = "DD-GCN-01"
LAND_TO_TAX = {
    "Task_KiemTraHoSo": {"hop_le": True},
    "Task_DoDac": {"so_to_ban_do": "12", "so_thua": "345", "dien_tich": 80.5},
    "Task_XacMinhNiemYet": {
        "nguon_goc_dat": "Đất ở sử dụng ổn định từ năm 1990",
        "tinh_trang_tranh_chap": "Không tranh chấp",
        "phu_hop_quy_hoach": True,
    },
    "Task_XacDinhNghiaVuTaiChinh": {"so_tien_thue": 12_500_000},
}


def person(session, username: str) -> User:
    user = get_user(session, username)
    assert user is not None, f"no user {username}"
    return user


def count(session, model) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def row_counts(ctx: Context, *models) -> dict[str, int]:
    models = models or (Jurisdiction, Unit, User, UserRole, Procedure, ProcedureVersion, Dossier, Event)
    with ctx.db.reading() as session:
        return {m.__name__: count(session, m) for m in models}


def snapshot(ctx: Context, code: str) -> dict[str, Any]:
    """Everything an operation on dossier ``code`` could change."""
    with ctx.db.reading() as session:
        d = session.scalar(select(Dossier).where(Dossier.code == code))
        tasks = session.scalars(select(Task).where(Task.dossier_id == d.id).order_by(Task.id)).all()
        stints = session.scalars(
            select(Handoff).where(Handoff.dossier_id == d.id).order_by(Handoff.seq)
        ).all()
        return {
            "version": d.version,
            "status": d.status,
            "due_at": d.due_at,
            "original_due_at": d.original_due_at,
            "paused_since": d.paused_since,
            "paused_minutes": d.paused_minutes,
            "supplement_requests": d.supplement_requests,
            "closed_at": d.closed_at,
            "rating": d.rating,
            "tasks": [(t.id, t.state, t.due_at, t.claimed_by_id) for t in tasks],
            "stints": [(h.id, h.due_at, h.finished_at) for h in stints],
            "events": count_where(session, Event, Event.dossier_id == d.id),
            "pauses": count_where(session, Pause, Pause.dossier_id == d.id),
            "extensions": count_where(session, Extension, Extension.dossier_id == d.id),
        }


def count_where(session, model, *where) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def events_of(ctx: Context, code: str) -> list[Event]:
    with ctx.db.reading() as session:
        d = session.scalar(select(Dossier).where(Dossier.code == code))
        return list(session.scalars(select(Event).where(Event.dossier_id == d.id).order_by(Event.id)))


def load_demo(ctx: Context) -> Context:
    """The demo organisation and every shipped procedure, as the ``deployed`` fixture has them."""
    with ctx.db.transaction() as session:
        load_organisation(session, read_organisation_file(ORG_FILE))
    with ctx.db.transaction() as session:
        deploy_files(ctx, session, PROCEDURE_FILES)
    return ctx


_template_lock = threading.Lock()
_template: dict[str, Any] = {}


def _deployed_template() -> tuple[Path, list[tuple[Any, Any]]]:
    """A SQLite file with the demo loaded, built once per process, and its compiled specs."""
    with _template_lock:
        if not _template:
            folder = Path(tempfile.mkdtemp(prefix="motcua-deployed-"))
            atexit.register(shutil.rmtree, folder, True)
            path = folder / "deployed.db"
            url = f"sqlite:///{path}"
            ctx = Context(
                db=Database(url),
                settings=Settings(database_url=url, instance_dir=folder),
                clock=FixedClock(TEMPLATE_TIME),
            )
            schema.upgrade(ctx.db)
            load_demo(ctx)
            with ctx.db.reading() as session:
                for version in session.scalars(select(ProcedureVersion)):
                    compiled_version(ctx, version)
            ctx.db.dispose()
            # The cache's own keys, whatever engine.deployment keys it by (SpecCache has no iterator).
            _template["path"], _template["specs"] = path, list(ctx.specs._entries.items())
        return _template["path"], _template["specs"]


def fast_deployed(ctx: Context) -> Context:
    """Same state as the conftest ``deployed`` fixture, for a fraction of the time on SQLite.

    The demo is loaded once into a template file that each test copies before its
    first connection; the compiled specs of the template's versions are copied into the
    test's own cache, as those versions have the same ids and sources in every copy.
    PostgreSQL loads the demo for real.
    """
    if PG_URL or not ctx.db.url.startswith("sqlite:///") or ctx.clock.now() != TEMPLATE_TIME:
        return load_demo(ctx)
    path, specs = _deployed_template()
    ctx.db.dispose()
    shutil.copy(path, ctx.db.url.split("///", 1)[1])
    ctx.specs = SpecCache()
    for key, compiled in specs:
        ctx.specs.put(key, compiled)
    return ctx


@contextmanager
def empty_database() -> Iterator[str]:
    """The URL of a database with no tables at all, dropped afterwards.

    SQLite: a new file. PostgreSQL: a fresh schema of the test database put
    first on the search path, so the shared ``public`` schema is untouched.
    """
    if not PG_URL:
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'empty.db'}"
        return
    name = f"motcua_empty_{uuid.uuid4().hex[:10]}"
    admin = Database(PG_URL)
    with admin.engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}options=-csearch_path%3D{name}"
    finally:
        with admin.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()
