"""Public dossier lookup over JSON: ``GET /lookup/<code>?phone4=NNNN``, no token.

The same rules as the web page (``/tra-cuu``, web/lookup.py): the pair
(code, last four digits of the applicant's phone) is the key, checked by
``engine.lookup.find``; every request counts against the same per-client
limit in the same rate-limit bucket as the page. A wrong pair, an unknown
code and a malformed ``phone4`` all get the very same 404 body, so the
lookup cannot tell which codes exist. The answer carries progress only:
no applicant name, phone, ID number or address, no officer's name.
"""

from __future__ import annotations

from flask import jsonify, request

from engine import lookup, ratelimits
from engine.models import RateBucket
from engine.text import storable
from web import lookup as lookup_page
from web.api import bp
from web.api.serializers import iso
from web.auth import engine_ctx

MAX_CODE = 64
NOT_FOUND = {"error": "not_found",
             "message": "No dossier matches this code and these last four digits of the phone number"}


def _not_found():
    return jsonify(NOT_FOUND), 404


def _too_many(session, key: str, now):
    bucket = session.get(RateBucket, key[:200])
    left = (bucket.window_start + lookup_page.WINDOW - now).total_seconds() if bucket is not None else 0
    response = jsonify({"error": "too_many_requests", "message": "Too many lookups; try again later"})
    response.status_code = 429
    response.headers["Retry-After"] = str(max(1, int(left + 0.999)))
    return response


def view_json(view: lookup.PublicView) -> dict:
    return {
        "code": view.code,
        "procedure": view.procedure,
        "status": view.status,
        "status_text": view.status_text,
        "received_at": iso(view.received_at),
        "due_at": iso(view.due_at),
        "current_steps": [{"step": step, "unit": unit} for step, unit in view.current_steps],
        "missing": list(view.missing),
        "returned_at": iso(view.returned_at),
        "receiving_unit": view.receiving_unit,
    }


@bp.get("/lookup/<code>")
def lookup_dossier(code: str):
    """Progress of a dossier for the citizen who holds its code and phone number (no token)."""
    phone4 = request.args.get("phone4", "")
    ctx = engine_ctx()
    now = ctx.clock.now()
    key = lookup_page.client_key()
    with ctx.db.transaction() as session:
        if not ratelimits.hit(session, key, limit=lookup_page.LIMIT, window=lookup_page.WINDOW, now=now):
            return _too_many(session, key, now)
        well_formed = (len(code) <= MAX_CODE and storable(code) and len(phone4) == 4
                       and phone4.isascii() and phone4.isdigit())
        view = lookup.find(session, code, phone4) if well_formed else None
        body = view_json(view) if view is not None else None
    return (jsonify(body), 200) if body is not None else _not_found()
