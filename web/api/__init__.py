"""The JSON API, ``/api/v1``: bearer tokens, procedures, dossiers, the unit's inbox.

Every answer is JSON, errors included (``{error, message, details?}``, see
web/errors.py). Each request runs in one engine transaction (``reading()``
for reads); the bearer token is checked inside it. The API is exempt from
CSRF: it takes no cookies, only ``Authorization: Bearer`` tokens.
"""

from __future__ import annotations

from flask import Blueprint, abort, request

from web import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

JSON_LIMIT = 1024 * 1024  # a JSON body over 1 MB is refused with 413
UPLOAD_LIMIT = 6 * 1024 * 1024  # a BPMN upload: the parser's 5 MB cap plus multipart overhead
UPLOAD_ENDPOINTS = frozenset({"api.deploy_procedure"})


@bp.before_request
def _limit_body_size():
    limit = UPLOAD_LIMIT if request.endpoint in UPLOAD_ENDPOINTS else JSON_LIMIT
    request.max_content_length = limit  # also bounds bodies sent without Content-Length
    if request.content_length is not None and request.content_length > limit:
        abort(413)


# The views register themselves on ``bp``.
from web.api import auth, dossiers, lookup, openapi, procedures, tasks  # noqa: E402, F401
