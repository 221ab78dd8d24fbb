"""The public feedback form (phản ánh, kiến nghị): no sign-in, no CAPTCHA, but guarded.

Three guards keep robots out without bothering people: a field hidden from
people that robots fill in (honeypot), a signed timestamp proving the form
was shown at least a few seconds before it was sent, and a rate limit per
client address kept in the database.
"""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import select

from engine import feedback, ratelimits
from engine.errors import FormError, InvalidInput
from engine.models import Jurisdiction, Unit
from web.auth import engine_ctx
from web.formfields import N_

bp = Blueprint("feedback", __name__, url_prefix="/phan-anh")

LIMIT = 5
WINDOW = timedelta(hours=1)
MIN_SECONDS = 5  # people need longer than this to write feedback
MAX_AGE = 6 * 3600
SALT = "feedback-form"
HONEYPOT = "website"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def form_token(issued_at: float | None = None) -> str:
    """The signed moment the form was shown."""
    return _serializer().dumps({"t": issued_at if issued_at is not None else time.time()})


def _fresh_enough(token: str) -> bool:
    """Signed by us, not too old, and not sent faster than a person can write."""
    try:
        data = _serializer().loads(token, max_age=MAX_AGE)
    except BadSignature:
        return False
    issued = data.get("t") if isinstance(data, dict) else None
    minimum = current_app.config.get("FEEDBACK_MIN_SECONDS", MIN_SECONDS)
    return isinstance(issued, int | float) and time.time() - issued >= minimum


def _units(session) -> list[tuple[str, list[Unit]]]:
    rows = session.execute(select(Jurisdiction.name, Unit).join(Unit, Unit.jurisdiction_id == Jurisdiction.id)
                           .order_by(Jurisdiction.id, Unit.code))
    groups: dict[str, list[Unit]] = {}
    for name, unit in rows:
        groups.setdefault(name, []).append(unit)
    return list(groups.items())


def _render(values: dict, errors: dict | None = None, message: str = "", status: int = 200):
    with engine_ctx().db.reading() as session:
        units = [(name, [(u.code, u.name) for u in group]) for name, group in _units(session)]
    return render_template("feedback/form.html", values=values, errors=errors or {}, message=message,
                           units=units, token=form_token(), honeypot=HONEYPOT), status


@bp.get("")
def form():
    about = request.args.get("ho-so", "").strip()[:64]
    return _render({"kind": "dossier" if about else "unit", "about_dossier": about})


FIELD_MESSAGES = {
    "content": N_("Xin viết nội dung phản ánh, kiến nghị (ít nhất 10 ký tự, tối đa 5.000 ký tự)."),
    "phone": N_("Số điện thoại phải có từ 9 đến 12 chữ số."),
    "name": N_("Họ tên không hợp lệ hoặc quá dài."),
    "email": N_("Địa chỉ thư điện tử không hợp lệ."),
    "about": N_("Xin nhập mã hồ sơ hoặc chọn cơ quan, đơn vị được phản ánh."),
    "about_dossier": N_("Không tìm thấy hồ sơ có mã này."),
    "about_unit": N_("Xin chọn cơ quan, đơn vị được phản ánh."),
}


@bp.post("")
def send():
    values = {k: request.form.get(k, "").strip() for k in
              ("kind", "about_dossier", "about_unit", "content", "name", "phone", "email")}
    if request.form.get(HONEYPOT) or not _fresh_enough(request.form.get("ts", "")):
        return _render(values, message=_("Không gửi được phản ánh. Xin đợi vài giây rồi gửi lại."), status=400)
    ctx = engine_ctx()
    with ctx.db.transaction() as session:
        allowed = ratelimits.hit(session, f"feedback:{request.remote_addr or 'unknown'}", limit=LIMIT,
                                 window=WINDOW, now=ctx.clock.now())
    if not allowed:
        return _render(values, message=_("Bạn đã gửi quá nhiều phản ánh. Xin thử lại sau."), status=429)
    sub = feedback.Submission(
        content=values["content"], phone=values["phone"], name=values["name"], email=values["email"],
        about_dossier=values["about_dossier"] if values["kind"] == "dossier" else "",
        about_unit=values["about_unit"] if values["kind"] != "dossier" else "")
    try:
        with ctx.db.transaction() as session:
            case = feedback.submit(ctx, session, sub)
            code, due = case.code, case.due_at
    except (FormError, InvalidInput) as exc:
        errors = {}
        for problem in exc.problems:
            key = problem.element_id if problem.element_id in FIELD_MESSAGES else "content"
            errors["about_dossier" if key == "about" else key] = _(FIELD_MESSAGES[key])
        return _render(values, errors, _("Xin kiểm tra lại các ô được đánh dấu."), status=400)
    return render_template("feedback/sent.html", code=code, due=due, phone4=values["phone"][-4:])
