"""One mapping from engine errors to HTTP answers: JSON under /api, a page elsewhere.

No request ever ends in a bare 500 page: unexpected failures are logged and
answered with a short apology and the request id.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from engine.errors import Conflict, Forbidden, InvalidInput, MotcuaError, NotFound, RuleViolation

log = logging.getLogger("motcua.web")

STATUS = {InvalidInput: 400, Forbidden: 403, NotFound: 404, Conflict: 409, RuleViolation: 409}


def status_of(exc: MotcuaError) -> int:
    for cls, status in STATUS.items():
        if isinstance(exc, cls):
            return status
    return 400


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _engine_error(exc: MotcuaError):
    status = status_of(exc)
    details = [p.as_dict() for p in getattr(exc, "problems", [])]
    if wants_json():
        body = {"error": exc.code, "message": exc.message}
        if details:
            body["details"] = details
        return jsonify(body), status
    return render_template("error.html", status=status, message=exc.message, details=details), status


def _http_error(exc: HTTPException):
    """Keep the exception's own headers (Allow on 405, Retry-After on 429)."""
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() not in ("content-type", "content-length")]
    if wants_json():
        body = jsonify({"error": (exc.name or "error").lower().replace(" ", "_"), "message": exc.description})
        return body, exc.code, headers
    page = render_template("error.html", status=exc.code, message=exc.description, details=[])
    return page, exc.code, headers


def _unexpected(exc: Exception):
    log.exception("unexpected error on %s %s", request.method, request.path)
    message = _("Hệ thống gặp lỗi ngoài dự kiến; thao tác chưa được ghi nhận. Xin thử lại.")
    if wants_json():
        return jsonify({"error": "internal", "message": message}), 500
    return render_template("error.html", status=500, message=message, details=[]), 500


def init_app(app: Flask) -> None:
    app.register_error_handler(MotcuaError, _engine_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
