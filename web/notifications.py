"""The bell: a signed-in user's own notifications, their unread count and marking them read.

Every query is scoped to the current user; another user's notification is
"not found". The unread count answers htmx (a badge fragment) and JSON
clients alike, so the navbar can refresh it without reloading the page.
"""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from engine import notifications
from engine.errors import NotFound
from web.auth import engine_ctx

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
PAGE_SIZE = 30


def _page() -> int:
    try:
        return max(1, min(int(request.args.get("page", "1")), 10_000))
    except ValueError:
        return 1


@bp.get("/")
@login_required
def index():
    page = _page()
    unread_only = request.args.get("filter") == "unread"
    with engine_ctx().db.reading() as session:
        rows, total = notifications.recent(session, current_user.id, limit=PAGE_SIZE,
                                           offset=(page - 1) * PAGE_SIZE, unread_only=unread_only)
        unread = notifications.unread_count(session, current_user.id)
    pages = max(1, -(-total // PAGE_SIZE))
    return render_template("notifications/index.html", rows=rows, total=total, unread=unread, page=page,
                           pages=pages, unread_only=unread_only)


@bp.get("/unread-count")
def unread_count():
    """Not behind login_required: a bell polling after the session ended must not pull in the login page."""
    if not current_user.is_authenticated:
        if request.headers.get("HX-Request"):
            return "", 200
        return jsonify(error="login required"), 401
    with engine_ctx().db.reading() as session:
        count = notifications.unread_count(session, current_user.id)
    if request.headers.get("HX-Request"):
        return render_template("notifications/_badge.html", unread=count)
    return jsonify(unread=count)


@bp.post("/<int:notification_id>/read")
@login_required
def read(notification_id: int):
    """Mark read, then open what the notification is about (or go back to the list)."""
    ctx = engine_ctx()
    try:
        with ctx.db.transaction() as session:
            note = notifications.mark_read(session, current_user.id, notification_id, ctx.clock.now())
            link = note.link
    except NotFound:
        abort(404, _("Không tìm thấy thông báo này."))
    if request.form.get("open") and link.startswith("/") and not link.startswith("//"):
        return redirect(link)
    return redirect(url_for("notifications.index"))


@bp.post("/read-all")
@login_required
def read_all():
    ctx = engine_ctx()
    with ctx.db.transaction() as session:
        notifications.mark_all_read(session, current_user.id, ctx.clock.now())
    return redirect(url_for("notifications.index"))
