"""Report pages: who may open which, and that each sees only their own area's numbers."""

from __future__ import annotations

import json
import re

import pytest

from tests.lifecycle_helpers import person
from tests.test_indicators import build_fixture
from tests.web_helpers import app_for, signed_in

PERIOD = "from=01/03/2026&to=31/03/2026"


@pytest.fixture
def fixture(deployed, clock):
    return build_fixture(deployed, clock)


def _chart(html: str) -> dict:
    raw = html.split('id="dashboard-data">', 1)[1].split("</script>", 1)[0]
    return json.loads(raw)


def test_anonymous_users_are_sent_to_sign_in(deployed):
    client = app_for(deployed).test_client()
    for path in ("/reports/dashboard", "/reports/indicators", "/reports/ledger", "/reports/ledger.xlsx",
                 "/reports/dossiers?category=late"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


@pytest.mark.parametrize("username, dashboard, ledger", [
    ("hk.lanhdao", 200, 200),     # district leader
    ("hn.lanhdao", 200, 200),     # city leader
    ("hk.qldt.ld", 200, 403),     # head of an office: its own dossiers, no counter ledger
    ("hk.motcua", 403, 200),      # counter clerk: the ledger only
    ("hk.qldt.cv", 403, 403),     # specialist
    ("hn.thietke", 403, 403),     # designer
    ("hn.quantri", 200, 200),     # administrator
])
def test_who_may_open_what(deployed, username, dashboard, ledger):
    client = signed_in(deployed, username)
    assert client.get("/reports/dashboard").status_code == dashboard
    assert client.get("/reports/indicators").status_code == dashboard
    assert client.get("/reports/ledger").status_code == ledger


def test_the_dashboard_shows_the_real_numbers_of_the_district(deployed, fixture):
    client = signed_in(deployed, "hk.lanhdao")
    html = client.get(f"/reports/dashboard?{PERIOD}").get_data(as_text=True)
    assert 'id="kpi-share">50,0 %' in html
    chart = _chart(html)
    assert chart["months"]["labels"] == ["03/2026"] and chart["months"]["share"] == [50.0]
    assert chart["units"]["labels"] == ["Bộ phận Một cửa quận Hoàn Kiếm"]
    assert chart["overdue"]["counts"] == [1]
    assert fixture["D9"] in html and fixture["D4"] in html  # oldest open dossiers
    assert "bundles/dashboard.js" in html
    drill = re.search(r'href="(/reports/dossiers\?[^"]*category=late[^"]*)"', html).group(1).replace("&amp;", "&")
    listed = client.get(drill).get_data(as_text=True)
    for name in ("D3", "D5", "D6"):
        assert fixture[name] in listed
    assert fixture["D1"] not in listed


def test_another_district_sees_none_of_it(deployed, fixture):
    client = signed_in(deployed, "bd.lanhdao")
    html = client.get(f"/reports/dashboard?{PERIOD}").get_data(as_text=True)
    assert fixture["D9"] not in html
    assert _chart(html)["months"]["labels"] == []
    late = client.get(f"/reports/dossiers?{PERIOD}&category=late").get_data(as_text=True)
    assert fixture["D3"] not in late
    with deployed.db.reading() as session:
        hk = person(session, "hk.lanhdao").unit.jurisdiction_id
        hk_counter = person(session, "hk.motcua").unit_id
    # naming the other district or its counter is refused, never widened
    assert client.get(f"/reports/dashboard?jurisdiction={hk}").status_code == 404
    assert client.get(f"/reports/indicators?unit={hk_counter}").status_code == 404
    assert client.get(f"/reports/ledger?unit={hk_counter}").status_code == 404


def test_an_office_head_counts_the_dossiers_that_went_through_the_office(deployed, fixture):
    client = signed_in(deployed, "hk.qldt.ld")
    html = client.get(f"/reports/indicators?{PERIOD}").get_data(as_text=True)
    total = html.split('id="indicator-total"', 1)[1].split("</tr>", 1)[0]
    numbers = re.findall(r'class="mc-num"[^>]*>([\d.]+)<', total)
    assert numbers[0] == "10"  # every permit went to the urban management office


def test_indicators_page_every_dimension_and_the_feedback_share(deployed, fixture):
    client = signed_in(deployed, "hn.lanhdao")
    for by in ("unit", "procedure", "jurisdiction", "month"):
        response = client.get(f"/reports/indicators?{PERIOD}&by={by}")
        assert response.status_code == 200, by
    html = client.get(f"/reports/indicators?{PERIOD}&by=procedure").get_data(as_text=True)
    assert "Cấp giấy phép xây dựng" in html
    assert 'id="average-times"' in html and "8,2" in html
    assert client.get("/reports/dossiers?category=nonsense").status_code == 404
