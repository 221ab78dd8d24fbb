"""Every case of the hostile corpus (tests/hostile/corpus.py) through every entry point that takes it.

Each answer must be a clear refusal (a 4xx with a message, an engine error,
a non-zero CLI exit) naming what is wrong, come quickly (a case that hangs
fails after CASE_SECONDS instead of blocking the run), and leave every table
of the database with the row count it had.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from engine.deployment import deploy, deploy_files
from engine.directory import load_organisation, read_organisation_file
from engine.errors import ExpressionError, FormError, InvalidInput, RuleViolation
from engine.expressions import compile_script, evaluate
from engine.models import Base, Dossier, Task, TaskState
from engine.settings import WORKFLOWS_DIR
from engine.tasks import complete
from engine.validation import validate_bpmn
from tests.conftest import PG_URL
from tests.helpers import clerk_of, district, open_tasks, receive_permit, worker_for
from tests.hostile import corpus
from tests.hostile.corpus import PASSWD_MARKER, Case
from tests.lifecycle_helpers import fast_deployed
from tests.web_helpers import PASSWORD, app_for, csrf_token, signed_in

CASE_SECONDS = 20.0
API = "/api/v1"


def quick(call: Callable[[], Any], seconds: float = CASE_SECONDS) -> Any:
    """``call()``'s result or exception, failing the test if it takes longer than ``seconds``."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # re-raised in the test's thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"no answer within {seconds:.0f} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def table_counts(ctx) -> dict[str, int]:
    with ctx.db.reading() as session:
        return {t.name: session.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


def stored_files(ctx) -> list[str]:
    root = ctx.settings.instance_dir / "files"
    return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@contextmanager
def unchanged(ctx) -> Iterator[None]:
    """Every table keeps its row count and no file is stored."""
    before, files = table_counts(ctx), stored_files(ctx)
    yield
    after = table_counts(ctx)
    assert {k: (before[k], after[k]) for k in before if before[k] != after[k]} == {}
    assert stored_files(ctx) == files


def said(answer: Any) -> str:
    """Everything a refusal said, as one text (message and problems)."""
    if isinstance(answer, BaseException):
        return str(answer)
    return json.dumps(answer, ensure_ascii=False)


def ids(cases: list[Case]) -> list[str]:
    return [c.name for c in cases]


@pytest.fixture
def deployed(ctx):
    return permit_world(ctx)


def permit_world(ctx):
    """The demo organisation with the procedures (a copied template on SQLite; only the permit on PostgreSQL).

    There are a couple of hundred cases: loading all five procedures for each would dominate the run.
    """
    if not PG_URL:
        return fast_deployed(ctx)
    with ctx.db.transaction() as session:
        load_organisation(session, read_organisation_file(WORKFLOWS_DIR / "organisation.yaml"))
    with ctx.db.transaction() as session:
        deploy_files(ctx, session, [WORKFLOWS_DIR / "procedures" / "giay-phep-xay-dung.bpmn"])
    return ctx


@pytest.fixture
def app(deployed):
    return app_for(deployed)


def token(app, username: str) -> dict[str, str]:
    response = app.test_client().post(f"{API}/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def assert_json_refusal(response, status: int, message: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.content_type.startswith("application/json")
    body = response.get_json()
    assert body["error"] and body["message"]
    assert message in said(body), body
    assert PASSWD_MARKER not in response.get_data(as_text=True)
    return body


# ================================================================== documents


@pytest.mark.parametrize("case", corpus.XML_CASES, ids=ids(corpus.XML_CASES))
def test_document_refused_by_validation(case: Case):
    verdict = quick(lambda: validate_bpmn(case.data, file_name=case.file_name))
    assert not verdict.executable
    assert case.message in said(verdict.as_dict())
    assert PASSWD_MARKER not in said(verdict.as_dict())


@pytest.mark.parametrize("case", corpus.XML_CASES, ids=ids(corpus.XML_CASES))
def test_document_refused_by_deployment(deployed, case: Case):
    def attempt():
        with deployed.db.transaction() as session:
            deploy(deployed, session, case.data, file_name=case.file_name)

    with unchanged(deployed), pytest.raises(InvalidInput) as refused:
        quick(attempt)
    assert case.message in str(refused.value)
    assert PASSWD_MARKER not in str(refused.value)


@pytest.fixture
def cli(deployed, monkeypatch, tmp_path):
    monkeypatch.setenv("MOTCUA_DATABASE_URL", deployed.db.url)
    monkeypatch.setenv("MOTCUA_INSTANCE_DIR", str(tmp_path))
    monkeypatch.delenv("MOTCUA_CONFIG", raising=False)
    from cli.main import main

    return lambda *args: CliRunner().invoke(main, list(args))


@pytest.mark.parametrize("case", corpus.XML_CASES, ids=ids(corpus.XML_CASES))
def test_document_refused_by_the_cli(deployed, cli, tmp_path, case: Case):
    path = tmp_path / case.file_name
    path.write_bytes(case.data)
    with unchanged(deployed):
        for command in ("validate", "deploy"):
            result = quick(lambda command=command: cli(command, str(path)))
            assert result.exit_code == 1, (command, result.output)
            assert case.message in result.output, (command, result.output)
            assert PASSWD_MARKER not in result.output


@pytest.mark.parametrize("case", corpus.XML_CASES, ids=ids(corpus.XML_CASES))
def test_document_refused_by_the_api(deployed, app, case: Case):
    headers = token(app, "hn.thietke")
    with unchanged(deployed):
        response = quick(lambda: app.test_client().post(
            f"{API}/procedures", headers=headers, content_type="multipart/form-data",
            data={"file": (io.BytesIO(case.data), case.file_name)}))
        assert_json_refusal(response, 400, case.message)


@pytest.fixture
def designer(deployed, app):
    client = signed_in(deployed, "hn.thietke", app)
    return client, csrf_token(client, "/designer/")


@pytest.mark.parametrize("case", corpus.XML_CASES, ids=ids(corpus.XML_CASES))
def test_document_refused_by_the_designers_deploy(deployed, designer, case: Case):
    client, csrf = designer
    body = {"xml": case.data.decode("utf-8", "replace")}
    with unchanged(deployed):
        response = quick(lambda: client.post("/designer/api/deploy", json=body,
                                             headers={"X-CSRFToken": csrf, "Accept": "application/json"}))
        assert response.status_code == 400, response.get_data(as_text=True)[:300]
        body = response.get_json()  # the designer words its messages itself, in the user's language
        assert body["error"] and body["message"] and body["problems"], body
        assert PASSWD_MARKER not in response.get_data(as_text=True)


# A parseable diagram, even an invalid one, becomes a draft to fix in the modeler; the rest is refused.
UNREADABLE = [c for c in corpus.XML_CASES if c.name not in {"xinclude", "chain-of-600-nodes"}]


@pytest.mark.parametrize("case", UNREADABLE, ids=ids(UNREADABLE))
def test_unreadable_document_refused_by_the_designers_upload(deployed, designer, case: Case):
    client, csrf = designer
    with unchanged(deployed):
        response = quick(lambda: client.post("/designer/upload", content_type="multipart/form-data", data={
            "csrf_token": csrf, "file": (io.BytesIO(case.data), case.file_name)}))
        html = response.get_data(as_text=True)
        assert response.status_code == 400
        assert any(words in html for words in ("Tệp bị từ chối vì lý do an toàn", "Không đọc được tệp BPMN",
                                                "Tệp quá lớn")), html[:2000]
        assert PASSWD_MARKER not in html


def test_a_body_over_the_upload_limit_is_413_before_anything_reads_it(deployed, app):
    headers = token(app, "hn.thietke")
    with unchanged(deployed):
        response = quick(lambda: app.test_client().post(
            f"{API}/procedures", headers=headers, content_type="multipart/form-data",
            data={"file": (io.BytesIO(corpus.OVERSIZED_BODY.data), "huge.bpmn")}))
        assert_json_refusal(response, 413, "")


# ================================================================== expressions


@pytest.mark.parametrize("case", corpus.STATIC_EXPRESSIONS + corpus.RUNTIME_EXPRESSIONS,
                         ids=ids(corpus.STATIC_EXPRESSIONS + corpus.RUNTIME_EXPRESSIONS))
def test_expression_refused_by_the_evaluator(case: Case):
    with pytest.raises(ExpressionError) as refused:
        quick(lambda: evaluate(case.data, {"result": "approve"}), seconds=5)
    assert case.message in str(refused.value)


@pytest.mark.parametrize("case", corpus.SCRIPTS, ids=ids(corpus.SCRIPTS))
def test_script_refused_by_the_script_compiler(case: Case):
    with pytest.raises(ExpressionError) as refused:
        quick(lambda: compile_script(case.data), seconds=5)
    assert case.message in str(refused.value)


@pytest.mark.parametrize("case", corpus.STATIC_EXPRESSIONS, ids=ids(corpus.STATIC_EXPRESSIONS))
def test_a_procedure_with_a_hostile_condition_is_refused_everywhere(deployed, app, cli, tmp_path, case: Case):
    source = corpus.with_condition(case.data)
    assert not quick(lambda: validate_bpmn(source)).executable
    path = tmp_path / "hostile.bpmn"
    path.write_bytes(source)
    headers = token(app, "hn.thietke")
    with unchanged(deployed):
        with pytest.raises(InvalidInput) as refused, deployed.db.transaction() as session:
            quick(lambda: deploy(deployed, session, source))
        assert case.message in str(refused.value)
        result = quick(lambda: cli("deploy", str(path)))
        assert result.exit_code == 1 and case.message in result.output
        response = quick(lambda: app.test_client().post(
            f"{API}/procedures", headers=headers, content_type="multipart/form-data",
            data={"file": (io.BytesIO(source), "hostile.bpmn")}))
        assert_json_refusal(response, 400, case.message)


@pytest.mark.parametrize("case", corpus.RUNTIME_EXPRESSIONS, ids=ids(corpus.RUNTIME_EXPRESSIONS))
def test_a_condition_that_explodes_when_evaluated_stops_the_step_and_changes_nothing(deployed, app, case: Case):
    """Well-formed, so deployable; when the gateway evaluates it the step is refused with 409 and the reason."""
    with deployed.db.transaction() as session:
        deploy(deployed, session, corpus.with_condition(case.data, code="HOSTILE-1"))
    code = receive_permit(deployed, procedure_code="HOSTILE-1")
    [receive_step] = open_tasks(deployed, code)
    with deployed.db.transaction() as session:
        complete(deployed, session, receive_step.id, clerk_of(session, district(session)),
                 {"applicant_name": "Trần Văn Bình"})
    [review] = open_tasks(deployed, code)
    with deployed.db.reading() as session:
        username = worker_for(session, review).username
    headers = token(app, username)
    with unchanged(deployed):
        response = quick(lambda: app.test_client().post(
            f"{API}/tasks/{review.id}/complete", headers=headers, json={"data": {"result": "approve"}}))
        assert_json_refusal(response, 409, case.message)
    assert [t.id for t in open_tasks(deployed, code)] == [review.id]
    with deployed.db.transaction() as session, pytest.raises(RuleViolation):
        complete(deployed, session, review.id, worker_for(session, review), {"result": "approve"})


# ================================================================== step forms


@pytest.fixture
def first_step(deployed):
    code = receive_permit(deployed)
    [task] = open_tasks(deployed, code)
    with deployed.db.reading() as session:
        username = worker_for(session, task).username
    return code, task, username


def _still_open(ctx, task) -> None:
    with ctx.db.reading() as session:
        assert session.get(Task, task.id).state == TaskState.OPEN


@pytest.mark.parametrize("case", corpus.STEP_DATA, ids=ids(corpus.STEP_DATA))
def test_step_data_refused_by_the_engine(deployed, first_step, case: Case):
    _, task, _ = first_step

    def attempt():
        with deployed.db.transaction() as session:
            complete(deployed, session, task.id, worker_for(session, task), case.data)

    with unchanged(deployed), pytest.raises(FormError) as refused:
        quick(attempt)
    assert case.message in {p.element_id for p in refused.value.problems}, refused.value
    _still_open(deployed, task)


@pytest.mark.parametrize("case", corpus.STEP_DATA, ids=ids(corpus.STEP_DATA))
def test_step_data_refused_by_the_api(deployed, app, first_step, case: Case):
    _, task, username = first_step
    headers = token(app, username)
    body = json.dumps({"data": case.data})
    with unchanged(deployed):
        response = quick(lambda: app.test_client().post(f"{API}/tasks/{task.id}/complete", headers=headers,
                                                        data=body, content_type="application/json"))
        if len(body) > 1024 * 1024:
            assert_json_refusal(response, 413, "")
        else:
            assert_json_refusal(response, 400, case.message)
    _still_open(deployed, task)


WEB_FORM = {"hop_le": "1", "can_kiem_tra": "1"}
WEB_STEP_DATA = [
    Case("boolean-as-text", lambda: {**WEB_FORM, "hop_le": "maybe"}, "hop_le"),
    Case("integer-as-text", lambda: {**WEB_FORM, "so_tang": "hai"}, "so_tang"),
    Case("integer-as-float", lambda: {**WEB_FORM, "so_tang": "2.5"}, "so_tang"),
    Case("number-overflow", lambda: {**WEB_FORM, "dien_tich_xay_dung": "1e400"}, "dien_tich_xay_dung"),
    Case("extra-key", lambda: {**WEB_FORM, "is_admin": "1"}, "is_admin"),
    Case("string-over-its-limit", lambda: {**WEB_FORM, "dia_diem_xay_dung": "a" * 10_001}, "dia_diem_xay_dung"),
]


@pytest.mark.parametrize("case", WEB_STEP_DATA, ids=ids(WEB_STEP_DATA))
def test_step_form_refused_by_the_web_page(deployed, app, first_step, case: Case):
    _, task, username = first_step
    client = signed_in(deployed, username, app)
    page = client.get(f"/inbox/tasks/{task.id}").get_data(as_text=True)
    fields = dict(_hidden_inputs(page))
    with unchanged(deployed):
        response = quick(lambda: client.post(f"/inbox/tasks/{task.id}", data={**fields, **case.data}))
        assert response.status_code == 400, response.status_code
        assert "is-invalid" in response.get_data(as_text=True) or case.message in response.get_data(as_text=True)
    _still_open(deployed, task)


def test_a_10_mb_form_field_is_refused_by_the_web_page(deployed, app, first_step):
    _, task, username = first_step
    client = signed_in(deployed, username, app)
    fields = dict(_hidden_inputs(client.get(f"/inbox/tasks/{task.id}").get_data(as_text=True)))
    with unchanged(deployed):
        response = quick(lambda: client.post(f"/inbox/tasks/{task.id}",
                                             data={**fields, **WEB_FORM, "ghi_chu": "a" * corpus.TEN_MB}))
        # Under the request limit, the field's own limit (100,000 characters) refuses it, next to the field.
        assert response.status_code == 400
        html = response.get_data(as_text=True)
        assert "is-invalid" in html
    _still_open(deployed, task)


def _hidden_inputs(page: str) -> list[tuple[str, str]]:
    import re

    return [(m.group(1), m.group(2)) for m in re.finditer(
        r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page)]


# ================================================================== receipts


@pytest.mark.parametrize("case", corpus.RECEIPTS, ids=ids(corpus.RECEIPTS))
def test_receipt_refused_by_the_api(deployed, app, case: Case):
    headers = token(app, "hk.motcua")
    body = json.dumps(case.data, allow_nan=True)
    with unchanged(deployed):
        response = quick(lambda: app.test_client().post(f"{API}/dossiers", headers=headers, data=body,
                                                        content_type="application/json"))
        assert_json_refusal(response, 400, case.message)


def test_a_10_mb_receipt_is_413(deployed, app):
    headers = token(app, "hk.motcua")
    with unchanged(deployed):
        response = quick(lambda: app.test_client().post(f"{API}/dossiers", headers=headers,
                                                        json=corpus.TEN_MB_RECEIPT.data))
        assert_json_refusal(response, 413, "")


def test_a_10_mb_applicant_name_is_refused_by_the_counter_form(deployed, app):
    from tests.test_web_counter import permit_form, post_receipt

    client = signed_in(deployed, "hk.motcua", app)
    data = permit_form(deployed, client, applicant_name="a" * corpus.TEN_MB)
    with unchanged(deployed):
        response = quick(lambda: post_receipt(client, data))
        assert response.status_code == 413


@pytest.mark.parametrize("case", corpus.UPLOADS, ids=ids(corpus.UPLOADS))
def test_a_scan_with_a_lying_extension_is_refused_by_the_counter_form(deployed, app, case: Case):
    from tests.test_web_counter import permit_form, post_receipt

    client = signed_in(deployed, "hk.motcua", app)
    data = permit_form(deployed, client, file_0=(io.BytesIO(case.data), case.file_name))
    with unchanged(deployed):
        response = quick(lambda: post_receipt(client, data))
        html = response.get_data(as_text=True)
        assert response.status_code == 400
        assert f"Tệp «{case.file_name}» {case.message}" in html
        assert "<script>" not in html
    with deployed.db.reading() as session:
        assert session.scalar(select(func.count(Dossier.id))) == 0
