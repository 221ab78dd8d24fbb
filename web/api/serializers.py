"""JSON shapes of the API, both ways.

Reading: request bodies must be JSON objects with known keys and values of
the right type; every problem is reported at once as ``details`` with the
field name in ``element_id``. Writing: engine rows become plain dicts whose
shapes are declared in web/api/openapi.py; moments are ISO 8601 with the
offset of the site's time zone (Asia/Ho_Chi_Minh).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, request
from sqlalchemy.orm import Session

from engine import events as event_log
from engine import handoffs, tasks
from engine.deployment import compiled_by_id
from engine.errors import InvalidInput, Problem
from engine.models import Dossier, Handoff, ProcedureVersion, Task, Unit, User
from engine.text import storable
from web.auth import engine_ctx

MIN_YEAR, MAX_YEAR = 2000, 2200


class InvalidJson(InvalidInput):
    """The body is not JSON, or not a JSON object."""

    code = "invalid_json"


# ---------------------------------------------------------------- reading


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _no_constants(text: str):
    raise ValueError(f"{text} is not valid JSON")


def _bad_text_paths(value: Any, path: str) -> Iterable[str]:
    """Where text that no database column could store hides in ``value``."""
    if isinstance(value, str):
        if not storable(value):
            yield path or "body"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if not storable(str(key)):
                yield path or "body"
            else:
                yield from _bad_text_paths(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _bad_text_paths(item, f"{path}[{index}]")


def json_object(allowed: Iterable[str], required: Iterable[str] = ()) -> dict[str, Any]:
    """The request body as a JSON object with only ``allowed`` keys and every ``required`` one.

    An empty body counts as ``{}``. Unknown and missing keys are all listed
    in the error's details.
    """
    raw = request.get_data(cache=True)
    limit = request.max_content_length
    if request.content_length is None and limit is not None and len(raw) >= limit:
        abort(413)  # a streamed (chunked) body is cut at the limit rather than refused
    if not raw.strip():
        body: Any = {}
    else:
        try:
            body = json.loads(raw, parse_float=_finite_float, parse_constant=_no_constants)
        except (ValueError, RecursionError) as exc:
            message = "The request body is not valid JSON"
            raise InvalidJson(message, [Problem(str(exc)[:200] or message, "body")]) from None
    if not isinstance(body, dict):
        raise InvalidJson("The request body must be a JSON object", [Problem("Expected a JSON object", "body")])
    allowed = set(allowed)
    problems = [Problem(f"Unknown field '{key}'", key) for key in sorted(body) if key not in allowed]
    problems += [Problem(f"'{key}' is required", key) for key in required if body.get(key) is None]
    problems += [Problem("Text must not contain NUL characters or lone surrogates", where)
                 for where in _bad_text_paths(body, "")]
    if problems:
        raise InvalidInput("The request body is not valid", problems)
    return body


def text_field(body: Mapping[str, Any], key: str, *, required: bool = False, max_length: int = 2_000,
               default: str | None = None) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise InvalidInput(f"'{key}' is required", [Problem(f"'{key}' is required", key)])
        return default
    if not isinstance(value, str):
        raise InvalidInput(f"'{key}' must be text", [Problem("Must be text", key)])
    if len(value) > max_length:
        raise InvalidInput(f"'{key}' is too long", [Problem(f"At most {max_length} characters", key)])
    return value


def site_zone() -> ZoneInfo:
    return ZoneInfo(engine_ctx().settings.calendar.timezone)


def parse_moment(value: Any, key: str, *, date_only_allowed: bool) -> datetime:
    """An ISO 8601 date-time (no offset means Hà Nội time), or a date meaning its midnight there."""
    problem = InvalidInput(
        f"'{key}' is not an ISO 8601 date and time",
        [Problem("Expected an ISO 8601 date-time such as 2026-03-02T09:00:00+07:00", key)],
    )
    if not isinstance(value, str) or len(value) > 40:
        raise problem
    text = value.strip()
    try:
        if len(text) == 10:
            if not date_only_allowed:
                raise problem
            moment = datetime.combine(date.fromisoformat(text), time(0), tzinfo=site_zone())
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise problem from None
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=site_zone())
    try:
        in_range = MIN_YEAR <= moment.astimezone(UTC).year <= MAX_YEAR
    except OverflowError:
        in_range = False
    if not in_range:
        raise InvalidInput(f"'{key}' is out of range", [Problem(f"Years {MIN_YEAR} to {MAX_YEAR} only", key)])
    return moment


def check_text(value: str, key: str) -> None:
    """Query strings and path segments: no NUL characters (PostgreSQL cannot store or compare them)."""
    if not storable(value):
        raise InvalidInput(f"'{key}' contains a character that is not allowed",
                           [Problem("NUL characters are not allowed", key)])


# ---------------------------------------------------------------- writing


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(site_zone()).isoformat() if moment is not None else None


def unit_json(unit: Unit | None) -> dict[str, str] | None:
    return {"code": unit.code, "name": unit.name} if unit is not None else None


def username(user: User | None) -> str | None:
    return user.username if user is not None else None


def procedure_json(version: ProcedureVersion) -> dict[str, Any]:
    procedure = version.procedure
    return {
        "code": procedure.code,
        "name": version.name,
        "field": procedure.field,
        "version": version.version,
        "effective_from": iso(version.effective_from),
        "time_limit_days": version.time_limit_days,
        "components": [
            {"name": c["name"], "copies": c.get("copies", 1), "required": c.get("required", True)}
            for c in version.components or []
        ],
    }


def applicant_json(dossier: Dossier) -> dict[str, str]:
    return {
        "name": dossier.applicant_name,
        "id_number": dossier.applicant_id_number or "",
        "phone": dossier.applicant_phone or "",
        "address": dossier.applicant_address or "",
        "email": dossier.applicant_email or "",
    }


def receipt_json(dossier: Dossier) -> dict[str, Any]:
    return {"code": dossier.code, "status": str(dossier.status), "received_at": iso(dossier.received_at),
            "due_at": iso(dossier.due_at)}


def dossier_ref(dossier: Dossier) -> dict[str, Any]:
    return {"code": dossier.code, "status": str(dossier.status), "version": dossier.version}


def open_task_json(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "step": task.step,
        "step_name": task.step_name,
        "unit": unit_json(task.unit),
        "due_at": iso(task.due_at),
        "claimed_by": username(task.claimed_by),
    }


def handoff_json(stint: Handoff) -> dict[str, Any]:
    return {
        "seq": stint.seq,
        "from_unit": unit_json(stint.from_unit),
        "to_unit": unit_json(stint.to_unit),
        "handed_at": iso(stint.handed_at),
        "handed_by": username(stint.handed_by),
        "received_at": iso(stint.received_at),
        "received_by": username(stint.received_by),
        "due_at": iso(stint.due_at),
        "finished_at": iso(stint.finished_at),
        "timing": stint.timing,
        "note": stint.note or "",
    }


def dossier_json(session: Session, dossier: Dossier) -> dict[str, Any]:
    """Everything a unit that may see the dossier needs: dates, open steps, tracking slip, history."""
    session.flush()  # the version column moves at flush
    version = dossier.procedure_version
    return {
        "code": dossier.code,
        "status": str(dossier.status),
        "version": dossier.version,
        "channel": dossier.channel,
        "procedure": {"code": version.procedure.code, "name": version.name, "version": version.version},
        "jurisdiction": {"code": dossier.jurisdiction.code, "name": dossier.jurisdiction.name},
        "receiving_unit": unit_json(dossier.receiving_unit),
        "applicant": applicant_json(dossier),
        "components": [
            {"name": c.name, "copies": c.copies, "required": c.required, "received": c.received}
            for c in dossier.components
        ],
        "data": dict(dossier.data or {}),
        "received_at": iso(dossier.received_at),
        "counting_from": iso(dossier.counting_from),
        "due_at": iso(dossier.due_at),
        "original_due_at": iso(dossier.original_due_at),
        "paused": dossier.paused,
        "paused_since": iso(dossier.paused_since),
        "supplement_requests": dossier.supplement_requests or 0,
        "finished_at": iso(dossier.finished_at),
        "result_timing": dossier.result_timing,
        "closed_at": iso(dossier.closed_at),
        "rating": dossier.rating,
        "open_tasks": [open_task_json(t) for t in tasks.open_tasks(session, dossier)],
        "handoffs": [handoff_json(h) for h in handoffs.all_stints(session, dossier)],
        "events": [
            {"at": iso(e.at), "action": e.action, "actor": username(e.actor), "from_status": e.from_status,
             "to_status": e.to_status, "detail": dict(e.detail or {})}
            for e in event_log.history(session, dossier)
        ],
    }


def task_json(session: Session, task: Task) -> dict[str, Any]:
    """A step with its dossier's headline and the fields its completion takes."""
    dossier = task.dossier
    compiled = compiled_by_id(engine_ctx(), session, dossier.procedure_version_id)
    step = compiled.steps.get(task.step)
    return {
        "id": task.id,
        "step": task.step,
        "step_name": task.step_name,
        "state": str(task.state),
        "unit": unit_json(task.unit),
        "created_at": iso(task.created_at),
        "due_at": iso(task.due_at),
        "clock_paused": bool(task.clock_paused),
        "claimed_by": username(task.claimed_by),
        "claimed_at": iso(task.claimed_at),
        "completed_by": username(task.completed_by),
        "completed_at": iso(task.completed_at),
        "dossier": {
            "code": dossier.code,
            "status": str(dossier.status),
            "version": dossier.version,
            "procedure_code": compiled.info.code,
            "applicant_name": dossier.applicant_name,
            "due_at": iso(dossier.due_at),
        },
        "fields": [field.describe() for field in (step.fields if step else ())],
    }
