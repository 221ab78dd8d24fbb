"""Procedures: the versions in effect, and deploying a BPMN file as a new version."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from flask import request

from engine.deployment import deploy, list_procedures, version_in_effect
from engine.errors import InvalidInput, NotFound, Problem
from web.api import bp
from web.api.auth import api_view
from web.api.serializers import iso, parse_moment, procedure_json
from web.auth import engine_ctx

_UNSAFE_NAME = re.compile(r"[^\w.\- ]+")


@bp.get("/procedures")
@api_view()
def list_in_effect(session, user):
    """Every procedure with the version in effect now (procedures whose first version is not yet in effect are left out)."""
    now = engine_ctx().clock.now()
    out = []
    for procedure in list_procedures(session):
        try:
            out.append(procedure_json(version_in_effect(session, procedure.code, now)))
        except NotFound:
            continue
    return out


def _file_name(raw: str | None) -> str:
    name = PurePosixPath((raw or "").replace("\\", "/")).name
    name = _UNSAFE_NAME.sub("_", name).strip()[:200]
    return name or "procedure.bpmn"


@bp.post("/procedures")
@api_view(write=True, roles=("designer",))
def deploy_procedure(session, user):
    """Validate and deploy an uploaded BPMN file (multipart field ``file``)."""
    upload = request.files.get("file")
    unknown = sorted(set(request.files) - {"file"}) + sorted(set(request.form) - {"effective_from"})
    if unknown:
        raise InvalidInput("The upload is not valid", [Problem(f"Unknown field '{k}'", k) for k in unknown])
    if upload is None:
        raise InvalidInput("Send the BPMN file in the multipart field 'file'",
                           [Problem("A BPMN file is required", "file")])
    raw_date = request.form.get("effective_from", "").strip()
    effective_from = parse_moment(raw_date, "effective_from", date_only_allowed=True) if raw_date else None
    source = upload.read()
    if not source:
        raise InvalidInput("The file is empty", [Problem("The file is empty", "file")])
    version, new = deploy(engine_ctx(), session, source, file_name=_file_name(upload.filename),
                          effective_from=effective_from, actor=user)
    body = {"code": version.procedure.code, "version": version.version, "effective_from": iso(version.effective_from)}
    return body, 201 if new else 200
