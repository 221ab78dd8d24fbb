"""The tracking slip (form 05): who held the dossier, from when, until when, on time or not.

A handoff row is one unit's stint with the dossier: opened when a task of
that unit appears and the unit did not already hold the dossier, extended
while the unit keeps getting steps, closed when its last open step is done.
Parallel branches in different units simply give several open stints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import Dossier, Handoff, Task, TaskState, Timing, User
from engine.rowstore import Store, store_of

RESULT_NOTE = "result"  # the last stint: the result waits at the counter to be returned


def judge(finished: datetime, due: datetime, tz: ZoneInfo) -> Timing:
    """Early if done on a day before the due day, on time if by the due moment, else late."""
    if finished > due:
        return Timing.LATE
    if finished.astimezone(tz).date() < due.astimezone(tz).date():
        return Timing.EARLY
    return Timing.ON_TIME


def open_stints(session: Session, dossier: Dossier) -> list[Handoff]:
    return store_of(session).open_stints(dossier)


def all_stints(session: Session, dossier: Dossier) -> list[Handoff]:
    return list(
        session.scalars(select(Handoff).where(Handoff.dossier_id == dossier.id).order_by(Handoff.seq))
    )


class Slip:
    """The open part of one dossier's tracking slip, loaded once per operation.

    Every engine operation that moves a dossier reads the open stints once
    through this object and changes them in memory; the session writes them
    back with the rest of the transaction.
    """

    def __init__(self, session: Session | Store, dossier: Dossier) -> None:
        self.store = store_of(session)
        self.dossier = dossier
        self.open = self.store.open_stints(dossier)
        self._seq: int | None = None

    def _next_seq(self) -> int:
        if self._seq is None:
            self._seq = self.store.max_seq(self.dossier)
        self._seq += 1
        return self._seq

    def _start(self, to_unit_id: int, *, from_unit_id: int | None, actor: User | None, now: datetime,
               due_at: datetime | None, note: str = "") -> Handoff:
        stint = Handoff(
            dossier_id=self.dossier.id, seq=self._next_seq(), from_unit_id=from_unit_id, to_unit_id=to_unit_id,
            handed_at=now, handed_by_id=actor.id if actor else None, due_at=due_at, note=note,
        )
        self.store.add(stint)
        self.open.append(stint)
        return stint

    def record_moves(self, opened: Iterable[Task], *, from_unit_id: int | None, actor: User | None,
                     now: datetime, extend: Callable[[datetime, Task], datetime] | None = None) -> list[Handoff]:
        """Open a stint for each unit that just got a step and did not hold the dossier.

        A unit that already holds the dossier and gets a further step has its
        stint due date moved on by that step's share (``extend``), counted from
        its previous due date rather than from now: a unit that overran an
        earlier step stays behind until it makes the time up, so the tracking
        slip never hides lateness. Steps opened together (parallel branches)
        share one due date: the latest.
        """
        by_unit = {h.to_unit_id: h for h in self.open if h.note != RESULT_NOTE}
        created: list[Handoff] = []
        for task in opened:
            stint = by_unit.get(task.unit_id)
            if stint is None:
                stint = self._start(task.unit_id, from_unit_id=from_unit_id, actor=actor, now=now,
                                    due_at=task.due_at)
                by_unit[task.unit_id] = stint
                created.append(stint)
            elif stint in created or stint.due_at is None or extend is None:
                stint.due_at = max(stint.due_at or task.due_at, task.due_at)
            else:
                stint.due_at = extend(stint.due_at, task)
        return created

    def close_idle(self, busy_unit_ids: set[int], *, now: datetime, tz: ZoneInfo) -> list[Handoff]:
        """Close the stints of units with no open step left; the counter's result stint stays."""
        closed = [h for h in self.open if h.to_unit_id not in busy_unit_ids and h.note != RESULT_NOTE]
        for stint in closed:
            finish(stint, now, tz)
            self.open.remove(stint)
        return closed

    def mark_received(self, unit_id: int, user: User, now: datetime) -> None:
        """The first person of a unit to take up the dossier signs for it."""
        for stint in self.open:
            if stint.to_unit_id == unit_id and stint.received_at is None:
                stint.received_at = now
                stint.received_by_id = user.id

    def hand_back_to_counter(self, *, from_unit_id: int | None, actor: User | None, now: datetime) -> Handoff:
        """The result goes back to the receiving counter, which returns it to the citizen."""
        return self._start(self.dossier.receiving_unit_id, from_unit_id=from_unit_id, actor=actor, now=now,
                           due_at=self.dossier.due_at, note=RESULT_NOTE)


def close_idle_stints(session: Session, dossier: Dossier, *, now: datetime, tz: ZoneInfo) -> list[Handoff]:
    """Close the stints of units that no longer have an open step of this dossier."""
    busy = set(session.scalars(
        select(Task.unit_id).where(Task.dossier_id == dossier.id, Task.state == TaskState.OPEN)))
    return Slip(session, dossier).close_idle(busy, now=now, tz=tz)


def finish(stint: Handoff, now: datetime, tz: ZoneInfo) -> None:
    stint.finished_at = now
    stint.timing = judge(now, stint.due_at, tz) if stint.due_at else None


def mark_received(session: Session | Store, dossier: Dossier, unit_id: int, user: User, now: datetime) -> None:
    """The first person of a unit to take up the dossier signs for it."""
    Slip(session, dossier).mark_received(unit_id, user, now)


def shift_due_dates(session: Session | Store, dossier: Dossier, shift) -> None:
    """Apply ``shift`` (a function of a due date) to open stints, e.g. after a pause."""
    for stint in store_of(session).open_stints(dossier):
        if stint.due_at is not None:
            stint.due_at = shift(stint.due_at)
