"""The unit's inbox ("Hồ sơ cần xử lý"), claiming and releasing steps, and the task page.

The list is one indexed query over open tasks (``engine.tasks.inbox_statement``)
with the page's extra filters; the task page draws the step's declared
fields and hands the answers to ``engine.tasks.complete``, which checks
them, moves the dossier on and refuses a stale page (optimistic lock).
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, joinedload, lazyload, load_only

from engine import access, tasks, timeline
from engine.deployment import compiled_by_id
from engine.errors import Conflict, Forbidden, FormError, RuleViolation
from engine.forms import validate_submission
from engine.models import Dossier, Task, TaskState, Unit, User
from web import formfields
from web.auth import actor, engine_ctx, roles_required
from web.dossier_pages import (
    MAX_SEARCH,
    PAGE_SIZE,
    pager,
    procedure_choices,
    procedure_names,
    recorded_data,
    step_labels,
    time_left,
)

bp = Blueprint("inbox", __name__, url_prefix="/inbox")

STATUS_FILTERS = {
    "": _l("Tất cả"),
    "unclaimed": _l("Chưa có người nhận"),
    "mine": _l("Của tôi"),
    "overdue": _l("Quá hạn"),
}
WORK_ROLES = ("specialist", "leader")


def _overdue(now):
    """Open tasks past due, counting a stopped clock as stopped at the moment it stopped."""
    return or_(and_(Dossier.paused_since.is_(None), Task.due_at < now),
               and_(Dossier.paused_since.is_not(None), Task.due_at < Dossier.paused_since))


def _statement(user: User, *, procedure: str, search: str, status: str, now):
    query = tasks.InboxQuery(
        unit_id=user.unit_id,
        procedure_code=procedure or None,
        search=search or None,
        mine_only_user_id=user.id if status == "mine" else None,
    )
    stmt = tasks.inbox_statement(query)
    if status == "unclaimed":
        stmt = stmt.where(Task.claimed_by_id.is_(None))
    elif status == "overdue":
        stmt = stmt.where(_overdue(now))
    return stmt.options(
        joinedload(Task.claimed_by).options(load_only(User.id, User.full_name), lazyload(User.role_rows)))


def _count(stmt, user: User, *, procedure: str, search: str, status: str):
    """The number of rows ``stmt`` lists; from the task index alone when no filter reads the dossier."""
    if procedure or search or status == "overdue":
        return select(func.count()).select_from(stmt.order_by(None).subquery())
    count = tasks.count_statement(tasks.InboxQuery(
        unit_id=user.unit_id, mine_only_user_id=user.id if status == "mine" else None))
    return count.where(Task.claimed_by_id.is_(None)) if status == "unclaimed" else count


def _summary(session: Session, user: User, now, per_day_end) -> dict[str, int]:
    """Counts for the unit's whole inbox: open, unclaimed, overdue, due within a working day.

    The first two come from the task index alone; only tasks due by the end of
    the next working day are joined to their dossier (for its paused clock),
    so a large inbox costs no more than a small one.
    """
    mine = (Task.unit_id == user.unit_id, Task.state == TaskState.OPEN)
    open_count, unclaimed = session.execute(
        select(func.count(Task.id), func.sum(case((Task.claimed_by_id.is_(None), 1), else_=0)))
        .where(*mine)).one()
    overdue, soon = session.execute(
        select(func.sum(case((_overdue(now), 1), else_=0)),
               func.sum(case((and_(Dossier.paused_since.is_(None), Task.due_at >= now), 1), else_=0)))
        .select_from(Task).join(Dossier, Task.dossier_id == Dossier.id)
        .where(*mine, Task.due_at <= per_day_end)).one()
    return {"open": open_count or 0, "unclaimed": unclaimed or 0, "overdue": overdue or 0, "soon": soon or 0}


@bp.get("/")
@roles_required(*WORK_ROLES)
def index():
    procedure = request.args.get("procedure", "").strip()[:40]
    search = request.args.get("q", "").strip()[:MAX_SEARCH]
    status = request.args.get("status", "")
    if status not in STATUS_FILTERS:
        status = ""
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        user = actor(session)
        now = ctx.clock.now()
        calendar = ctx.calendar(session)
        stmt = _statement(user, procedure=procedure, search=search, status=status, now=now)
        total = session.scalar(_count(stmt, user, procedure=procedure, search=search, status=status)) or 0
        pages = pager(total, PAGE_SIZE)
        rows = list(session.scalars(stmt.order_by(Task.due_at, Task.id).limit(pages.size).offset(pages.offset))
                    .unique())
        names = procedure_names(session, (t.dossier.procedure_version_id for t in rows))
        left = {t.id: time_left(calendar, t.due_at, now, t.dossier.paused_since) for t in rows}
        summary = _summary(session, user, now, calendar.add_working_minutes(now, calendar.minutes_per_day))
        procedures = procedure_choices(session)
        is_leader = user.has_role("leader")
    template = "inbox/_table.html" if request.headers.get("HX-Request") else "inbox/index.html"
    return render_template(
        template, rows=rows, names=names, left=left, pager=pages, procedure=procedure, q=search, status=status,
        statuses=STATUS_FILTERS, procedures=procedures, summary=summary, is_leader=is_leader, user_id=user.id,
    )


# ----------------------------------------------------------------- claim and release


def _back(default_task_id: int | None = None) -> str:
    target = request.form.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("inbox.task", task_id=default_task_id) if default_task_id else url_for("inbox.index")


def _own_task(session: Session, user: User, task_id: int) -> Task:
    """The task if it belongs to the user's unit; 404 for unknown ids, 403 for other units' steps."""
    task = session.get(Task, task_id)
    if task is None:
        abort(404, _("Không tìm thấy bước xử lý này."))
    try:
        access.require_task(user, task)
    except Forbidden:
        abort(403, _("Bước xử lý này thuộc đơn vị khác; bạn không có quyền xem."))
    return task


@bp.post("/tasks/<int:task_id>/claim")
@roles_required(*WORK_ROLES)
def claim(task_id: int):
    ctx = engine_ctx()
    try:
        with ctx.db.transaction() as session:
            user = actor(session)
            task = _own_task(session, user, task_id)
            code, step = task.dossier.code, task.step_name
            tasks.claim(ctx, session, task_id, user)
        flash(_("Bạn đã nhận xử lý bước «%(step)s» của hồ sơ %(code)s.", step=step, code=code), "success")
    except Conflict:
        flash(_("Bước này vừa được người khác nhận trước."), "warning")
        return redirect(url_for("inbox.index"))
    except RuleViolation:
        flash(_("Bước này đã được xử lý xong."), "info")
        return redirect(url_for("inbox.index"))
    return redirect(_back(task_id))


@bp.post("/tasks/<int:task_id>/release")
@roles_required(*WORK_ROLES)
def release(task_id: int):
    ctx = engine_ctx()
    try:
        with ctx.db.transaction() as session:
            user = actor(session)
            task = _own_task(session, user, task_id)
            code, step = task.dossier.code, task.step_name
            tasks.release(ctx, session, task_id, user)
        flash(_("Đã trả bước «%(step)s» của hồ sơ %(code)s để người khác trong đơn vị nhận.", step=step, code=code),
              "info")
    except RuleViolation as exc:
        message = (_("Chỉ người đã nhận bước này hoặc lãnh đạo đơn vị mới trả lại được.")
                   if "release" in exc.message else _("Bước này đã được xử lý xong."))
        flash(message, "warning")
    return redirect(_back(None) if request.form.get("next") else url_for("inbox.index"))


# ----------------------------------------------------------------- the task page


def _page_context(session: Session, ctx, user: User, task: Task) -> dict:
    dossier = timeline.find_dossier(session, task.dossier.code)
    calendar = ctx.calendar(session)
    now = ctx.clock.now()
    story = timeline.load(session, dossier, calendar=calendar, now=now)
    compiled = compiled_by_id(ctx, session, dossier.procedure_version_id)
    step = compiled.steps.get(task.step)
    labels = step_labels(ctx, session, dossier)
    done_steps = []
    for event in story.events:
        if event.action == "completed":
            done_steps.append({"event": event, "data": recorded_data(labels, event.detail.get("step"),
                                                                        event.detail.get("data"))})
    holder = session.get(User, task.claimed_by_id) if task.claimed_by_id else None
    return {
        "task": task, "d": dossier, "story": story, "fields": tuple(step.fields) if step else (),
        "left": time_left(calendar, task.due_at, now, dossier.paused_since),
        "dossier_left": time_left(calendar, dossier.due_at, now, dossier.paused_since),
        "done_steps": done_steps, "holder_name": holder.full_name if holder else "",
        "mine": task.claimed_by_id == user.id, "is_leader": user.has_role("leader"),
        "can_act": task.state == TaskState.OPEN and dossier.status == "processing"
        and task.claimed_by_id in (None, user.id),
        "components": list(dossier.components),
    }


def _render_task(task_id: int, *, submitted=None, problems=(), status: int = 200, expected_version=None,
                 alert: str | None = None):
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        user = actor(session)
        task = _own_task(session, user, task_id)
        page = _page_context(session, ctx, user, task)
        fields = page["fields"]
        page["field_views"] = formfields.views(fields, submitted=submitted, stored=page["d"].data,
                                               problems=problems)
        page["general_errors"] = formfields.general_problems(fields, problems)
        page["expected_version"] = expected_version if expected_version is not None else page["d"].version
        page["alert"] = alert
        page["has_errors"] = bool(problems)
    return render_template("inbox/task.html", **page), status


@bp.get("/tasks/<int:task_id>")
@roles_required(*WORK_ROLES)
def task(task_id: int):
    return _render_task(task_id)


@bp.post("/tasks/<int:task_id>")
@roles_required(*WORK_ROLES)
def complete(task_id: int):
    """Finish the step with the form's answers; one transaction, refused if the dossier moved meanwhile."""
    ctx = engine_ctx()
    raw_version = request.form.get("expected_version", "")
    if not raw_version.isdigit():
        abort(400, _("Biểu mẫu thiếu thông tin phiên bản hồ sơ; xin tải lại trang rồi thực hiện lại."))
    expected_version = int(raw_version)
    data = formfields.submitted_data(request.form)
    try:
        with ctx.db.transaction() as session:
            user = actor(session)
            task = _own_task(session, user, task_id)
            code, step_name, dossier_id = task.dossier.code, task.step_name, task.dossier_id
            fields = _fields_of(ctx, session, task)
            extra = formfields.web_problems(fields, data)
            if extra:
                raise FormError("The form has problems", extra + _engine_problems(fields, data))
            tasks.complete(ctx, session, task_id, user, data, from_form=True, expected_version=expected_version)
            destination = _destination(session, dossier_id)
    except FormError as exc:
        return _render_task(task_id, submitted=request.form, problems=exc.problems, status=400,
                            expected_version=expected_version)
    except Conflict:
        return _render_task(task_id, submitted=request.form, status=409, expected_version=expected_version,
                            alert="conflict")
    except RuleViolation:
        return _render_task(task_id, submitted=request.form, status=409, expected_version=expected_version,
                            alert="not_processing")
    flash(_("Đã hoàn thành bước «%(step)s» của hồ sơ %(code)s. %(next)s", step=step_name, code=code,
            next=destination), "success")
    return redirect(url_for("inbox.index"))


def _fields_of(ctx, session: Session, task: Task):
    step = compiled_by_id(ctx, session, task.dossier.procedure_version_id).steps.get(task.step)
    return tuple(step.fields) if step else ()


def _engine_problems(fields, data) -> list:
    try:
        validate_submission(fields, data, from_form=True)
    except FormError as exc:
        return list(exc.problems)
    return []


def _destination(session: Session, dossier_id: int) -> str:
    """Where the dossier went, for the confirmation message."""
    dossier = session.get(Dossier, dossier_id)
    units = list(dict.fromkeys(session.scalars(
        select(Unit.name).join(Task, Task.unit_id == Unit.id)
        .where(Task.dossier_id == dossier_id, Task.state == TaskState.OPEN).order_by(Task.id))))
    if units:
        return _("Hồ sơ đang ở: %(units)s.", units=", ".join(units))
    if dossier.status == "awaiting_return":
        return _("Hồ sơ đã có kết quả và chuyển về Bộ phận Một cửa để trả cho công dân.")
    return ""

