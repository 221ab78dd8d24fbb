"""The dossier's diagram and the procedure heat map on the web: routes, access, JSON shape."""

from __future__ import annotations

import pytest

from tests.conftest import vn
from tests.helpers import do_step, receive_permit
from tests.lifecycle_helpers import fast_deployed
from tests.web_helpers import app_for, signed_in

PERMIT = "XD-GPXD-01"
OUTSIDERS = ("bd.motcua", "bd.qldt.cv", "bd.lanhdao", "hk.tckh.cv", "hangbac.lanhdao")
INSIDERS = ("hk.motcua", "hk.qldt.cv", "hk.qldt.ld", "hk.lanhdao", "hn.lanhdao", "hn.quantri")


@pytest.fixture
def world(ctx, clock):
    """One permit dossier of Hoàn Kiếm, appraised late and now waiting for the draft."""
    fast_deployed(ctx)
    code = receive_permit(ctx)  # Mon 02/03/2026 09:00, appraisal due Thu 12/03 09:00
    clock.set(vn(2026, 3, 16, 9, 0))
    do_step(ctx, code, "Task_ThamDinh", {"hop_le": True, "can_kiem_tra": False})
    return ctx, code, app_for(ctx)


def get_json(client, url):
    return client.get(url, headers={"Accept": "application/json"})


# ----------------------------------------------------------------- the dossier's diagram


def test_dossier_diagram_json_shape(world):
    ctx, code, app = world
    response = get_json(signed_in(ctx, "hk.motcua", app), f"/dossiers/{code}/diagram.json")
    assert response.status_code == 200 and response.is_json
    body = response.get_json()
    assert body["kind"] == "progress"
    assert body["xml_url"] == f"/dossiers/{code}/diagram.bpmn"
    assert body["completed"] == ["Task_ThamDinh"]
    assert body["current"] == ["Task_DuThaoGiayPhep"]
    assert body["path"] == ["Flow_BatDau", "Flow_ThamDinhXong", "Flow_HopLe", "Flow_KhongKiemTra", "Flow_DuThao"]
    assert {"Start_NhanHoSo", "Gateway_HopLe", "Gateway_KiemTra", "Gateway_HopNhanh"} <= set(body["passed"])
    appraisal = body["steps"]["Task_ThamDinh"]
    assert appraisal["working_minutes"] == 10 * 480
    assert appraisal["time"] == "10 ngày làm việc" and appraisal["label"] == "10 ngày làm việc"
    assert appraisal["done"] and not appraisal["current"] and appraisal["passes"] == 1
    assert appraisal["units"] and "Quản lý đô thị" in appraisal["units"][0]
    draft = body["steps"]["Task_DuThaoGiayPhep"]
    assert draft["current"] and draft["label"] == "đang xử lý: 0 phút làm việc"


def test_dossier_diagram_xml(world):
    ctx, code, app = world
    response = signed_in(ctx, "hk.qldt.cv", app).get(f"/dossiers/{code}/diagram.bpmn")
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert b'id="Task_ThamDinh"' in response.data


@pytest.mark.parametrize("username", INSIDERS)
def test_those_who_see_the_dossier_see_its_diagram(world, username):
    ctx, code, app = world
    client = signed_in(ctx, username, app)
    assert get_json(client, f"/dossiers/{code}/diagram.json").status_code == 200
    assert client.get(f"/dossiers/{code}/diagram.bpmn").status_code == 200


@pytest.mark.parametrize("username", OUTSIDERS)
def test_others_get_the_same_404_as_for_an_unknown_code(world, username):
    ctx, code, app = world
    client = signed_in(ctx, username, app)
    response = get_json(client, f"/dossiers/{code}/diagram.json")
    assert response.status_code == 404 and response.is_json
    assert code in response.get_json()["message"]
    unknown = get_json(client, "/dossiers/H26.38.01-000000-0000/diagram.json")
    assert unknown.status_code == 404 and unknown.get_json()["error"] == response.get_json()["error"]
    assert client.get(f"/dossiers/{code}/diagram.bpmn").status_code == 404
    assert b"Task_ThamDinh" not in client.get(f"/dossiers/{code}/diagram.bpmn").data


def test_designers_see_procedures_not_dossiers(world):
    ctx, code, app = world
    client = signed_in(ctx, "hn.thietke", app)
    assert get_json(client, f"/dossiers/{code}/diagram.json").status_code == 403
    assert client.get(f"/dossiers/{code}/diagram.bpmn").status_code == 403


def test_signed_out_is_sent_to_sign_in(world):
    _ctx, code, app = world
    client = app.test_client()
    for url in (f"/dossiers/{code}/diagram.json", f"/dossiers/{code}/diagram.bpmn", "/procedures/",
                f"/procedures/{PERMIT}", f"/procedures/{PERMIT}/heatmap.json"):
        response = client.get(url)
        assert response.status_code in (302, 401), url


def test_dossier_page_has_the_diagram_and_the_link_for_leaders(world):
    ctx, code, app = world
    page = signed_in(ctx, "hk.lanhdao", app).get(f"/dossiers/{code}").get_data(as_text=True)
    assert "Sơ đồ quy trình" in page
    assert f'data-overlay-url="/dossiers/{code}/diagram.json"' in page
    assert "bundles/viewer.js" in page and "bundles/viewer.css" in page
    assert f'href="/procedures/{PERMIT}?version=1"' in page
    clerk_page = signed_in(ctx, "hk.motcua", app).get(f"/dossiers/{code}").get_data(as_text=True)
    assert "Sơ đồ quy trình" in clerk_page
    assert f'href="/procedures/{PERMIT}' not in clerk_page


# ----------------------------------------------------------------- the procedure page and its heat map


@pytest.mark.parametrize("username", ("hk.lanhdao", "bd.lanhdao", "hk.qldt.ld", "hn.thietke", "hn.quantri"))
def test_procedure_pages_for_leaders_designers_admins(world, username):
    ctx, _code, app = world
    client = signed_in(ctx, username, app)
    index = client.get("/procedures/")
    assert index.status_code == 200 and f"/procedures/{PERMIT}" in index.get_data(as_text=True)
    page = client.get(f"/procedures/{PERMIT}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert 'id="heat-table"' in text and "Thẩm định hồ sơ" in text
    assert f'data-overlay-url="/procedures/{PERMIT}/heatmap.json?version=all"' in text
    assert client.get(f"/procedures/{PERMIT}/versions/1/diagram.bpmn").status_code == 200


@pytest.mark.parametrize("username", ("hk.motcua", "hk.qldt.cv"))
def test_procedure_pages_refuse_clerks_and_specialists(world, username):
    ctx, _code, app = world
    client = signed_in(ctx, username, app)
    for url in ("/procedures/", f"/procedures/{PERMIT}", f"/procedures/{PERMIT}/heatmap.json",
                f"/procedures/{PERMIT}/versions/1/diagram.bpmn"):
        assert client.get(url).status_code == 403, url


def test_heat_map_json_shape_and_numbers(world):
    ctx, _code, app = world
    response = get_json(signed_in(ctx, "hk.lanhdao", app), f"/procedures/{PERMIT}/heatmap.json")
    assert response.status_code == 200 and response.is_json
    body = response.get_json()
    assert (body["kind"], body["code"], body["version"], body["diagram_version"], body["dossiers"]) == (
        "heat", PERMIT, None, 1, 1)
    assert body["xml_url"] == f"/procedures/{PERMIT}/versions/1/diagram.bpmn"
    appraisal = body["steps"]["Task_ThamDinh"]
    assert (appraisal["passes"], appraisal["finished"], appraisal["late"]) == (1, 1, 1)
    assert appraisal["median_minutes"] == 4800 and appraisal["share_minutes"] == 3840
    assert appraisal["label"] == "trung vị 10 ngày · 100% trễ hạn"
    assert appraisal["score"] == 1.0 and appraisal["level"] == "Ùn tắc"
    assert appraisal["fill"].startswith("#") and len(appraisal["fill"]) == 7
    draft = body["steps"]["Task_DuThaoGiayPhep"]
    assert (draft["passes"], draft["late"], draft["median_minutes"]) == (1, 0, None)
    assert draft["label"] == "0% trễ hạn" and draft["level"] == "Thông suốt"
    site = body["steps"]["Task_KiemTraThucDia"]
    assert site["label"] == "chưa có hồ sơ" and site["score"] is None and site["level"] == "Chưa có số liệu"


def test_heat_map_counts_only_what_the_leader_may_see(world):
    ctx, _code, app = world
    mine = get_json(signed_in(ctx, "hk.lanhdao", app), f"/procedures/{PERMIT}/heatmap.json").get_json()
    theirs = get_json(signed_in(ctx, "bd.lanhdao", app), f"/procedures/{PERMIT}/heatmap.json").get_json()
    assert mine["dossiers"] == 1 and theirs["dossiers"] == 0
    assert all(step["passes"] == 0 for step in theirs["steps"].values())
    page = signed_in(ctx, "bd.lanhdao", app).get(f"/procedures/{PERMIT}").get_data(as_text=True)
    assert "Tính trên 0 hồ sơ" in page


def test_versions_and_unknown_codes(world):
    ctx, _code, app = world
    client = signed_in(ctx, "hn.quantri", app)
    assert get_json(client, f"/procedures/{PERMIT}/heatmap.json?version=1").get_json()["version"] == 1
    for url in (f"/procedures/{PERMIT}?version=9", f"/procedures/{PERMIT}?version=x", "/procedures/NO-SUCH-01",
                f"/procedures/{PERMIT}/versions/9/diagram.bpmn", "/procedures/" + "X" * 300):
        assert client.get(url).status_code == 404, url
    missing = get_json(client, "/procedures/NO-SUCH-01/heatmap.json")
    assert missing.status_code == 404 and missing.is_json



def test_working_time_in_words(ctx):
    from web.procedure_pages import heat_colours, heat_level, short_time_text, working_time_text

    with app_for(ctx).test_request_context("/"):
        assert working_time_text(1680, 480) == "3,5 ngày làm việc"
        assert working_time_text(480 * 15, 480) == "15 ngày làm việc"
        assert working_time_text(48, 480) == "0,1 ngày làm việc"  # a tenth of a day; less is told in hours
        assert working_time_text(47, 480) == "47 phút làm việc" and working_time_text(0, 480) == "0 phút làm việc"
        assert working_time_text(48, 600) == "48 phút làm việc" and working_time_text(90, 960) == "1,5 giờ làm việc"
        assert short_time_text(1008, 480) == "2,1 ngày"
        assert heat_level(0.1) == "Thông suốt" and heat_level(0.5) == "Cần chú ý" and heat_level(0.9) == "Ùn tắc"
    green, red = heat_colours(0.0), heat_colours(1.0)
    assert green[0] != red[0] and heat_colours(None) == ("#eceff1", "#78909c")
    assert int(green[0][3:5], 16) > int(green[0][1:3], 16)  # more green than red
    assert int(red[0][1:3], 16) > int(red[0][3:5], 16)  # more red than green
