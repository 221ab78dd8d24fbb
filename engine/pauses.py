"""Stopping and restarting a dossier's clock.

While a supplement is awaited, or a paused-clock step (such as the citizen
paying tax) is open, working time does not count. When the clock restarts,
the paused working minutes are added to every open due date, so the
dossier, its open steps and its open stints all keep their remaining time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import handoffs
from engine.calendar import WorkCalendar
from engine.models import Dossier, Pause, Task, TaskState, User


def start(
    session: Session,
    dossier: Dossier,
    kind: str,
    now: datetime,
    *,
    reason: str = "",
    missing: list[str] | None = None,
    actor: User | None = None,
    task: Task | None = None,
) -> Pause:
    pause = Pause(
        dossier_id=dossier.id,
        kind=kind,
        started_at=now,
        reason=reason,
        missing=list(missing or []),
        requested_by_id=actor.id if actor else None,
        task=task,
    )
    session.add(pause)
    dossier.paused_since = now
    return pause


def current(session: Session, dossier: Dossier) -> Pause | None:
    return session.scalar(
        select(Pause)
        .where(Pause.dossier_id == dossier.id, Pause.ended_at.is_(None))
        .order_by(Pause.id.desc())
    )


def end(session: Session, dossier: Dossier, now: datetime, calendar: WorkCalendar) -> int:
    """Restart the clock; return the working minutes it stood still."""
    pause = current(session, dossier)
    started = pause.started_at if pause else dossier.paused_since
    if started is None:
        return 0
    minutes = calendar.working_minutes_between(started, now)
    if pause is not None:
        pause.ended_at = now
        pause.working_minutes = minutes
    dossier.paused_since = None
    dossier.paused_minutes = (dossier.paused_minutes or 0) + minutes
    if minutes:
        _shift(session, dossier, minutes, calendar)
    return minutes


def _shift(session: Session, dossier: Dossier, minutes: int, calendar: WorkCalendar) -> None:
    def shift(moment: datetime) -> datetime:
        return calendar.add_working_minutes(moment, minutes)

    dossier.due_at = shift(dossier.due_at)
    for task in session.scalars(
        select(Task).where(Task.dossier_id == dossier.id, Task.state == TaskState.OPEN)
    ):
        task.due_at = shift(task.due_at)
    handoffs.shift_due_dates(session, dossier, shift)
