"""The national indicators (Quyết định 766/QĐ-TTg) over dossiers, as SQL aggregates.

Every figure is one conditional count in one GROUP BY over the dossier
table, so a province's million dossiers are counted by the database, not
looped over in Python. The rules, in one place (``CATEGORIES``):

- the cohort of a period is the dossiers *received* in it (local dates);
- finished = a result was produced (waiting to be returned or returned);
- a finished dossier is **late** when it passed its due date (pause time
  for supplements is already excluded: resuming shifts the due date by the
  paused working time), when its return date had to be reset and it still
  finished after the original date, or when the citizen was asked for a
  supplement more than once (indicator 2.1); otherwise early or on time as
  judged at completion;
- in progress = processing or waiting for a supplement; paused = its clock
  stands still now; overdue = in progress, clock running, due date passed;
- satisfaction (5.4) = 100% - (% late + % with a complaint), a complaint
  being a rating of 1 or 2 out of 5 given at return;
- citizen feedback (procedure ``FEEDBACK_CODE``) is not a dossier for these
  figures: it is counted on its own for indicator 5.2.

Scope (``scope_clause``) is the report form of ``engine.access``: an
administrator sees everything, a People's Committee leader their area, the
head of an office the dossiers that went through the office, a clerk the
dossiers of their counter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, exists, func, literal, not_, or_, select, text, union_all
from sqlalchemy.orm import Session

from engine.access import is_admin, is_jurisdiction_leader
from engine.calendar import WorkCalendar
from engine.errors import Forbidden
from engine.models import (
    Dossier,
    Handoff,
    Jurisdiction,
    Procedure,
    ProcedureVersion,
    Task,
    TaskState,
    Unit,
    User,
)
from engine.models.reports import ReportDay, ReportWatermark
from engine.visibility import jurisdiction_subtree

FEEDBACK_CODE = "PAKN-01"
OPEN_STATUSES = ("processing", "awaiting_supplement")
DONE_STATUSES = ("awaiting_return", "returned")
COMPLAINT_RATING = 2  # ratings 1-2 of 5: the citizen was not satisfied
REPORT_ROLES = frozenset({"leader", "clerk"})
DIMENSIONS = ("unit", "procedure", "jurisdiction", "month")


# ----------------------------------------------------------------- filters and scope


@dataclass(frozen=True)
class ReportFilter:
    """What a leader asks for: a period of receipt (local dates, inclusive) and optional slices."""

    date_from: date | None = None
    date_to: date | None = None
    unit_id: int | None = None  # receiving counter
    procedure_code: str | None = None
    jurisdiction_id: int | None = None  # this jurisdiction and below
    status: str | None = None
    tz: str = "Asia/Ho_Chi_Minh"

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """The period as UTC instants [start, end)."""
        zone = ZoneInfo(self.tz)
        start = datetime.combine(self.date_from, time(0), zone).astimezone(UTC) if self.date_from else None
        end = (datetime.combine(self.date_to + timedelta(days=1), time(0), zone).astimezone(UTC)
               if self.date_to else None)
        return start, end


def scope_clause(session: Session, user: User):
    """The dossiers ``user`` may count (None: all); Forbidden for roles without reports."""
    if is_admin(user):
        return None
    if not (user.roles & REPORT_ROLES):
        raise Forbidden("Reports are for leaders and counter clerks")
    if is_jurisdiction_leader(user):
        return Dossier.jurisdiction_id.in_(jurisdiction_subtree(session, user.unit.jurisdiction_id))
    if user.has_role("leader"):
        return exists().where(Handoff.dossier_id == Dossier.id, Handoff.to_unit_id == user.unit_id)
    return Dossier.receiving_unit_id == user.unit_id


def watermark(session: Session) -> datetime | None:
    """Closed dossiers before this moment are counted in ``report_day`` (see engine.rollup)."""
    return session.scalar(select(ReportWatermark.closed_before).where(ReportWatermark.name == "closed"))


def feedback_version_ids(session: Session) -> list[int]:
    return list(session.scalars(
        select(ProcedureVersion.id).join(Procedure).where(Procedure.code == FEEDBACK_CODE)))


def conditions(session: Session, user: User, flt: ReportFilter, *, feedback: bool = False) -> list:
    """WHERE conditions for ``flt`` within the user's scope; dossiers or (``feedback``) feedback cases."""
    out = []
    scope = scope_clause(session, user)
    if scope is not None:
        out.append(scope)
    start, end = flt.bounds()
    if start is not None:
        out.append(Dossier.received_at >= start)
    if end is not None:
        out.append(Dossier.received_at < end)
    out += _place_filters(session, flt, Dossier.receiving_unit_id, Dossier.jurisdiction_id)
    if flt.status:
        out.append(Dossier.status == flt.status)
    if feedback:
        out.append(Dossier.procedure_version_id.in_(feedback_version_ids(session) or [-1]))
    else:
        out += _procedure_filters(session, flt, Dossier.procedure_version_id)
    return out


def _place_filters(session: Session, flt: ReportFilter, unit_column, jurisdiction_column) -> list:
    """The receiving unit and the jurisdiction (with everything under it) asked for, in any table's columns."""
    out = []
    if flt.unit_id:
        out.append(unit_column == flt.unit_id)
    if flt.jurisdiction_id:
        out.append(jurisdiction_column.in_(jurisdiction_subtree(session, flt.jurisdiction_id)))
    return out


def _procedure_filters(session: Session, flt: ReportFilter, version_column) -> list:
    """Administrative procedures only (feedback cases are reported apart), of the procedure asked for."""
    out = []
    pakn = feedback_version_ids(session)
    if pakn:
        out.append(version_column.not_in(pakn))
    if flt.procedure_code:
        out.append(version_column.in_(
            select(ProcedureVersion.id).join(Procedure).where(Procedure.code == flt.procedure_code)))
    return out


# ----------------------------------------------------------------- the rules


def _finished():
    return Dossier.status.in_(DONE_STATUSES)


def late_rule():
    """Indicator 2.1's lateness: past due, past the original date when extended, or >1 supplement request."""
    return and_(_finished(), or_(
        Dossier.result_timing == "late",
        Dossier.supplement_requests > 1,
        and_(Dossier.original_due_at.is_not(None), Dossier.finished_at > Dossier.original_due_at),
    ))


def category_conditions(now: datetime) -> dict[str, object]:
    """Each counted figure as a boolean SQL expression; the drill-down uses the same ones."""
    late = late_rule()
    running = Dossier.status.in_(OPEN_STATUSES)
    return {
        "received": literal(True),
        "in_progress": running,
        "overdue": and_(running, Dossier.paused_since.is_(None), Dossier.due_at < now),
        "paused": and_(running, or_(Dossier.status == "awaiting_supplement", Dossier.paused_since.is_not(None))),
        "finished": _finished(),
        "early": and_(_finished(), not_(late), Dossier.result_timing == "early"),
        "on_time": and_(_finished(), not_(late), Dossier.result_timing != "early"),
        "late": late,
        "refused": Dossier.status == "refused",
        "withdrawn": Dossier.status == "withdrawn",
        "online": Dossier.channel == "online",
        "counter": Dossier.channel == "counter",
        "post": Dossier.channel == "post",
        "rated": and_(Dossier.status == "returned", Dossier.rating.is_not(None)),
        "complaint": and_(Dossier.status == "returned", Dossier.rating <= COMPLAINT_RATING),
    }


CATEGORIES = tuple(category_conditions(datetime.now(UTC)))


@dataclass
class Counts:
    """The figures of one row of a report (a unit, a procedure, a month or the total)."""

    received: int = 0
    in_progress: int = 0
    overdue: int = 0
    paused: int = 0
    finished: int = 0
    early: int = 0
    on_time: int = 0
    late: int = 0
    refused: int = 0
    withdrawn: int = 0
    online: int = 0
    counter: int = 0
    post: int = 0
    rated: int = 0
    complaint: int = 0
    rating_sum: int = 0

    @property
    def on_time_share(self) -> float | None:
        """Indicator 2.1: early or on time among finished dossiers, in percent."""
        return _pct(self.early + self.on_time, self.finished)

    @property
    def online_share(self) -> float | None:
        """Indicator 3.3: dossiers submitted online among those received."""
        return _pct(self.online, self.received)

    @property
    def counter_share(self) -> float | None:
        return _pct(self.counter, self.received)

    @property
    def post_share(self) -> float | None:
        return _pct(self.post, self.received)

    @property
    def average_rating(self) -> float | None:
        return round(self.rating_sum / self.rated, 2) if self.rated else None

    @property
    def satisfaction(self) -> float | None:
        """Indicator 5.4: 100% - (% late + % with a complaint), over finished dossiers."""
        if not self.finished:
            return None
        return round(max(0.0, 100.0 - 100.0 * (self.late + self.complaint) / self.finished), 1)


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


COUNT_FIELDS = tuple(f.name for f in fields(Counts) if f.name != "rating_sum")
SUM_FIELDS = tuple(f.name for f in fields(Counts))
LIVE_ONLY = ("in_progress", "overdue", "paused")  # never true of a closed dossier


# ----------------------------------------------------------------- facts: rollup + live


def _rollup_usable(user: User, flt: ReportFilter) -> bool:
    """The rollup knows units, jurisdictions, procedures and days; not handoffs or statuses."""
    office_head = not is_admin(user) and user.has_role("leader") and not is_jurisdiction_leader(user)
    return not office_head and flt.status is None


def _rollup_where(session: Session, user: User, flt: ReportFilter) -> list:
    """``conditions`` in the rollup's terms."""
    r = ReportDay
    where = []
    if not is_admin(user):
        if is_jurisdiction_leader(user):
            where.append(r.jurisdiction_id.in_(jurisdiction_subtree(session, user.unit.jurisdiction_id)))
        else:
            where.append(r.receiving_unit_id == user.unit_id)
    if flt.date_from:
        where.append(r.day >= flt.date_from)
    if flt.date_to:
        where.append(r.day <= flt.date_to)
    where += _place_filters(session, flt, r.receiving_unit_id, r.jurisdiction_id)
    where += _procedure_filters(session, flt, r.procedure_version_id)
    return where


def _rollup_part(session: Session, user: User, flt: ReportFilter):
    r = ReportDay
    where = _rollup_where(session, user, flt)
    cols = [literal(0).label(name) if name in LIVE_ONLY else func.sum(getattr(r, name)).label(name)
            for name in SUM_FIELDS]
    month = month_of_day(session, r.day)
    return (select(month.label("month"), r.receiving_unit_id.label("unit"), r.jurisdiction_id.label("jur"),
                   r.procedure_version_id.label("pv"), *cols).where(*where)
            .group_by(month, r.receiving_unit_id, r.jurisdiction_id, r.procedure_version_id))


def _live_part(session: Session, user: User, flt: ReportFilter, now: datetime, extra=None):
    where = conditions(session, user, flt)
    if extra is not None:
        where.append(extra)
    month = local_month(session, Dossier.received_at, flt.tz)
    return (select(month.label("month"), Dossier.receiving_unit_id.label("unit"), Dossier.jurisdiction_id.label("jur"),
                   Dossier.procedure_version_id.label("pv"), *_aggregates(now))
            .where(*where).group_by(month, Dossier.receiving_unit_id, Dossier.jurisdiction_id,
                                    Dossier.procedure_version_id))


def facts(session: Session, user: User, flt: ReportFilter, now: datetime):
    """Per (month of receipt, unit, jurisdiction, procedure version): every figure, as a subquery.

    Closed dossiers come from the rollup, everything else is counted live;
    when the rollup cannot answer (an office head's scope, a status filter)
    the whole is counted live.
    """
    if session.get_bind().dialect.name == "postgresql":  # group in memory, never on disk
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    mark = watermark(session) if _rollup_usable(user, flt) else None
    if mark is None:
        return _live_part(session, user, flt, now).subquery("facts")
    # Not yet closed (served by a covering partial index) and closed since the mark (a few rows).
    unclosed = _live_part(session, user, flt, now, Dossier.closed_at.is_(None))
    recent = _live_part(session, user, flt, now, Dossier.closed_at >= mark)
    return union_all(_rollup_part(session, user, flt), unclosed, recent).subquery("facts")


def _aggregates(now: datetime) -> list:
    cats = category_conditions(now)
    cols = [func.count().label("received")]
    cols += [func.sum(case((cats[name], 1), else_=0)).label(name) for name in COUNT_FIELDS if name != "received"]
    cols.append(func.sum(case((cats["rated"], Dossier.rating), else_=0)).label("rating_sum"))
    return cols


def _sums(source) -> list:
    return [func.sum(source.c[name]).label(name) for name in SUM_FIELDS]


def _counts(row) -> Counts:
    return Counts(**{f.name: int(getattr(row, f.name) or 0) for f in fields(Counts)})


def totals(session: Session, user: User, flt: ReportFilter, now: datetime) -> Counts:
    """Every figure for the whole filtered scope."""
    source = facts(session, user, flt, now)
    return _counts(session.execute(select(*_sums(source))).one())


@dataclass(frozen=True)
class Line:
    key: str  # the filter value a drill-down link uses (unit id, procedure code, jurisdiction id, YYYY-MM)
    label: str
    counts: Counts


def breakdown(session: Session, user: User, flt: ReportFilter, now: datetime, dimension: str) -> list[Line]:
    """The figures per receiving unit, procedure, jurisdiction or month of receipt."""
    if dimension not in DIMENSIONS:
        raise ValueError(dimension)
    source = facts(session, user, flt, now)
    if dimension == "month":
        key = source.c.month
        rows = session.execute(select(key.label("k"), *_sums(source)).group_by(key).order_by(key))
        return [Line(r.k, _month_label(r.k), _counts(r)) for r in rows]
    column = source.c[{"unit": "unit", "procedure": "pv", "jurisdiction": "jur"}[dimension]]
    rows = list(session.execute(select(column.label("k"), *_sums(source)).group_by(column)))
    return _merge(_labels(session, dimension, [r.k for r in rows]), rows)


def dashboard_lines(session: Session, user: User, flt: ReportFilter, now: datetime
                    ) -> tuple[Counts, list[Line], list[Line]]:
    """Totals, months and units from one grouped query (the dashboard's three views of one scan)."""
    source = facts(session, user, flt, now)
    month = source.c.month
    rows = list(session.execute(select(month.label("month"), source.c.unit.label("k"), *_sums(source))
                                .group_by(month, source.c.unit)))
    by_month: dict[str, Counts] = {}
    for r in rows:
        by_month[r.month] = _add(by_month.get(r.month, Counts()), _counts(r))
    months = [Line(m, _month_label(m), by_month[m]) for m in sorted(by_month)]
    units = _merge(_labels(session, "unit", [r.k for r in rows]), rows)
    return total_of(months), months, units


def total_of(lines: Sequence[Line]) -> Counts:
    """The whole of a breakdown: every dossier is in exactly one line of a dimension."""
    total = Counts()
    for line in lines:
        total = _add(total, line.counts)
    return total


def _merge(labels: dict[int, tuple[str, str]], rows) -> list[Line]:
    merged: dict[str, Line] = {}
    for r in rows:
        key, label = labels[r.k]
        previous = merged.get(key)
        merged[key] = Line(key, label, _add(previous.counts, _counts(r)) if previous else _counts(r))
    return sorted(merged.values(), key=lambda line: (-line.counts.received, line.label))


def _add(a: Counts, b: Counts) -> Counts:
    return Counts(**{f.name: getattr(a, f.name) + getattr(b, f.name) for f in fields(Counts)})


def _labels(session: Session, dimension: str, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    ids = list(set(ids))
    if not ids:
        return {}
    if dimension == "unit":
        return {u.id: (str(u.id), u.name) for u in session.scalars(select(Unit).where(Unit.id.in_(ids)))}
    if dimension == "jurisdiction":
        return {j.id: (str(j.id), j.name)
                for j in session.scalars(select(Jurisdiction).where(Jurisdiction.id.in_(ids)))}
    rows = session.execute(select(ProcedureVersion.id, Procedure.code, Procedure.name)
                           .join(Procedure).where(ProcedureVersion.id.in_(ids)))
    return {r.id: (r.code, r.name) for r in rows}


def _month_label(key: str) -> str:
    year, month = key.split("-")
    return f"{month}/{year}"


# ----------------------------------------------------------------- local dates in SQL


def _offset_hours(tz: str) -> int:
    """Hà Nội has no daylight saving: one fixed offset serves every date."""
    return int(datetime(2026, 1, 1, tzinfo=ZoneInfo(tz)).utcoffset().total_seconds() // 3600)


def local_day(session: Session, column, tz: str):
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone(tz, column))
    return func.date(column, f"{_offset_hours(tz):+d} hours")


def local_month(session: Session, column, tz: str):
    """'YYYY-MM' of a moment in local time."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone(tz, column), "YYYY-MM")
    return func.strftime("%Y-%m", column, f"{_offset_hours(tz):+d} hours")


def month_of_day(session: Session, day):
    """'YYYY-MM' of a date column (a date on PostgreSQL, ISO text on SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(day, "YYYY-MM")
    return func.substr(day, 1, 7)


# ----------------------------------------------------------------- 2.2 average processing time


@dataclass(frozen=True)
class ProcedureTime:
    code: str
    name: str
    limit_days: float
    finished: int
    average_days: float | None


def average_working_days(
    session: Session, user: User, flt: ReportFilter, calendar: WorkCalendar
) -> list[ProcedureTime]:
    """Indicator 2.2: working days from the start of counting to the result, pauses excluded.

    Whole working days between the local start day and the finish day. The
    rollup holds the sums for closed dossiers; the rest are grouped by
    (procedure, day) in the database and the calendar numbers the days, so
    no dossier is looped over in Python.
    """
    mark = watermark(session) if _rollup_usable(user, flt) else None
    sums: dict[str, list[float]] = {}  # code -> [days, n]
    if mark is not None:
        for code, days, n in session.execute(
                select(Procedure.code, func.sum(ReportDay.days_sum), func.sum(ReportDay.days_n))
                .join(ProcedureVersion, ProcedureVersion.id == ReportDay.procedure_version_id).join(Procedure)
                .where(*_rollup_where(session, user, flt)).group_by(Procedure.code)):
            sums[code] = [float(days or 0), int(n or 0)]
    base = [*conditions(session, user, flt), _finished()]
    # not closed yet (a covering partial index) and, when the rollup holds the rest, closed since its mark
    parts = [[*base]] if mark is None else [[*base, Dossier.closed_at.is_(None)], [*base, Dossier.closed_at >= mark]]
    proc = Procedure.code
    for (sign, column), where in ((pair, where) for pair in ((1, Dossier.finished_at), (-1, Dossier.counting_from))
                                  for where in parts):
        day = local_day(session, column, flt.tz)
        rows = session.execute(
            select(proc.label("code"), day.label("day"), func.count().label("n"),
                   func.sum(Dossier.paused_minutes).label("paused"))
            .join(ProcedureVersion, Dossier.procedure_version_id == ProcedureVersion.id)
            .join(Procedure, ProcedureVersion.procedure_id == Procedure.id)
            .where(*where).group_by(proc, day))
        for r in rows:
            entry = sums.setdefault(r.code, [0.0, 0])
            entry[0] += sign * working_day_number(calendar, as_date(r.day)) * r.n
            if sign == 1:
                entry[0] -= (r.paused or 0) / calendar.minutes_per_day
                entry[1] += r.n
    info = {r.code: (r.name, r.limit) for r in session.execute(
        select(Procedure.code, Procedure.name, func.max(ProcedureVersion.time_limit_days).label("limit"))
        .join(ProcedureVersion).group_by(Procedure.code, Procedure.name))}
    out = []
    for code, (name, limit) in sorted(info.items()):
        if code == FEEDBACK_CODE or (flt.procedure_code and code != flt.procedure_code):
            continue
        days, n = sums.get(code, [0.0, 0])
        out.append(ProcedureTime(code, name, float(limit or 0), int(n),
                                 round(max(0.0, days / n), 1) if n else None))
    return out


_YEARS: dict[tuple[int, int], list[int]] = {}
EPOCH_YEAR = 2000


def working_day_number(calendar: WorkCalendar, day: date) -> int:
    """Working days from 1/1/2000 up to and including ``day``: a running count per year, cached."""
    day = as_date(day)
    return _year_counts(calendar, day.year)[day.timetuple().tm_yday - 1] + sum(
        _year_counts(calendar, y)[-1] for y in range(EPOCH_YEAR, day.year))


def _year_counts(calendar: WorkCalendar, year: int) -> list[int]:
    key = (id(calendar), year)
    if key not in _YEARS:
        running, out, day = 0, [], date(year, 1, 1)
        while day.year == year:
            running += calendar.is_working_day(day)
            out.append(running)
            day += timedelta(days=1)
        _YEARS[key] = out
    return _YEARS[key]


def as_date(value) -> date:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# ----------------------------------------------------------------- 5.2 citizen feedback


@dataclass(frozen=True)
class FeedbackCounts:
    received: int
    answered: int
    answered_on_time: int
    open_overdue: int

    @property
    def on_time_share(self) -> float | None:
        """Indicator 5.2: answered within 15 working days, among feedback answered or overdue."""
        return _pct(self.answered_on_time, self.answered + self.open_overdue)


def feedback_counts(session: Session, user: User, flt: ReportFilter, now: datetime) -> FeedbackCounts:
    answered = Dossier.finished_at.is_not(None)
    on_time = and_(answered, Dossier.result_timing != "late")
    overdue = and_(Dossier.finished_at.is_(None), Dossier.status.in_(OPEN_STATUSES), Dossier.due_at < now)
    row = session.execute(select(
        func.count(), func.sum(case((answered, 1), else_=0)), func.sum(case((on_time, 1), else_=0)),
        func.sum(case((overdue, 1), else_=0)),
    ).select_from(Dossier).where(*conditions(session, user, flt, feedback=True))).one()
    return FeedbackCounts(*(int(v or 0) for v in row))


# ----------------------------------------------------------------- dashboard lists


@dataclass(frozen=True)
class OverdueUnit:
    unit_id: int
    name: str
    overdue: int


def overdue_by_unit(session: Session, user: User, flt: ReportFilter, now: datetime, limit: int = 10
                    ) -> list[OverdueUnit]:
    """Units holding the most overdue dossiers now (an open step of an overdue dossier)."""
    where = [*conditions(session, user, flt), category_conditions(now)["overdue"], Dossier.closed_at.is_(None)]
    n = func.count(func.distinct(Task.dossier_id))
    rows = session.execute(
        select(Task.unit_id, Unit.name, n.label("n"))
        .join(Dossier, Task.dossier_id == Dossier.id).join(Unit, Task.unit_id == Unit.id)
        .where(Task.state == TaskState.OPEN, *where)
        .group_by(Task.unit_id, Unit.name).order_by(n.desc(), Unit.name).limit(limit))
    return [OverdueUnit(r.unit_id, r.name, int(r.n)) for r in rows]


@dataclass
class OpenDossier:
    code: str
    procedure: str
    received_at: datetime
    due_at: datetime
    status: str
    holders: list[tuple[str, str]] = field(default_factory=list)  # (unit name, person or "")


def oldest_open(session: Session, user: User, flt: ReportFilter, limit: int = 10) -> list[OpenDossier]:
    """The open dossiers received longest ago, with the unit and person holding each."""
    where = [*conditions(session, user, flt), Dossier.status.in_(OPEN_STATUSES), Dossier.closed_at.is_(None)]
    rows = session.execute(
        select(Dossier.id, Dossier.code, ProcedureVersion.name, Dossier.received_at, Dossier.due_at, Dossier.status)
        .join(ProcedureVersion, Dossier.procedure_version_id == ProcedureVersion.id)
        .where(*where).order_by(Dossier.received_at, Dossier.id).limit(limit)).all()
    items = {r.id: OpenDossier(r.code, r.name, r.received_at, r.due_at, r.status) for r in rows}
    if items:
        holders = session.execute(
            select(Task.dossier_id, Unit.name, User.full_name)
            .join(Unit, Task.unit_id == Unit.id).outerjoin(User, Task.claimed_by_id == User.id)
            .where(Task.dossier_id.in_(list(items)), Task.state == TaskState.OPEN).order_by(Task.id))
        for dossier_id, unit_name, person in holders:
            items[dossier_id].holders.append((unit_name, person or ""))
    return list(items.values())


def drill_statement(session: Session, user: User, flt: ReportFilter, now: datetime, category: str):
    """``SELECT dossier`` behind one figure: the same conditions the count used."""
    cats = category_conditions(now)
    if category not in cats:
        raise ValueError(category)
    return select(Dossier).where(*conditions(session, user, flt), cats[category])
