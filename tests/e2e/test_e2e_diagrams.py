"""Diagrams in a real browser: a dossier on its diagram, and the procedure heat map."""

from __future__ import annotations

import os

import pytest

from tests.conftest import vn
from tests.e2e.conftest import CHROMIUM, shot, sign_in
from tests.helpers import do_step, receive_permit

PERMIT = "XD-GPXD-01"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed")


def _dossiers(ctx, clock) -> str:
    """A few permits with real history; returns the one sent back by the leader and being redrafted."""
    rework = receive_permit(ctx)  # Mon 02/03/2026 09:00
    fast = receive_permit(ctx)
    stuck = receive_permit(ctx)
    clock.set(vn(2026, 3, 4, 9, 0))
    do_step(ctx, rework, "Task_ThamDinh", {"hop_le": True, "can_kiem_tra": True})
    do_step(ctx, fast, "Task_ThamDinh", {"hop_le": True, "can_kiem_tra": False})
    clock.set(vn(2026, 3, 6, 15, 30))
    do_step(ctx, rework, "Task_KiemTraThucDia", {"ket_qua_kiem_tra": "Phù hợp"})
    do_step(ctx, fast, "Task_DuThaoGiayPhep", {"so_giay_phep": "7/GPXD"})
    clock.set(vn(2026, 3, 9, 10, 0))
    do_step(ctx, rework, "Task_DuThaoGiayPhep", {"so_giay_phep": "8/GPXD"})
    do_step(ctx, fast, "Task_PheDuyet", {"phe_duyet": True})
    clock.set(vn(2026, 3, 11, 14, 0))
    do_step(ctx, rework, "Task_PheDuyet", {"phe_duyet": False, "y_kien": "Bổ sung khoảng lùi"})
    clock.set(vn(2026, 3, 16, 9, 0))
    do_step(ctx, rework, "Task_ThamDinh", {"hop_le": True, "can_kiem_tra": False})
    clock.set(vn(2026, 3, 17, 11, 0))
    assert stuck
    return rework


def test_dossier_diagram_and_heat_map(page, live_server, deployed, clock):
    base = live_server
    code = _dossiers(deployed, clock)

    sign_in(page, base, "hk.lanhdao")
    page.goto(f"{base}/dossiers/{code}")
    page.wait_for_selector("#dossier-diagram[data-ready=true]")
    diagram = page.locator("#dossier-diagram")
    assert diagram.locator(".djs-element.mc-done").count() == 4
    assert diagram.locator(".djs-element.mc-current").count() == 1
    assert diagram.locator('[data-element-id="Task_DuThaoGiayPhep"].mc-current').count() == 1
    assert diagram.locator('[data-element-id="Flow_KhongDongY"].mc-path').count() == 1
    assert diagram.locator('[data-element-id="Flow_KhongHopLe"].mc-path').count() == 0
    notes = diagram.locator(".mc-note").all_inner_texts()
    assert any("2 lượt" in n and "ngày làm việc" in n for n in notes), notes
    assert any(n.startswith("đang xử lý") for n in notes), notes
    page.locator("#diagram-section").scroll_into_view_if_needed()
    page.locator("#diagram-steps summary").click()
    assert page.locator("[data-diagram-steps] tr").count() == 4
    page.locator("#diagram-section").screenshot(path=str(shot(page, "diagram-01-dossier-page", full_page=True)
                                                          .with_name("diagram-02-dossier-diagram.png")))

    page.click("#procedure-link")
    page.wait_for_selector("#heat-diagram[data-ready=true]")
    heat = page.locator("#heat-diagram")
    assert heat.locator(".djs-element.mc-heat").count() == 6
    labels = heat.locator(".mc-note-heat").all_inner_texts()
    assert any("trung vị" in text and "trễ hạn" in text for text in labels), labels
    appraisal_fill = heat.locator('[data-element-id="Task_ThamDinh"] .djs-visual > rect').evaluate(
        "el => getComputedStyle(el).fill")
    assert appraisal_fill not in ("", "none", "rgb(255, 255, 255)")
    assert page.locator("#heat-table tbody tr").count() == 6
    shot(page, "diagram-03-heat-map")
    heat.screenshot(path=str(shot(page, "diagram-03-heat-map").with_name("diagram-04-heat-diagram.png")))
    page.emulate_media(media="print")
    shot(page, "diagram-05-heat-map-print")
    page.emulate_media(media="screen")


def test_parallel_branches_on_the_land_certificate(page, live_server, deployed, clock):
    from tests.lifecycle_helpers import LAND, LAND_TO_TAX

    code = receive_permit(deployed, procedure_code=LAND, jurisdiction_code="HANGBAC")
    clock.set(vn(2026, 3, 3, 9, 0))
    do_step(deployed, code, "Task_KiemTraHoSo", LAND_TO_TAX["Task_KiemTraHoSo"])
    clock.set(vn(2026, 3, 5, 16, 0))
    do_step(deployed, code, "Task_XacMinhNiemYet", LAND_TO_TAX["Task_XacMinhNiemYet"])
    clock.set(vn(2026, 3, 9, 10, 0))

    sign_in(page, live_server, "hk.motcua")
    page.goto(f"{live_server}/dossiers/{code}")
    page.wait_for_selector("#dossier-diagram[data-ready=true]")
    diagram = page.locator("#dossier-diagram")
    assert diagram.locator('[data-element-id="Task_DoDac"].mc-current').count() == 1
    assert diagram.locator('[data-element-id="Task_XacMinhNiemYet"].mc-done').count() == 1
    assert diagram.locator('[data-element-id="Flow_DenDoDac"].mc-path').count() == 1
    assert diagram.locator('[data-element-id="Flow_DenXacMinh"].mc-path').count() == 1
    assert diagram.locator('[data-element-id="Flow_ChuyenThue"].mc-path').count() == 0
    assert page.locator("#procedure-link").count() == 0  # a clerk does not get the heat map
    page.locator("#diagram-section").screenshot(
        path=str(shot(page, "diagram-06-land-page").with_name("diagram-07-land-diagram.png")))


def test_procedure_list_for_the_administrator(page, live_server, deployed):
    sign_in(page, live_server, "hn.quantri")
    page.goto(f"{live_server}/procedures/")
    rows = page.locator("#procedures tbody tr")
    assert rows.count() == 5
    assert page.locator("nav .nav-link", has_text="Điểm ùn tắc").count() == 1
    shot(page, "diagram-08-procedure-list-admin")
    page.locator("#procedures a", has_text="DD-GCN-01").click()
    page.wait_for_selector("#heat-diagram[data-ready=true]")
    assert "Tính trên 0 hồ sơ" in page.locator("#heat-summary").inner_text()
    shot(page, "diagram-09-heat-map-empty")
