"""A construction permit in a real browser: counter, department, leader, counter, citizen."""

from __future__ import annotations

import re

from tests.e2e.conftest import shot, sign_in, sign_out

PERMIT = "XD-GPXD-01"


def _receive(page, base: str) -> str:
    sign_in(page, base, "hk.motcua")
    page.goto(f"{base}/counter/")
    shot(page, "01-counter")
    page.goto(f"{base}/counter/receive/{PERMIT}")
    page.fill("input[name=applicant_name]", "Trần Văn Bình")
    page.fill("input[name=applicant_id_number]", "001085012345")
    page.fill("input[name=applicant_phone]", "0912345678")
    page.fill("input[name=applicant_address]", "12 Hàng Bạc, phường Hàng Bạc, quận Hoàn Kiếm")
    for idx in range(3):  # the three required papers
        page.check(f"input[name=comp_{idx}]")
    shot(page, "02-receive-form")
    page.click("button:has-text('Tiếp nhận hồ sơ')")
    page.wait_for_url(re.compile(r".*/receipt$"))
    code = re.search(r"/counter/dossiers/([^/]+)/receipt", page.url).group(1)
    body = page.locator("body").inner_text()
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in body.upper() and code in body
    assert body.count("Liên 1") == 1 and body.count("Liên 2") == 1
    page.emulate_media(media="print")
    shot(page, "03-form01-print")
    page.emulate_media(media="screen")
    sign_out(page)
    return code


def _do_step(page, base: str, username: str, code: str, fill) -> None:
    sign_in(page, base, username)
    page.goto(f"{base}/inbox/")
    row = page.locator("tr", has_text=code)
    row.locator("a", has_text=code).first.click() if row.locator("a[href*='/inbox/tasks/']").count() == 0 \
        else row.locator("a[href*='/inbox/tasks/']").first.click()
    page.wait_for_url(re.compile(r".*/inbox/tasks/\d+$"))
    if page.locator("button:has-text('Nhận xử lý')").count():
        page.click("button:has-text('Nhận xử lý')")
        page.wait_for_load_state("networkidle")
    fill(page)
    page.click("button:has-text('Hoàn thành bước')")
    page.wait_for_url(re.compile(r".*/inbox/?(\?.*)?$"))
    sign_out(page)


def _yes(key: str):
    return f"input[name={key}][value=true]"


def test_permit_from_counter_through_departments_back_to_the_citizen(page, live_server, deployed, clock):
    base = live_server
    code = _receive(page, base)

    def appraise(p):
        shot(p, "04-task-appraisal")
        p.check(_yes("hop_le"))
        p.check(_yes("can_kiem_tra"))

    _do_step(page, base, "hk.qldt.cv", code, appraise)
    _do_step(page, base, "hk.qldt.cv", code,
             lambda p: p.select_option("select[name=ket_qua_kiem_tra]", "Phù hợp"))
    _do_step(page, base, "hk.qldt.cv", code, lambda p: p.fill("input[name=so_giay_phep]", "123/GPXD"))

    def approve(p):
        shot(p, "05-task-leader")
        p.check(_yes("phe_duyet"))

    _do_step(page, base, "hk.lanhdao", code, approve)

    sign_in(page, base, "hk.qldt.cv")
    page.goto(f"{base}/dossiers/{code}/tracking-slip")
    slip = page.locator("body").inner_text()
    assert "Phòng Quản lý đô thị quận Hoàn Kiếm" in slip and "Trước hạn" in slip
    page.emulate_media(media="print")
    shot(page, "06-form05-print")
    page.emulate_media(media="screen")
    sign_out(page)

    sign_in(page, base, "hk.motcua")
    page.goto(f"{base}/counter/dossiers/{code}")
    page.check("#rating_5")
    page.locator(f"form[action$='/counter/dossiers/{code}/return'] button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert "Đã trả kết quả" in page.locator("body").inner_text()
    shot(page, "07-counter-returned")
    sign_out(page)

    page.goto(f"{base}/tra-cuu?ma={code}&sdt=5678")
    assert "Đã trả kết quả" in page.locator("main").inner_text()
    shot(page, "08-lookup-returned")


def test_supplement_request_and_extension_at_the_counter(page, live_server, deployed):
    base = live_server
    code = _receive(page, base)
    sign_in(page, base, "hk.motcua")
    page.goto(f"{base}/counter/dossiers/{code}")
    page.click("summary:has-text('Yêu cầu bổ sung')")
    page.fill("#missing", "Bản vẽ mặt bằng có chữ ký của chủ đầu tư")
    page.fill("#sup_reason", "Bản vẽ chưa có chữ ký")
    page.locator(f"form[action$='/counter/dossiers/{code}/supplement-request'] button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    page.goto(f"{base}/counter/dossiers/{code}/supplement-request/print")
    assert "Bản vẽ mặt bằng có chữ ký của chủ đầu tư" in page.locator("body").inner_text()
    shot(page, "09-form02")
    page.goto(f"{base}/counter/dossiers/{code}")
    page.locator(f"form[action$='/counter/dossiers/{code}/supplement-received'] button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    page.click("summary:has-text('hẹn lại ngày trả kết quả')")
    page.fill("#ext_reason", "Cần lấy ý kiến cơ quan quản lý di tích")
    page.fill("#extra_days", "5")
    page.locator(f"form[action$='/counter/dossiers/{code}/extend'] button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    page.goto(f"{base}/counter/dossiers/{code}/extension/print")
    body = page.locator("body").inner_text()
    assert "Cần lấy ý kiến cơ quan quản lý di tích" in body
    shot(page, "10-form04")
    page.goto(f"{base}/tra-cuu?ma={code}&sdt=5678")
    assert "Đang giải quyết" in page.locator("main").inner_text()
