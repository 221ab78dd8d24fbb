"""The JSON API /api/v1: tokens, procedures, dossiers, steps, lifecycle actions, JSON errors."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from engine.settings import WORKFLOWS_DIR
from tests.conftest import vn
from tests.helpers import APPLICANT, PERMIT, PERMIT_HAPPY
from tests.web_helpers import PASSWORD, app_for

PREFIX = "/api/v1"
PERMIT_FILE = WORKFLOWS_DIR / "procedures" / "giay-phep-xay-dung.bpmn"
# Who works on each unit's steps of the construction permit in Quận Hoàn Kiếm.
WORKER_OF_UNIT = {"H26.38.03": "hk.qldt.cv", "H26.38.02": "hk.lanhdao"}


class ApiClient:
    """A test client that speaks to /api/v1 as one user and records every answer."""

    def __init__(self, app, username: str | None = None, log: list | None = None, token: str | None = None):
        self.app = app
        self.client = app.test_client()
        self.log = log if log is not None else []
        self.username = username
        self.token = token
        if username and token is None:
            response = self.post("/auth/token", json={"username": username, "password": PASSWORD}, auth=False)
            assert response.status_code == 200, response.get_data(as_text=True)
            self.token = response.json["token"]

    def as_user(self, username: str) -> ApiClient:
        return ApiClient(self.app, username, self.log)

    def request(self, method: str, path: str, *, auth: bool = True, headers: dict | None = None, **kwargs):
        headers = dict(headers or {})
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        response = self.client.open(PREFIX + path, method=method, headers=headers, **kwargs)
        assert response.content_type.startswith("application/json"), (method, path, response.content_type)
        self.log.append((method, PREFIX + path, response.status_code, response.get_json()))
        return response

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() == timedelta(hours=7), text
    return moment


def receive_over_api(clerk: ApiClient, **extra: Any) -> str:
    response = clerk.post("/dossiers", json={"procedure_code": PERMIT, "applicant": APPLICANT, **extra})
    assert response.status_code == 201, response.json
    return response.json["code"]


def work_step(api: ApiClient, code: str, answers: dict[str, dict], clock=None) -> dict:
    """Claim and complete the dossier's first open step as someone of its unit; return the completion."""
    dossier = api.get(f"/dossiers/{code}").json
    task = dossier["open_tasks"][0]
    worker = api.as_user(WORKER_OF_UNIT[task["unit"]["code"]])
    inbox = worker.get("/tasks", query_string={"q": code}).json
    assert [t["id"] for t in inbox["items"]] == [task["id"]] and inbox["total"] == 1
    claimed = worker.post(f"/tasks/{task['id']}/claim")
    assert claimed.status_code == 200 and claimed.json["claimed_by"] == worker.username
    if clock is not None:
        clock.advance(hours=1)
    done = worker.post(f"/tasks/{task['id']}/complete",
                       json={"data": answers[task["step"]], "expected_version": claimed.json["dossier"]["version"]})
    assert done.status_code == 200, done.json
    assert done.json["task"]["state"] == "done" and done.json["task"]["completed_by"] == worker.username
    return done.json


def permit_run(app, clock, log: list | None = None) -> tuple[ApiClient, str, list[str]]:
    """The construction permit from receipt to return, over the API only."""
    clerk = ApiClient(app, "hk.motcua", log)
    code = receive_over_api(clerk)
    steps = []
    for _ in range(10):
        if not clerk.get(f"/dossiers/{code}").json["open_tasks"]:
            break
        steps.append(work_step(clerk, code, PERMIT_HAPPY, clock)["task"]["step"])
    returned = clerk.post(f"/dossiers/{code}/return", json={"rating": 5})
    assert returned.status_code == 200, returned.json
    return clerk, code, steps


@pytest.fixture
def app(deployed):
    return app_for(deployed)


@pytest.fixture
def clerk(app) -> ApiClient:
    return ApiClient(app, "hk.motcua")


# ---------------------------------------------------------------- tokens


def test_a_token_is_issued_for_the_right_password_and_opens_the_api(app, clock):
    anonymous = ApiClient(app)
    response = anonymous.post("/auth/token", json={"username": "HK.Motcua ", "password": PASSWORD})
    assert response.status_code == 200
    assert _moment(response.json["expires_at"]) == clock.now() + timedelta(hours=12)
    api = ApiClient(app, token=response.json["token"])
    assert api.get("/procedures").status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_answer(app):
    anonymous = ApiClient(app)
    wrong = anonymous.post("/auth/token", json={"username": "hk.motcua", "password": "wrong-password"})
    unknown = anonymous.post("/auth/token", json={"username": "nobody.here", "password": "wrong-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json and wrong.json["error"] == "invalid_credentials"


def test_the_api_needs_a_valid_bearer_token(app, clerk):
    anonymous = ApiClient(app)
    for headers in ({}, {"Authorization": "Basic aGs6bW90Y3Vh"}, {"Authorization": "Bearer"}):
        response = anonymous.get("/procedures", headers=headers)
        assert response.status_code == 401 and response.json["error"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    forged = anonymous.get("/procedures", headers={"Authorization": "Bearer " + "x" * 43})
    assert forged.status_code == 401 and forged.json["error"] == "invalid_token"
    assert anonymous.post("/dossiers", json={}).status_code == 401


def test_a_token_expires_after_twelve_hours(app, clerk, clock):
    clock.advance(hours=11, minutes=59)
    assert clerk.get("/procedures").status_code == 200
    clock.advance(minutes=1)
    response = clerk.get("/procedures")
    assert response.status_code == 401 and response.json["error"] == "invalid_token"


def test_failed_token_requests_are_throttled_per_username_and_client(app, clock):
    anonymous = ApiClient(app)
    attempt = {"username": "nobody.here", "password": "wrong-password"}
    for _ in range(10):
        assert anonymous.post("/auth/token", json=attempt).status_code == 401
    throttled = anonymous.post("/auth/token", json=attempt)
    assert throttled.status_code == 429 and throttled.json["error"] == "too_many_requests"
    assert int(throttled.headers["Retry-After"]) > 0
    # the right password does not get through a throttled pair either
    for _ in range(10):
        anonymous.post("/auth/token", json={"username": "hk.tckh.cv", "password": "guess"})
    clock.advance(minutes=20)  # the account lock of five failures has expired too
    right = anonymous.post("/auth/token", json={"username": "hk.tckh.cv", "password": PASSWORD})
    assert right.status_code == 200
    other_client = anonymous.post("/auth/token", json=attempt, environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other_client.status_code == 401


def test_a_throttled_pair_is_refused_even_with_the_right_password(app):
    anonymous = ApiClient(app)
    for _ in range(10):
        anonymous.post("/auth/token", json={"username": "hk.tckh.ld", "password": "guess"})
    response = anonymous.post("/auth/token", json={"username": "hk.tckh.ld", "password": PASSWORD})
    assert response.status_code == 429


def test_an_account_locked_by_five_failures_gets_no_token(app, clock):
    anonymous = ApiClient(app)
    for _ in range(5):
        anonymous.post("/auth/token", json={"username": "hk.qldt.cv", "password": "wrong-password"})
    locked = anonymous.post("/auth/token", json={"username": "hk.qldt.cv", "password": PASSWORD})
    assert locked.status_code == 401 and locked.json["error"] == "invalid_credentials"
    clock.advance(minutes=16)
    assert anonymous.post("/auth/token", json={"username": "hk.qldt.cv", "password": PASSWORD}).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"username": "hk.motcua"}, "password"),
    ({"username": "hk.motcua", "password": PASSWORD, "remember": True}, "remember"),
    ({"username": ["hk.motcua"], "password": PASSWORD}, "username"),
])
def test_bad_token_requests_are_400_with_the_field(app, body, field):
    response = ApiClient(app).post("/auth/token", json=body)
    assert response.status_code == 400
    assert field in [d["element_id"] for d in response.json["details"]]


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe\x00", b'{"a": NaN}', b"[" * 5000])
def test_a_body_that_is_not_a_json_object_is_400(app, clerk, raw):
    for client, path in ((ApiClient(app), "/auth/token"), (clerk, "/dossiers")):
        response = client.post(path, data=raw, content_type="application/json")
        assert response.status_code == 400 and response.json["error"] == "invalid_json", response.json


# ---------------------------------------------------------------- procedures


def test_procedures_in_effect(app, clerk):
    procedures = clerk.get("/procedures").json
    assert {p["code"] for p in procedures} == {"XD-GPXD-01", "HT-KS-01", "HKD-DK-01", "DD-GCN-01", "PAKN-01"}
    permit = next(p for p in procedures if p["code"] == PERMIT)
    assert permit["version"] == 1 and permit["time_limit_days"] == 15 and permit["field"] == "Hoạt động xây dựng"
    assert permit["name"] == "Cấp giấy phép xây dựng nhà ở riêng lẻ"
    assert {"name": "Bản vẽ thiết kế xây dựng (mặt bằng, mặt cắt, mặt đứng, móng, sơ đồ đấu nối hạ tầng)",
            "copies": 2, "required": True} in permit["components"]
    _moment(permit["effective_from"])


def _upload(api: ApiClient, source: str | bytes, **form):
    data = {"file": (io.BytesIO(source.encode() if isinstance(source, str) else source), "gpxd.bpmn"), **form}
    return api.post("/procedures", data=data, content_type="multipart/form-data")


def test_a_broken_bpmn_is_refused_with_element_ids_and_lines(app):
    designer = ApiClient(app, "hn.thietke")
    broken = (PERMIT_FILE.read_text(encoding="utf-8")
              .replace(' default="Flow_KhongHopLe"', "", 1)
              .replace('key="so_giay_phep" type="string"', 'key="so_giay_phep" type="stringy"', 1))
    response = _upload(designer, broken)
    assert response.status_code == 400 and response.json["error"] == "invalid_procedure"
    details = {d["element_id"]: d for d in response.json["details"]}
    assert {"Flow_KhongHopLe", "Task_DuThaoGiayPhep"} <= set(details)
    assert all(isinstance(d["line"], int) and d["message"] for d in details.values())
    assert _upload(designer, b"<definitions").json["error"] in ("invalid_procedure", "unsafe_xml")
    assert designer.get("/procedures").json[-1]["version"] == 1


def test_a_modified_shipped_file_becomes_the_next_version(app, clock):
    admin = ApiClient(app, "hn.quantri")
    source = PERMIT_FILE.read_text(encoding="utf-8")
    assert _upload(admin, source).status_code == 200  # the very same file: nothing new
    changed = source.replace('name="Kiểm tra thực địa"', 'name="Kiểm tra hiện trạng"', 1)
    later = _upload(admin, changed, effective_from="2026-04-01")
    assert later.status_code == 201 and later.json["code"] == PERMIT and later.json["version"] == 2
    assert _moment(later.json["effective_from"]) == vn(2026, 4, 1)
    assert _upload(admin, changed, effective_from="2026-04-01").status_code == 200
    permit = [p for p in admin.get("/procedures").json if p["code"] == PERMIT]
    assert [p["version"] for p in permit] == [1]  # version 2 is not in effect yet
    clock.set(vn(2026, 4, 1, 8, 0))
    permit = [p for p in ApiClient(app, "hk.motcua").get("/procedures").json if p["code"] == PERMIT]
    assert [p["version"] for p in permit] == [2]


def test_only_designers_and_admins_deploy(app, clerk):
    response = _upload(clerk, PERMIT_FILE.read_bytes())
    assert response.status_code == 403 and response.json["error"] == "forbidden"


@pytest.mark.parametrize("form, field", [
    ({"effective_from": "01/04/2026"}, "effective_from"),
    ({"comment": "x"}, "comment"),
])
def test_bad_uploads_are_400_with_the_field(app, form, field):
    designer = ApiClient(app, "hn.thietke")
    response = _upload(designer, PERMIT_FILE.read_bytes(), **form)
    assert response.status_code == 400 and field in [d["element_id"] for d in response.json["details"]]
    missing = designer.post("/procedures", data={}, content_type="multipart/form-data")
    assert missing.status_code == 400 and missing.json["details"][0]["element_id"] == "file"


# ---------------------------------------------------------------- dossiers


def test_a_construction_permit_runs_over_the_api_from_receipt_to_return(app, clock):
    clerk, code, steps = permit_run(app, clock)
    assert steps == ["Task_ThamDinh", "Task_KiemTraThucDia", "Task_DuThaoGiayPhep", "Task_PheDuyet"]
    dossier = clerk.get(f"/dossiers/{code}").json
    assert dossier["status"] == "returned" and dossier["rating"] == 5 and dossier["open_tasks"] == []
    assert dossier["procedure"] == {"code": PERMIT, "name": "Cấp giấy phép xây dựng nhà ở riêng lẻ", "version": 1}
    assert dossier["applicant"] == APPLICANT
    assert dossier["data"]["so_giay_phep"] == "123/GPXD"
    assert _moment(dossier["received_at"]) == vn(2026, 3, 2, 9, 0)
    assert _moment(dossier["due_at"]) > _moment(dossier["counting_from"])
    assert [h["to_unit"]["code"] for h in dossier["handoffs"]] == ["H26.38.03", "H26.38.02", "H26.38.01"]
    assert dossier["handoffs"][0]["from_unit"]["code"] == "H26.38.01"
    assert all(h["finished_at"] and h["timing"] == "early" for h in dossier["handoffs"])
    actions = [e["action"] for e in dossier["events"]]
    assert actions[0] == "received" and actions[-1] == "returned" and actions.count("completed") == 4
    assert dossier["events"][-1]["actor"] == "hk.motcua" and dossier["events"][-1]["to_status"] == "returned"


def test_receipt_answers_code_status_and_dates(app, clerk):
    response = clerk.post("/dossiers", json={
        "procedure_code": PERMIT, "applicant": APPLICANT, "jurisdiction": "HANGBAC", "data": {"so_tang": 4},
        "components": ["Đơn đề nghị cấp giấy phép xây dựng (Mẫu số 01)",
                       "Bản sao giấy tờ chứng minh quyền sử dụng đất",
                       "Bản vẽ thiết kế xây dựng (mặt bằng, mặt cắt, mặt đứng, móng, sơ đồ đấu nối hạ tầng)"]})
    assert response.status_code == 201
    assert set(response.json) == {"code", "status", "received_at", "due_at"}
    assert response.json["code"].startswith("H26.38.01-260302-") and response.json["status"] == "processing"
    dossier = clerk.get(f"/dossiers/{response.json['code']}").json
    assert dossier["jurisdiction"]["code"] == "HANGBAC" and dossier["data"] == {"so_tang": 4}
    assert [c["received"] for c in dossier["components"]] == [True, True, True, False]
    assert dossier["open_tasks"][0]["step"] == "Task_ThamDinh" and dossier["open_tasks"][0]["claimed_by"] is None


def test_unknown_keys_in_a_receipt_are_listed(app, clerk):
    response = clerk.post("/dossiers", json={"procedure_code": PERMIT, "applicant": APPLICANT,
                                             "priority": "high", "fee": 0})
    assert response.status_code == 400
    assert [d["element_id"] for d in response.json["details"]] == ["fee", "priority"]


@pytest.mark.parametrize("change, field", [
    ({"applicant": {**APPLICANT, "phone": "12"}}, "applicant.phone"),
    ({"applicant": {**APPLICANT, "phone": "0 9 1 2 3 4 5 6 7 8 9 0"}}, "applicant.phone"),
    ({"applicant": {**APPLICANT, "name": ""}}, "applicant.name"),
    ({"applicant": {**APPLICANT, "nickname": "B"}}, "applicant.nickname"),
    ({"applicant": "Trần Văn Bình"}, "applicant"),
    ({"procedure_code": "NO-SUCH-01"}, "procedure_code"),
    ({"procedure_code": 12}, "procedure_code"),
    ({"jurisdiction": "DIENBIEN"}, "jurisdiction"),
    ({"components": "all"}, "components"),
    ({"components": ["Giấy tờ lạ"]}, "components"),
    ({"data": {"so tang": 4}}, "data"),
    ({"data": [1]}, "data"),
    ({"channel": "fax"}, "channel"),
    ({"applicant": {**APPLICANT, "name": "Bình\x00"}}, "applicant.name"),
])
def test_a_bad_receipt_is_400_with_the_field(app, clerk, change, field):
    response = clerk.post("/dossiers", json={"procedure_code": PERMIT, "applicant": APPLICANT, **change})
    assert response.status_code == 400, response.json
    assert field in [d["element_id"] for d in response.json["details"]], response.json


def test_only_clerks_receive(app):
    response = ApiClient(app, "hk.qldt.cv").post("/dossiers", json={"procedure_code": PERMIT, "applicant": APPLICANT})
    assert response.status_code == 403 and response.json["error"] == "forbidden"


def test_another_districts_dossier_is_404_and_reveals_nothing(app, clerk):
    code = receive_over_api(clerk)
    outsider = ApiClient(app, "bd.motcua")
    response = outsider.get(f"/dossiers/{code}")
    assert response.status_code == 404
    assert response.json == {"error": "not_found", "message": f"Dossier {code} does not exist"}
    text = response.get_data(as_text=True)
    assert APPLICANT["phone"] not in text and "Tr\\u1ea7n" not in text and APPLICANT["id_number"] not in text
    unknown = outsider.get("/dossiers/H26.38.01-260302-9999").json
    assert unknown == {"error": "not_found", "message": "Dossier H26.38.01-260302-9999 does not exist"}
    refused = outsider.post(f"/dossiers/{code}/refuse", json={"reason": "Không thuộc thẩm quyền"})
    assert refused.status_code == 404
    assert ApiClient(app, "hk.lanhdao").get(f"/dossiers/{code}").status_code == 200  # leader of the district
    assert ApiClient(app, "hn.quantri").get(f"/dossiers/{code}").status_code == 200  # administrator


# ---------------------------------------------------------------- tasks


def test_inbox_filters_and_pages(app, clerk):
    codes = [receive_over_api(clerk) for _ in range(3)]
    other = clerk.post("/dossiers", json={"procedure_code": PERMIT, "applicant": {**APPLICANT, "name": "Lê Thị Hoa"}})
    specialist = clerk.as_user("hk.qldt.cv")
    everything = specialist.get("/tasks").json
    assert everything["total"] == 4 and len(everything["items"]) == 4
    item = everything["items"][0]
    assert item["dossier"]["procedure_code"] == PERMIT and item["unit"]["code"] == "H26.38.03"
    assert "hop_le" in [f["key"] for f in item["fields"]]
    page = specialist.get("/tasks", query_string={"limit": 2, "offset": 2}).json
    assert page["total"] == 4 and len(page["items"]) == 2
    assert specialist.get("/tasks", query_string={"q": "Lê Thị"}).json["items"][0]["dossier"]["code"] == \
        other.json["code"]
    assert specialist.get("/tasks", query_string={"procedure": "HT-KS-01"}).json == {"items": [], "total": 0}
    for wildcard in ("%", "_", "H26%03"):  # taken literally, as on the web inbox
        assert specialist.get("/tasks", query_string={"q": wildcard}).json == {"items": [], "total": 0}
    assert specialist.get("/tasks", query_string={"q": codes[0][-6:]}).json["total"] >= 1
    task_id = next(t["id"] for t in everything["items"] if t["dossier"]["code"] == codes[1])
    specialist.post(f"/tasks/{task_id}/claim")
    mine = specialist.get("/tasks", query_string={"mine": "1"}).json
    assert [t["id"] for t in mine["items"]] == [task_id]
    assert clerk.get("/tasks").json["total"] == 0  # the counter has no open step of these dossiers
    assert ApiClient(app, "hn.thietke").get("/tasks").status_code == 403


@pytest.mark.parametrize("params, field", [
    ({"limit": 201}, "limit"), ({"limit": 0}, "limit"), ({"limit": "ten"}, "limit"),
    ({"offset": -1}, "offset"), ({"mine": "maybe"}, "mine"), ({"sort": "due"}, "sort"),
    ({"q": "x" * 201}, "q"), ({"q": "a\x00b"}, "q"),
])
def test_bad_inbox_parameters_are_400(app, params, field):
    response = ApiClient(app, "hk.qldt.cv").get("/tasks", query_string=params)
    assert response.status_code == 400 and response.json["details"][0]["element_id"] == field


def _first_task(api: ApiClient, code: str) -> dict:
    return api.get(f"/dossiers/{code}").json["open_tasks"][0]


def test_claim_and_release(app, clerk):
    code = receive_over_api(clerk)
    task = _first_task(clerk, code)
    specialist, leader = clerk.as_user("hk.qldt.cv"), clerk.as_user("hk.qldt.ld")
    claimed = specialist.post(f"/tasks/{task['id']}/claim")
    assert claimed.status_code == 200 and claimed.json["claimed_by"] == "hk.qldt.cv"
    assert _moment(claimed.json["claimed_at"]) == vn(2026, 3, 2, 9, 0)
    taken = leader.post(f"/tasks/{task['id']}/claim")
    assert taken.status_code == 409 and taken.json["error"] == "conflict"
    released = leader.post(f"/tasks/{task['id']}/release")  # a leader of the unit may release
    assert released.status_code == 200 and released.json["claimed_by"] is None
    assert leader.post(f"/tasks/{task['id']}/claim").json["claimed_by"] == "hk.qldt.ld"
    refused = specialist.post(f"/tasks/{task['id']}/release")
    assert refused.status_code == 409 and refused.json["error"] == "rule_violation"


def test_steps_of_another_unit_are_forbidden(app, clerk):
    code = receive_over_api(clerk)
    task = _first_task(clerk, code)
    for username in ("bd.qldt.cv", "hk.tckh.cv"):
        outsider = clerk.as_user(username)
        for action in ("claim", "release"):
            response = outsider.post(f"/tasks/{task['id']}/{action}")
            assert response.status_code == 403 and response.json["error"] == "forbidden"
        done = outsider.post(f"/tasks/{task['id']}/complete", json={"data": PERMIT_HAPPY["Task_ThamDinh"]})
        assert done.status_code == 403


def test_unknown_tasks_are_404(app):
    specialist = ApiClient(app, "hk.qldt.cv")
    for task_id in (999999, 2**40):
        response = specialist.post(f"/tasks/{task_id}/claim")
        assert response.status_code == 404 and response.json["error"] == "not_found"


def test_completion_with_bad_data_lists_every_field(app, clerk):
    code = receive_over_api(clerk)
    task = _first_task(clerk, code)
    specialist = clerk.as_user("hk.qldt.cv")
    response = specialist.post(f"/tasks/{task['id']}/complete",
                               json={"data": {"hop_le": "yes", "so_tang": 2.5, "mau_sac": "xanh"}})
    assert response.status_code == 400 and response.json["error"] == "invalid_form"
    assert {d["element_id"] for d in response.json["details"]} == {"hop_le", "can_kiem_tra", "so_tang", "mau_sac"}
    for body, field in (({"data": [1]}, "data"), ({}, "data"), ({"data": {}, "expected_version": "1"},
                                                                  "expected_version"),
                        ({"data": {}, "extra": 1}, "extra")):
        bad = specialist.post(f"/tasks/{task['id']}/complete", json=body)
        assert bad.status_code == 400 and field in [d["element_id"] for d in bad.json["details"]]
    assert _first_task(clerk, code)["id"] == task["id"]  # nothing moved


def test_completing_twice_or_from_a_stale_version_is_409(app, clerk):
    code = receive_over_api(clerk)
    task = _first_task(clerk, code)
    specialist = clerk.as_user("hk.qldt.cv")
    version = clerk.get(f"/dossiers/{code}").json["version"]
    specialist.post(f"/tasks/{task['id']}/claim")  # claiming moves the dossier's version
    stale = specialist.post(f"/tasks/{task['id']}/complete",
                            json={"data": PERMIT_HAPPY["Task_ThamDinh"], "expected_version": version - 1})
    assert stale.status_code == 409 and stale.json["error"] == "conflict"
    first = specialist.post(f"/tasks/{task['id']}/complete", json={"data": PERMIT_HAPPY["Task_ThamDinh"]})
    assert first.status_code == 200
    assert first.json["dossier"]["code"] == code and first.json["dossier"]["status"] == "processing"
    assert first.json["dossier"]["version"] == clerk.get(f"/dossiers/{code}").json["version"]
    again = specialist.post(f"/tasks/{task['id']}/complete", json={"data": PERMIT_HAPPY["Task_ThamDinh"]})
    assert again.status_code == 409 and again.json["error"] == "conflict"


# ---------------------------------------------------------------- lifecycle


def test_supplement_extension_and_refusal(app, clerk, clock):
    code = receive_over_api(clerk)
    specialist = clerk.as_user("hk.qldt.cv")
    asked = specialist.post(f"/dossiers/{code}/supplement-request",
                            json={"reason": "Thiếu bản vẽ móng", "missing": ["Bản vẽ móng"]})
    assert asked.status_code == 200, asked.json
    assert asked.json["status"] == "awaiting_supplement" and asked.json["paused"] is True
    assert asked.json["supplement_requests"] == 1 and _moment(asked.json["paused_since"]) == clock.now()
    assert specialist.post(f"/dossiers/{code}/supplement-received", json={}).status_code == 403
    clock.advance(hours=6)
    back = clerk.post(f"/dossiers/{code}/supplement-received", json={"note": "Đã nhận bản vẽ"})
    assert back.status_code == 200 and back.json["status"] == "processing" and back.json["paused"] is False
    due = _moment(back.json["due_at"])
    extended = specialist.post(f"/dossiers/{code}/extend", json={"reason": "Cần xin ý kiến", "extra_days": 5})
    assert extended.status_code == 200
    assert _moment(extended.json["original_due_at"]) == due and _moment(extended.json["due_at"]) > due
    twice = clerk.post(f"/dossiers/{code}/extend",
                       json={"reason": "Lần hai", "new_due_at": "2026-12-31T17:00:00+07:00"})
    assert twice.status_code == 409 and twice.json["error"] == "rule_violation"
    refused = specialist.post(f"/dossiers/{code}/refuse", json={"reason": "Không phù hợp quy hoạch"})
    assert refused.status_code == 200 and refused.json["status"] == "refused" and refused.json["open_tasks"] == []
    assert [e["action"] for e in refused.json["events"]][-1] == "refused"
    assert refused.json["events"][-1]["detail"]["reason"] == "Không phù hợp quy hoạch"
    assert clerk.post(f"/dossiers/{code}/withdraw", json={}).status_code == 409


def test_extension_to_a_new_date_and_withdrawal(app, clerk):
    code = receive_over_api(clerk)
    extended = clerk.post(f"/dossiers/{code}/extend",
                          json={"reason": "Chờ ý kiến", "new_due_at": "2026-05-04T17:00:00+07:00"})
    assert extended.status_code == 200 and _moment(extended.json["due_at"]) == vn(2026, 5, 4, 17, 0)
    assert clerk.as_user("hk.qldt.cv").post(f"/dossiers/{code}/withdraw", json={}).status_code == 403
    withdrawn = clerk.post(f"/dossiers/{code}/withdraw", json={"reason": "Công dân rút hồ sơ"})
    assert withdrawn.status_code == 200 and withdrawn.json["status"] == "withdrawn"
    assert withdrawn.json["handoffs"][0]["finished_at"] is not None


@pytest.mark.parametrize("action, body, field", [
    ("supplement-request", {"reason": "x"}, "missing"),
    ("supplement-request", {"reason": 5, "missing": ["a"]}, "reason"),
    ("supplement-request", {"reason": "x", "missing": "bản vẽ"}, "missing"),
    ("extend", {"reason": "x"}, "new_due_at"),
    ("extend", {"reason": "x", "new_due_at": "next week"}, "new_due_at"),
    ("extend", {"reason": "x", "new_due_at": "2026-05-04"}, "new_due_at"),
    ("extend", {"reason": "x", "extra_days": 61}, "extra_days"),
    ("extend", {"reason": "x", "extra_days": True}, "extra_days"),
    ("refuse", {}, "reason"),
    ("refuse", {"reason": "   "}, "reason"),
    ("withdraw", {"reason": ["x"]}, "reason"),
    ("return", {"rating": 6}, "rating"),
    ("supplement-received", {"note": 1}, "note"),
])
def test_bad_lifecycle_bodies_are_400_with_the_field(app, clerk, action, body, field):
    code = receive_over_api(clerk)
    response = clerk.post(f"/dossiers/{code}/{action}", json=body)
    assert response.status_code == 400, response.json
    assert field in [d["element_id"] for d in response.json["details"]], response.json


def test_actions_the_state_does_not_allow_are_409(app, clerk):
    code = receive_over_api(clerk)
    for action, body in (("return", {"rating": 5}), ("supplement-received", {})):
        response = clerk.post(f"/dossiers/{code}/{action}", json=body)
        assert response.status_code == 409 and response.json["error"] == "rule_violation"


# ---------------------------------------------------------------- every error is JSON


def test_every_error_under_the_api_is_json(app, clerk):
    client = app.test_client()
    for method, path, status in (("GET", "/api/v1/nothing-here", 404), ("POST", "/api/v1/nothing/here", 404),
                                 ("GET", "/api/v1/dossiers", 405), ("DELETE", "/api/v1/procedures", 405),
                                 ("GET", "/api/v1/tasks/1/claim", 405), ("GET", "/api/v2/procedures", 404)):
        response = client.open(path, method=method, headers={"Authorization": f"Bearer {clerk.token}"})
        assert response.status_code == status, (method, path)
        assert response.is_json and set(response.json) >= {"error", "message"}, (method, path)


def test_a_json_body_over_one_megabyte_is_413(app, clerk):
    big = json.dumps({"procedure_code": PERMIT, "applicant": APPLICANT, "data": {"ghi_chu": "x" * (1024 * 1024)}})
    response = clerk.post("/dossiers", data=big, content_type="application/json")
    assert response.status_code == 413 and response.json["error"] == "request_entity_too_large"
    assert ApiClient(app).post("/auth/token", data=big, content_type="application/json").status_code == 413
    streamed = clerk.post("/dossiers", input_stream=io.BytesIO(big.encode()), content_type="application/json",
                          headers={"Transfer-Encoding": "chunked"}, environ_overrides={"wsgi.input_terminated": True})
    assert streamed.status_code == 413 and streamed.is_json
