"""The tracking slip (form 05): who held the dossier, from when, until when, on time or not.

A handoff row is one unit's stint with the dossier: opened when a task of
that unit appears and the unit did not already hold the dossier, extended
while the unit keeps getting steps, closed when its last open step is done.
Parallel branches in different units simply give several open stints.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import Dossier, Handoff, Task, TaskState, Timing, User

RESULT_NOTE = "result"  # the last stint: the result waits at the counter to be returned


def judge(finished: datetime, due: datetime, tz: ZoneInfo) -> Timing:
    """Early if done on a day before the due day, on time if by the due moment, else late."""
    if finished > due:
        return Timing.LATE
    if finished.astimezone(tz).date() < due.astimezone(tz).date():
        return Timing.EARLY
    return Timing.ON_TIME


def open_stints(session: Session, dossier: Dossier) -> list[Handoff]:
    return list(
        session.scalars(
            select(Handoff)
            .where(Handoff.dossier_id == dossier.id, Handoff.finished_at.is_(None))
            .order_by(Handoff.seq)
        )
    )


def all_stints(session: Session, dossier: Dossier) -> list[Handoff]:
    return list(
        session.scalars(select(Handoff).where(Handoff.dossier_id == dossier.id).order_by(Handoff.seq))
    )


def _next_seq(session: Session, dossier: Dossier) -> int:
    return (session.scalar(select(func.max(Handoff.seq)).where(Handoff.dossier_id == dossier.id)) or 0) + 1


def record_moves(
    session: Session,
    dossier: Dossier,
    opened: Iterable[Task],
    *,
    from_unit_id: int | None,
    actor: User | None,
    now: datetime,
) -> list[Handoff]:
    """Open a stint for each unit that just got a step and did not hold the dossier."""
    stints = {h.to_unit_id: h for h in open_stints(session, dossier)}
    created = []
    seq = None
    for task in opened:
        stint = stints.get(task.unit_id)
        if stint is not None:
            if stint.due_at is None or task.due_at > stint.due_at:
                stint.due_at = task.due_at
            continue
        seq = _next_seq(session, dossier) if seq is None else seq + 1
        stint = Handoff(
            dossier_id=dossier.id,
            seq=seq,
            from_unit_id=from_unit_id,
            to_unit_id=task.unit_id,
            handed_at=now,
            handed_by_id=actor.id if actor else None,
            due_at=task.due_at,
        )
        session.add(stint)
        stints[task.unit_id] = stint
        created.append(stint)
    return created


def close_idle_stints(session: Session, dossier: Dossier, *, now: datetime, tz: ZoneInfo) -> list[Handoff]:
    """Close the stints of units that no longer have an open step of this dossier.

    The counter's result stint stays open until the result is returned.
    """
    busy = set(
        session.scalars(
            select(Task.unit_id).where(Task.dossier_id == dossier.id, Task.state == TaskState.OPEN)
        )
    )
    closed = []
    for stint in open_stints(session, dossier):
        if stint.to_unit_id in busy or stint.note == RESULT_NOTE:
            continue
        finish(stint, now, tz)
        closed.append(stint)
    return closed


def finish(stint: Handoff, now: datetime, tz: ZoneInfo) -> None:
    stint.finished_at = now
    stint.timing = judge(now, stint.due_at, tz) if stint.due_at else None


def mark_received(session: Session, dossier: Dossier, unit_id: int, user: User, now: datetime) -> None:
    """The first person of a unit to take up the dossier signs for it."""
    for stint in open_stints(session, dossier):
        if stint.to_unit_id == unit_id and stint.received_at is None:
            stint.received_at = now
            stint.received_by_id = user.id


def hand_back_to_counter(
    session: Session, dossier: Dossier, *, from_unit_id: int | None, actor: User | None, now: datetime
) -> Handoff:
    """The result goes back to the receiving counter, which returns it to the citizen."""
    stint = Handoff(
        dossier_id=dossier.id,
        seq=_next_seq(session, dossier),
        from_unit_id=from_unit_id,
        to_unit_id=dossier.receiving_unit_id,
        handed_at=now,
        handed_by_id=actor.id if actor else None,
        due_at=dossier.due_at,
        note=RESULT_NOTE,
    )
    session.add(stint)
    return stint


def shift_due_dates(session: Session, dossier: Dossier, shift) -> None:
    """Apply ``shift`` (a function of a due date) to open stints, e.g. after a pause."""
    for stint in open_stints(session, dossier):
        if stint.due_at is not None:
            stint.due_at = shift(stint.due_at)
