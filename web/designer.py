"""The process designer ("Thiết kế quy trình"): procedures, their versions, drafts and the modeler.

Designers (and administrators) see every procedure with its versions, their
effective dates and how many dossiers each version holds; open a version or a
blank three-lane procedure in the bpmn-js modeler (``web/assets/modeler.js``);
save drafts; check a diagram against the server's rules (the same verdict as
deployment, with element ids the modeler marks on the diagram); deploy a
diagram as a new version from a chosen day; download and upload ``.bpmn``
files. The XML travels verbatim: what the modeler writes is what is stored.

The modeler talks to the JSON endpoints here with the page's CSRF token in
the ``X-CSRFToken`` header; every engine error comes back as
``{message, problems: [{element_id, line, message}]}``, never a 500.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path, PurePosixPath

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import RequestEntityTooLarge

from engine import drafts
from engine.errors import InvalidInput, MotcuaError, NotFound, Problem, UnsafeXml
from engine.models import ProcedureVersion
from engine.procedure_catalog import catalog, unit_vocabulary
from web.auth import actor, engine_ctx, roles_required
from web.errors import status_of
from web.formfields import N_

bp = Blueprint("designer", __name__, url_prefix="/designer")

BLANK = Path(__file__).parent / "templates" / "designer" / "blank.bpmn"
_UNSAFE_NAME = re.compile(r"[^\w.\- ]+")
_VN_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")

# The engine states problems in English (as the CLI and the API do); the designer's page says the
# ones designers meet most in the page's language. Others are shown as the engine wrote them.
_PROBLEMS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), message) for pattern, message in (
        (r"^Lane '(?P<lane>.*)' has unit type '(?P<value>.*)', which is not a known unit type \(known: (?P<known>.*)\)$",
         N_("Làn «%(lane)s» gắn loại đơn vị «%(value)s», không có trong danh mục tổ chức (có: %(known)s).")),
        (r"^Lane '(?P<lane>.*)' has level '(?P<value>.*)', which is not a known level \(known: (?P<known>.*)\)$",
         N_("Làn «%(lane)s» gắn cấp «%(value)s», không có trong danh mục tổ chức (có: %(known)s).")),
        (r"^Lane '(?P<lane>.*)' holds human steps but has no motcua:unit",
         N_("Làn «%(lane)s» có bước xử lý nhưng chưa gắn đơn vị xử lý (loại đơn vị và cấp).")),
        (r"^Lane '(?P<lane>.*)' has no name$", N_("Làn «%(lane)s» chưa có tên.")),
        (r"^Lane name '(?P<lane>.*)' is used by more than one lane$", N_("Tên làn «%(lane)s» bị trùng.")),
        (r"^.+ '(?P<name>.*)' is not in any lane", N_("Bước «%(name)s» không nằm trong làn nào: kéo bước vào làn của đơn vị thực hiện.")),
        (r"^.+ '(?P<name>.*)' has no motcua:step giving its duration",
         N_("Bước «%(name)s» chưa có thời hạn (số ngày hoặc số giờ làm việc).")),
        (r"^Sequence flow '(?P<flow>.*)' leaving .+ '(?P<gateway>.*)' has no condition and is not the default flow$",
         N_("Nhánh «%(flow)s» ra khỏi cổng «%(gateway)s» chưa có điều kiện và không phải nhánh mặc định.")),
        (r"^The longest path through the process takes \d+ working minutes \((?P<days>[\d.]+) working days?\) "
         r"of running steps \((?P<steps>.*)\), more than the procedure's time limit of \d+ working minutes "
         r"\((?P<limit>[\d.]+) working days?\)$",
         N_("Đường chậm nhất qua quy trình mất %(days)s ngày làm việc (%(steps)s), vượt thời hạn giải quyết %(limit)s ngày.")),
        (r"^Process '(?P<name>.*)' has no motcua:procedure",
         N_("Quy trình «%(name)s» chưa có mã thủ tục và thời hạn giải quyết.")),
        (r"^Process '(?P<name>.*)' is not executable",
         N_("Quy trình «%(name)s» chưa được đánh dấu là chạy được trên hệ thống (Executable).")),
        (r"^The process has (?P<count>\d+) start events",
         N_("Quy trình có %(count)s sự kiện bắt đầu; một thủ tục chỉ bắt đầu ở một chỗ.")),
    )
)


# ---------------------------------------------------------------- pages


@bp.get("/")
@roles_required("designer")
def index():
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        procedures = catalog(session, ctx.clock.now())
        draft_rows = drafts.list_drafts(session)
        return render_template("designer/index.html", procedures=procedures, drafts=draft_rows,
                               upload_errors=[])


@bp.get("/new")
@roles_required("designer")
def new():
    return _modeler(source_url=url_for("designer.blank"), title=_("Thủ tục mới"), file_name="thu-tuc-moi.bpmn")


@bp.get("/blank.bpmn")
@roles_required("designer")
def blank():
    return _bpmn_response(BLANK.read_bytes(), "thu-tuc-moi.bpmn", attachment=False)


@bp.get("/versions/<int:version_id>")
@roles_required("designer")
def version(version_id: int):
    with engine_ctx().db.reading() as session:
        row = _version(session, version_id)
        title = _("%(code)s, phiên bản %(version)s", code=row.procedure.code, version=row.version)
        return _modeler(source_url=url_for("designer.version_bpmn", version_id=row.id), title=title,
                        file_name=row.file_name or f"{row.procedure.code}.bpmn", base_version_id=row.id)


@bp.get("/versions/<int:version_id>/bpmn")
@roles_required("designer")
def version_bpmn(version_id: int):
    with engine_ctx().db.reading() as session:
        row = _version(session, version_id)
        name = f"{row.procedure.code}-v{row.version}.bpmn"
        return _bpmn_response(row.source, name, attachment=request.args.get("download") == "1")


@bp.get("/drafts/<int:draft_id>")
@roles_required("designer")
def draft(draft_id: int):
    with engine_ctx().db.reading() as session:
        row = drafts.get_draft(session, draft_id)
        verdict = drafts.check(session, row.source, row.file_name or "procedure.bpmn")
        title = _("Bản nháp: %(name)s", name=row.name or row.procedure_code or f"#{row.id}")
        return _modeler(source_url=url_for("designer.draft_bpmn", draft_id=row.id), title=title,
                        file_name=row.file_name or f"{row.procedure_code or 'ban-nhap'}.bpmn",
                        draft_id=row.id, revision=row.revision, base_version_id=row.base_version_id,
                        verdict=_said_verdict(verdict.as_dict()))


@bp.get("/drafts/<int:draft_id>/bpmn")
@roles_required("designer")
def draft_bpmn(draft_id: int):
    with engine_ctx().db.reading() as session:
        row = drafts.get_draft(session, draft_id)
        name = row.file_name or f"{row.procedure_code or 'ban-nhap'}.bpmn"
        return _bpmn_response(row.source, name, attachment=request.args.get("download") == "1")


@bp.post("/drafts/<int:draft_id>/delete")
@roles_required("designer")
def delete_draft(draft_id: int):
    with engine_ctx().db.transaction() as session:
        drafts.delete_draft(session, draft_id)
    flash(_("Đã xoá bản nháp."), "success")
    return redirect(url_for("designer.index"))


@bp.post("/upload")
@roles_required("designer")
def upload():
    """A .bpmn from another tool becomes a draft, opened in the modeler with the server's verdict."""
    ctx = engine_ctx()
    try:
        file = request.files.get("file")
        data = file.read() if file is not None else b""
        name = _file_name(file.filename if file is not None else "")
    except RequestEntityTooLarge:
        return _upload_refused(_("Tệp quá lớn."), [])
    try:
        with ctx.db.transaction() as session:
            row = drafts.save_draft(ctx, session, data, actor=actor(session), file_name=name)
            draft_id = row.id
    except UnsafeXml as err:
        return _upload_refused(_("Tệp bị từ chối vì lý do an toàn: %(reason)s", reason=err.message), err.problems)
    except InvalidInput as err:
        return _upload_refused(_("Không đọc được tệp BPMN: %(reason)s", reason=err.message), err.problems)
    flash(_("Đã tải lên tệp %(name)s thành bản nháp.", name=name), "success")
    return redirect(url_for("designer.draft", draft_id=draft_id))


# ---------------------------------------------------------------- JSON for the modeler


@bp.post("/api/drafts")
@roles_required("designer")
def save():
    body = _json_body()
    ctx = engine_ctx()
    try:
        with ctx.db.transaction() as session:
            row = drafts.save_draft(
                ctx, session, _xml(body), actor=actor(session), draft_id=_optional_int(body, "draft_id"),
                revision=_optional_int(body, "revision"), base_version_id=_optional_int(body, "base_version_id"),
                file_name=_file_name(body.get("file_name")),
            )
            answer = {"draft_id": row.id, "revision": row.revision,
                      "url": url_for("designer.draft", draft_id=row.id),
                      "message": _("Đã lưu bản nháp lúc %(time)s.", time=_local_time(row.updated_at))}
    except MotcuaError as err:
        return _json_error(err)
    return jsonify(answer)


@bp.post("/api/check")
@roles_required("designer")
def check():
    body = _json_body()
    with engine_ctx().db.reading() as session:
        verdict = drafts.check(session, _xml(body), _file_name(body.get("file_name")))
    return jsonify(_said_verdict(verdict.as_dict()))


@bp.post("/api/deploy")
@roles_required("designer")
def deploy():
    body = _json_body()
    ctx = engine_ctx()
    try:
        effective_on = _effective_day(body.get("effective_from"))
        with ctx.db.transaction() as session:
            version, new = drafts.deploy_source(
                ctx, session, _xml(body), actor=actor(session), effective_on=effective_on,
                file_name=_file_name(body.get("file_name")), draft_id=_optional_int(body, "draft_id"),
            )
            answer = {"code": version.procedure.code, "version": version.version, "new": new,
                      "effective_from": version.effective_from.isoformat(),
                      "url": url_for("designer.version", version_id=version.id),
                      "message": (_("Đã triển khai %(code)s phiên bản %(version)s, hiệu lực từ %(day)s.",
                                    code=version.procedure.code, version=version.version,
                                    day=_local_day(version.effective_from)) if new else
                                  _("Nội dung không đổi: %(code)s phiên bản %(version)s vẫn là phiên bản mới nhất.",
                                    code=version.procedure.code, version=version.version))}
    except MotcuaError as err:
        return _json_error(err)
    return jsonify(answer), 201 if new else 200


# ---------------------------------------------------------------- helpers


def _modeler(*, source_url: str, title: str, file_name: str, draft_id: int | None = None,
             revision: int | None = None, base_version_id: int | None = None, verdict: dict | None = None):
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        vocabulary = unit_vocabulary(session)
    today = ctx.clock.now().astimezone(_zone()).date()
    config = {
        "sourceUrl": source_url,
        "saveUrl": url_for("designer.save"),
        "checkUrl": url_for("designer.check"),
        "deployUrl": url_for("designer.deploy"),
        "fileName": file_name,
        "draftId": draft_id,
        "revision": revision,
        "baseVersionId": base_version_id,
        "verdict": verdict,
        "vocabulary": vocabulary,
        "today": today.isoformat(),
        "messages": _client_messages(),
    }
    return render_template("designer/modeler.html", title=title, config=config, today=today)


def _client_messages() -> dict[str, str]:
    """Texts the modeler script shows, in the page's language."""
    return {
        "saved": _("Đã lưu."),
        "saveFailed": _("Chưa lưu được"),
        "checking": _("Đang kiểm tra..."),
        "valid": _("Quy trình hợp lệ, có thể triển khai."),
        "invalid": _("Quy trình còn %(count)s lỗi cần sửa:", count="{count}"),
        "warnings": _("Lưu ý"),
        "deployed": _("Đã triển khai."),
        "openVersion": _("Mở phiên bản mới"),
        "checkedOk": _("Hợp lệ"),
        "checkedBad": _("Còn lỗi"),
        "deployFailed": _("Chưa triển khai được"),
        "importFailed": _("Không mở được sơ đồ"),
        "line": _("dòng"),
        "noDate": _("Xin chọn ngày hiệu lực."),
        "unsaved": _("Có thay đổi chưa lưu."),
        "networkError": _("Không kết nối được máy chủ; xin thử lại."),
    }


def _said(problem: dict) -> dict:
    """One problem ({element_id, line, message}) with its message in the page's language when known."""
    for pattern, message in _PROBLEMS:
        match = pattern.search(problem.get("message") or "")
        if match:
            values = {k: v.replace(".", ",") if k in ("days", "limit") else v for k, v in match.groupdict().items()}
            return {**problem, "message": _(message, **values)}
    return problem


def _said_verdict(verdict: dict) -> dict:
    return {**verdict, "problems": [_said(p) for p in verdict["problems"]],
            "warnings": [_said(w) for w in verdict["warnings"]]}


def _version(session, version_id: int) -> ProcedureVersion:
    row = session.get(ProcedureVersion, version_id)
    if row is None:
        raise NotFound(_("Không có phiên bản quy trình này."))
    return row


def _bpmn_response(source: bytes, file_name: str, *, attachment: bool) -> Response:
    response = Response(source, mimetype="application/xml")
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    if attachment:
        response.headers["Content-Disposition"] = f'attachment; filename="{_file_name(file_name)}"'
    return response


def _upload_refused(message: str, problems: list[Problem]):
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        return render_template("designer/index.html", procedures=catalog(session, ctx.clock.now()),
                               drafts=drafts.list_drafts(session), upload_message=message,
                               upload_errors=[p.as_dict() for p in problems]), 400


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, _("Yêu cầu phải là JSON."))
    return body


def _xml(body: dict) -> bytes:
    text = body.get("xml")
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(_("Sơ đồ trống."), [Problem(_("Sơ đồ trống."))])
    return text.encode("utf-8")


def _optional_int(body: dict, key: str) -> int | None:
    value = body.get(key)
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise InvalidInput(f"'{key}' must be a number", [Problem("Must be a whole number", key)])
    return int(value)


def _effective_day(value: object) -> date | None:
    """``dd/mm/yyyy`` (what designers type) or ISO ``yyyy-mm-dd`` (what a date input sends)."""
    if value in (None, ""):
        return None
    text = str(value).strip()[:20]
    match = _VN_DATE.fullmatch(text)
    try:
        if match:
            return date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(_("Ngày hiệu lực không hợp lệ."),
                           [Problem(_("Ngày viết theo dạng dd/mm/yyyy."), "effective_from")]) from None


def _file_name(raw: object) -> str:
    name = PurePosixPath(str(raw or "").replace("\\", "/")).name
    name = _UNSAFE_NAME.sub("_", name).strip()[:200]
    return name or "procedure.bpmn"


def _json_error(err: MotcuaError):
    problems = [_said(p.as_dict()) for p in getattr(err, "problems", [])]
    return jsonify({"error": err.code, "message": err.message, "problems": problems}), status_of(err)


def _zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo(engine_ctx().settings.calendar.timezone)


def _local_time(moment: datetime) -> str:
    return moment.astimezone(_zone()).strftime("%H:%M")


def _local_day(moment: datetime) -> str:
    return moment.astimezone(_zone()).strftime("%d/%m/%Y")
