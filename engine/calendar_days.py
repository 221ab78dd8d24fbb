"""The administrator's edits to the working calendar: extra days off and make-up working days.

The government moves days every year (bridge holidays, make-up Saturdays);
the statutory list comes from the ``holidays`` package and these rows sit
on top of it.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.context import Context
from engine.errors import InvalidInput, NotFound, Problem
from engine.models import CalendarDay

KINDS = ("off", "work")


def set_day(ctx: Context, session: Session, day: date, kind: str, note: str = "") -> CalendarDay:
    """Mark ``day`` as an extra day off or a make-up working day (replacing an earlier mark)."""
    if kind not in KINDS:
        raise InvalidInput(f"Kind must be one of {', '.join(KINDS)}", [Problem("Unknown kind", "kind")])
    if len(note) > 200:
        raise InvalidInput("The note is too long", [Problem("At most 200 characters", "note")])
    row = session.get(CalendarDay, day)
    if row is None:
        row = CalendarDay(day=day, kind=kind, note=note)
        session.add(row)
    else:
        row.kind, row.note = kind, note
    session.flush()
    ctx.calendars.invalidate()
    return row


def remove_day(ctx: Context, session: Session, day: date) -> None:
    row = session.get(CalendarDay, day)
    if row is None:
        raise NotFound(f"{day:%d/%m/%Y} has no calendar edit")
    session.delete(row)
    session.flush()
    ctx.calendars.invalidate()


def list_days(session: Session, year: int | None = None) -> list[CalendarDay]:
    stmt = select(CalendarDay).order_by(CalendarDay.day)
    if year is not None:
        stmt = stmt.where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
    return list(session.scalars(stmt))
