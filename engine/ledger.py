"""The counter's ledger (sổ theo dõi hồ sơ, form 06): one line per dossier received.

One query per page, served by the index on (receiving unit, received at):
the line's procedure, its first handover to a processing unit and its
result timing come with the row, never one query per line. The same
``lines`` feed the page, the printable view and the Excel and CSV files, so
they always agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from engine.indicators import ReportFilter, conditions, late_rule
from engine.models import Dossier, Handoff, ProcedureVersion, Unit, User

MAX_PER_PAGE = 200
MAX_EXPORT = 100_000


@dataclass(frozen=True)
class LedgerLine:
    number: int  # position in the ledger for the period (1-based)
    code: str
    applicant: str
    procedure: str
    received_at: datetime
    due_at: datetime
    handed_at: datetime | None  # first handover from the counter to a processing unit
    handed_to: str
    returned_at: datetime | None
    status: str
    timing: str | None  # early / on_time / late under indicator 2.1's rule; None while unfinished


@dataclass(frozen=True)
class LedgerPage:
    lines: list[LedgerLine]
    total: int
    page: int
    per_page: int
    by_status: dict[str, int]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _statement(session: Session, user: User, flt: ReportFilter, *, offset: int = 0, limit: int | None = None):
    """The ledger's lines in order; the page is chosen on dossier ids first, so the per-line
    subqueries (first handover, unit name) run for the lines shown only, not for the skipped ones."""
    where = conditions(session, user, flt)
    chosen = None
    if offset or limit is not None:
        chosen = (select(Dossier.id).where(*where).order_by(Dossier.received_at, Dossier.id)
                  .offset(offset).limit(limit).scalar_subquery())
    first = (select(Handoff.handed_at, Handoff.to_unit_id)
             .where(Handoff.dossier_id == Dossier.id, Handoff.seq == 1).limit(1).correlate(Dossier))
    handed_at = first.with_only_columns(Handoff.handed_at).scalar_subquery()
    handed_to = (select(Unit.name).join(Handoff, Handoff.to_unit_id == Unit.id)
                 .where(Handoff.dossier_id == Dossier.id, Handoff.seq == 1).limit(1)
                 .correlate(Dossier).scalar_subquery())
    timing = case(
        (Dossier.status.not_in(("awaiting_return", "returned")), None),
        (late_rule(), "late"),
        else_=Dossier.result_timing,
    )
    return (
        select(Dossier.code, Dossier.applicant_name, ProcedureVersion.name.label("procedure"),
               Dossier.received_at, Dossier.due_at, handed_at.label("handed_at"), handed_to.label("handed_to"),
               case((Dossier.status == "returned", Dossier.closed_at), else_=None).label("returned_at"),
               Dossier.status, timing.label("timing"))
        .join(ProcedureVersion, Dossier.procedure_version_id == ProcedureVersion.id)
        .where(Dossier.id.in_(chosen) if chosen is not None else and_(*where))
        .order_by(Dossier.received_at, Dossier.id)
    )


def _line(number: int, row) -> LedgerLine:
    return LedgerLine(number, row.code, row.applicant_name, row.procedure, row.received_at, row.due_at,
                      row.handed_at, row.handed_to or "", row.returned_at, row.status, row.timing)


def page(session: Session, user: User, flt: ReportFilter, *, page: int = 1, per_page: int = 50) -> LedgerPage:
    """One page of the ledger, with the total and the count per status for the whole period."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    by_status = {status: int(n) for status, n in session.execute(
        select(Dossier.status, func.count()).where(*conditions(session, user, flt)).group_by(Dossier.status))}
    total = sum(by_status.values())
    pages = max(1, -(-total // per_page))
    page = max(1, min(page, pages))
    offset = (page - 1) * per_page
    rows = session.execute(_statement(session, user, flt, offset=offset, limit=per_page))
    lines = [_line(offset + i + 1, row) for i, row in enumerate(rows)]
    return LedgerPage(lines, total, page, per_page, by_status)


def all_lines(session: Session, user: User, flt: ReportFilter, limit: int = MAX_EXPORT) -> Iterator[LedgerLine]:
    """Every line of the period in ledger order (for the exports), streamed in batches."""
    result = session.execute(_statement(session, user, flt).limit(limit).execution_options(yield_per=2000))
    for i, row in enumerate(result):
        yield _line(i + 1, row)
