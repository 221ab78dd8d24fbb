"""Dossier search, the dossier page, the tracking slip (form 05) and attachment downloads."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from sqlalchemy import select

from engine import access, attachments, lifecycle
from engine.models import Dossier
from engine.visibility import jurisdiction_subtree, visible_dossiers
from tests.conftest import vn
from tests.helpers import APPLICANT, PERMIT_HAPPY, clerk_of, district, do_step, drive, receive_permit
from tests.lifecycle_helpers import person
from tests.web_helpers import app_for, signed_in

PDF = b"%PDF-1.4\n% motcua test\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
OUTSIDERS = ("bd.qldt.cv", "bd.lanhdao", "bd.motcua", "hk.tckh.cv", "hangbac.lanhdao")


def attach(ctx, code: str, name: str = "Bản vẽ thiết kế.pdf", data: bytes = PDF) -> int:
    with ctx.db.transaction() as session:
        d = session.scalar(select(Dossier).where(Dossier.code == code))
        row = attachments.save(session, ctx.settings.instance_dir, d, clerk_of(session, district(session)),
                               data=data, file_name=name, limit=ctx.settings.upload_limit_bytes,
                               now=ctx.clock.now(), component="Bản vẽ thiết kế")
        session.flush()
        return row.id


# ----------------------------------------------------------------- who may see a dossier


def test_the_dossier_page_for_the_counter_the_units_that_held_it_and_the_district_leader(deployed):
    code = receive_permit(deployed)
    do_step(deployed, code, "Task_ThamDinh", PERMIT_HAPPY["Task_ThamDinh"])
    app = app_for(deployed)
    for username in ("hk.motcua", "hk.qldt.cv", "hk.qldt.ld", "hk.lanhdao", "hn.lanhdao"):
        response = signed_in(deployed, username, app).get(f"/dossiers/{code}")
        assert response.status_code == 200, username
        body = response.get_data(as_text=True)
        assert APPLICANT["name"] in body and "Đang xử lý" in body and "Cấp giấy phép xây dựng" in body
        assert "Kiểm tra thực địa" in body and "Phòng Quản lý đô thị quận Hoàn Kiếm" in body  # the open step


def test_everyone_else_gets_a_404_without_a_name(deployed):
    code = receive_permit(deployed)
    app = app_for(deployed)
    for username in OUTSIDERS:
        client = signed_in(deployed, username, app)
        for path in (f"/dossiers/{code}", f"/dossiers/{code}/tracking-slip"):
            response = client.get(path)
            assert response.status_code == 404, (username, path)
            body = response.get_data(as_text=True)
            assert APPLICANT["name"] not in body and APPLICANT["address"] not in body and "Đang xử lý" not in body
    missing = signed_in(deployed, "hk.motcua", app).get("/dossiers/H26.38.01-260302-9999")
    assert missing.status_code == 404 and "Không tìm thấy hồ sơ" in missing.get_data(as_text=True)


def test_pages_need_a_working_role(deployed):
    code = receive_permit(deployed)
    assert signed_in(deployed, "hn.thietke").get(f"/dossiers/{code}").status_code == 403
    assert app_for(deployed).test_client().get(f"/dossiers/{code}").status_code == 302


def test_visible_dossiers_agrees_with_can_view(deployed):
    codes = [receive_permit(deployed), receive_permit(deployed, district_index=1), receive_permit(deployed)]
    do_step(deployed, codes[0], "Task_ThamDinh", PERMIT_HAPPY["Task_ThamDinh"])
    usernames = ("hk.motcua", "hk.qldt.cv", "hk.lanhdao", "hk.tckh.cv", "hangbac.lanhdao", "bd.qldt.cv",
                 "bd.lanhdao", "hn.lanhdao", "hn.quantri", "hn.thue.cv")
    with deployed.db.reading() as session:
        dossiers = session.scalars(select(Dossier).order_by(Dossier.id)).all()
        for username in usernames:
            user = person(session, username)
            listed = set(session.scalars(visible_dossiers(session, user).with_only_columns(Dossier.id)))
            allowed = {d.id for d in dossiers if access.can_view(session, user, d)}
            assert listed == allowed, username
        hanoi = person(session, "hn.lanhdao").unit.jurisdiction_id
        assert len(jurisdiction_subtree(session, hanoi)) == 10  # the city, three districts, six wards


# ----------------------------------------------------------------- search


def test_search_covers_only_visible_dossiers_and_pages(deployed):
    hoan_kiem = [receive_permit(deployed, applicant={**APPLICANT, "name": f"Công Dân Số {i:02d}"})
                 for i in range(27)]
    ba_dinh = receive_permit(deployed, district_index=1, applicant={**APPLICANT, "name": "Người Ba Đình"})
    app = app_for(deployed)

    clerk = signed_in(deployed, "hk.motcua", app)
    first = clerk.get("/dossiers/").get_data(as_text=True)
    assert "Trang 1/2" in first and "tổng số 27" in first and ba_dinh not in first
    assert hoan_kiem[-1] in first  # newest first
    second = clerk.get("/dossiers/?page=2").get_data(as_text=True)
    assert "Trang 2/2" in second and hoan_kiem[0] in second
    found = clerk.get("/dossiers/?q=Số 05").get_data(as_text=True)
    assert "tổng số 1 " in found and hoan_kiem[5] in found
    assert hoan_kiem[9] in clerk.get(f"/dossiers/?q={hoan_kiem[9]}").get_data(as_text=True)
    assert "Không tìm thấy hồ sơ nào" in clerk.get("/dossiers/?q=Người Ba Đình").get_data(as_text=True)
    assert "Không tìm thấy hồ sơ nào" in clerk.get("/dossiers/?status=returned").get_data(as_text=True)

    other = signed_in(deployed, "bd.qldt.cv", app).get("/dossiers/?q=Công Dân").get_data(as_text=True)
    assert "Không tìm thấy hồ sơ nào" in other and "Công Dân Số" not in other
    assert ba_dinh in signed_in(deployed, "bd.qldt.cv", app).get("/dossiers/").get_data(as_text=True)
    assert "tổng số 28" in signed_in(deployed, "hn.lanhdao", app).get("/dossiers/").get_data(as_text=True)

    partial = clerk.get("/dossiers/?q=Số 1", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in partial and 'id="dossier-table"' in partial


# ----------------------------------------------------------------- the dossier page


def test_the_dossier_page_tells_the_whole_story(deployed, clock):
    code = receive_permit(deployed)
    clock.set(vn(2026, 3, 3, 10, 0))
    do_step(deployed, code, "Task_ThamDinh", {"hop_le": True, "can_kiem_tra": True, "so_tang": 4})
    clock.set(vn(2026, 3, 4, 9, 0))
    with deployed.db.transaction() as session:
        d = session.scalar(select(Dossier).where(Dossier.code == code))
        lifecycle.request_supplement(deployed, session, d, person(session, "hk.qldt.cv"),
                                     reason="Bản vẽ chưa đúng tỷ lệ", missing=["Bản vẽ mặt bằng tỷ lệ 1/100"])
    clock.set(vn(2026, 3, 6, 9, 0))
    with deployed.db.transaction() as session:
        d = session.scalar(select(Dossier).where(Dossier.code == code))
        lifecycle.receive_supplement(deployed, session, d, person(session, "hk.motcua"))
        lifecycle.extend(deployed, session, d, person(session, "hk.qldt.cv"), reason="Cần ý kiến Sở Xây dựng",
                         extra_days=5)
    attach(deployed, code)

    body = signed_in(deployed, "hk.qldt.cv").get(f"/dossiers/{code}").get_data(as_text=True)
    assert "Bản vẽ chưa đúng tỷ lệ" in body and "Bản vẽ mặt bằng tỷ lệ 1/100" in body
    assert "2 ngày làm việc" in body  # paused from Wednesday 09:00 to Friday 09:00
    assert "Cần ý kiến Sở Xây dựng" in body and "Hạn ban đầu" in body and "đã gia hạn" in body
    assert "phiên bản 1" in body and "XD-GPXD-01" in body
    for label in ("Tiếp nhận hồ sơ", "Nhận xử lý bước", "Hoàn thành bước", "Yêu cầu bổ sung hồ sơ",
                  "Nhận hồ sơ bổ sung", "Gia hạn, hẹn lại ngày trả"):
        assert label in body, label
    assert "Đang xử lý → <strong>Chờ bổ sung</strong>" in body and "Chờ bổ sung → <strong>Đang xử lý</strong>" in body
    assert "Số tầng: 4" in body and "Hồ sơ hợp lệ: Có" in body
    assert "Bộ phận Một cửa quận Hoàn Kiếm" in body and "Hoàng Thị Mai" in body  # received by
    assert "Bản vẽ thiết kế.pdf" in body and "/attachments/" in body
    assert "Xử lý bước: Kiểm tra thực địa" in body  # the viewer's own open step is one click away
    assert "09:00 02/03/2026" in body

    slip = signed_in(deployed, "hk.qldt.cv").get(f"/dossiers/{code}/tracking-slip").get_data(as_text=True)
    assert "Yêu cầu bổ sung ngày 04/03/2026, dừng 2 ngày làm việc" in slip
    assert "hẹn ban đầu" in slip and "Gia hạn, hẹn trả ngày" in slip


def test_a_paused_dossier_shows_since_when(deployed, clock):
    code = receive_permit(deployed)
    with deployed.db.transaction() as session:
        d = session.scalar(select(Dossier).where(Dossier.code == code))
        lifecycle.request_supplement(deployed, session, d, person(session, "hk.motcua"),
                                     reason="Thiếu giấy tờ", missing=["Giấy chứng nhận quyền sử dụng đất"])
    body = signed_in(deployed, "hk.lanhdao").get(f"/dossiers/{code}").get_data(as_text=True)
    assert "Chờ bổ sung" in body and "Tạm dừng từ 09:00 02/03/2026" in body and "đang dừng" in body


def test_counter_link_only_for_the_receiving_clerk(deployed):
    code = receive_permit(deployed)
    app = app_for(deployed)
    has_counter = "counter.dossier" in app.view_functions
    clerk = signed_in(deployed, "hk.motcua", app).get(f"/dossiers/{code}").get_data(as_text=True)
    assert ("Thao tác tại Bộ phận Một cửa" in clerk) == has_counter
    specialist = signed_in(deployed, "hk.qldt.cv", app).get(f"/dossiers/{code}").get_data(as_text=True)
    assert "Thao tác tại Bộ phận Một cửa" not in specialist


# ----------------------------------------------------------------- form 05


def slip_rows(page: str) -> list[str]:
    table = page[page.index('id="slip"'):]
    body = table[table.index("<tbody>"):table.index("</tbody>")]
    return re.findall(r"<tr>(.*?)</tr>", body, re.S)


def test_tracking_slip_after_driving_the_dossier(deployed, clock):
    code = receive_permit(deployed)
    clock.set(vn(2026, 3, 3, 10, 0))
    drive(deployed, code, PERMIT_HAPPY)
    page = signed_in(deployed, "hk.motcua").get(f"/dossiers/{code}/tracking-slip")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    for text in ("Phiếu kiểm soát quá trình giải quyết hồ sơ", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
                 "Độc lập - Tự do - Hạnh phúc", "ỦY BAN NHÂN DÂN QUẬN HOÀN KIẾM", "Tên cơ quan/đơn vị",
                 "Thời gian giao, nhận hồ sơ", "Người giao", "Người nhận", "Kết quả giải quyết hồ sơ",
                 "Trước hạn/Đúng hạn/Quá hạn", "Ghi chú", code, APPLICANT["name"], "In phiếu", "@media print",
                 "size: A4"):
        assert text in body, text
    rows = slip_rows(body)
    assert len(rows) == 3  # counter -> urban management -> district leadership -> back to the counter
    assert "Phòng Quản lý đô thị quận Hoàn Kiếm" in rows[0]
    given, taken = re.findall(r'<span class="when">([^<]+)</span>', rows[0])[:2]
    assert (given, taken) == ("09:00 02/03/2026", "10:00 03/03/2026")
    assert "Hoàng Thị Mai" in rows[0] and "Bùi Văn Toàn" in rows[0]
    assert "Trước hạn" in rows[0] and "Trước hạn" in rows[1]
    assert "Lãnh đạo UBND quận Hoàn Kiếm" in rows[1] and "Ngô Quang Huy" in rows[1]
    assert "Bộ phận Một cửa" in rows[2] and "trả cho công dân" in rows[2]


def test_tracking_slip_says_late_for_a_unit_that_overran(deployed, clock):
    code = receive_permit(deployed)
    do_step(deployed, code, "Task_ThamDinh", PERMIT_HAPPY["Task_ThamDinh"])
    do_step(deployed, code, "Task_KiemTraThucDia", PERMIT_HAPPY["Task_KiemTraThucDia"])
    clock.set(vn(2026, 4, 1, 9, 0))  # long past the draft's two days
    drive(deployed, code, PERMIT_HAPPY)
    body = signed_in(deployed, "hk.qldt.cv").get(f"/dossiers/{code}/tracking-slip").get_data(as_text=True)
    rows = slip_rows(body)
    assert "Quá hạn" in rows[0] and "Trước hạn" in rows[1]
    page = signed_in(deployed, "hk.lanhdao").get(f"/dossiers/{code}").get_data(as_text=True)
    assert "Có kết quả, chờ trả" in page and "Quá hạn" in page


# ----------------------------------------------------------------- attachments


def test_attachment_download_for_those_who_may_see_the_dossier(deployed):
    code = receive_permit(deployed)
    other = receive_permit(deployed)
    attachment_id = attach(deployed, code)
    app = app_for(deployed)
    path = f"/dossiers/{code}/attachments/{attachment_id}"
    for username in ("hk.motcua", "hk.qldt.cv", "hk.lanhdao"):
        response = signed_in(deployed, username, app).get(path)
        assert response.status_code == 200, username
        assert response.data == PDF and response.mimetype == "application/pdf"
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment;") and quote("Bản vẽ thiết kế.pdf") in disposition
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    for username in OUTSIDERS:
        response = signed_in(deployed, username, app).get(path)
        assert response.status_code == 404 and response.data != PDF, username
    clerk = signed_in(deployed, "hk.motcua", app)
    assert clerk.get(f"/dossiers/{other}/attachments/{attachment_id}").status_code == 404  # not that dossier's
    assert clerk.get(f"/dossiers/{code}/attachments/999999").status_code == 404


@pytest.mark.parametrize("name, expected", [
    ("Bản vẽ.pdf", "Bản vẽ.pdf"),
    ('../../etc/"passwd"', "etc_passwd.pdf"),
    ("hợp đồng\r\nX-Evil: 1.pdf", "hợp đồng_X-Evil_ 1.pdf"),
    ("", "tep-dinh-kem.pdf"),
    ("ảnh", "ảnh.pdf"),
])
def test_download_names_are_safe(name, expected):
    from web.dossier_pages import download_name

    assert download_name(name, "application/pdf") == expected
