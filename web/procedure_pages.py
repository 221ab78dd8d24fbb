"""Diagrams for everyone who is not designing them.

- the dossier's diagram (on the dossier page): steps done, steps open, the path
  taken, and per step the unit and the working time it took;
- the procedure page (``/procedures/<code>``): a heat map over the diagram from
  real dossiers, with the same numbers as a table, for leaders, designers and
  administrators.

The pages draw with the bpmn-js viewer bundle (``web/assets/viewer.js``),
which fetches the version's BPMN and a JSON description of what to mark.
Every endpoint checks access like its page: a dossier's diagram is for those
who may see the dossier (``engine.access.can_view``), anyone else gets the
same 404 as for an unknown code; a heat map counts only the dossiers the user
may see (``engine.heatmap.dossier_scope``).
"""

from __future__ import annotations

import colorsys

from flask import Blueprint, Response, abort, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import access, timeline
from engine.errors import NotFound
from engine.heatmap import HeatMap, StepHeat, dossier_scope, heat_map
from engine.models import Dossier, Procedure, ProcedureVersion
from engine.progress import Progress, dossier_progress
from web.auth import actor, engine_ctx, roles_required

bp = Blueprint("procedures", __name__)

PROCEDURE_VIEW_ROLES = ("leader", "designer")  # admins pass every roles_required
DOSSIER_VIEW_ROLES = ("clerk", "specialist", "leader")
MAX_CODE = 64


# ----------------------------------------------------------------- words and numbers


def decimal_text(value: float, places: int = 1) -> str:
    """3.5 -> "3,5", 2.0 -> "2" (Vietnamese decimal comma)."""
    text = f"{value:.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",")


def working_time_text(minutes: float, minutes_per_day: int) -> str:
    """Working time as a clerk says it: "3,5 ngày làm việc", "2 giờ làm việc", "25 phút làm việc"."""
    if minutes >= minutes_per_day / 10:
        return _("%(n)s ngày làm việc", n=decimal_text(minutes / minutes_per_day))
    if minutes >= 60:
        return _("%(n)s giờ làm việc", n=decimal_text(minutes / 60))
    return _("%(n)s phút làm việc", n=decimal_text(minutes, 0))


def short_time_text(minutes: float, minutes_per_day: int) -> str:
    """The same, short, for a label on the diagram: "2,1 ngày", "3 giờ", "25 phút"."""
    if minutes >= minutes_per_day / 10:
        return _("%(n)s ngày", n=decimal_text(minutes / minutes_per_day))
    if minutes >= 60:
        return _("%(n)s giờ", n=decimal_text(minutes / 60))
    return _("%(n)s phút", n=decimal_text(minutes, 0))


def percent_text(share: float) -> str:
    return f"{round(share * 100)}%"


def heat_colours(score: float | None) -> tuple[str, str]:
    """(fill, stroke) from green (0) through amber to red (1); grey without data."""
    if score is None:
        return "#eceff1", "#78909c"
    hue = (1.0 - score) * 120 / 360
    fill = colorsys.hls_to_rgb(hue, 0.80, 0.75)
    stroke = colorsys.hls_to_rgb(hue, 0.30, 0.70)
    return _hex(fill), _hex(stroke)


def _hex(rgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb)


def heat_level(score: float | None) -> str:
    """The colour in words, so that nobody depends on telling green from red."""
    if score is None:
        return _("Chưa có số liệu")
    if score < 1 / 3:
        return _("Thông suốt")
    if score < 2 / 3:
        return _("Cần chú ý")
    return _("Ùn tắc")


# ----------------------------------------------------------------- JSON descriptions


def progress_description(progress: Progress) -> dict:
    """What the viewer marks on a dossier's diagram."""
    per_day = progress.minutes_per_day
    steps = {}
    for s in progress.steps:
        time = working_time_text(s.working_minutes, per_day)
        steps[s.step] = {
            "name": s.name,
            "units": list(s.units),
            "passes": s.passes,
            "working_minutes": s.working_minutes,
            "done": s.done,
            "current": s.current,
            "time": time,
            "passes_text": _("%(n)s lượt", n=s.passes) if s.passes > 1 else "",
            "label": _("đang xử lý: %(t)s", t=time) if s.current else time,
        }
    return {
        "kind": "progress",
        "completed": list(progress.completed),
        "current": list(progress.current),
        "passed": list(progress.passed),
        "path": list(progress.path),
        "finished": progress.finished,
        "minutes_per_day": per_day,
        "steps": steps,
        "order": [s.step for s in progress.steps],  # JSON objects lose their order (Flask sorts keys)
    }


def step_heat_description(step: StepHeat, per_day: int) -> dict:
    fill, stroke = heat_colours(step.score)
    median = short_time_text(step.median_minutes, per_day) if step.median_minutes is not None else None
    parts = []
    if median is not None:
        parts.append(_("trung vị %(t)s", t=median))
    if step.passes:
        parts.append(_("%(p)s trễ hạn", p=percent_text(step.late_share)))
    return {
        "name": step.name,
        "lane": step.lane,
        "passes": step.passes,
        "finished": step.finished,
        "late": step.late,
        "late_share": round(step.late_share, 4),
        "median_minutes": step.median_minutes,
        "share_minutes": step.share_minutes,
        "score": step.score,
        "level": heat_level(step.score),
        "fill": fill,
        "stroke": stroke,
        "median_text": median or "",
        "share_text": short_time_text(step.share_minutes, per_day) if step.share_minutes else "",
        "late_text": percent_text(step.late_share) if step.passes else "",
        "label": " · ".join(parts) if parts else _("chưa có hồ sơ"),
    }


def heat_description(result: HeatMap) -> dict:
    return {
        "kind": "heat",
        "code": result.code,
        "version": result.version,
        "diagram_version": result.diagram_version,
        "dossiers": result.dossiers,
        "minutes_per_day": result.minutes_per_day,
        "steps": {s.step: step_heat_description(s, result.minutes_per_day) for s in result.steps},
    }


# ----------------------------------------------------------------- access helpers


def _json_error(status: int, message: str):
    return jsonify({"error": "not_found" if status == 404 else "forbidden", "message": message}), status


def _visible_dossier(session: Session, code: str):
    """The dossier if the signed-in user may see it, else None (unknown and forbidden look the same)."""
    user = actor(session)
    dossier = timeline.find_dossier(session, code) if len(code) <= MAX_CODE else None
    if dossier is None or not access.can_view(session, user, dossier):
        return None, user
    return dossier, user


def _version_arg() -> int | None:
    """``?version=N`` for one version; absent or ``all`` for every version."""
    raw = request.args.get("version", "all")
    if raw in ("", "all"):
        return None
    if not raw.isdigit() or len(raw) > 6:
        abort(404)
    return int(raw)


def _bpmn_response(source: bytes) -> Response:
    response = Response(source, mimetype="application/xml")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


# ----------------------------------------------------------------- the dossier's diagram


@bp.get("/dossiers/<code>/diagram.json")
@roles_required(*DOSSIER_VIEW_ROLES)
def dossier_diagram(code: str):
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        dossier, _user = _visible_dossier(session, code)
        if dossier is None:
            return _json_error(404, _("Không tìm thấy hồ sơ %(code)s, hoặc bạn không có quyền xem hồ sơ này.",
                                      code=code[:MAX_CODE]))
        progress = dossier_progress(ctx, session, dossier)
        body = progress_description(progress)
        body["xml_url"] = url_for("procedures.dossier_bpmn", code=dossier.code)
    return jsonify(body)


@bp.get("/dossiers/<code>/diagram.bpmn")
@roles_required(*DOSSIER_VIEW_ROLES)
def dossier_bpmn(code: str):
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        dossier, _user = _visible_dossier(session, code)
        if dossier is None:
            abort(404)
        source = session.scalar(select(ProcedureVersion.source)
                                .where(ProcedureVersion.id == dossier.procedure_version_id))
    return _bpmn_response(source)


# ----------------------------------------------------------------- procedures and their heat maps


@bp.get("/procedures/")
@roles_required(*PROCEDURE_VIEW_ROLES)
def index():
    """The procedures with their versions and the number of dossiers the user's numbers count."""
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        scope = dossier_scope(session, actor(session))
        procedures = list(session.scalars(select(Procedure).order_by(Procedure.code)))
        versions = dict(session.execute(
            select(ProcedureVersion.procedure_id, func.max(ProcedureVersion.version))
            .group_by(ProcedureVersion.procedure_id)).all())
        counted = select(ProcedureVersion.procedure_id, func.count(Dossier.id)).join(
            Dossier, Dossier.procedure_version_id == ProcedureVersion.id)
        if scope is not None:
            counted = counted.where(scope)
        dossiers = dict(session.execute(counted.group_by(ProcedureVersion.procedure_id)).all())
        rows = [{"code": p.code, "name": p.name, "field": p.field, "versions": versions.get(p.id, 0),
                 "dossiers": dossiers.get(p.id, 0)} for p in procedures]
    return render_template("procedures/index.html", rows=rows)


def _heat_map(ctx, session, code: str, version):
    """The heat map over the dossiers the signed-in user may see, or None for an unknown procedure."""
    try:
        return heat_map(ctx, session, code[:MAX_CODE], version=version, scope=dossier_scope(session, actor(session)))
    except NotFound:
        return None


@bp.get("/procedures/<code>")
@roles_required(*PROCEDURE_VIEW_ROLES)
def show(code: str):
    version = _version_arg()
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        result = _heat_map(ctx, session, code, version)
        if result is None:
            abort(404, _("Không tìm thấy thủ tục %(code)s.", code=code[:MAX_CODE]))
        data = heat_description(result)
        limit = session.scalar(select(ProcedureVersion.time_limit_days)
                               .where(ProcedureVersion.id == result.diagram_version_id))
    rows = [(s, data["steps"][s.step]) for s in result.steps]
    return render_template(
        "procedures/show.html", result=result, rows=rows, limit=decimal_text(limit or 0, 2),
        overlay_url=url_for("procedures.heat_json", code=result.code, version=version or "all"),
        xml_url=url_for("procedures.version_bpmn", code=result.code, number=result.diagram_version),
        legend=[(*heat_colours(score), heat_level(score)) for score in (0.0, 0.5, 1.0, None)],
    )


@bp.get("/procedures/<code>/heatmap.json")
@roles_required(*PROCEDURE_VIEW_ROLES)
def heat_json(code: str):
    version = _version_arg()
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        result = _heat_map(ctx, session, code, version)
        if result is None:
            return _json_error(404, _("Không tìm thấy thủ tục %(code)s.", code=code[:MAX_CODE]))
        body = heat_description(result)
        body["xml_url"] = url_for("procedures.version_bpmn", code=result.code, number=result.diagram_version)
    return jsonify(body)


@bp.get("/procedures/<code>/versions/<int:number>/diagram.bpmn")
@roles_required(*PROCEDURE_VIEW_ROLES)
def version_bpmn(code: str, number: int):
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        source = session.scalar(
            select(ProcedureVersion.source).join(Procedure)
            .where(Procedure.code == code[:MAX_CODE], ProcedureVersion.version == number))
    if source is None:
        abort(404)
    return _bpmn_response(source)


@bp.app_template_global("may_see_procedure_page")
def may_see_procedure_page(user) -> bool:
    """For the link from a dossier to its procedure's heat map (admins pass ``has_role``)."""
    return bool(getattr(user, "is_authenticated", False)) and user.has_role(*PROCEDURE_VIEW_ROLES)
