"""Fuzz the JSON API from its own description: zero 5xx, every answer as described.

Schemathesis reads ``/api/v1/openapi.json`` from the app and sends generated
requests (valid and invalid) to every operation, signed in as a clerk and as
a specialist of Quận Hoàn Kiếm (the token goes in ``Authorization``; the
token endpoint itself is fuzzed without it). Each response must not be a
server error, must match the documented schema and status codes, and must
be JSON.

CI runs MOTCUA_FUZZ_EXAMPLES=20 examples per operation and user (the default);
the long form is e.g. ``MOTCUA_FUZZ_EXAMPLES=500 pytest tests/test_fuzz_api.py``.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers import receive_permit
from tests.test_hostile import permit_world
from tests.web_helpers import PASSWORD, app_for
from web.api.openapi import document

EXAMPLES = int(os.environ.get("MOTCUA_FUZZ_EXAMPLES", "20"))
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
CLERK, SPECIALIST = "hk.motcua", "hk.qldt.cv"  # of the same district


@pytest.fixture
def fuzzed_app(ctx):
    deployed = permit_world(ctx)
    for _ in range(2):  # something to find: open steps in the specialist's inbox, dossiers to show
        receive_permit(deployed)
    return app_for(deployed)


# The description is built from code alone (no database); every test then calls its own app.
schema = schemathesis.openapi.from_dict(document())


def _token(app, username: str) -> str:
    response = app.test_client().post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["token"]


FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def _call_and_check(case, app, username: str) -> None:
    headers = {} if case.path == "/auth/token" else {"Authorization": f"Bearer {_token_for(app, username)}"}
    response = case.call(headers=headers, app=app)
    case.validate_response(response, checks=CHECKS, headers=headers)


@schema.parametrize()
@FUZZ
def test_as_a_clerk_every_operation_answers_as_described(case, fuzzed_app):
    _call_and_check(case, fuzzed_app, CLERK)


@schema.parametrize()
@FUZZ
def test_as_a_specialist_every_operation_answers_as_described(case, fuzzed_app):
    _call_and_check(case, fuzzed_app, SPECIALIST)


_TOKENS: dict[tuple[int, str], str] = {}


def _token_for(app, username: str) -> str:
    """One token per app and user: issuing one per example would only measure Argon2."""
    key = (id(app), username)
    if key not in _TOKENS:
        _TOKENS.clear()
        _TOKENS[key] = _token(app, username)
    return _TOKENS[key]
