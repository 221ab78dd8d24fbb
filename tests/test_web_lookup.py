"""Public lookup: the right pair shows progress without personal data; anything else looks the same."""

from __future__ import annotations

from tests.helpers import APPLICANT, receive_permit
from tests.web_helpers import app_for
from web.lookup import LIMIT


def _lookup(client, code, phone4):
    return client.get("/tra-cuu", query_string={"ma": code, "sdt": phone4})


def test_right_pair_shows_status_step_unit_and_dates_but_no_personal_data(deployed):
    code = receive_permit(deployed)
    client = app_for(deployed).test_client()
    page = _lookup(client, code, "5678").get_data(as_text=True)
    assert code in page and "Đang giải quyết" in page
    assert "Phòng Quản lý đô thị quận Hoàn Kiếm" in page and "Thẩm định hồ sơ" in page
    assert "02/03/2026" in page  # received, dd/mm/yyyy
    for private in (APPLICANT["name"], APPLICANT["id_number"], APPLICANT["phone"], APPLICANT["address"],
                    "Bùi Văn Toàn"):
        assert private not in page


def test_wrong_phone_and_unknown_code_look_the_same(deployed):
    code = receive_permit(deployed)
    client = app_for(deployed).test_client()
    wrong = _lookup(client, code, "0000")
    unknown = _lookup(client, "H26.38.01-000000-9999", "5678")
    assert wrong.status_code == unknown.status_code == 200
    def normalised(response, asked_code, phone4):
        return response.get_data(as_text=True).replace(asked_code, "CODE").replace(phone4, "PHONE")

    assert normalised(wrong, code, "0000") == normalised(unknown, "H26.38.01-000000-9999", "5678")
    assert "Không tìm thấy hồ sơ" in wrong.get_data(as_text=True)


def test_supplement_request_lists_what_is_missing(deployed):
    from engine.lifecycle import get_dossier, request_supplement
    from tests.helpers import clerk_of, district

    code = receive_permit(deployed)
    with deployed.db.transaction() as session:
        request_supplement(deployed, session, get_dossier(session, code), clerk_of(session, district(session)),
                           reason="Thiếu bản vẽ", missing=["Bản vẽ mặt bằng có chữ ký"])
    page = _lookup(app_for(deployed).test_client(), code, "5678").get_data(as_text=True)
    assert "chờ công dân bổ sung" in page and "Bản vẽ mặt bằng có chữ ký" in page


def test_lookup_is_rate_limited_per_client(deployed):
    client = app_for(deployed).test_client()
    statuses = [_lookup(client, "H26.38.01-000000-0001", "1234").status_code for _ in range(LIMIT + 1)]
    assert statuses[:LIMIT] == [200] * LIMIT and statuses[-1] == 429
    deployed.clock.advance(minutes=11)
    assert _lookup(client, "H26.38.01-000000-0001", "1234").status_code == 200


def test_empty_form_needs_no_sign_in(deployed):
    response = app_for(deployed).test_client().get("/tra-cuu")
    assert response.status_code == 200 and "Tra cứu tình trạng hồ sơ" in response.get_data(as_text=True)


def test_non_ascii_digits_and_odd_codes_are_simply_not_found(deployed):
    code = receive_permit(deployed)
    client = app_for(deployed).test_client()
    for asked, phone in ((code, "٥٦٧٨"), (code, "５６７８"), ("H26\x00X", "5678"), ("x" * 200, "5678")):
        response = _lookup(client, asked, phone)
        assert response.status_code == 200 and "Không tìm thấy hồ sơ" in response.get_data(as_text=True)
