"""Dossier search, the dossier page, the tracking slip (form 05) and attachment downloads.

Every page is for people who may see the dossier (``engine.access.can_view``;
for lists its SQL form ``engine.visibility``). Anyone else gets the same
404 as for a code that does not exist: no name, no status, no hint.
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, load_only

from engine import access, attachments, timeline
from engine.calendar import WorkCalendar
from engine.deployment import compiled_by_id
from engine.errors import NotFound
from engine.models import Attachment, Dossier, Procedure, ProcedureVersion, Task, TaskState, Unit
from engine.search import dossier_matches
from engine.visibility import visible_dossiers
from web.auth import actor, engine_ctx, roles_required
from web.formfields import display_value

bp = Blueprint("dossiers", __name__, url_prefix="/dossiers")

PAGE_SIZE = 25
MAX_SEARCH = 100

STATUS_LABELS = {
    "processing": _l("Đang xử lý"),
    "awaiting_supplement": _l("Chờ bổ sung"),
    "awaiting_return": _l("Có kết quả, chờ trả"),
    "returned": _l("Đã trả kết quả"),
    "refused": _l("Từ chối"),
    "withdrawn": _l("Đã rút"),
}
STATUS_BADGES = {
    "processing": "text-bg-primary",
    "awaiting_supplement": "text-bg-warning",
    "awaiting_return": "text-bg-info",
    "returned": "text-bg-success",
    "refused": "text-bg-danger",
    "withdrawn": "text-bg-secondary",
}
TIMING_LABELS = {"early": _l("Trước hạn"), "on_time": _l("Đúng hạn"), "late": _l("Quá hạn")}
TIMING_BADGES = {"early": "text-bg-success", "on_time": "text-bg-primary", "late": "text-bg-danger"}
ACTION_LABELS = {
    "received": _l("Tiếp nhận hồ sơ"),
    "claimed": _l("Nhận xử lý bước"),
    "released": _l("Trả lại bước cho đơn vị"),
    "completed": _l("Hoàn thành bước"),
    "supplement_requested": _l("Yêu cầu bổ sung hồ sơ"),
    "supplement_received": _l("Nhận hồ sơ bổ sung"),
    "extended": _l("Gia hạn, hẹn lại ngày trả"),
    "refused": _l("Từ chối giải quyết"),
    "withdrawn": _l("Công dân rút hồ sơ"),
    "returned": _l("Trả kết quả cho công dân"),
    "timer_fired": _l("Hẹn giờ đến hạn"),
}
CHANNEL_LABELS = {"counter": _l("Trực tiếp"), "online": _l("Trực tuyến"), "post": _l("Bưu chính")}
PAUSE_LABELS = {"supplement": _l("Chờ bổ sung hồ sơ"), "step": _l("Tạm dừng theo quy trình")}
ATTACHMENT_KINDS = {"component": _l("Thành phần hồ sơ"), "supplement": _l("Hồ sơ bổ sung"),
                    "result": _l("Kết quả")}


@bp.app_template_filter("status_label")
def status_label(status: str | None) -> str:
    return str(STATUS_LABELS.get(status or "", status or ""))


@bp.app_template_filter("status_badge")
def status_badge(status: str | None) -> str:
    return STATUS_BADGES.get(status or "", "text-bg-light")


@bp.app_template_filter("timing_label")
def timing_label(timing: str | None) -> str:
    return str(TIMING_LABELS.get(timing or "", ""))


@bp.app_template_filter("timing_badge")
def timing_badge(timing: str | None) -> str:
    return TIMING_BADGES.get(timing or "", "text-bg-light")


@bp.app_template_filter("filesize")
def filesize(size: int | None) -> str:
    size = size or 0
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size / 1024 / 1024:.1f} MB".replace(".", ",")


# ----------------------------------------------------------------- working time


def duration_text(minutes: int, minutes_per_day: int) -> str:
    """Working time in words: "2 ngày 3 giờ", "3 giờ 20 phút", "45 phút"."""
    days, rest = divmod(max(0, minutes), minutes_per_day)
    hours, mins = divmod(rest, 60)
    if days:
        return _("%(d)s ngày %(h)s giờ", d=days, h=hours) if hours else _("%(d)s ngày", d=days)
    if hours:
        return _("%(h)s giờ %(m)s phút", h=hours, m=mins) if mins else _("%(h)s giờ", h=hours)
    return _("%(m)s phút", m=mins)


@dataclass(frozen=True)
class TimeLeft:
    """Working time left before a due moment, as the inbox and the dossier page show it."""

    text: str
    state: str  # ok, soon (within one working day), overdue, paused

    @property
    def row_class(self) -> str:
        return {"overdue": "row-overdue", "soon": "row-soon"}.get(self.state, "")

    @property
    def text_class(self) -> str:
        return {"overdue": "text-danger fw-semibold", "soon": "text-warning-emphasis fw-semibold",
                "paused": "text-secondary"}.get(self.state, "")


def time_left(calendar: WorkCalendar, due: datetime, now: datetime, paused_since: datetime | None = None) -> TimeLeft:
    """Working time left until ``due``; frozen at ``paused_since`` while the dossier's clock stands still."""
    per_day = calendar.minutes_per_day
    at = paused_since if paused_since is not None and paused_since < now else now
    if due > at:
        minutes = calendar.working_minutes_between(at, due)
        text = duration_text(minutes, per_day)
        if paused_since is not None:
            return TimeLeft(_("%(left)s (tạm dừng)", left=text), "paused")
        return TimeLeft(text, "soon" if minutes <= per_day else "ok")
    minutes = calendar.working_minutes_between(due, at)
    text = _("Quá hạn %(late)s", late=duration_text(minutes, per_day)) if minutes else _("Quá hạn")
    return TimeLeft(text, "overdue")


def number_text(value: float) -> str:
    """15.0 -> "15", 0.5 -> "0,5" (Vietnamese decimal comma)."""
    return f"{value:.2f}".rstrip("0").rstrip(".").replace(".", ",")


def working_days_text(minutes: int | None, minutes_per_day: int) -> str:
    return _("%(n)s ngày làm việc", n=number_text((minutes or 0) / minutes_per_day))


# ----------------------------------------------------------------- lookups


def _find_visible(session: Session, code: str) -> tuple[Dossier, object]:
    """The dossier and the acting user, or 404 for unknown codes and dossiers the user may not see."""
    user = actor(session)
    dossier = timeline.find_dossier(session, code) if len(code) <= 64 else None
    if dossier is None or not access.can_view(session, user, dossier):
        abort(404, _("Không tìm thấy hồ sơ %(code)s, hoặc bạn không có quyền xem hồ sơ này.", code=code[:64]))
    return dossier, user


def _page_number() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


@dataclass(frozen=True)
class Pager:
    page: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.size))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size

    @property
    def first_row(self) -> int:
        return self.offset + 1 if self.total else 0

    @property
    def last_row(self) -> int:
        return min(self.total, self.offset + self.size)


def pager(total: int, size: int = PAGE_SIZE) -> Pager:
    pages = max(1, math.ceil(total / size))
    return Pager(min(_page_number(), pages), size, total)


def procedure_names(session: Session, version_ids) -> dict[int, tuple[str, str, int]]:
    """version id -> (procedure code, name, version number), without loading BPMN sources."""
    ids = set(version_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(ProcedureVersion.id, Procedure.code, ProcedureVersion.name, ProcedureVersion.version)
        .join(Procedure, ProcedureVersion.procedure_id == Procedure.id).where(ProcedureVersion.id.in_(ids)))
    return {row.id: (row.code, row.name, row.version) for row in rows}


def procedure_choices(session: Session) -> list[tuple[str, str]]:
    return [(p.code, p.name) for p in session.scalars(
        select(Procedure).options(load_only(Procedure.code, Procedure.name)).order_by(Procedure.code))]


# ----------------------------------------------------------------- search


@bp.get("/")
@roles_required("clerk", "specialist", "leader")
def search():
    """Dossiers the user may see, newest first, by code or applicant."""
    q = request.args.get("q", "").strip()[:MAX_SEARCH]
    status = request.args.get("status", "")
    procedure = request.args.get("procedure", "")
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        user = actor(session)
        stmt = visible_dossiers(session, user).options(load_only(
            Dossier.id, Dossier.code, Dossier.procedure_version_id, Dossier.applicant_name, Dossier.status,
            Dossier.received_at, Dossier.due_at, Dossier.paused_since, Dossier.finished_at,
            Dossier.result_timing))
        if q:
            stmt = stmt.where(dossier_matches(q))
        if status in STATUS_LABELS:
            stmt = stmt.where(Dossier.status == status)
        procedures = procedure_choices(session)
        if procedure in {code for code, _name in procedures}:
            stmt = stmt.where(Dossier.procedure_version_id.in_(
                select(ProcedureVersion.id).join(Procedure).where(Procedure.code == procedure)))
        total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        pages = pager(total)
        rows = list(session.scalars(stmt.order_by(Dossier.received_at.desc(), Dossier.id.desc())
                                    .limit(pages.size).offset(pages.offset)))
        names = procedure_names(session, (d.procedure_version_id for d in rows))
        holders = _holders(session, [d.id for d in rows])
    template = "dossiers/_results.html" if request.headers.get("HX-Request") else "dossiers/search.html"
    return render_template(template, rows=rows, names=names, holders=holders, pager=pages, q=q, status=status,
                           procedure=procedure, procedures=procedures, statuses=STATUS_LABELS)


def _holders(session: Session, dossier_ids: list[int]) -> dict[int, list[str]]:
    """Units holding an open step of each dossier."""
    if not dossier_ids:
        return {}
    held: dict[int, list[str]] = {}
    for dossier_id, name in session.execute(
        select(Task.dossier_id, Unit.name).join(Unit, Task.unit_id == Unit.id)
        .where(Task.dossier_id.in_(dossier_ids), Task.state == TaskState.OPEN).order_by(Task.id)
    ):
        if name not in held.setdefault(dossier_id, []):
            held[dossier_id].append(name)
    return held


# ----------------------------------------------------------------- dossier page


def step_labels(ctx, session: Session, dossier: Dossier) -> dict[str, dict[str, tuple[str, str]]]:
    """step id -> field key -> (label, type), for showing what each step recorded."""
    try:
        compiled = compiled_by_id(ctx, session, dossier.procedure_version_id)
    except Exception:  # an unreadable old version must not hide the dossier's history
        current_app.logger.exception("cannot compile procedure version %s", dossier.procedure_version_id)
        return {}
    return {step_id: {f.key: (f.label, f.type) for f in step.fields} for step_id, step in compiled.steps.items()}


def recorded_data(labels: dict[str, dict[str, tuple[str, str]]], step: str | None, data: dict | None
                  ) -> list[tuple[str, str]]:
    """(label, shown value) pairs of what a step recorded, in the declared order."""
    fields = labels.get(step or "", {})
    data = data or {}
    shown = [(label, display_value(kind, data[key])) for key, (label, kind) in fields.items() if key in data]
    shown += [(key, display_value("", value)) for key, value in data.items() if key not in fields]
    return shown


def _event_rows(story: timeline.Timeline, labels) -> list[dict]:
    rows = []
    for event in story.events:
        detail = event.detail
        notes: list[str] = []
        if event.action == "completed":
            notes = [f"{label}: {value}" for label, value in recorded_data(labels, detail.get("step"),
                                                                              detail.get("data"))]
        elif event.action in ("supplement_requested", "extended", "refused", "withdrawn") and detail.get("reason"):
            notes.append(_("Lý do: %(reason)s", reason=detail["reason"]))
            if detail.get("missing"):
                notes.append(_("Cần bổ sung: %(items)s", items="; ".join(detail["missing"])))
        elif event.action == "returned" and detail.get("rating"):
            notes.append(_("Đánh giá của công dân: %(n)s/5", n=detail["rating"]))
        elif event.action == "received" and detail.get("version"):
            notes.append(_("Quy trình phiên bản %(v)s", v=detail["version"]))
        rows.append({"event": event, "label": str(ACTION_LABELS.get(event.action, event.action)),
                     "notes": notes})
    return rows


def _can_use_counter(user, dossier: Dossier) -> bool:
    return ("counter.dossier" in current_app.view_functions and user.has_role("clerk")
            and user.unit_id == dossier.receiving_unit_id)


@bp.get("/<code>")
@roles_required("clerk", "specialist", "leader")
def show(code: str):
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        dossier, user = _find_visible(session, code)
        calendar = ctx.calendar(session)
        now = ctx.clock.now()
        story = timeline.load(session, dossier, calendar=calendar, now=now)
        labels = step_labels(ctx, session, dossier)
        components = list(dossier.components)
        counter_url = url_for("counter.dossier", code=dossier.code) if _can_use_counter(user, dossier) else None
        my_tasks = {t.id for t in story.open_tasks if t.unit_id == user.unit_id
                    and user.roles & access.PROCESSING_ROLES}
        left = {t.id: time_left(calendar, t.due_at, now, dossier.paused_since) for t in story.open_tasks}
        dossier_left = (time_left(calendar, dossier.due_at, now, dossier.paused_since)
                        if dossier.status in ("processing", "awaiting_supplement") else None)
        tz = ZoneInfo(calendar.settings.timezone)
    return render_template(
        "dossiers/show.html", d=dossier, story=story, events=_event_rows(story, labels), components=components,
        counter_url=counter_url, my_tasks=my_tasks, left=left, dossier_left=dossier_left,
        notes=slip_notes(story, tz), channel=str(CHANNEL_LABELS.get(dossier.channel, dossier.channel)),
        pause_labels=PAUSE_LABELS, attachment_kinds=ATTACHMENT_KINDS,
        working_days_text=lambda minutes: working_days_text(minutes, story.minutes_per_day),
        limit_days=number_text(story.time_limit_days),
    )


def slip_notes(story: timeline.Timeline, tz: ZoneInfo) -> dict[int, list[str]]:
    """Handoff id -> notes for form 05: the result stint, pauses and extensions during the stint."""
    notes: dict[int, list[str]] = {}

    def day(moment: datetime) -> str:
        return moment.astimezone(tz).strftime("%d/%m/%Y")

    def during(stint, moment: datetime) -> bool:
        # Half-open: a pause that starts as one unit hands over belongs to the unit that receives.
        return stint.handed_at <= moment and (stint.finished_at is None or moment < stint.finished_at)

    for stint in story.stints:
        lines = []
        if stint.note == "result":
            lines.append(_("Kết quả chuyển về Bộ phận Một cửa để trả cho công dân"))
        for pause in story.pauses:
            if not during(stint, pause.started_at):
                continue
            length = working_days_text(pause.working_minutes, story.minutes_per_day)
            if pause.kind == "supplement":
                lines.append(_("Yêu cầu bổ sung ngày %(day)s, dừng %(length)s", day=day(pause.started_at),
                               length=length))
            else:
                lines.append(_("%(reason)s: dừng tính thời gian %(length)s", reason=pause.reason, length=length))
        for ext in story.extensions:
            if during(stint, ext.at):
                lines.append(_("Gia hạn, hẹn trả ngày %(day)s", day=day(ext.new_due_at)))
        notes[stint.id] = lines
    return notes


@bp.get("/<code>/tracking-slip")
@roles_required("clerk", "specialist", "leader")
def tracking_slip(code: str):
    """Form 05: Phiếu kiểm soát quá trình giải quyết hồ sơ, ready for A4."""
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        dossier, _user = _find_visible(session, code)
        calendar = ctx.calendar(session)
        story = timeline.load(session, dossier, calendar=calendar, now=ctx.clock.now())
        tz = ZoneInfo(calendar.settings.timezone)
        jurisdiction = dossier.jurisdiction
        counter = dossier.receiving_unit
        counter_jurisdiction = counter.jurisdiction
        processing_units = []
        for stint in story.stints:
            if stint.note != "result" and stint.to_unit.name not in processing_units:
                processing_units.append(stint.to_unit.name)
    return render_template(
        "prints/form05.html", d=dossier, story=story, notes=slip_notes(story, tz), counter=counter,
        agency=_agency_name(counter_jurisdiction.name), jurisdiction=jurisdiction,
        processing_units=processing_units, printed_at=ctx.clock.now(),
    )


def _agency_name(jurisdiction_name: str) -> str:
    """"Quận Hoàn Kiếm" -> "ỦY BAN NHÂN DÂN QUẬN HOÀN KIẾM" for the slip's header."""
    return _("Ủy ban nhân dân %(name)s", name=jurisdiction_name).upper()


# ----------------------------------------------------------------- attachments

_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|;]+')


def download_name(name: str, content_type: str) -> str:
    """A file name safe in a Content-Disposition header and on any disk; Vietnamese letters kept."""
    clean = _UNSAFE_NAME.sub("_", unicodedata.normalize("NFC", name or "")).strip(" ._")[:150]
    extension = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}.get(content_type, "")
    if not clean:
        clean = "tep-dinh-kem"
    if extension and not clean.lower().endswith((extension, ".jpeg" if extension == ".jpg" else extension)):
        clean += extension
    return clean


@bp.get("/<code>/attachments/<int:attachment_id>")
@roles_required("clerk", "specialist", "leader")
def attachment(code: str, attachment_id: int):
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        dossier, _user = _find_visible(session, code)
        row = session.scalar(select(Attachment).where(Attachment.id == attachment_id,
                                                      Attachment.dossier_id == dossier.id))
        if row is None:
            abort(404, _("Không tìm thấy tệp đính kèm."))
    try:
        data = attachments.read(ctx.settings.instance_dir, row)
    except NotFound:
        abort(404, _("Tệp đính kèm không còn trong kho lưu trữ; xin báo quản trị hệ thống."))
    response = send_file(io.BytesIO(data), mimetype=row.content_type, as_attachment=True,
                         download_name=download_name(row.file_name, row.content_type), max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.app_template_global("page_args")
def page_args(**changes) -> dict:
    """The current query string with ``changes`` applied, for pagination links."""
    args = {k: v for k, v in request.args.items() if v}
    args.update({k: v for k, v in changes.items() if v not in (None, "")})
    return args
