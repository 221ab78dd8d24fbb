"""Bearer tokens: ``POST /auth/token`` and the decorator every other view wears.

A token is issued for a username and password (the same check, account
lock included, as signing in on the web). Wrong answers are throttled per
username and client address in the shared rate-limit table: after
``MAX_FAILURES`` failures in ``WINDOW`` the pair gets 429 until the window
ends, whatever password it sends.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from flask import jsonify, request
from sqlalchemy.orm import Session

from engine import access, ratelimits, tokens
from engine.models import RateBucket
from web.api import bp
from web.api.serializers import iso, json_object, text_field
from web.auth import check_credentials, engine_ctx

MAX_FAILURES = 10
WINDOW = timedelta(minutes=15)


def _error(status: int, error: str, message: str, headers: dict[str, str] | None = None):
    response = jsonify({"error": error, "message": message})
    response.status_code = status
    response.headers.update(headers or {})
    return response


def _unauthorized(error: str, message: str):
    return _error(401, error, message, {"WWW-Authenticate": f'Bearer realm="motcua", error="{error}"'
                                       if error == "invalid_token" else 'Bearer realm="motcua"'})


def _bearer_token() -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def api_view(*, write: bool = False, roles: tuple[str, ...] = ()):
    """Run the view as the token's user in one transaction (``write``) or one read session.

    The view is called as ``view(session, user, **url_args)`` and returns a
    JSON-able payload, or ``(payload, status)``; the payload is built inside
    the transaction, and a conflict at commit still becomes a 409.
    """

    def decorate(view: Callable[..., Any]):
        @wraps(view)
        def wrapper(**kwargs):
            token = _bearer_token()
            if token is None:
                return _unauthorized("unauthorized", "Send 'Authorization: Bearer <token>'; get one at /auth/token")
            ctx = engine_ctx()
            with ctx.db.transaction() if write else ctx.db.reading() as session:
                user = tokens.user_for(session, token, ctx.clock.now())
                if user is None:
                    return _unauthorized("invalid_token", "The token is unknown or has expired")
                if roles:
                    access.require_role(user, *roles)
                result = view(session, user, **kwargs)
            payload, status = result if isinstance(result, tuple) else (result, 200)
            return jsonify(payload), status

        return wrapper

    return decorate


def _throttled(session: Session, key: str) -> bool:
    """The pair already used up its failures in the current window (checked without counting)."""
    bucket = session.get(RateBucket, key[:200])
    now = engine_ctx().clock.now()
    return bucket is not None and bucket.window_start + WINDOW > now and bucket.hits >= MAX_FAILURES


@bp.post("/auth/token")
def issue_token():
    """Exchange a username and password for a bearer token."""
    body = json_object({"username", "password"}, required=("username", "password"))
    name = text_field(body, "username", required=True, max_length=80).strip().lower()
    password = text_field(body, "password", required=True, max_length=200)
    ctx = engine_ctx()
    key = f"api-token:{name}:{request.remote_addr or '-'}"
    too_many = _error(429, "too_many_requests", "Too many failed attempts; try again later",
                      {"Retry-After": str(int(WINDOW.total_seconds()))})
    with ctx.db.transaction() as session:
        if _throttled(session, key):
            return too_many
        user, message = check_credentials(session, name, password)
        if user is None:
            if not ratelimits.hit(session, key, limit=MAX_FAILURES, window=WINDOW, now=ctx.clock.now()):
                return too_many
            return _error(401, "invalid_credentials", str(message or "Wrong username or password"))
        ratelimits.reset(session, key)
        token, expires = tokens.issue(session, user, ctx.clock.now())
    return jsonify({"token": token, "expires_at": iso(expires)}), 200

