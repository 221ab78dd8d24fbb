"""In the browser: the leaders' dashboard and the counter's ledger with real numbers."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from tests.conftest import vn
from tests.e2e.conftest import shot, sign_in, sign_out
from tests.helpers import PERMIT_HAPPY, drive, receive_permit
from tests.test_indicators import build_fixture

PERIOD = "from=01/03/2026&to=30/04/2026"


@pytest.fixture
def two_months(deployed, clock):
    """The ten March dossiers of test_indicators, then April at Ba Đình (early) and Hoàn Kiếm (late)."""
    march = build_fixture(deployed, clock)
    clock.set(vn(2026, 4, 1, 9, 0))
    early = [receive_permit(deployed, district_index=1) for _ in range(3)]
    late = [receive_permit(deployed) for _ in range(2)]
    drive(deployed, early[0], PERMIT_HAPPY)
    drive(deployed, early[1], PERMIT_HAPPY)
    clock.set(vn(2026, 4, 28, 9, 0))
    for code in late:
        drive(deployed, code, PERMIT_HAPPY)
    return march


def test_dashboard_and_ledger_render_real_numbers(page, live_server, two_months):
    sign_in(page, live_server, "hn.lanhdao")
    page.goto(f"{live_server}/reports/dashboard?{PERIOD}")
    page.wait_for_function("document.querySelector('#chart-months').style.boxSizing === 'border-box'")
    # finished: March 3 of 6 on time; April 2 early at Ba Đình, 2 late at Hoàn Kiếm
    assert page.inner_text("#kpi-share").strip() == "50,0 %"
    assert "Phòng Quản lý đô thị quận Hoàn Kiếm" in page.inner_text("#overdue-units")
    assert two_months["D9"] in page.inner_text("#oldest-open")
    canvas_drawn = page.evaluate(
        "() => { const c = document.querySelector('#chart-months');"
        " return c.toDataURL().length > 3000; }")
    assert canvas_drawn
    shot(page, "reports-dashboard")
    page.emulate_media(media="print")
    shot(page, "reports-dashboard-print")
    page.emulate_media(media="screen")

    page.goto(f"{live_server}/reports/indicators?{PERIOD}&by=month")
    assert "03/2026" in page.inner_text("#indicator-table") and "04/2026" in page.inner_text("#indicator-table")
    shot(page, "reports-indicators")
    page.click("#indicator-total a.mc-num >> nth=6")  # the late ones
    page.wait_for_load_state("networkidle")
    assert two_months["D5"] in page.inner_text("#drill-table")
    shot(page, "reports-drilldown-late")

    sign_out(page)
    sign_in(page, live_server, "hk.motcua")
    page.goto(f"{live_server}/reports/ledger?{PERIOD}")
    rows = page.locator("#ledger-table tbody tr")
    assert rows.count() == 12
    codes = [rows.nth(i).locator("td").nth(1).inner_text().strip() for i in range(rows.count())]
    shot(page, "reports-ledger")
    with page.expect_download() as info:
        page.click("#export-xlsx")
    sheet = load_workbook(io.BytesIO(Path(info.value.path()).read_bytes())).active
    assert [r[1] for r in sheet.iter_rows(min_row=4, values_only=True)] == codes
    page.goto(f"{live_server}/reports/ledger?{PERIOD}&print=1")
    shot(page, "reports-ledger-print")
