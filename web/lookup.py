"""Public dossier lookup (tra cứu hồ sơ): no sign-in, rate-limited per client, no personal data."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template, request

from engine import lookup, ratelimits
from web.auth import engine_ctx

bp = Blueprint("lookup", __name__, url_prefix="/tra-cuu")

LIMIT = 20
WINDOW = timedelta(minutes=10)


def client_key() -> str:
    return f"lookup:{request.remote_addr or 'unknown'}"


@bp.get("")
def form():
    code = request.args.get("ma", "").strip()
    phone4 = request.args.get("sdt", "").strip()
    if not code and not phone4:
        return render_template("lookup/form.html", code="", phone4="", view=None, searched=False)
    ctx = engine_ctx()
    with ctx.db.transaction() as session:
        allowed = ratelimits.hit(session, client_key(), limit=LIMIT, window=WINDOW, now=ctx.clock.now())
        view = lookup.find(session, code, phone4) if allowed else None
    if not allowed:
        return render_template("lookup/form.html", code=code, phone4="", view=None, searched=False,
                               limited=True), 429
    return render_template("lookup/form.html", code=code, phone4=phone4, view=view, searched=True)
