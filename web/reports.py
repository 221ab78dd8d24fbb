"""Leaders' dashboard, the indicators, the counter's ledger and their exports.

Every figure comes from ``engine.indicators`` within the user's scope and
links to the dossiers behind it (``/reports/dossiers``), filtered by the
same conditions that counted them.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import indicators, ledger, rollup
from engine.access import is_admin, is_jurisdiction_leader
from engine.counter_lists import jurisdictions_within
from engine.errors import Forbidden
from engine.indicators import ReportFilter
from engine.models import Dossier, Jurisdiction, Procedure, Unit, User
from web.auth import actor, engine_ctx, roles_required
from web.dossier_pages import STATUS_LABELS, TIMING_LABELS, pager, procedure_names

bp = Blueprint("reports", __name__, url_prefix="/reports")

COUNTER_TYPE = "mot_cua"
CATEGORY_LABELS = {
    "received": _l("Tiếp nhận"),
    "in_progress": _l("Đang giải quyết"),
    "overdue": _l("Đang quá hạn"),
    "paused": _l("Tạm dừng, chờ bổ sung"),
    "finished": _l("Đã giải quyết"),
    "early": _l("Trước hạn"),
    "on_time": _l("Đúng hạn"),
    "late": _l("Quá hạn"),
    "refused": _l("Từ chối"),
    "withdrawn": _l("Rút hồ sơ"),
    "online": _l("Trực tuyến"),
    "counter": _l("Trực tiếp"),
    "post": _l("Bưu chính"),
    "rated": _l("Có đánh giá"),
    "complaint": _l("Không hài lòng"),
}
DIMENSION_LABELS = {"unit": _l("Đơn vị tiếp nhận"), "procedure": _l("Thủ tục"),
                    "jurisdiction": _l("Địa bàn"), "month": _l("Tháng tiếp nhận")}
LEDGER_HEADERS = (_l("STT"), _l("Mã hồ sơ"), _l("Người nộp"), _l("Thủ tục"), _l("Ngày tiếp nhận"),
                  _l("Ngày hẹn trả"), _l("Chuyển xử lý"), _l("Đơn vị xử lý"), _l("Ngày trả kết quả"),
                  _l("Tình trạng"), _l("Kết quả xử lý"))


# ----------------------------------------------------------------- filters


def parse_day(text: str | None) -> date | None:
    """dd/mm/yyyy (as shown everywhere) or yyyy-mm-dd; None when empty; ValueError when wrong."""
    text = (text or "").strip()
    if not text:
        return None
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(text)


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 10 else None


def read_filter(session: Session, default_months: int) -> ReportFilter:
    """The filter from the query string, with a default period ending today."""
    ctx = engine_ctx()
    tz = ctx.settings.calendar.timezone
    today = ctx.clock.now().astimezone(ZoneInfo(tz)).date()
    default_from = _months_back(today, default_months)
    try:
        date_from = parse_day(request.args.get("from"))
        date_to = parse_day(request.args.get("to"))
    except ValueError:
        flash(_("Ngày không hợp lệ, hãy nhập theo dạng dd/mm/yyyy."), "warning")
        date_from = date_to = None
    if "from" not in request.args and date_from is None:
        date_from = default_from
    if "to" not in request.args and date_to is None:
        date_to = today
    if date_from and date_to and date_from > date_to:
        flash(_("Ngày bắt đầu sau ngày kết thúc: đã đổi chỗ hai ngày."), "warning")
        date_from, date_to = date_to, date_from
    status = request.args.get("status", "")
    procedure = request.args.get("procedure", "").strip()[:40] or None
    return ReportFilter(date_from=date_from, date_to=date_to, unit_id=_int_arg("unit"),
                        procedure_code=procedure, jurisdiction_id=_int_arg("jurisdiction"),
                        status=status if status in STATUS_LABELS else None, tz=tz)


def _months_back(today: date, months: int) -> date:
    """The first day of the month ``months - 1`` months before today's (12 -> a year of whole months)."""
    year, month = today.year, today.month - (months - 1)
    while month <= 0:
        month += 12
        year -= 1
    return date(year, month, 1)


def filter_args(flt: ReportFilter, **extra) -> dict:
    """The query string that reproduces ``flt`` (for links and exports)."""
    args = {"from": flt.date_from.strftime("%d/%m/%Y") if flt.date_from else "",
            "to": flt.date_to.strftime("%d/%m/%Y") if flt.date_to else ""}
    for key, value in (("unit", flt.unit_id), ("procedure", flt.procedure_code),
                       ("jurisdiction", flt.jurisdiction_id), ("status", flt.status)):
        if value:
            args[key] = value
    args.update({k: v for k, v in extra.items() if v not in (None, "")})
    return args


def counters_in_scope(session: Session, user: User) -> list[Unit]:
    """The counters whose ledgers the user may open."""
    if is_admin(user):
        return list(session.scalars(select(Unit).where(Unit.type == COUNTER_TYPE).order_by(Unit.code)))
    if is_jurisdiction_leader(user):
        ids = [j.id for j, _depth in jurisdictions_within(session, user.unit.jurisdiction_id)]
        return list(session.scalars(select(Unit).where(Unit.type == COUNTER_TYPE, Unit.jurisdiction_id.in_(ids))
                                    .order_by(Unit.code)))
    if user.has_role("clerk"):
        return [user.unit]
    return []


def jurisdictions_in_scope(session: Session, user: User) -> list[tuple[Jurisdiction, int]]:
    if is_admin(user):
        root = session.scalar(select(Jurisdiction).where(Jurisdiction.parent_id.is_(None)).order_by(Jurisdiction.id))
        return jurisdictions_within(session, root.id) if root else []
    if is_jurisdiction_leader(user):
        return jurisdictions_within(session, user.unit.jurisdiction_id)
    return []


def _check_choices(session: Session, user: User, flt: ReportFilter) -> ReportFilter:
    """Unknown or out-of-scope counters and jurisdictions are refused (never widen the scope)."""
    if flt.unit_id and flt.unit_id not in {u.id for u in counters_in_scope(session, user)}:
        abort(404)
    if flt.jurisdiction_id and flt.jurisdiction_id not in {j.id for j, _d in jurisdictions_in_scope(session, user)}:
        abort(404)
    return flt


def _procedures(session: Session) -> list[tuple[str, str]]:
    return [(c, n) for c, n in session.execute(select(Procedure.code, Procedure.name).order_by(Procedure.code))
            if c != indicators.FEEDBACK_CODE]


def _scoped_user(session: Session) -> User:
    user = actor(session)
    try:
        indicators.scope_clause(session, user)
    except Forbidden:
        abort(403)
    return user


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}".replace(".", ",") + " %"


# ----------------------------------------------------------------- dashboard


@bp.get("/")
@roles_required("leader", "clerk")
def index():
    if current_user.has_role("leader"):
        return redirect(url_for("reports.dashboard"))
    return redirect(url_for("reports.ledger_page"))


def _refresh_rollup() -> None:
    """Bring the rollup of closed dossiers up to date (a no-op within a minute of the last time)."""
    ctx = engine_ctx()
    with ctx.db.transaction() as session:
        rollup.refresh(session, ctx.calendar(session), ctx.clock.now())


@bp.get("/dashboard")
@roles_required("leader")
def dashboard():
    _refresh_rollup()
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        user = _scoped_user(session)
        flt = _check_choices(session, user, read_filter(session, 12))
        now = ctx.clock.now()
        total, months, units = indicators.dashboard_lines(session, user, flt, now)
        overdue = indicators.overdue_by_unit(session, user, flt, now)
        oldest = indicators.oldest_open(session, user, flt)
        feedback = indicators.feedback_counts(session, user, flt, now)
        jurisdictions = jurisdictions_in_scope(session, user)
        procedures = _procedures(session)
    chart = {
        "months": {"labels": [m.label for m in months],
                   "share": [m.counts.on_time_share for m in months],
                   "finished": [m.counts.finished for m in months],
                   "late": [m.counts.late for m in months]},
        "units": {"labels": [u.label for u in units if u.counts.finished][:15],
                  "share": [u.counts.on_time_share for u in units if u.counts.finished][:15]},
        "overdue": {"labels": [o.name for o in overdue], "counts": [o.overdue for o in overdue]},
        "text": {"share": _("Tỷ lệ đúng hạn (%)"), "finished": _("Đã giải quyết"), "late": _("Quá hạn"),
                 "overdue": _("Hồ sơ đang quá hạn")},
    }
    return render_template("reports/dashboard.html", flt=flt, total=total, months=months, units=units,
                           overdue=overdue, oldest=oldest, feedback=feedback, chart_json=json.dumps(chart).replace("<", "\\u003c"),
                           jurisdictions=jurisdictions, procedures=procedures, args=filter_args(flt),
                           labels=CATEGORY_LABELS, pct=pct, now=now)


@bp.get("/indicators")
@roles_required("leader")
def indicators_page():
    dimension = request.args.get("by", "unit")
    if dimension not in indicators.DIMENSIONS:
        dimension = "unit"
    _refresh_rollup()
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        user = _scoped_user(session)
        flt = _check_choices(session, user, read_filter(session, 12))
        now = ctx.clock.now()
        lines = indicators.breakdown(session, user, flt, now, dimension)
        total = indicators.total_of(lines)
        times = indicators.average_working_days(session, user, flt, ctx.calendar(session))
        feedback = indicators.feedback_counts(session, user, flt, now)
        jurisdictions = jurisdictions_in_scope(session, user)
        counters = counters_in_scope(session, user)
        procedures = _procedures(session)
    return render_template("reports/indicators.html", flt=flt, total=total, lines=lines, times=times,
                           feedback=feedback, dimension=dimension, dimensions=DIMENSION_LABELS,
                           jurisdictions=jurisdictions, counters=counters, procedures=procedures,
                           args=filter_args(flt), labels=CATEGORY_LABELS, pct=pct,
                           drill_key=_drill_key)


def _drill_key(dimension: str, line: indicators.Line, flt: ReportFilter) -> dict:
    """Filter arguments narrowing a drill-down link to one line of a breakdown."""
    if dimension == "unit":
        return filter_args(flt, unit=line.key)
    if dimension == "procedure":
        return filter_args(flt, procedure=line.key)
    if dimension == "jurisdiction":
        return filter_args(flt, jurisdiction=line.key)
    year, month = (int(x) for x in line.key.split("-"))
    first = date(year, month, 1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    lo = max(first, flt.date_from) if flt.date_from else first
    hi = min(last, flt.date_to) if flt.date_to else last
    return filter_args(ReportFilter(lo, hi, flt.unit_id, flt.procedure_code, flt.jurisdiction_id, flt.status, flt.tz))


# ----------------------------------------------------------------- drill-down


@bp.get("/dossiers")
@roles_required("leader", "clerk")
def dossiers():
    """The dossiers behind one figure, with the same filters."""
    category = request.args.get("category", "received")
    if category not in indicators.CATEGORIES:
        abort(404)
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        user = _scoped_user(session)
        flt = _check_choices(session, user, read_filter(session, 12))
        now = ctx.clock.now()
        stmt = indicators.drill_statement(session, user, flt, now, category)
        total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        pages = pager(total)
        rows = list(session.scalars(stmt.order_by(Dossier.received_at.desc(), Dossier.id.desc())
                                    .limit(pages.size).offset(pages.offset)))
        names = procedure_names(session, (d.procedure_version_id for d in rows))
    return render_template("reports/dossiers.html", rows=rows, names=names, pager=pages, flt=flt,
                           category=category, label=CATEGORY_LABELS[category],
                           args=filter_args(flt, category=category))


# ----------------------------------------------------------------- ledger


def _ledger_filter(session: Session, user: User) -> tuple[ReportFilter, list[Unit]]:
    flt = _check_choices(session, user, read_filter(session, 1))
    counters = counters_in_scope(session, user)
    if not counters and not is_admin(user):
        abort(403)
    if flt.unit_id is None and user.has_role("clerk") and not is_admin(user) and counters:
        flt = ReportFilter(flt.date_from, flt.date_to, user.unit_id, flt.procedure_code, flt.jurisdiction_id,
                           flt.status, flt.tz)
    return flt, counters


@bp.get("/ledger")
@roles_required("leader", "clerk")
def ledger_page():
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        user = _scoped_user(session)
        flt, counters = _ledger_filter(session, user)
        try:
            number = max(1, int(request.args.get("page", "1")))
        except ValueError:
            number = 1
        result = ledger.page(session, user, flt, page=number, per_page=50)
        unit_name = next((u.name for u in counters if u.id == flt.unit_id), "")
        printing = request.args.get("print") == "1"
        lines = list(ledger.all_lines(session, user, flt, limit=5000)) if printing else result.lines
    return render_template("reports/ledger_print.html" if printing else "reports/ledger.html",
                           result=result, lines=lines, flt=flt, counters=counters, unit_name=unit_name,
                           args=filter_args(flt), statuses=STATUS_LABELS, headers=LEDGER_HEADERS)


def _cells(line: ledger.LedgerLine, tz: ZoneInfo) -> list:
    def when(moment: datetime | None) -> str:
        return moment.astimezone(tz).strftime("%H:%M %d/%m/%Y") if moment else ""

    return [line.number, line.code, line.applicant, line.procedure, when(line.received_at), when(line.due_at),
            when(line.handed_at), line.handed_to, when(line.returned_at),
            str(STATUS_LABELS.get(line.status, line.status)), str(TIMING_LABELS.get(line.timing or "", ""))]


def _file_name(flt: ReportFilter, ext: str) -> str:
    span = "-".join(d.strftime("%Y%m%d") for d in (flt.date_from, flt.date_to) if d)
    return f"so-theo-doi-ho-so-{span or 'tat-ca'}.{ext}"


@bp.get("/ledger.csv")
@roles_required("leader", "clerk")
def ledger_csv():
    """UTF-8 with a byte-order mark, so Excel opens the Vietnamese text correctly."""
    ctx = engine_ctx()
    tz = ZoneInfo(ctx.settings.calendar.timezone)
    with ctx.db.reading() as session:
        user = _scoped_user(session)
        flt, _counters = _ledger_filter(session, user)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([str(h) for h in LEDGER_HEADERS])
        for line in ledger.all_lines(session, user, flt):
            writer.writerow(_cells(line, tz))
    body = "\ufeff" + out.getvalue()
    return Response(body.encode("utf-8"), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{_file_name(flt, "csv")}"'})


@bp.get("/ledger.xlsx")
@roles_required("leader", "clerk")
def ledger_xlsx():
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    ctx = engine_ctx()
    tz = ZoneInfo(ctx.settings.calendar.timezone)
    with ctx.db.reading() as session:
        user = _scoped_user(session)
        flt, counters = _ledger_filter(session, user)
        unit_name = next((u.name for u in counters if u.id == flt.unit_id), "")
        book = Workbook(write_only=False)
        sheet = book.active
        sheet.title = "So theo doi"
        title = _("Sổ theo dõi hồ sơ")
        span = " - ".join(d.strftime("%d/%m/%Y") for d in (flt.date_from, flt.date_to) if d)
        sheet.append([f"{title} {unit_name}".strip()])
        sheet.append([span])
        sheet.append([str(h) for h in LEDGER_HEADERS])
        sheet["A1"].font = Font(bold=True, size=13)
        for cell in sheet[3]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for line in ledger.all_lines(session, user, flt):
            sheet.append(_cells(line, tz))
    for column, width in zip("ABCDEFGHIJK", (6, 24, 24, 40, 17, 17, 17, 30, 17, 18, 12), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A4"
    buffer = io.BytesIO()
    book.save(buffer)
    buffer.seek(0)
    return send_file(buffer, as_attachment=True, download_name=_file_name(flt, "xlsx"),
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
