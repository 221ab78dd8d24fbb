"""Liveness and readiness: is the process up, can it reach the database at the right schema."""

from __future__ import annotations

from functools import lru_cache

from flask import Blueprint, current_app, jsonify, render_template
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from engine import schema

bp = Blueprint("health", __name__)


@lru_cache(maxsize=4)
def _head(url: str) -> str | None:
    """The code's newest revision: fixed for the life of the process, so read the scripts once."""
    return schema.head_revision(_UrlOnly(url))  # type: ignore[arg-type]


class _UrlOnly:
    """Enough of a Database for ``schema.alembic_config`` (it only reads ``url``)."""

    def __init__(self, url: str) -> None:
        self.url = url


def _status() -> dict[str, object]:
    ctx = current_app.extensions["motcua"]
    try:
        with ctx.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current, head = schema.current_revision(ctx.db), _head(ctx.db.url)
    except SQLAlchemyError as exc:
        return {"ok": False, "database": "unreachable", "error": type(exc).__name__}
    return {"ok": current == head, "database": ctx.db.dialect, "schema": current, "schema_head": head}


@bp.get("/healthz")
def healthz():
    """Liveness: the process answers."""
    return jsonify({"ok": True})


@bp.get("/readyz")
def readyz():
    """Readiness: the database answers and its schema is current."""
    status = _status()
    return jsonify(status), 200 if status["ok"] else 503


@bp.get("/status")
def index():
    """The status page an operator opens in a browser."""
    status = _status()
    return render_template("health.html", status=status), 200 if status["ok"] else 503
