"""Language and local formats: Vietnamese by default, English as a switch.

Dates are shown dd/mm/yyyy and times in 24 hours, in the Hà Nội time zone,
whatever the language.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, current_app, redirect, request, session, url_for
from flask_babel import Babel

LANGUAGES = ("vi", "en")
DEFAULT_LANGUAGE = "vi"

bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    chosen = session.get("lang")
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.extensions["motcua"].settings.calendar.timezone)


def local(moment: datetime | None) -> datetime | None:
    return moment.astimezone(_zone()) if moment else None


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(_zone())
    return value.strftime("%d/%m/%Y")


def format_datetime(value: datetime | None) -> str:
    return value.astimezone(_zone()).strftime("%H:%M %d/%m/%Y") if value else ""


def format_time(value: datetime | None) -> str:
    return value.astimezone(_zone()).strftime("%H:%M") if value else ""


@bp.get("/lang/<code>")
def switch(code: str):
    """Switch the interface language and go back where the user was."""
    if code in LANGUAGES:
        session["lang"] = code
    target = request.args.get("next", "")
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("home.index")
    return redirect(target)


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", "translations")
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters.update(vndate=format_date, vndatetime=format_datetime, vntime=format_time)
    app.register_blueprint(bp)
