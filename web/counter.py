"""The one-stop counter (Bộ phận Một cửa): receive dossiers, print the slips, return results.

Pages for the counter's clerks: the procedures in effect and this counter's
dossiers waiting to be returned or supplemented; the receipt form; the
receipt and appointment slip (form 01); one dossier's counter actions
(supplement request and arrival, extension, refusal, withdrawal, return with
the citizen's rating) and their printable forms 02-04.

A counter sees only the dossiers it received (any other code is a 404), one
user action is one transaction, and every engine error comes back as a
Vietnamese message next to the field it concerns, never as a 500.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from engine import attachments, lifecycle
from engine.counter_lists import (
    counter_dossiers,
    extension_of,
    last_event,
    last_pause,
    procedures_in_effect,
    receivable_jurisdictions,
    units_within,
)
from engine.deployment import compiled_version, version_in_effect
from engine.directory import ancestry
from engine.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    MotcuaError,
    NotFound,
    Problem,
    RuleViolation,
)
from engine.models import Attachment, Dossier, DossierStatus, Jurisdiction, Unit, User, UserRole
from engine.receipt import Applicant, receive
from engine.specs import CompiledProcedure
from web import i18n
from web.auth import actor, engine_ctx, roles_required
from web.errors import status_of
from web.qr import lookup_url, qr_svg

bp = Blueprint("counter", __name__, url_prefix="/counter")

PER_PAGE = 15
MAX_FILES_PER_FIELD = 10
MAX_QUERY = 100

STATUS_LABELS = {
    DossierStatus.PROCESSING: _l("Đang giải quyết"),
    DossierStatus.AWAITING_SUPPLEMENT: _l("Chờ công dân bổ sung"),
    DossierStatus.AWAITING_RETURN: _l("Chờ trả kết quả"),
    DossierStatus.RETURNED: _l("Đã trả kết quả"),
    DossierStatus.REFUSED: _l("Đã từ chối"),
    DossierStatus.WITHDRAWN: _l("Công dân đã rút hồ sơ"),
}
STATUS_BADGES = {
    DossierStatus.PROCESSING: "primary",
    DossierStatus.AWAITING_SUPPLEMENT: "warning",
    DossierStatus.AWAITING_RETURN: "success",
    DossierStatus.RETURNED: "secondary",
    DossierStatus.REFUSED: "danger",
    DossierStatus.WITHDRAWN: "secondary",
}
RATINGS = (
    (5, _l("Rất hài lòng")),
    (4, _l("Hài lòng")),
    (3, _l("Bình thường")),
    (2, _l("Không hài lòng")),
    (1, _l("Rất không hài lòng")),
)
LEVEL_LABELS = {
    "province": _l("tỉnh, thành phố"),
    "district": _l("quận, huyện, thị xã"),
    "commune": _l("xã, phường, thị trấn"),
}
ACTION_LABELS = {
    "supplement_request": _l("yêu cầu bổ sung hồ sơ"),
    "supplement_received": _l("ghi nhận đã nhận bổ sung"),
    "extend": _l("gia hạn, hẹn lại ngày trả"),
    "refuse": _l("từ chối hồ sơ"),
    "withdraw": _l("ghi nhận rút hồ sơ"),
    "return": _l("trả kết quả"),
}
APPLICANT_FIELDS = ("name", "id_number", "phone", "address", "email")
GENERAL = "_general"


class _Rollback(Exception):
    """Leave a transaction without committing: the form has errors."""


class _WebFormError(InvalidInput):
    """A check of this page's own inputs; its problems are already in Vietnamese."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems), problems)


# ----------------------------------------------------------------- helpers


DOSSIER_PAGE_ENDPOINTS = ("dossiers.view", "dossiers.show")


def dossier_url(code: str) -> str:
    """The richer dossier page when it exists, else this counter's page of the dossier."""
    for endpoint in DOSSIER_PAGE_ENDPOINTS:
        if endpoint in current_app.view_functions:
            return url_for(endpoint, code=code)
    return url_for("counter.dossier", code=code)


def attachment_url(code: str, attachment_id: int) -> str | None:
    """Download link of a scan, served by the dossier pages when they are installed."""
    if "dossiers.attachment" in current_app.view_functions:
        return url_for("dossiers.attachment", code=code, attachment_id=attachment_id)
    return None


def _fold(text: str) -> str:
    """Lower case without diacritics, so "giay phep" finds "Giấy phép"."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c)).lower()


def _days(value: float) -> str:
    if not value:
        return _("Trong ngày làm việc")
    shown = str(int(value)) if float(value).is_integer() else f"{value:g}".replace(".", ",")
    return _("%(n)s ngày làm việc", n=shown)


def _long_date(moment: datetime | None) -> str:
    local = i18n.local(moment)
    if local is None:
        return _("ngày ..... tháng ..... năm .....")
    return _("ngày %(d)s tháng %(m)s năm %(y)s", d=f"{local.day:02d}", m=f"{local.month:02d}", y=local.year)


def _page_arg(name: str) -> int:
    raw = request.args.get(name, "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 7 else 1


def _is_admin() -> bool:
    return "admin" in current_user.roles


def _own_dossier(session: Session, code: str) -> Dossier:
    """The dossier if this counter received it (or the user is an administrator); else 404."""
    dossier = session.scalar(
        select(Dossier).where(Dossier.code == code[:64])
        .options(joinedload(Dossier.procedure_version), joinedload(Dossier.receiving_unit),
                 joinedload(Dossier.jurisdiction), joinedload(Dossier.received_by)))
    if dossier is None or (dossier.receiving_unit_id != current_user.unit_id and not _is_admin()):
        abort(404, description=_("Không tìm thấy hồ sơ %(code)s tại bộ phận của bạn.", code=code[:64]))
    return dossier


@dataclass(frozen=True)
class Agency:
    """The heading of a printed form: the People's Committee and the unit, and the place name."""

    authority: str
    unit: str
    place: str


def _agency(unit: Unit) -> Agency:
    chain = ancestry(unit.jurisdiction)
    top = chain[-1].name
    for prefix in ("Thành phố ", "Tỉnh ", "thành phố ", "tỉnh "):
        if top.startswith(prefix):
            top = top[len(prefix):]
            break
    return Agency(_("UBND %(name)s", name=unit.jurisdiction.name).upper(), unit.name.upper(), top)


def _unit_head(session: Session, unit_id: int) -> User | None:
    """A leader of the unit, to print under "Thủ trưởng đơn vị" when there is one."""
    return session.scalar(
        select(User).join(UserRole).where(User.unit_id == unit_id, User.active.is_(True),
                                          UserRole.role == "leader").order_by(User.id).limit(1))


@bp.context_processor
def _template_helpers() -> dict[str, Any]:
    return {"dossier_url": dossier_url, "attachment_url": attachment_url, "status_label": lambda s: STATUS_LABELS.get(s, s),
            "status_badge": lambda s: STATUS_BADGES.get(s, "secondary"), "days_label": _days,
            "long_date": _long_date}


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc):
    limit = engine_ctx().settings.upload_limit_bytes // (1024 * 1024)
    message = _("Tổng dung lượng các tệp gửi lên vượt quá giới hạn %(mb)s MB; hồ sơ chưa được ghi nhận. "
                "Hãy chọn tệp nhỏ hơn hoặc nộp bớt tệp.", mb=limit)
    return render_template("error.html", status=413, message=message, details=[]), 413


# ------------------------------------------------------------ start page


def _matching(versions, query: str):
    words = _fold(query).split()
    if not words:
        return versions
    out = []
    for v in versions:
        text = _fold(f"{v.procedure.code} {v.name} {v.procedure.field}")
        if all(w in text for w in words):
            out.append(v)
    return out


@bp.get("/")
@roles_required("clerk")
def index():
    """Tiếp nhận và trả kết quả: procedures to receive, dossiers to return or wait for."""
    ctx = engine_ctx()
    query = request.args.get("q", "")[:MAX_QUERY].strip()
    with ctx.db.reading() as session:
        procedures = _matching(procedures_in_effect(session, ctx.clock.now()), query)
        to_return = counter_dossiers(session, current_user.unit_id, DossierStatus.AWAITING_RETURN,
                                     page=_page_arg("tra"), per_page=PER_PAGE)
        to_supplement = counter_dossiers(session, current_user.unit_id, DossierStatus.AWAITING_SUPPLEMENT,
                                         page=_page_arg("bs"), per_page=PER_PAGE)
        return render_template("counter/index.html", procedures=procedures, query=query,
                               to_return=to_return, to_supplement=to_supplement, now=ctx.clock.now())


@bp.get("/procedures")
@roles_required("clerk")
def procedures():
    """The procedure list alone, for the search box (htmx) or without JavaScript."""
    ctx = engine_ctx()
    query = request.args.get("q", "")[:MAX_QUERY].strip()
    with ctx.db.reading() as session:
        found = _matching(procedures_in_effect(session, ctx.clock.now()), query)
        if request.headers.get("HX-Request"):
            return render_template("counter/_procedures.html", procedures=found, query=query)
    return redirect(url_for("counter.index", q=query or None))


# ----------------------------------------------------------- receipt form


@dataclass
class Upload:
    index: int
    component: str
    file_name: str
    data: bytes


@dataclass
class FormState:
    """What the clerk typed, to refill the form, and what is wrong with it, by field."""

    values: dict[str, Any]
    errors: dict[str, list[str]]

    def add(self, field: str, message: str) -> None:
        bucket = self.errors.setdefault(field, [])
        if message not in bucket:
            bucket.append(message)


def _data_lanes(compiled: CompiledProcedure) -> list:
    """Lanes in use whose unit is named in the dossier's data (e.g. PAKN-01's responsible unit)."""
    used = {step.lane for step in compiled.steps.values() if step.lane}
    seen, out = set(), []
    for name in sorted(used):
        lane = compiled.lanes.get(name)
        if lane is not None and lane.from_data and lane.from_data not in seen:
            seen.add(lane.from_data)
            out.append(lane)
    return out


def _used_lanes(compiled: CompiledProcedure) -> list:
    used = {step.lane for step in compiled.steps.values() if step.lane}
    return [compiled.lanes[name] for name in sorted(used) if name in compiled.lanes]


def _data_label(key: str) -> str:
    if key == "responsible_unit":
        return _("Đơn vị chịu trách nhiệm xử lý")
    return _("Đơn vị xử lý (%(key)s)", key=key)


@dataclass
class ReceiptOptions:
    jurisdictions: list[tuple[Jurisdiction, int, bool]]
    units: list[Unit]
    data_lanes: list

    @property
    def allowed_codes(self) -> set[str]:
        return {j.code for j, _depth, ok in self.jurisdictions if ok}

    @property
    def unit_codes(self) -> set[str]:
        return {u.code for u in self.units}

    @property
    def unit_groups(self) -> list[tuple[str, list[Unit]]]:
        """Units by jurisdiction, in the tree's order (the counter's own first)."""
        groups: list[tuple[str, list[Unit]]] = []
        for unit in self.units:
            if not groups or groups[-1][0] != unit.jurisdiction.name:
                groups.append((unit.jurisdiction.name, []))
            groups[-1][1].append(unit)
        return groups


def _options(session: Session, compiled: CompiledProcedure) -> ReceiptOptions:
    lanes = _data_lanes(compiled)
    jurisdictions = receivable_jurisdictions(session, current_user.jurisdiction_id, _used_lanes(compiled))
    units = units_within(session, current_user.jurisdiction_id) if lanes else []
    return ReceiptOptions(jurisdictions, units, lanes)


def _default_jurisdiction(options: ReceiptOptions) -> str:
    usable = [j for j, _depth, ok in options.jurisdictions if ok]
    if usable and usable[0].id == current_user.jurisdiction_id:
        return usable[0].code
    return usable[0].code if len(usable) == 1 else ""


def _read_receipt(form: MultiDict, compiled: CompiledProcedure, options: ReceiptOptions) -> FormState:
    """Only the fields this form has are read; anything else a client sends is ignored."""
    values: dict[str, Any] = {f"applicant_{k}": form.get(f"applicant_{k}", "").strip() for k in APPLICANT_FIELDS}
    values["applicant_phone"] = values["applicant_phone"].replace(" ", "").replace(".", "")
    values["jurisdiction"] = form.get("jurisdiction", "").strip()
    values["ticked"] = {i for i in range(len(compiled.info.components)) if form.get(f"comp_{i}")}
    for lane in options.data_lanes:
        values[f"data_{lane.from_data}"] = form.get(f"data_{lane.from_data}", "").strip()
    state = FormState(values, {})
    if len(values["applicant_email"]) > 200:
        state.add("applicant_email", _("Địa chỉ email quá dài (tối đa 200 ký tự)."))
    if not values["jurisdiction"]:
        state.add("jurisdiction", _("Chọn địa bàn của hồ sơ."))
    elif values["jurisdiction"] not in options.allowed_codes:
        state.add("jurisdiction", _("Địa bàn đã chọn không thuộc phạm vi tiếp nhận của bộ phận "
                                    "hoặc không có đơn vị giải quyết thủ tục này."))
    for lane in options.data_lanes:
        key = f"data_{lane.from_data}"
        if not values[key]:
            state.add(key, _("Chọn đơn vị chịu trách nhiệm xử lý."))
        elif values[key] not in options.unit_codes:
            state.add(key, _("Đơn vị đã chọn không thuộc địa bàn của bộ phận."))
    missing = [c.name for i, c in enumerate(compiled.info.components) if c.required and i not in values["ticked"]]
    if missing:
        state.add("components", _("Thiếu thành phần hồ sơ bắt buộc: %(names)s.", names="; ".join(missing)))
    return state


def _read_files(keys: list[tuple[str, str]], state: FormState) -> list[Upload]:
    """Read and check uploads before any transaction, so a bad file never reaches storage.

    ``keys`` pairs each file field with the component it belongs to. The
    content decides the type (PDF, JPEG, PNG), never the name.
    """
    limit = engine_ctx().settings.upload_limit_bytes
    uploads: list[Upload] = []
    for index, (field, component) in enumerate(keys):
        files = [f for f in request.files.getlist(field) if f and (f.filename or "").strip()]
        if len(files) > MAX_FILES_PER_FIELD:
            state.add(field, _("Tối đa %(n)s tệp cho mỗi mục.", n=MAX_FILES_PER_FIELD))
            continue
        for storage in files:
            name = attachments.clean_file_name(storage.filename or "")
            data = storage.read(limit + 1)
            if not data:
                state.add(field, _("Tệp «%(name)s» rỗng.", name=name))
            elif len(data) > limit:
                state.add(field, _("Tệp «%(name)s» vượt quá giới hạn %(mb)s MB.", name=name,
                                   mb=limit // (1024 * 1024)))
            elif attachments.sniff(data[:16]) is None:
                state.add(field, _("Tệp «%(name)s» không phải PDF, JPEG hoặc PNG. Hệ thống kiểm tra nội dung "
                                   "tệp, không dựa vào tên tệp.", name=name))
            else:
                uploads.append(Upload(index, component, name, data))
    return uploads


def _applicant_message(key: str, message: str) -> str:
    if "longer than" in message or "too long" in message:
        limit = {"name": 200, "address": 300, "email": 200}.get(key, 20)
        return _("Quá dài: tối đa %(n)s ký tự.", n=limit)
    if "not allowed" in message or "must be text" in message:
        return _("Có ký tự không hợp lệ (ký tự điều khiển); xin gõ lại.")
    if key == "name":
        return _("Nhập họ và tên người nộp hồ sơ.")
    return {
        "id_number": _("Số CCCD/CMND gồm 9 hoặc 12 chữ số."),
        "phone": _("Số điện thoại gồm 9 đến 12 chữ số."),
        "email": _("Địa chỉ email không hợp lệ."),
        "address": _("Địa chỉ không hợp lệ."),
    }.get(key, _("Thông tin người nộp hồ sơ không hợp lệ."))


def _receipt_problems(exc: InvalidInput, compiled: CompiledProcedure, state: FormState) -> None:
    """Engine problems, keyed like "applicant.name" or by lane element id, onto the form's fields."""
    lanes = {lane.element_id: lane for lane in compiled.lanes.values()}
    for problem in exc.problems or [Problem(exc.message)]:
        key = problem.element_id or ""
        if key.startswith("applicant."):
            sub = key.split(".", 1)[1]
            state.add(f"applicant_{sub}" if sub in APPLICANT_FIELDS else GENERAL, _applicant_message(sub, problem.message))
        elif key == "components":
            missing = [c.name for i, c in enumerate(compiled.info.components)
                       if c.required and i not in state.values["ticked"]]
            if missing:
                state.add("components", _("Thiếu thành phần hồ sơ bắt buộc: %(names)s.", names="; ".join(missing)))
            else:
                state.add("components", _("Danh sách thành phần hồ sơ không hợp lệ."))
        elif key == "jurisdiction":
            state.add("jurisdiction", _("Địa bàn đã chọn không thuộc phạm vi tiếp nhận của bộ phận."))
        elif key in lanes and lanes[key].from_data:
            state.add(f"data_{lanes[key].from_data}", _("Chọn đơn vị chịu trách nhiệm xử lý hợp lệ."))
        elif key in lanes:
            lane = lanes[key]
            state.add("jurisdiction", _(
                "Tại địa bàn đã chọn không có đơn vị đảm nhận phần việc «%(lane)s» (cần đơn vị cấp %(level)s). "
                "Hãy chọn địa bàn khác.", lane=lane.name, level=LEVEL_LABELS.get(lane.level, lane.level or "")))
        elif key.startswith("data"):
            field = "data_" + key[5:] if key.startswith("data.") else GENERAL
            state.add(field if field in state.values else GENERAL, _("Dữ liệu ban đầu của hồ sơ không hợp lệ."))
        else:
            state.add(GENERAL, _("Chưa tiếp nhận được hồ sơ: %(reason)s", reason=problem.message))


@bp.route("/receive/<procedure_code>", methods=["GET", "POST"])
@roles_required("clerk")
def receive_form(procedure_code: str):
    """The receipt form; on success one transaction registers the dossier and its scans."""
    ctx = engine_ctx()
    procedure_code = procedure_code[:40]
    with ctx.db.reading() as session:
        try:
            version = version_in_effect(session, procedure_code, ctx.clock.now())
        except NotFound:
            abort(404, description=_("Không có thủ tục %(code)s đang có hiệu lực.", code=procedure_code))
        compiled = compiled_version(ctx, version)
        options = _options(session, compiled)
        version_name, limit_days = version.name, version.time_limit_days

    components = list(compiled.info.components)
    if request.method == "GET":
        state = FormState({"jurisdiction": _default_jurisdiction(options), "ticked": set()}, {})
        return _render_receipt_form(procedure_code, version_name, limit_days, components, options, state)

    state = _read_receipt(request.form, compiled, options)
    uploads = _read_files([(f"file_{i}", c.name) for i, c in enumerate(components)], state)
    for upload in uploads:
        if upload.index not in state.values["ticked"]:
            state.add(f"file_{upload.index}", _("Tệp đính kèm cho thành phần chưa được đánh dấu là đã nộp. "
                                                "Đánh dấu thành phần hoặc bỏ tệp."))
    code = None
    try:
        with ctx.db.transaction() as session:
            user = actor(session)
            v = state.values
            try:
                dossier = receive(
                    ctx, session, actor=user, procedure_code=procedure_code,
                    applicant=Applicant(v["applicant_name"], v["applicant_id_number"], v["applicant_phone"],
                                        v["applicant_address"], v["applicant_email"]),
                    jurisdiction_code=v["jurisdiction"] or None,
                    components=[components[i].name for i in sorted(v["ticked"])],
                    data={lane.from_data: v[f"data_{lane.from_data}"] for lane in options.data_lanes
                          if v.get(f"data_{lane.from_data}")},
                )
            except InvalidInput as exc:
                _receipt_problems(exc, compiled, state)
                raise _Rollback from exc
            if state.errors:
                raise _Rollback
            now = ctx.clock.now()
            for upload in uploads:
                attachments.save(session, ctx.settings.instance_dir, dossier, user, data=upload.data,
                                 file_name=upload.file_name, limit=ctx.settings.upload_limit_bytes, now=now,
                                 component=upload.component, kind="component")
            code = dossier.code
    except _Rollback:
        pass
    except (Forbidden, RuleViolation, Conflict) as exc:
        state.add(GENERAL, _error_message(exc, "receive"))
    if code is None:
        if uploads:
            state.values["files_dropped"] = True
        return _render_receipt_form(procedure_code, version_name, limit_days, components, options, state,
                                    status=400)
    flash(_("Đã tiếp nhận hồ sơ %(code)s. In giấy tiếp nhận và hẹn trả kết quả giao công dân.", code=code),
          "success")
    return redirect(url_for("counter.receipt", code=code))


def _render_receipt_form(procedure_code, version_name, limit_days, components, options, state, status=200):
    return render_template(
        "counter/receive.html", procedure_code=procedure_code, procedure_name=version_name,
        limit_days=limit_days, components=components, options=options, values=state.values,
        errors=state.errors, data_label=_data_label,
        upload_mb=engine_ctx().settings.upload_limit_bytes // (1024 * 1024),
    ), status


# ------------------------------------------------------------- form 01


@bp.get("/dossiers/<code>/receipt")
@roles_required("clerk")
def receipt(code: str):
    """Giấy tiếp nhận hồ sơ và hẹn trả kết quả (form 01), two copies on A5."""
    ctx = engine_ctx()
    with ctx.db.reading() as session:
        dossier = _own_dossier(session, code)
        link = lookup_url(ctx.settings.public_base_url, dossier.code)
        return render_template(
            "prints/form01.html", dossier=dossier, version=dossier.procedure_version,
            components=[c for c in dossier.components if c.received], agency=_agency(dossier.receiving_unit),
            lookup=link, qr=qr_svg(link, size_mm=22, label=_("Mã QR tra cứu hồ sơ %(code)s", code=dossier.code)),
            sequence=dossier.code.rsplit("-", 1)[-1],
        )


# ------------------------------------------------- one dossier at the counter


def _dossier_context(session: Session, dossier: Dossier) -> dict[str, Any]:
    files = list(session.scalars(select(Attachment).where(Attachment.dossier_id == dossier.id)
                                 .order_by(Attachment.id)))
    pause = last_pause(session, dossier)
    return {
        "dossier": dossier,
        "version": dossier.procedure_version,
        "files": files,
        "pause": pause,
        "pause_by": session.get(User, pause.requested_by_id) if pause and pause.requested_by_id else None,
        "extension": extension_of(session, dossier),
        "refusal": last_event(session, dossier, "refused") if dossier.status == DossierStatus.REFUSED else None,
        "withdrawal": last_event(session, dossier, "withdrawn") if dossier.status == DossierStatus.WITHDRAWN
        else None,
        "ratings": RATINGS,
        "action_labels": ACTION_LABELS,
        "rating_label": dict(RATINGS).get(dossier.rating) if dossier.rating else None,
        "is_open": DossierStatus(dossier.status).is_open,
    }


def _render_dossier(code: str, *, errors=None, values=None, failed=None, status=200):
    with engine_ctx().db.reading() as session:
        dossier = _own_dossier(session, code)
        return render_template("counter/dossier.html", errors=errors or {}, values=values or {},
                               failed=failed, **_dossier_context(session, dossier)), status


@bp.get("/dossiers/<code>")
@roles_required("clerk")
def dossier(code: str):
    """One dossier at the counter: status, papers, the slips to print and the counter's actions."""
    return _render_dossier(code)


def _error_message(exc: MotcuaError, action: str) -> str:
    label = ACTION_LABELS.get(action, "")
    if isinstance(exc, Conflict):
        return _("Hồ sơ vừa được người khác cập nhật. Xin tải lại trang và thử lại.")
    if isinstance(exc, Forbidden):
        return _("Chỉ Bộ phận Một cửa đã tiếp nhận hồ sơ mới được %(action)s.", action=label)
    if isinstance(exc, RuleViolation):
        if "already been reset" in exc.message:
            return _("Ngày hẹn trả của hồ sơ đã được điều chỉnh một lần; không thể gia hạn thêm.")
        if "already stopped" in exc.message:
            return _("Hồ sơ đang tạm dừng tính thời gian ở một bước khác; chưa thể yêu cầu bổ sung.")
        return _("Không thể %(action)s khi hồ sơ đang ở trạng thái «%(status)s».", action=label,
                 status=_current_status_label())
    if isinstance(exc, NotFound):
        return _("Không tìm thấy dữ liệu cần cho thao tác này.")
    return _("Chưa thực hiện được: %(reason)s", reason=exc.message)


def _current_status_label() -> str:
    code = (request.view_args or {}).get("code", "")
    with engine_ctx().db.reading() as session:
        status = session.scalar(select(Dossier.status).where(Dossier.code == code))
    return str(STATUS_LABELS.get(status, status or ""))


FIELD_MESSAGES = {
    "reason": _l("Nhập lý do (tối đa 2.000 ký tự, không chứa ký tự điều khiển)."),
    "note": _l("Ghi chú tối đa 500 ký tự, không chứa ký tự điều khiển."),
    "missing": _l("Liệt kê giấy tờ cần bổ sung, mỗi dòng một mục (tối đa 50 mục, mỗi mục 300 ký tự)."),
    "extra_days": _l("Số ngày làm việc gia hạn phải lớn hơn 0 và không quá 60."),
    "new_due_at": _l("Ngày hẹn mới phải sau ngày hẹn hiện tại."),
    "rating": _l("Chọn mức đánh giá từ 1 đến 5."),
}


def _action_errors(exc: MotcuaError, action: str) -> dict[str, list[str]]:
    """Engine problems keyed by its field names onto this page's fields, in Vietnamese."""
    if isinstance(exc, _WebFormError):
        return {p.element_id or GENERAL: [p.message] for p in exc.problems}
    if isinstance(exc, InvalidInput) and exc.problems:
        errors: dict[str, list[str]] = {}
        for problem in exc.problems:
            field = problem.element_id or GENERAL
            if field == "new_due_at" and "either" in exc.message:
                field, message = "extra_days", _("Nhập số ngày làm việc gia hạn hoặc ngày hẹn mới (chỉ một trong hai).")
            elif field in FIELD_MESSAGES:
                message = str(FIELD_MESSAGES[field])
                field = "new_date" if field == "new_due_at" else field
            else:
                field, message = GENERAL, _("Chưa thực hiện được: %(reason)s", reason=exc.message)
            errors.setdefault(field, []).append(message)
        return errors
    return {GENERAL: [_error_message(exc, action)]}


def _act(code: str, action: str, run, *, pre_errors=None, uploads=()):
    """One counter action in one transaction; success → flash and back to the dossier, failure → the
    dossier page again with the messages next to the form, the clerk's input kept."""
    values = {k: v for k, v in request.form.items() if k != "csrf_token"}
    ctx = engine_ctx()
    if pre_errors:
        return _render_dossier(code, errors=pre_errors, values=values, failed=action, status=400)
    try:
        with ctx.db.transaction() as session:
            dossier = _own_dossier(session, code)
            user = actor(session)
            message = run(ctx, session, dossier, user)
            for upload in uploads:
                attachments.save(session, ctx.settings.instance_dir, dossier, user, data=upload.data,
                                 file_name=upload.file_name, limit=ctx.settings.upload_limit_bytes,
                                 now=ctx.clock.now(), component=upload.component, kind="supplement")
    except MotcuaError as exc:
        return _render_dossier(code, errors=_action_errors(exc, action), values=values, failed=action,
                               status=status_of(exc))
    flash(message, "success")
    return redirect(url_for("counter.dossier", code=code))


@bp.post("/dossiers/<code>/supplement-request")
@roles_required("clerk")
def request_supplement(code: str):
    reason = request.form.get("reason", "")
    missing = request.form.get("missing", "").splitlines()

    def run(ctx, session, dossier, user):
        lifecycle.request_supplement(ctx, session, dossier, user, reason=reason, missing=missing)
        return _("Đã ghi nhận yêu cầu bổ sung hồ sơ %(code)s; thời gian giải quyết tạm dừng. "
                 "In Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ (Mẫu 02) giao công dân.", code=dossier.code)

    return _act(code, "supplement_request", run)


@bp.post("/dossiers/<code>/supplement-received")
@roles_required("clerk")
def supplement_received(code: str):
    note = request.form.get("note", "")
    state = FormState({}, {})
    uploads = _read_files([("files", "")], state)

    def run(ctx, session, dossier, user):
        lifecycle.receive_supplement(ctx, session, dossier, user, note=note)
        return _("Đã nhận hồ sơ bổ sung của %(code)s; thời gian giải quyết tiếp tục, ngày hẹn trả mới: %(due)s.",
                 code=dossier.code, due=i18n.format_datetime(dossier.due_at))

    return _act(code, "supplement_received", run, pre_errors=state.errors, uploads=uploads)


@bp.post("/dossiers/<code>/refuse")
@roles_required("clerk")
def refuse(code: str):
    reason = request.form.get("reason", "")

    def run(ctx, session, dossier, user):
        lifecycle.refuse(ctx, session, dossier, user, reason=reason)
        return _("Đã từ chối hồ sơ %(code)s. In Phiếu từ chối (Mẫu 03) giao công dân.", code=dossier.code)

    return _act(code, "refuse", run)


@bp.post("/dossiers/<code>/withdraw")
@roles_required("clerk")
def withdraw(code: str):
    reason = request.form.get("reason", "")

    def run(ctx, session, dossier, user):
        lifecycle.withdraw(ctx, session, dossier, user, reason=reason)
        return _("Đã ghi nhận công dân rút hồ sơ %(code)s.", code=dossier.code)

    return _act(code, "withdraw", run)


@bp.post("/dossiers/<code>/return")
@roles_required("clerk")
def return_result(code: str):
    raw = request.form.get("rating", "").strip()
    if raw and raw not in {"1", "2", "3", "4", "5"}:
        return _act(code, "return", None, pre_errors={"rating": [str(FIELD_MESSAGES["rating"])]})
    rating = int(raw) if raw else None

    def run(ctx, session, dossier, user):
        lifecycle.return_result(ctx, session, dossier, user, rating=rating)
        return _("Đã trả kết quả hồ sơ %(code)s.", code=dossier.code)

    return _act(code, "return", run)


def _parse_extension(form: MultiDict) -> tuple[float | None, datetime | None, dict[str, list[str]]]:
    extra_raw = form.get("extra_days", "").strip().replace(",", ".")
    date_raw = form.get("new_date", "").strip()
    errors: dict[str, list[str]] = {}
    if bool(extra_raw) == bool(date_raw):
        errors["extra_days"] = [_("Nhập số ngày làm việc gia hạn hoặc ngày hẹn mới (chỉ một trong hai).")]
        return None, None, errors
    if extra_raw:
        try:
            extra = float(extra_raw)
        except ValueError:
            return None, None, {"extra_days": [_("Số ngày gia hạn phải là một số, ví dụ 5 hoặc 2,5.")]}
        if extra != extra or not 0 < extra <= 60:
            return None, None, {"extra_days": [str(FIELD_MESSAGES["extra_days"])]}
        return (int(extra) if extra.is_integer() else extra), None, {}
    try:
        day = datetime.strptime(date_raw, "%d/%m/%Y").date()
    except ValueError:
        return None, None, {"new_date": [_("Ngày hẹn mới phải có dạng dd/mm/yyyy, ví dụ 25/03/2026.")]}
    return None, datetime(day.year, day.month, day.day), {}


@bp.post("/dossiers/<code>/extend")
@roles_required("clerk")
def extend(code: str):
    reason = request.form.get("reason", "")
    extra, new_day, errors = _parse_extension(request.form)

    def run(ctx, session, dossier, user):
        new_due = None
        if new_day is not None:
            if not ctx.calendar(session).is_working_day(new_day.date()):
                raise _WebFormError([Problem(_("Ngày %(day)s không phải ngày làm việc.",
                                               day=new_day.strftime("%d/%m/%Y")), "new_date")])
            due_local = i18n.local(dossier.due_at)
            new_due = due_local.replace(year=new_day.year, month=new_day.month, day=new_day.day)
        extension = lifecycle.extend(ctx, session, dossier, user, reason=reason, new_due_at=new_due,
                                     extra_days=extra)
        return _("Đã hẹn lại ngày trả hồ sơ %(code)s: %(old)s → %(new)s. In Phiếu xin lỗi và hẹn lại ngày trả "
                 "kết quả (Mẫu 04) gửi công dân.", code=dossier.code,
                 old=i18n.format_datetime(extension.old_due_at), new=i18n.format_datetime(extension.new_due_at))

    return _act(code, "extend", run, pre_errors=errors)


# ---------------------------------------------------------- forms 02-04


@bp.get("/dossiers/<code>/supplement-request/print")
@roles_required("clerk")
def print_supplement_request(code: str):
    """Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ (form 02), for the latest supplement request."""
    with engine_ctx().db.reading() as session:
        dossier = _own_dossier(session, code)
        pause = last_pause(session, dossier)
        if pause is None:
            abort(404, description=_("Hồ sơ %(code)s chưa có yêu cầu bổ sung nào.", code=dossier.code))
        officer = session.get(User, pause.requested_by_id) if pause.requested_by_id else None
        officer_unit = session.get(Unit, officer.unit_id) if officer else dossier.receiving_unit
        return render_template("prints/form02.html", dossier=dossier, version=dossier.procedure_version,
                               pause=pause, officer=officer, officer_unit=officer_unit,
                               agency=_agency(dossier.receiving_unit))


@bp.get("/dossiers/<code>/refusal/print")
@roles_required("clerk")
def print_refusal(code: str):
    """Phiếu từ chối tiếp nhận, giải quyết hồ sơ (form 03)."""
    with engine_ctx().db.reading() as session:
        dossier = _own_dossier(session, code)
        event = last_event(session, dossier, "refused")
        if event is None:
            abort(404, description=_("Hồ sơ %(code)s không bị từ chối.", code=dossier.code))
        officer = event.actor
        unit = session.get(Unit, officer.unit_id) if officer else dossier.receiving_unit
        return render_template("prints/form03.html", dossier=dossier, version=dossier.procedure_version,
                               event=event, reason=(event.detail or {}).get("reason", ""), officer=officer,
                               agency=_agency(unit), unit=unit)


@bp.get("/dossiers/<code>/extension/print")
@roles_required("clerk")
def print_extension(code: str):
    """Phiếu xin lỗi và hẹn lại ngày trả kết quả (form 04), signed by the head of the unit that extended."""
    with engine_ctx().db.reading() as session:
        dossier = _own_dossier(session, code)
        extension = extension_of(session, dossier)
        if extension is None:
            abort(404, description=_("Hồ sơ %(code)s chưa được hẹn lại ngày trả.", code=dossier.code))
        unit = session.get(Unit, extension.unit_id) if extension.unit_id else dossier.receiving_unit
        return render_template("prints/form04.html", dossier=dossier, version=dossier.procedure_version,
                               extension=extension, unit=unit, head=_unit_head(session, unit.id),
                               agency=_agency(unit))
