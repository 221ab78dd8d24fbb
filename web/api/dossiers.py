"""Dossiers: receipt at the counter, the full view, and the actions beside the BPMN path.

A dossier the user may not see answers 404 exactly like one that does not
exist, so codes of other units' dossiers cannot be probed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from engine import lifecycle
from engine.access import can_view
from engine.counter_lists import units_within
from engine.deployment import compiled_version, version_in_effect
from engine.errors import FormError, InvalidInput, NotFound, Problem
from engine.models import Dossier, User
from engine.receipt import CHANNELS, receive
from web.api import bp
from web.api.auth import api_view
from web.api.serializers import check_text, dossier_json, json_object, parse_moment, receipt_json, text_field
from web.auth import engine_ctx

RECEIPT_KEYS = ("procedure_code", "applicant", "jurisdiction", "components", "data", "channel")
# Who works on dossiers, as on the dossier pages: a designer who happens to sit in a counter's unit
# must not read the personal data of the dossiers that counter received.
WORKERS = ("clerk", "specialist", "leader")
# Column widths the engine's own checks do not cover yet; beyond them PostgreSQL would refuse the row.
APPLICANT_WIDTHS = {"name": 200, "id_number": 20, "phone": 20, "address": 300, "email": 200}


def visible_dossier(session: Session, user: User, code: str) -> Dossier:
    """The dossier if ``user`` may see it; otherwise the very answer given for an unknown code."""
    check_text(code, "code")
    try:
        dossier = lifecycle.get_dossier(session, code)
    except NotFound:
        dossier = None
    if dossier is None or not can_view(session, user, dossier):
        raise NotFound(f"Dossier {code} does not exist")
    return dossier


def _applicant_widths(applicant: Any) -> None:
    if not isinstance(applicant, dict):
        return  # the engine explains what an applicant must look like
    problems = [
        Problem(f"At most {width} characters", f"applicant.{key}")
        for key, width in APPLICANT_WIDTHS.items()
        if isinstance(applicant.get(key), str) and len(applicant[key].strip()) > width
    ]
    if problems:
        raise FormError("The applicant's details are not valid", problems)


def _data_units_in_area(session: Session, user: User, procedure_code: str, data: dict | None) -> None:
    """Units named in the data (e.g. PAKN-01's responsible unit) must lie in the counter's area.

    The receipt form offers only those units; without the same check here a counter could hand a
    case, and its applicant's personal data, to any unit of the organisation.
    """
    ctx = engine_ctx()
    try:
        compiled = compiled_version(ctx, version_in_effect(session, procedure_code, ctx.clock.now()))
    except NotFound:
        return  # receive() explains the unknown procedure
    used = {step.lane for step in compiled.steps.values() if step.lane}
    keys = sorted({lane.from_data for name, lane in compiled.lanes.items() if name in used and lane.from_data})
    if not keys or not isinstance(data, dict):
        return
    area = {unit.code for unit in units_within(session, user.unit.jurisdiction_id)}
    problems = [Problem("The unit must belong to this counter's area", f"data.{key}")
                for key in keys if isinstance(data.get(key), str) and data[key] not in area]
    if problems:
        raise InvalidInput("A unit named in the data is outside this counter's area", problems)


@bp.post("/dossiers")
@api_view(write=True, roles=("clerk",))
def receive_dossier(session, user):
    """Receive a dossier at the user's counter and start its procedure."""
    body = json_object(RECEIPT_KEYS, required=("procedure_code", "applicant"))
    procedure_code = text_field(body, "procedure_code", required=True, max_length=40)
    jurisdiction = text_field(body, "jurisdiction", max_length=40)
    channel = text_field(body, "channel", max_length=16, default="counter")
    components = body.get("components")
    if components is not None and not isinstance(components, list):
        raise InvalidInput("'components' must be a list of names", [Problem("Must be a list of texts", "components")])
    data = body.get("data")
    if data is not None and not isinstance(data, dict):
        raise InvalidInput("'data' must be an object", [Problem("Must be an object", "data")])
    if channel not in CHANNELS:
        raise InvalidInput("Unknown channel", [Problem(f"One of {', '.join(CHANNELS)}", "channel")])
    _applicant_widths(body["applicant"])
    _data_units_in_area(session, user, procedure_code.strip(), data)
    try:
        dossier = receive(engine_ctx(), session, actor=user, procedure_code=procedure_code.strip(),
                          applicant=body["applicant"], jurisdiction_code=(jurisdiction or "").strip() or None,
                          components=components, data=data, channel=channel)
    except NotFound as exc:  # the only lookup by name in a receipt: the procedure code
        raise InvalidInput(exc.message, [Problem(exc.message, "procedure_code")]) from None
    session.flush()
    return receipt_json(dossier), 201


@bp.get("/dossiers/<code>")
@api_view(roles=WORKERS)
def show_dossier(session, user, code: str):
    """The dossier with its open steps, tracking slip and event log."""
    return dossier_json(session, visible_dossier(session, user, code))


@bp.post("/dossiers/<code>/supplement-request")
@api_view(write=True, roles=WORKERS)
def request_supplement(session, user, code: str):
    """Ask the citizen for missing papers (form 02); the clock stops."""
    body = json_object(("reason", "missing"), required=("reason", "missing"))
    reason = text_field(body, "reason", required=True, max_length=10_000)
    dossier = visible_dossier(session, user, code)
    lifecycle.request_supplement(engine_ctx(), session, dossier, user, reason=reason, missing=body["missing"])
    return dossier_json(session, dossier)


@bp.post("/dossiers/<code>/supplement-received")
@api_view(write=True, roles=WORKERS)
def receive_supplement(session, user, code: str):
    """The missing papers arrived at the counter; the clock runs again."""
    body = json_object(("note",))
    note = text_field(body, "note", max_length=10_000, default="")
    dossier = visible_dossier(session, user, code)
    lifecycle.receive_supplement(engine_ctx(), session, dossier, user, note=note)
    return dossier_json(session, dossier)


@bp.post("/dossiers/<code>/extend")
@api_view(write=True, roles=WORKERS)
def extend(session, user, code: str):
    """Reset the return date once, with an apology (form 04): a new date or extra working days."""
    body = json_object(("reason", "new_due_at", "extra_days"), required=("reason",))
    reason = text_field(body, "reason", required=True, max_length=10_000)
    new_due_at = body.get("new_due_at")
    if new_due_at is not None:
        new_due_at = parse_moment(new_due_at, "new_due_at", date_only_allowed=False)
    dossier = visible_dossier(session, user, code)
    lifecycle.extend(engine_ctx(), session, dossier, user, reason=reason, new_due_at=new_due_at,
                     extra_days=body.get("extra_days"))
    return dossier_json(session, dossier)


@bp.post("/dossiers/<code>/refuse")
@api_view(write=True, roles=WORKERS)
def refuse(session, user, code: str):
    """Refuse the dossier with written reasons (form 03)."""
    body = json_object(("reason",), required=("reason",))
    reason = text_field(body, "reason", required=True, max_length=10_000)
    dossier = visible_dossier(session, user, code)
    lifecycle.refuse(engine_ctx(), session, dossier, user, reason=reason)
    return dossier_json(session, dossier)


@bp.post("/dossiers/<code>/withdraw")
@api_view(write=True, roles=WORKERS)
def withdraw(session, user, code: str):
    """The applicant takes the dossier back (recorded by the receiving counter)."""
    body = json_object(("reason",))
    reason = text_field(body, "reason", max_length=10_000, default="")
    dossier = visible_dossier(session, user, code)
    lifecycle.withdraw(engine_ctx(), session, dossier, user, reason=reason)
    return dossier_json(session, dossier)


@bp.post("/dossiers/<code>/return")
@api_view(write=True, roles=WORKERS)
def return_result(session, user, code: str):
    """Hand the result to the citizen, with their rating from 1 to 5."""
    body = json_object(("rating",))
    dossier = visible_dossier(session, user, code)
    lifecycle.return_result(engine_ctx(), session, dossier, user, rating=body.get("rating"))
    return dossier_json(session, dossier)
