"""The worker's agenda: recording due work once, claiming it, finishing it.

Planning is idempotent: :func:`plan` inserts with "on conflict do nothing"
on the unique ``(kind, reference)`` key, so planners can run as often as
they like, in several processes at once. Claiming takes one pending row
with ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
workers share the agenda without waiting on each other or taking the same
row; SQLite has no row locks, but every write transaction there starts with
``BEGIN IMMEDIATE`` (engine.database), so workers take turns and each sees
the rows the previous one finished.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.models import DueWork

MAX_ATTEMPTS = 6
OUTCOME_FAILED = "failed"


def plan(session: Session, kind: str, reference: str, due_at: datetime, now: datetime) -> None:
    """Record one piece of due work unless it is already recorded (done or not)."""
    plan_many(session, [(kind, reference, due_at)], now)


def plan_many(session: Session, items: Sequence[tuple[str, str, datetime]], now: datetime) -> None:
    if not items:
        return
    rows = [
        {"kind": kind, "reference": reference, "due_at": due_at, "created_at": now, "attempts": 0,
         "last_error": "", "outcome": ""}
        for kind, reference, due_at in items
    ]
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    stmt = module.insert(DueWork).on_conflict_do_nothing(index_elements=["kind", "reference"])
    session.execute(stmt, rows)


def claim_next(session: Session, now: datetime, kinds: Sequence[str] | None = None) -> DueWork | None:
    """The oldest pending row that is due, locked for this transaction (skipped if another has it)."""
    stmt = (
        select(DueWork)
        .where(DueWork.done_at.is_(None), DueWork.due_at <= now)
        .order_by(DueWork.due_at, DueWork.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if kinds:
        stmt = stmt.where(DueWork.kind.in_(kinds))
    return session.scalar(stmt)


def finish(row: DueWork, now: datetime, outcome: str) -> None:
    row.done_at = now
    row.outcome = outcome[:24]


def postpone(row: DueWork, until: datetime) -> None:
    """Look at this row again later (e.g. the dossier's clock is stopped)."""
    row.due_at = until


def record_failure(session: Session, row_id: int, now: datetime, error: str) -> DueWork | None:
    """After a failed attempt: try again later with a growing pause, give up after ``MAX_ATTEMPTS``."""
    row = session.scalar(select(DueWork).where(DueWork.id == row_id).with_for_update())
    if row is None or row.done_at is not None:
        return row
    row.attempts += 1
    row.last_error = error[:2000]
    if row.attempts >= MAX_ATTEMPTS:
        finish(row, now, OUTCOME_FAILED)
    else:
        row.due_at = now + timedelta(minutes=2 ** row.attempts)
    return row


def pending(session: Session) -> list[DueWork]:
    return list(session.scalars(select(DueWork).where(DueWork.done_at.is_(None)).order_by(DueWork.due_at)))
