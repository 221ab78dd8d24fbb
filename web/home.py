"""The start page after sign-in, and the navigation each role sees."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, current_app, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from web.formfields import N_

bp = Blueprint("home", __name__)


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    prefix: str


# (blueprint endpoint, roles that see it, label) — a page appears once its blueprint exists.
NAVIGATION = (
    ("counter.index", ("clerk",), N_("Tiếp nhận và trả kết quả")),
    ("inbox.index", ("specialist", "leader"), N_("Hồ sơ cần xử lý")),
    ("dossiers.search", ("clerk", "specialist", "leader"), N_("Tìm hồ sơ")),
    ("designer.index", ("designer",), N_("Thiết kế quy trình")),
    ("reports.index", ("leader", "clerk"), N_("Báo cáo, thống kê")),
    ("procedures.index", ("leader", "designer"), N_("Điểm ùn tắc")),
)


def nav_items() -> list[NavItem]:
    if not current_user.is_authenticated:
        return []
    items = []
    for endpoint, roles, label in NAVIGATION:
        if endpoint in current_app.view_functions and current_user.has_role(*roles):
            items.append(NavItem(_(label), url_for(endpoint), endpoint.split(".")[0] + "."))
    return items


@bp.get("/")
def index():
    """Send each user to the page of their daily work."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    for item in nav_items():
        return redirect(item.url)
    return render_template("home.html")
