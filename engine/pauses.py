"""Stopping and restarting a dossier's clock.

While a supplement is awaited, or a paused-clock step (such as the citizen
paying tax) is open, working time does not count. When the clock restarts,
the paused working minutes are added to every open due date, so the
dossier, its open steps and its open stints all keep their remaining time.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from engine import handoffs
from engine.calendar import WorkCalendar
from engine.models import Dossier, Pause, Task, User
from engine.rowstore import Store, store_of


def start(
    session: Session | Store,
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


def current(session: Session | Store, dossier: Dossier) -> Pause | None:
    return store_of(session).current_pause(dossier)


def end(session: Session | Store, dossier: Dossier, now: datetime, calendar: WorkCalendar) -> int:
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


def _shift(session: Session | Store, dossier: Dossier, minutes: int, calendar: WorkCalendar) -> None:
    def shift(moment: datetime) -> datetime:
        return calendar.add_working_minutes(moment, minutes)

    dossier.due_at = shift(dossier.due_at)
    for task in store_of(session).open_tasks(dossier):
        task.due_at = shift(task.due_at)
    handoffs.shift_due_dates(session, dossier, shift)
