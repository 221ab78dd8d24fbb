"""GET /api/v1/lookup/<code>?phone4=NNNN: the public lookup over JSON, same rules as the /tra-cuu page."""

from __future__ import annotations

import json

import pytest

from engine.lifecycle import get_dossier, request_supplement
from tests.helpers import APPLICANT, PERMIT_HAPPY, clerk_of, district, do_step, receive_permit
from tests.web_helpers import app_for, signed_in
from web.lookup import LIMIT

PHONE4 = APPLICANT["phone"][-4:]
PRIVATE = (APPLICANT["name"], APPLICANT["id_number"], APPLICANT["phone"], APPLICANT["address"],
           APPLICANT["email"], "Bùi Văn Toàn", "Hoàng Thị Mai", "hk.qldt.cv", "hk.motcua")
KEYS = {"code", "procedure", "status", "status_text", "received_at", "due_at", "current_steps", "missing",
        "returned_at", "receiving_unit"}


def lookup(client, code: str, phone4: str | None = PHONE4, remote: str = "127.0.0.1"):
    query = {} if phone4 is None else {"phone4": phone4}
    return client.get(f"/api/v1/lookup/{code}", query_string=query, environ_base={"REMOTE_ADDR": remote})


@pytest.fixture
def app(deployed):
    return app_for(deployed)


def test_the_right_pair_shows_progress_and_no_personal_data(deployed, app):
    code = receive_permit(deployed)
    do_step(deployed, code, "Task_ThamDinh", PERMIT_HAPPY["Task_ThamDinh"])
    response = lookup(app.test_client(), code)
    assert response.status_code == 200 and response.is_json
    body = response.json
    assert set(body) == KEYS
    assert body["code"] == code and body["status"] == "processing" and body["status_text"] == "Đang giải quyết"
    assert body["procedure"].startswith("Cấp giấy phép xây dựng")
    assert body["current_steps"] == [{"step": "Kiểm tra thực địa", "unit": "Phòng Quản lý đô thị quận Hoàn Kiếm"}]
    assert body["received_at"].startswith("2026-03-02T09:00:00+07:00") and body["due_at"].endswith("+07:00")
    assert body["missing"] == [] and body["returned_at"] is None
    assert body["receiving_unit"] == "Bộ phận Một cửa quận Hoàn Kiếm"
    text = response.get_data(as_text=True)
    raw = json.dumps(body, ensure_ascii=False)
    for private in PRIVATE:
        assert private not in text and private not in raw, private


def test_a_supplement_request_lists_the_missing_papers(deployed, app):
    code = receive_permit(deployed)
    with deployed.db.transaction() as session:
        request_supplement(deployed, session, get_dossier(session, code), clerk_of(session, district(session)),
                           reason="Thiếu bản vẽ", missing=["Bản vẽ mặt bằng có chữ ký"])
    body = lookup(app.test_client(), code).json
    assert body["status"] == "awaiting_supplement" and body["missing"] == ["Bản vẽ mặt bằng có chữ ký"]
    assert body["current_steps"] == [{"step": "Thẩm định hồ sơ", "unit": "Phòng Quản lý đô thị quận Hoàn Kiếm"}]


@pytest.mark.parametrize("phone4", ["0000", "5679", "567", "56789", "", "abcd", "56 8", "٥٦٧٨", "５６７８", None])
def test_anything_but_the_right_pair_is_the_same_404(deployed, app, phone4):
    code = receive_permit(deployed)
    client = app.test_client()
    unknown = lookup(client, "H26.38.01-000000-9999")
    wrong = lookup(client, code, phone4)
    assert unknown.status_code == wrong.status_code == 404
    assert wrong.get_data() == unknown.get_data()
    assert wrong.json["error"] == "not_found" and set(wrong.json) == {"error", "message"}
    for private in PRIVATE:
        assert private not in wrong.get_data(as_text=True)


@pytest.mark.parametrize("code", ["x" * 65, "H26.38.01-260302-0001\x00", "%00", "'; --", "H26.38.01-260302-000%",
                                  "\ud800"])
def test_odd_codes_are_the_same_404(deployed, app, code):
    receive_permit(deployed)
    client = app.test_client()
    unknown = lookup(client, "H26.38.01-000000-9999")
    odd = client.get("/api/v1/lookup/" + code.encode("utf-8", "surrogatepass").decode("latin-1"),
                     query_string={"phone4": PHONE4})
    assert odd.status_code == 404 and odd.get_data() == unknown.get_data()


def test_a_code_that_only_starts_like_a_real_one_is_not_found(deployed, app):
    code = receive_permit(deployed)
    client = app.test_client()
    assert lookup(client, code + "x").status_code == 404
    assert lookup(client, code.lower()).status_code == 404
    assert lookup(client, code).status_code == 200


def test_no_token_is_needed_and_a_token_changes_nothing(deployed, app):
    code = receive_permit(deployed)
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "bd.motcua", "password": "motcua2026"}).json["token"]
    plain = lookup(client, code)
    with_token = client.get(f"/api/v1/lookup/{code}", query_string={"phone4": PHONE4},
                            headers={"Authorization": f"Bearer {token}"})
    assert plain.status_code == with_token.status_code == 200 and plain.json == with_token.json
    assert "Set-Cookie" not in plain.headers


def test_the_limit_is_per_client_and_shared_with_the_lookup_page(deployed, app):
    code = receive_permit(deployed)
    client = app.test_client()
    for _ in range(LIMIT // 2):
        assert client.get("/tra-cuu", query_string={"ma": code, "sdt": PHONE4}).status_code == 200
    statuses = [lookup(client, code).status_code for _ in range(LIMIT - LIMIT // 2)]
    assert statuses == [200] * (LIMIT - LIMIT // 2)
    over = lookup(client, code)
    assert over.status_code == 429 and over.is_json and over.json["error"] == "too_many_requests"
    assert 1 <= int(over.headers["Retry-After"]) <= 600
    for private in PRIVATE:
        assert private not in over.get_data(as_text=True)
    assert lookup(client, "H26.38.01-000000-9999", "0000").status_code == 429  # counted whatever is asked
    assert client.get("/tra-cuu", query_string={"ma": code, "sdt": PHONE4}).status_code == 429
    assert lookup(client, code, remote="10.1.2.3").status_code == 200  # another client has its own budget
    deployed.clock.advance(minutes=4)
    assert 1 <= int(lookup(client, code).headers["Retry-After"]) <= 360
    deployed.clock.advance(minutes=7)
    assert lookup(client, code).status_code == 200


def test_the_lookup_is_the_same_for_signed_in_users(deployed, app):
    code = receive_permit(deployed)
    client = signed_in(deployed, "bd.motcua", app)
    assert lookup(client, code).status_code == 200
    assert lookup(client, code, "0000").status_code == 404
