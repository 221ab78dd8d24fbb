"""The OpenAPI 3.1 document: valid, complete, and true to the answers the API really gives."""

from __future__ import annotations

import io
import re

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate as validate_openapi

from tests.helpers import APPLICANT, PERMIT, PERMIT_HAPPY
from tests.test_api import PERMIT_FILE, PREFIX, ApiClient, permit_run, receive_over_api
from tests.web_helpers import app_for
from web.lookup import LIMIT as LOOKUP_LIMIT

IGNORED_METHODS = {"HEAD", "OPTIONS"}
CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


@pytest.fixture
def app(deployed):
    return app_for(deployed)


@pytest.fixture
def doc(app):
    response = app.test_client().get(f"{PREFIX}/openapi.json")
    assert response.status_code == 200 and response.is_json
    return response.json


def api_rules(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(PREFIX + "/"):
            yield rule, CONVERTER.sub(r"{\1}", rule.rule[len(PREFIX):])


def test_the_document_is_valid_openapi_3_1_without_a_token(doc):
    assert doc["openapi"].startswith("3.1")
    validate_openapi(doc)
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "description": "A token from POST /auth/token"}
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "message"] and set(error["properties"]) == {"error", "message", "details"}


def test_every_schema_is_valid_json_schema_2020_12(doc):
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_every_route_is_documented_with_its_methods_and_nothing_else(app, doc):
    routes: dict[str, set[str]] = {}
    for rule, path in api_rules(app):
        routes.setdefault(path, set()).update(m.lower() for m in rule.methods - IGNORED_METHODS)
    documented = {path: set(ops) - {"parameters"} for path, ops in doc["paths"].items()}
    assert routes == documented


def test_every_operation_declares_its_answers_parameters_and_security(doc):
    operation_ids = set()
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            operation_ids.add(op["operationId"])
            success = [code for code in op["responses"] if code.startswith("2")]
            assert success, (method, path)
            public = op.get("security") == []
            assert public == (path in ("/auth/token", "/openapi.json", "/lookup/{code}")), (method, path)
            if not public:
                assert "401" in op["responses"], (method, path)
            for name in re.findall(r"{([a-z_]+)}", path):
                assert any(p["in"] == "path" and p["name"] == name for p in op.get("parameters", [])), path
            if method == "post" and path not in ("/tasks/{task_id}/claim", "/tasks/{task_id}/release"):
                assert "requestBody" in op, (method, path)
    assert len(operation_ids) == sum(len(ops) for ops in doc["paths"].values())


def _operation(app, doc, method: str, url: str):
    """The documented operation that ``method url`` reaches, through Flask's own routing."""
    adapter = app.url_map.bind("localhost")
    rule, _args = adapter.match(url.split("?")[0], method=method, return_rule=True)
    path = CONVERTER.sub(r"{\1}", rule.rule[len(PREFIX):])
    return path, doc["paths"][path][method.lower()]


def _response_schema(doc, operation: dict, status: int) -> dict:
    declared = operation["responses"].get(str(status))
    assert declared is not None, f"status {status} not declared"
    if "$ref" in declared:
        declared = doc["components"]["responses"][declared["$ref"].rsplit("/", 1)[-1]]
    return declared["content"]["application/json"]["schema"]


def assert_answers_match_the_document(app, doc, log) -> set[tuple[str, str, int]]:
    seen = set()
    for method, url, status, body in log:
        path, operation = _operation(app, doc, method, url)
        schema = {**_response_schema(doc, operation, status), "components": doc["components"]}
        errors = sorted(Draft202012Validator(schema, format_checker=FormatChecker()).iter_errors(body),
                        key=lambda e: list(e.path))
        assert not errors, f"{method} {url} {status}: {errors[0].message} at {list(errors[0].path)}"
        seen.add((method, path, status))
    return seen


def test_real_answers_validate_against_the_declared_schemas(app, doc, clock):
    log: list = []
    clerk, code, _steps = permit_run(app, clock, log)
    specialist = clerk.as_user("hk.qldt.cv")
    designer = clerk.as_user("hn.thietke")
    anonymous = ApiClient(app, log=log)
    # listings, deployments, the inbox and the document itself
    clerk.get("/procedures")
    permit = PERMIT_FILE.read_bytes()
    designer.post("/procedures", data={"file": (io.BytesIO(permit), "gpxd.bpmn")},
                  content_type="multipart/form-data")
    changed = permit.replace("Kiểm tra thực địa".encode(), "Kiểm tra hiện trạng".encode(), 1)
    designer.post("/procedures", data={"file": (io.BytesIO(changed), "gpxd.bpmn"),
                                       "effective_from": "2026-06-01"}, content_type="multipart/form-data")
    designer.post("/procedures", data={"file": (io.BytesIO(b"<x/>"), "x.bpmn")},
                  content_type="multipart/form-data")
    anonymous.get("/openapi.json")
    # lifecycle actions on fresh dossiers
    second = receive_over_api(clerk)
    specialist.get("/tasks", query_string={"limit": 5})
    task = clerk.get(f"/dossiers/{second}").json["open_tasks"][0]
    specialist.post(f"/tasks/{task['id']}/claim")
    specialist.post(f"/tasks/{task['id']}/release")
    specialist.post(f"/dossiers/{second}/supplement-request", json={"reason": "Thiếu", "missing": ["Bản vẽ"]})
    clerk.post(f"/dossiers/{second}/supplement-received", json={"note": "Đủ"})
    clerk.post(f"/dossiers/{second}/extend", json={"reason": "Chờ", "extra_days": 3})
    specialist.post(f"/dossiers/{second}/refuse", json={"reason": "Không phù hợp"})
    third = receive_over_api(clerk)
    clerk.post(f"/dossiers/{third}/withdraw", json={"reason": "Rút"})
    # errors of every kind
    anonymous.post("/auth/token", json={"username": "hk.motcua", "password": "wrong-password"})
    anonymous.post("/auth/token", data="nope", content_type="application/json")
    anonymous.get("/procedures")
    clerk.post("/dossiers", json={"procedure_code": PERMIT, "applicant": APPLICANT, "extra": 1})
    specialist.post("/dossiers", json={"procedure_code": PERMIT, "applicant": APPLICANT})
    clerk.as_user("bd.motcua").get(f"/dossiers/{code}")
    fourth = receive_over_api(clerk)
    task = clerk.get(f"/dossiers/{fourth}").json["open_tasks"][0]
    specialist.post(f"/tasks/{task['id']}/complete", json={"data": {"hop_le": 1}})
    specialist.post(f"/tasks/{task['id']}/complete", json={"data": PERMIT_HAPPY["Task_ThamDinh"]})
    specialist.post(f"/tasks/{task['id']}/complete", json={"data": PERMIT_HAPPY["Task_ThamDinh"]})
    clerk.as_user("bd.qldt.cv").post(f"/tasks/{task['id']}/claim")
    clerk.post(f"/dossiers/{fourth}/return", json={"rating": 5})
    clerk.post("/dossiers", data="x" * (1024 * 1024 + 1), content_type="application/json")
    for _ in range(11):
        anonymous.post("/auth/token", json={"username": "nobody.here", "password": "x"})
    # the public lookup: found, not found, and over the per-client limit
    anonymous.get(f"/lookup/{code}", query_string={"phone4": APPLICANT["phone"][-4:]})
    for _ in range(LOOKUP_LIMIT):
        anonymous.get(f"/lookup/{code}", query_string={"phone4": "0000"})

    seen = assert_answers_match_the_document(app, doc, log)
    statuses = {status for _m, _p, status in seen}
    assert statuses >= {200, 201, 400, 401, 403, 404, 409, 413, 429}
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert {(m, p) for m, p, _s in seen} == documented  # every operation was exercised
