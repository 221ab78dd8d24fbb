"""Signing in and out, password change, and the current user.

Passwords are Argon2id hashes (engine.passwords). After five wrong
passwords an account is locked for fifteen minutes; the lock is kept in the
database so every web process honours it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from functools import wraps

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from engine.context import Context
from engine.models import Unit, User
from engine.passwords import MIN_LENGTH, hash_password, verify_password

MAX_FAILURES = 5
LOCK_TIME = timedelta(minutes=15)

bp = Blueprint("auth", __name__)
login_manager = LoginManager()


@dataclass
class Account(UserMixin):
    """What a request needs to know about its user, detached from any database session."""

    id: int
    username: str
    full_name: str
    unit_id: int
    unit_code: str
    unit_name: str
    unit_type: str
    jurisdiction_id: int
    roles: frozenset[str]

    def get_id(self) -> str:
        return str(self.id)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles & set(roles)) or "admin" in self.roles

    @classmethod
    def of(cls, user: User) -> Account:
        return cls(user.id, user.username, user.full_name, user.unit_id, user.unit.code, user.unit.name,
                   user.unit.type, user.unit.jurisdiction_id, user.roles)


def engine_ctx() -> Context:
    return current_app.extensions["motcua"]


def actor(session: Session) -> User:
    """The signed-in user as a row of ``session``, for engine operations (roles in the same statement)."""
    user = session.get(User, current_user.id, options=[joinedload(User.role_rows)])
    if user is None or not user.active:
        abort(401)
    return user


@login_manager.user_loader
def _load(user_id: str) -> Account | None:
    if not user_id.isdigit():
        return None
    with engine_ctx().db.reading() as session:
        user = session.scalar(select(User).where(User.id == int(user_id))
                              .options(joinedload(User.unit).joinedload(Unit.jurisdiction)))
        return Account.of(user) if user is not None and user.active else None


def roles_required(*roles: str):
    """Only users with one of ``roles`` (or admins) may open the view."""

    def decorate(view):
        @wraps(view)
        @login_required
        def wrapper(*args, **kwargs):
            if not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


class LoginForm(FlaskForm):
    username = StringField(_l("Tên đăng nhập"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Mật khẩu"), validators=[DataRequired(), Length(max=200)])


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Mật khẩu hiện tại"), validators=[DataRequired(), Length(max=200)])
    new = PasswordField(_l("Mật khẩu mới"), validators=[DataRequired(), Length(min=MIN_LENGTH, max=200)])
    confirm = PasswordField(_l("Nhập lại mật khẩu mới"), validators=[DataRequired(), EqualTo("new")])


def check_credentials(session: Session, username: str, password: str) -> tuple[User | None, str | None]:
    """The user if the password is right; otherwise None and the reason to show.

    Every failure counts towards the lock, and a locked account is refused
    even with the right password until the lock expires.
    """
    ctx = engine_ctx()
    now = ctx.clock.now()
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password)  # same cost as a real check: no user enumeration by timing
        return None, _("Tên đăng nhập hoặc mật khẩu không đúng.")
    if user.locked_until is not None and user.locked_until > now:
        return None, _("Tài khoản tạm khoá do nhập sai mật khẩu nhiều lần. Xin thử lại sau %(minutes)s phút.",
                       minutes=max(1, int((user.locked_until - now).total_seconds() // 60) + 1))
    if not verify_password(user.password_hash, password):
        user.failed_logins = (user.failed_logins or 0) + 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until, user.failed_logins = now + LOCK_TIME, 0
        return None, _("Tên đăng nhập hoặc mật khẩu không đúng.")
    user.failed_logins, user.locked_until = 0, None
    return user, None


_DUMMY_HASH = hash_password("motcua-dummy-password")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        with engine_ctx().db.transaction() as session:
            user, error = check_credentials(session, form.username.data, form.password.data)
            account = Account.of(user) if user else None
        if account is not None:
            login_user(account)
            return redirect(_safe_next(request.args.get("next")))
    status = 401 if error else 200
    return render_template("auth/login.html", form=form, error=error), status


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("home.index")


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash(_("Đã đăng xuất."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordForm()
    if form.validate_on_submit():
        with engine_ctx().db.transaction() as session:
            user = actor(session)
            if verify_password(user.password_hash, form.current.data):
                user.password_hash = hash_password(form.new.data)
                flash(_("Đã đổi mật khẩu."), "success")
                return redirect(url_for("home.index"))
        form.current.errors.append(_("Mật khẩu hiện tại không đúng."))
    return render_template("auth/password.html", form=form)


def init_app(app) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Vui lòng đăng nhập để tiếp tục.")
    login_manager.login_message_category = "warning"
    app.register_blueprint(bp)
