"""The OpenAPI 3.1 description of ``/api/v1``, served at ``GET /api/v1/openapi.json``.

Written by hand next to the views and kept honest by tests: every route is
described, and real answers are validated against the response schemas,
which are strict (``additionalProperties: false``).
"""

from __future__ import annotations

import copy
from typing import Any

from flask import jsonify

from web.api import JSON_LIMIT, bp
from web.lookup import LIMIT as LOOKUP_LIMIT
from web.lookup import WINDOW as LOOKUP_WINDOW

LOOKUP_WINDOW_MINUTES = int(LOOKUP_WINDOW.total_seconds() // 60)

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict[str, Any], required: list[str] | None = None, *, description: str = "",
         closed: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties,
                              "required": list(properties) if required is None else required}
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return {"oneOf": [schema, {"type": "null"}]}
    out = dict(schema)
    out["type"] = [schema["type"], "null"]
    return out


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
NUMBER = {"type": "number"}
MOMENT = {"type": "string", "format": "date-time", "description": "ISO 8601 with the Asia/Ho_Chi_Minh offset"}
MAYBE_MOMENT = _nullable(MOMENT)
MAYBE_STRING = _nullable(STRING)
STATUSES = ["processing", "awaiting_supplement", "awaiting_return", "returned", "refused", "withdrawn"]
FIELD_TYPES = ["string", "text", "integer", "number", "boolean", "date", "enum"]

SCHEMAS: dict[str, Any] = {
    "Error": _obj({
        "error": {"type": "string", "description": "Machine-readable code, e.g. invalid, invalid_form, "
                  "invalid_procedure, invalid_json, unauthorized, invalid_token, invalid_credentials, "
                  "forbidden, not_found, conflict, rule_violation, too_many_requests"},
        "message": STRING,
        "details": {"type": "array", "items": _ref("Problem")},
    }, ["error", "message"], description="Every error answer under /api"),
    "Problem": _obj({
        "element_id": {**MAYBE_STRING, "description": "BPMN element id, or the field key of a form or body"},
        "line": _nullable(INTEGER),
        "message": STRING,
    }, description="One fault of an input"),
    "TokenRequest": _obj({"username": {"type": "string", "maxLength": 80},
                          "password": {"type": "string", "maxLength": 200}}),
    "Token": _obj({"token": STRING, "expires_at": MOMENT}),
    "Unit": _obj({"code": STRING, "name": STRING}),
    "Status": {"type": "string", "enum": STATUSES},
    "Timing": {"type": ["string", "null"], "enum": ["early", "on_time", "late", None]},
    "ProcedureComponent": _obj({"name": STRING, "copies": INTEGER, "required": BOOLEAN}),
    "Procedure": _obj({
        "code": STRING, "name": STRING, "field": STRING, "version": INTEGER, "effective_from": MOMENT,
        "time_limit_days": {"type": "number", "description": "Working days; 0 means the same working day"},
        "components": {"type": "array", "items": _ref("ProcedureComponent")},
    }),
    "DeployForm": _obj({
        "file": {"type": "string", "contentMediaType": "application/xml", "description": "The BPMN 2.0 file"},
        "effective_from": {"type": "string", "description": "ISO date (midnight in Hà Nội) or date-time; "
                           "default: now"},
    }, ["file"]),
    "Deployed": _obj({"code": STRING, "version": INTEGER, "effective_from": MOMENT}),
    "ApplicantInput": _obj({
        "name": {"type": "string", "maxLength": 200},
        "id_number": {"type": "string", "description": "9 or 12 digits"},
        "phone": {"type": "string", "maxLength": 20},
        "address": {"type": "string", "maxLength": 300},
        "email": {"type": "string", "maxLength": 200},
    }, ["name"]),
    "Applicant": _obj({"name": STRING, "id_number": STRING, "phone": STRING, "address": STRING, "email": STRING}),
    "ReceiveRequest": _obj({
        "procedure_code": STRING,
        "applicant": _ref("ApplicantInput"),
        "jurisdiction": {"type": "string", "description": "Code of the dossier's jurisdiction; default: the "
                         "counter's own. It must lie within the counter's area."},
        "components": {"type": "array", "items": STRING,
                       "description": "Names of the papers handed in; default: all of them"},
        "data": {"type": "object", "description": "Initial data: identifier keys, scalar values",
                 "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
        "channel": {"type": "string", "enum": ["counter", "online", "post"], "default": "counter"},
    }, ["procedure_code", "applicant"]),
    "Receipt": _obj({"code": STRING, "status": _ref("Status"), "received_at": MOMENT, "due_at": MOMENT}),
    "OpenTask": _obj({"id": INTEGER, "step": STRING, "step_name": STRING, "unit": _ref("Unit"), "due_at": MOMENT,
                      "claimed_by": {**MAYBE_STRING, "description": "Username of the holder"}}),
    "Handoff": _obj({
        "seq": INTEGER, "from_unit": _nullable(_ref("Unit")), "to_unit": _ref("Unit"), "handed_at": MOMENT,
        "handed_by": MAYBE_STRING, "received_at": MAYBE_MOMENT, "received_by": MAYBE_STRING,
        "due_at": MAYBE_MOMENT, "finished_at": MAYBE_MOMENT, "timing": _ref("Timing"), "note": STRING,
    }, description="One line of the tracking slip (form 05)"),
    "Event": _obj({"at": MOMENT, "action": STRING, "actor": MAYBE_STRING, "from_status": MAYBE_STRING,
                   "to_status": MAYBE_STRING, "detail": {"type": "object"}}),
    "DossierComponent": _obj({"name": STRING, "copies": INTEGER, "required": BOOLEAN, "received": BOOLEAN}),
    "Dossier": _obj({
        "code": STRING,
        "status": _ref("Status"),
        "version": {"type": "integer", "description": "Optimistic-lock version; send it as expected_version"},
        "channel": STRING,
        "procedure": _obj({"code": STRING, "name": STRING, "version": INTEGER}),
        "jurisdiction": _ref("Unit"),
        "receiving_unit": _ref("Unit"),
        "applicant": _ref("Applicant"),
        "components": {"type": "array", "items": _ref("DossierComponent")},
        "data": {"type": "object"},
        "received_at": MOMENT,
        "counting_from": MOMENT,
        "due_at": MOMENT,
        "original_due_at": {**MAYBE_MOMENT, "description": "The due date before the one extension"},
        "paused": BOOLEAN,
        "paused_since": MAYBE_MOMENT,
        "supplement_requests": INTEGER,
        "finished_at": MAYBE_MOMENT,
        "result_timing": _ref("Timing"),
        "closed_at": MAYBE_MOMENT,
        "rating": _nullable({"type": "integer", "minimum": 1, "maximum": 5}),
        "open_tasks": {"type": "array", "items": _ref("OpenTask")},
        "handoffs": {"type": "array", "items": _ref("Handoff")},
        "events": {"type": "array", "items": _ref("Event")},
    }),
    "DossierRef": _obj({"code": STRING, "status": _ref("Status"), "version": INTEGER}),
    "TaskField": _obj({
        "key": STRING, "type": {"type": "string", "enum": FIELD_TYPES}, "label": STRING, "required": BOOLEAN,
        "options": {"type": "array", "items": STRING}, "max_length": INTEGER,
    }, ["key", "type", "label", "required", "options"], description="A field the step's completion takes"),
    "Task": _obj({
        "id": INTEGER, "step": STRING, "step_name": STRING,
        "state": {"type": "string", "enum": ["open", "done", "cancelled"]},
        "unit": _ref("Unit"), "created_at": MOMENT, "due_at": MOMENT, "clock_paused": BOOLEAN,
        "claimed_by": MAYBE_STRING, "claimed_at": MAYBE_MOMENT,
        "completed_by": MAYBE_STRING, "completed_at": MAYBE_MOMENT,
        "dossier": _obj({"code": STRING, "status": _ref("Status"), "version": INTEGER, "procedure_code": STRING,
                         "applicant_name": STRING, "due_at": MOMENT}),
        "fields": {"type": "array", "items": _ref("TaskField")},
    }),
    "TaskPage": _obj({"items": {"type": "array", "items": _ref("Task")}, "total": INTEGER}),
    "CompleteRequest": _obj({
        "data": {"type": "object", "description": "Values of the step's declared fields (see Task.fields)"},
        "expected_version": {"type": "integer",
                             "description": "The dossier version the client saw; 409 if it has moved"},
    }, ["data"]),
    "Completed": _obj({"task": _ref("Task"), "dossier": _ref("DossierRef")}),
    "SupplementRequest": _obj({"reason": STRING, "missing": {"type": "array", "items": STRING, "minItems": 1}}),
    "SupplementReceived": _obj({"note": STRING}, []),
    "ExtendRequest": _obj({
        "reason": STRING,
        "new_due_at": {**MOMENT, "description": "New return date-time (no offset means Hà Nội time)"},
        "extra_days": {"type": "number", "exclusiveMinimum": 0, "maximum": 60,
                       "description": "Working days added to the current due date"},
    }, ["reason"], description="Give exactly one of new_due_at and extra_days"),
    "RefuseRequest": _obj({"reason": STRING}),
    "WithdrawRequest": _obj({"reason": STRING}, []),
    "ReturnRequest": _obj({"rating": {"type": "integer", "minimum": 1, "maximum": 5}}, []),
    "PublicDossier": _obj({
        "code": STRING,
        "procedure": {"type": "string", "description": "Name of the procedure"},
        "status": _ref("Status"),
        "status_text": {"type": "string", "description": "The status in words, in Vietnamese"},
        "received_at": MOMENT,
        "due_at": MOMENT,
        "current_steps": {"type": "array", "items": _obj({"step": STRING, "unit": STRING}),
                          "description": "Open steps and the units holding them"},
        "missing": {"type": "array", "items": STRING,
                    "description": "Papers to bring, while the dossier waits for a supplement"},
        "returned_at": MAYBE_MOMENT,
        "receiving_unit": {"type": "string", "description": "Name of the counter that received the dossier"},
    }, description="What a citizen may see of a dossier: its progress, no personal data"),
}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref("Error")}}}


RESPONSES = {
    "BadRequest": _error_response("The input is not valid; details list each fault"),
    "Unauthorized": _error_response("No valid bearer token"),
    "Forbidden": _error_response("The user's roles or unit do not allow this"),
    "NotFound": _error_response("No such resource, or not visible to the user"),
    "Conflict": _error_response("Someone changed it first, or the state does not allow the action"),
    "TooLarge": _error_response(f"The body is larger than {JSON_LIMIT // 1024} KB (6 MB for a BPMN upload)"),
    "TooManyRequests": _error_response("Too many failed attempts"),
}


def _json(schema_name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(schema_name)}}}


def _errors(*codes: int) -> dict[str, Any]:
    names = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
             413: "TooLarge", 429: "TooManyRequests"}
    return {str(code): {"$ref": f"#/components/responses/{names[code]}"} for code in codes}


def _body(schema_name: str, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": _ref(schema_name)}}}


def _op(op_id: str, summary: str, tag: str, responses: dict[str, Any], *, body: dict | None = None,
        parameters: list | None = None, public: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": op_id, "summary": summary, "tags": [tag], "responses": responses}
    if body is not None:
        op["requestBody"] = body
    if parameters:
        op["parameters"] = parameters
    if public:
        op["security"] = []
    return op


CODE_PARAM = {"name": "code", "in": "path", "required": True, "schema": STRING,
              "description": "Dossier code, e.g. H26.38.01-260302-0001"}
TASK_PARAM = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0}}


def _lifecycle(op_id: str, summary: str, schema_name: str, required: bool, *errors: int) -> dict[str, Any]:
    return {"post": _op(op_id, summary, "dossiers",
                        {"200": _json("Dossier", "The dossier after the action"),
                         **_errors(400, 401, 403, 404, 409, 413, *errors)},
                        body=_body(schema_name, required), parameters=[CODE_PARAM])}


def _paths() -> dict[str, Any]:
    task_action = {"200": _json("Task", "The step"), **_errors(400, 401, 403, 404, 409)}
    return {
        "/auth/token": {"post": _op(
            "issueToken", "Exchange a username and password for a bearer token", "auth",
            {"200": _json("Token", "A token valid until expires_at"),
             "401": {"description": "Wrong username or password (the same answer for an unknown user), "
                     "or the account is locked", "content": {JSON: {"schema": _ref("Error")}}},
             **_errors(400, 413, 429)},
            body=_body("TokenRequest"), public=True)},
        "/openapi.json": {"get": _op(
            "openapi", "This document", "meta",
            {"200": {"description": "The OpenAPI 3.1 document", "content": {JSON: {"schema": {"type": "object"}}}}},
            public=True)},
        "/procedures": {
            "get": _op("listProcedures", "Procedures with the version in effect now", "procedures",
                       {"200": {"description": "Procedures in effect",
                                "content": {JSON: {"schema": {"type": "array", "items": _ref("Procedure")}}}},
                        **_errors(401)}),
            "post": _op("deployProcedure", "Validate and deploy a BPMN file (designer or admin)", "procedures",
                        {"200": _json("Deployed", "The very same file was already the latest version: "
                                      "nothing changed"),
                         "201": _json("Deployed", "A new version was stored"),
                         **_errors(400, 401, 403, 413)},
                        body={"required": True, "content": {"multipart/form-data": {"schema": _ref("DeployForm")}}}),
        },
        "/dossiers": {"post": _op(
            "receiveDossier", "Receive a dossier at the user's counter (clerk)", "dossiers",
            {"201": _json("Receipt", "Received; the procedure has started"), **_errors(400, 401, 403, 413)},
            body=_body("ReceiveRequest"))},
        "/dossiers/{code}": {"get": _op(
            "getDossier", "A dossier with open steps, tracking slip and events (clerk, specialist, leader)",
            "dossiers", {"200": _json("Dossier", "The dossier"), **_errors(400, 401, 403, 404)},
            parameters=[CODE_PARAM])},
        "/dossiers/{code}/supplement-request": _lifecycle(
            "requestSupplement", "Ask for missing papers (form 02); the clock stops", "SupplementRequest", True),
        "/dossiers/{code}/supplement-received": _lifecycle(
            "receiveSupplement", "The missing papers arrived; the clock runs again", "SupplementReceived", False),
        "/dossiers/{code}/extend": _lifecycle(
            "extendDossier", "Reset the return date once (form 04)", "ExtendRequest", True),
        "/dossiers/{code}/refuse": _lifecycle(
            "refuseDossier", "Refuse with written reasons (form 03)", "RefuseRequest", True),
        "/dossiers/{code}/withdraw": _lifecycle(
            "withdrawDossier", "The applicant takes the dossier back", "WithdrawRequest", False),
        "/dossiers/{code}/return": _lifecycle(
            "returnResult", "Hand the result to the citizen, with a rating", "ReturnRequest", False),
        "/tasks": {"get": _op(
            "listTasks", "Open steps of the user's unit, soonest due first", "tasks",
            {"200": _json("TaskPage", "A page of steps and the number of all matching ones"),
             **_errors(400, 401, 403)},
            parameters=[
                {"name": "procedure", "in": "query", "schema": STRING, "description": "Procedure code"},
                {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 200},
                 "description": "Part of the dossier code or the applicant's name"},
                {"name": "mine", "in": "query", "schema": {"type": "string", "enum": ["0", "1"]},
                 "description": "1: only steps the user holds"},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200,
                                                             "default": 50}},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
            ])},
        "/tasks/{task_id}/claim": {"post": _op(
            "claimTask", "Take the step for oneself", "tasks", task_action, parameters=[TASK_PARAM])},
        "/tasks/{task_id}/release": {"post": _op(
            "releaseTask", "Give the step back to the unit", "tasks", task_action, parameters=[TASK_PARAM])},
        "/lookup/{code}": {"get": _op(
            "lookupDossier", "Public lookup of a dossier's progress by its code and phone number", "lookup",
            {"200": _json("PublicDossier", "The dossier's progress"),
             "404": {"description": "No dossier with this code and phone number: the same answer for an unknown "
                     "code, a wrong phone number and a phone4 that is not four digits",
                     "content": {JSON: {"schema": _ref("Error")}}},
             "429": {"description": f"More than {LOOKUP_LIMIT} lookups from this client within "
                     f"{LOOKUP_WINDOW_MINUTES} minutes (shared with the lookup page)",
                     "headers": {"Retry-After": {"description": "Seconds until the window ends",
                                                 "schema": INTEGER}},
                     "content": {JSON: {"schema": _ref("Error")}}}},
            parameters=[CODE_PARAM,
                        {"name": "phone4", "in": "query", "required": True,
                         "schema": {"type": "string", "pattern": "^[0-9]{4}$"},
                         "description": "The last four digits of the applicant's phone number"}],
            public=True)},
        "/tasks/{task_id}/complete": {"post": _op(
            "completeTask", "Finish the step with its form data", "tasks",
            {"200": _json("Completed", "The step is done; the dossier moved on"),
             **_errors(400, 401, 403, 404, 409, 413)},
            body=_body("CompleteRequest"), parameters=[TASK_PARAM])},
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "motcua API",
            "version": "1.0.0",
            "description": "JSON API of the one-stop-shop system: procedures, dossiers, the unit's steps. "
                           "Every error is {error, message, details?}; moments are ISO 8601 in Asia/Ho_Chi_Minh.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name} for name in ("auth", "procedures", "dossiers", "tasks", "lookup", "meta")],
        "paths": _paths(),
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "responses": copy.deepcopy(RESPONSES),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer",
                                               "description": "A token from POST /auth/token"}},
        },
    }


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of this API (no token needed)."""
    return jsonify(document())
