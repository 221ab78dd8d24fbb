"""Helpers for the lifecycle, access, directory, deployment, CLI and web tests."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from engine.context import Context
from engine.database import Database
from engine.directory import get_user
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

PG_URL = os.environ.get("MOTCUA_TEST_DATABASE_URL")

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
        stints = session.scalars(select(Handoff).where(Handoff.dossier_id == d.id).order_by(Handoff.seq)).all()
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
