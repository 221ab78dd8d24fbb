"""Keeping ``report_day`` up to date: closed dossiers are counted once, then read from the rollup.

A dossier is closed (``closed_at`` set) when it is returned, refused or
withdrawn, and nothing changes it afterwards; so the figures of dossiers
closed since the watermark are *added* to their rollup rows and the
watermark moves on. The watermark trails the clock by ``LAG`` so that a
transaction still in flight (which wrote its ``closed_at`` a moment ago
but has not committed yet) is not skipped: reports count everything not in
the rollup live from the dossier table. The watermark row is locked while
adding, so two refreshes never add the same dossiers twice.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.calendar import WorkCalendar
from engine.indicators import as_date, category_conditions, local_day, working_day_number
from engine.models import Dossier, ReportDay, ReportWatermark
from engine.models.reports import ROLLUP_COUNTS

NAME = "closed"
LAG = timedelta(minutes=5)
MIN_STEP = timedelta(minutes=1)  # refresh at most once a minute, whatever the traffic
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
SUMMED = tuple(c for c in ROLLUP_COUNTS if c not in ("received", "rating_sum", "days_n"))


def watermark(session: Session) -> datetime | None:
    """Dossiers closed before this moment are in the rollup (None: nothing is)."""
    return session.scalar(select(ReportWatermark.closed_before).where(ReportWatermark.name == NAME))


def _insert(session: Session):
    return (postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert)


def refresh(session: Session, calendar: WorkCalendar, now: datetime, *, lag: timedelta = LAG) -> datetime:
    """Add the dossiers closed since the watermark (up to ``now - lag``); return the new watermark."""
    insert = _insert(session)
    session.execute(insert(ReportWatermark).values(name=NAME, closed_before=EPOCH)
                    .on_conflict_do_nothing(index_elements=[ReportWatermark.name]))
    mark = session.scalar(select(ReportWatermark).where(ReportWatermark.name == NAME).with_for_update())
    target = now - lag
    if target - mark.closed_before < MIN_STEP:
        return mark.closed_before
    rows = _closed_between(session, calendar, mark.closed_before, target)
    if rows:
        stmt = insert(ReportDay)
        keys = [ReportDay.day, ReportDay.receiving_unit_id, ReportDay.jurisdiction_id, ReportDay.procedure_version_id]
        stmt = stmt.on_conflict_do_update(
            index_elements=keys,
            set_={c: getattr(ReportDay, c) + stmt.excluded[c] for c in (*ROLLUP_COUNTS, "days_sum")})
        session.execute(stmt, rows)
    mark.closed_before = target
    session.flush()
    return target


def _closed_between(session: Session, calendar: WorkCalendar, start: datetime, end: datetime) -> list[dict]:
    """The rollup increments of dossiers closed in [start, end), grouped by day of receipt and slice.

    The database groups by (slice, start day, finish day); the calendar
    turns each pair of days into working days, once per group.
    """
    tz = calendar.settings.timezone
    cats = category_conditions(end)
    day = local_day(session, Dossier.received_at, tz)
    first = local_day(session, Dossier.counting_from, tz)
    last = local_day(session, Dossier.finished_at, tz)
    sums = [func.sum(case((cats[c], 1), else_=0)).label(c) for c in SUMMED]
    result = session.execute(
        select(day.label("day"), Dossier.receiving_unit_id.label("unit"), Dossier.jurisdiction_id.label("jur"),
               Dossier.procedure_version_id.label("pv"), first.label("first"), last.label("last"),
               func.count().label("received"), *sums,
               func.sum(case((cats["rated"], Dossier.rating), else_=0)).label("rating_sum"),
               func.sum(case((cats["finished"], Dossier.paused_minutes), else_=0)).label("paused"))
        .where(Dossier.closed_at >= start, Dossier.closed_at < end)
        .group_by(day, Dossier.receiving_unit_id, Dossier.jurisdiction_id, Dossier.procedure_version_id, first, last))
    totals: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys((*ROLLUP_COUNTS, "days_sum"), 0))
    for r in result:
        entry = totals[(r.day, r.unit, r.jur, r.pv)]
        for c in ("received", *SUMMED, "rating_sum"):
            entry[c] += int(getattr(r, c) or 0)
        if r.finished and r.first is not None and r.last is not None:
            span = working_day_number(calendar, r.last) - working_day_number(calendar, r.first)
            entry["days_sum"] += span * r.finished - (r.paused or 0) / calendar.minutes_per_day
            entry["days_n"] += int(r.finished)
    return [{"day": as_date(day), "receiving_unit_id": unit, "jurisdiction_id": jur, "procedure_version_id": pv,
             **values} for (day, unit, jur, pv), values in totals.items()]



def rebuild(session: Session, calendar: WorkCalendar, now: datetime, *, lag: timedelta = LAG) -> datetime:
    """Start the rollup over from nothing (after a calendar change or a repair of old dossiers)."""
    session.execute(delete(ReportDay))
    session.execute(delete(ReportWatermark))
    session.flush()
    return refresh(session, calendar, now, lag=lag)
