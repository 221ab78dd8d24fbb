"""The one-stop counter pages: receipt form, form 01-04 prints, counter actions, access."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from engine.counter_lists import counter_dossiers, procedures_in_effect, receivable_jurisdictions
from engine.deployment import compiled_version, version_in_effect
from engine.models import Attachment, Dossier, DossierStatus, Event, Unit
from tests.helpers import PERMIT, PERMIT_HAPPY, dossier, drive, receive_permit
from tests.lifecycle_helpers import person, row_counts
from tests.web_helpers import app_for, csrf_token, signed_in
from web.qr import lookup_url, qr_svg

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
APPLICANT_FORM = {
    "applicant_name": "Trần Văn Bình",
    "applicant_id_number": "001085012345",
    "applicant_phone": "0912 345 678",
    "applicant_address": "12 Hàng Bạc, Hoàn Kiếm, Hà Nội",
    "applicant_email": "binh@example.vn",
}


def permit_components(ctx) -> list:
    with ctx.db.reading() as session:
        return list(compiled_version(ctx, version_in_effect(session, PERMIT, ctx.clock.now())).info.components)


def permit_form(ctx, client, **extra):
    """A complete construction-permit receipt form with a real CSRF token."""
    token = csrf_token(client, f"/counter/receive/{PERMIT}")
    data = {"csrf_token": token, "jurisdiction": "HK", **APPLICANT_FORM}
    for i, component in enumerate(permit_components(ctx)):
        if component.required:
            data[f"comp_{i}"] = "1"
    data.update(extra)
    return data


def post_receipt(client, data):
    return client.post(f"/counter/receive/{PERMIT}", data=data, content_type="multipart/form-data")


def stored_files(ctx) -> list:
    root = ctx.settings.instance_dir / "files"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def nothing_saved(ctx) -> bool:
    counts = row_counts(ctx, Dossier, Attachment, Event)
    return counts == {"Dossier": 0, "Attachment": 0, "Event": 0} and not stored_files(ctx)


def page(response) -> str:
    return response.get_data(as_text=True)


# ------------------------------------------------------------------ start page


def test_counter_page_lists_procedures_in_effect_and_searches_without_diacritics(deployed):
    client = signed_in(deployed, "hk.motcua")
    html = page(client.get("/counter/"))
    assert "Tiếp nhận và trả kết quả" in html and "Chờ trả kết quả" in html and "Chờ công dân bổ sung" in html
    for code in ("XD-GPXD-01", "HKD-DK-01", "HT-KS-01", "DD-GCN-01", "PAKN-01"):
        assert code in html
    found = page(client.get("/counter/?q=giay phep xay dung"))
    assert "XD-GPXD-01" in found and "HKD-DK-01" not in found
    partial = client.get("/counter/procedures?q=hkd", headers={"HX-Request": "true"})
    assert partial.status_code == 200 and "<html" not in page(partial)
    assert "HKD-DK-01" in page(partial) and "XD-GPXD-01" not in page(partial)
    assert "Không có thủ tục nào khớp" in page(client.get("/counter/?q=khongcothutucnay"))
    # Without htmx the partial URL leads back to the full page, keeping the query.
    assert client.get("/counter/procedures?q=hkd").headers["Location"].endswith("/counter/?q=hkd")


def test_only_clerks_open_the_counter(deployed):
    assert signed_in(deployed, "hk.qldt.cv").get("/counter/").status_code == 403
    assert signed_in(deployed, "hk.lanhdao").get(f"/counter/receive/{PERMIT}").status_code == 403
    anonymous = app_for(deployed).test_client().get("/counter/")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_unknown_procedure_is_a_404(deployed):
    response = signed_in(deployed, "hk.motcua").get("/counter/receive/KHONG-CO")
    assert response.status_code == 404 and "KHONG-CO" in page(response)


# ---------------------------------------------------------------- receipt form


def test_receive_a_construction_permit_through_the_form(deployed):
    client = signed_in(deployed, "hk.motcua")
    form = page(client.get(f"/counter/receive/{PERMIT}"))
    assert "Họ và tên" in form and "Số CCCD/CMND" in form and "Tiếp nhận hồ sơ" in form
    assert 'value="HK"' in form and "Phường Hàng Bạc" in form
    components = permit_components(deployed)
    data = permit_form(deployed, client, file_0=(io.BytesIO(PDF), "don-de-nghi.pdf"),
                       # keys the form does not have are ignored, never stored or trusted
                       role="admin", channel="online", data_hop_le="true", receiving_unit_id="1",
                       **{"applicant.name": "Kẻ giả mạo", "comp_99": "1"})
    response = post_receipt(client, data)
    assert response.status_code == 302, page(response)[:2000]
    code = re.search(r"/counter/dossiers/([^/]+)/receipt$", response.headers["Location"]).group(1)
    assert code.startswith("H26.38.01-260302-")

    d = dossier(deployed, code)
    assert d.applicant_name == "Trần Văn Bình" and d.applicant_phone == "0912345678"
    assert d.channel == "counter" and d.data == {} and d.status == DossierStatus.PROCESSING
    with deployed.db.reading() as session:
        files = list(session.scalars(select(Attachment).where(Attachment.dossier_id == d.id)))
    assert [(f.file_name, f.content_type, f.component, f.kind) for f in files] == [
        ("don-de-nghi.pdf", "application/pdf", components[0].name, "component")]
    assert len(stored_files(deployed)) == 1

    receipt = client.get(response.headers["Location"])
    html = page(receipt)
    assert receipt.status_code == 200
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in html and "Mẫu số 01" in html
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in html and "Độc lập - Tự do - Hạnh phúc" in html
    assert html.count(code) >= 2 and "Trần Văn Bình" in html
    assert "Liên 1: Giao người nộp hồ sơ" in html and "Liên 2: Lưu tại Bộ phận Một cửa" in html
    assert html.count('<section class="sheet sheet-a5 form01"') == 2
    assert "09:00 02/03/2026" in html and "09:00 23/03/2026" in html  # received, due 15 working days later
    assert "15 ngày làm việc" in html and "Bộ phận Một cửa quận Hoàn Kiếm" in html
    assert "UBND QUẬN HOÀN KIẾM" in html and "Hà Nội, ngày 02 tháng 03 năm 2026" in html
    assert html.count("<svg") == 2 and 'class="mc-qr"' in html
    assert f"http://127.0.0.1:5000/tra-cuu?ma={code}" in html
    assert "window.print()" in html and "A5 portrait" in html
    for c in components:
        assert (c.name in html) == c.required  # only the papers handed in are listed


def test_png_named_pdf_is_accepted_by_its_content(deployed):
    client = signed_in(deployed, "hk.motcua")
    response = post_receipt(client, permit_form(deployed, client, file_0=(io.BytesIO(PNG), "ban-ve.pdf")))
    assert response.status_code == 302
    with deployed.db.reading() as session:
        assert session.scalar(select(Attachment.content_type)) == "image/png"


def test_text_file_named_pdf_is_refused_and_nothing_is_saved(deployed):
    client = signed_in(deployed, "hk.motcua")
    data = permit_form(deployed, client, file_0=(io.BytesIO(b"Xin chao, day khong phai PDF"), "gia-mao.pdf"),
                       file_1=(io.BytesIO(PDF), "that.pdf"))
    response = post_receipt(client, data)
    html = page(response)
    assert response.status_code == 400
    assert "Hồ sơ chưa được tiếp nhận" in html
    assert "Tệp «gia-mao.pdf» không phải PDF, JPEG hoặc PNG" in html
    assert "xin chọn lại tệp" in html  # the good file was not kept either
    assert 'value="Trần Văn Bình"' in html  # the form is refilled
    assert nothing_saved(deployed)


def test_missing_required_component_is_shown_next_to_the_list_and_nothing_is_saved(deployed):
    client = signed_in(deployed, "hk.motcua")
    components = permit_components(deployed)
    first_required = next(i for i, c in enumerate(components) if c.required)
    data = permit_form(deployed, client, file_2=(io.BytesIO(PDF), "scan.pdf"))
    del data[f"comp_{first_required}"]
    response = post_receipt(client, data)
    html = page(response)
    assert response.status_code == 400
    assert "Thiếu thành phần hồ sơ bắt buộc" in html and components[first_required].name in html
    assert 'id="components-error"' in html and "table-danger" in html
    assert 'value="0912345678"' in html and 'value="binh@example.vn"' in html
    assert nothing_saved(deployed)


def test_applicant_errors_are_in_vietnamese_next_to_their_fields(deployed):
    client = signed_in(deployed, "hk.motcua")
    data = permit_form(deployed, client, applicant_name="  ", applicant_phone="12ab",
                       applicant_id_number="123", applicant_email="khong-phai-email")
    html = page(post_receipt(client, data))
    assert 'id="applicant_name-error">Nhập họ và tên người nộp hồ sơ.' in html
    assert 'id="applicant_phone-error">Số điện thoại gồm 9 đến 12 chữ số.' in html
    assert 'id="applicant_id_number-error">Số CCCD/CMND gồm 9 hoặc 12 chữ số.' in html
    assert 'id="applicant_email-error">Địa chỉ email không hợp lệ.' in html
    assert nothing_saved(deployed)


def test_overlong_email_and_a_scan_for_an_unticked_paper_are_refused_before_the_database(deployed):
    client = signed_in(deployed, "hk.motcua")
    components = permit_components(deployed)
    optional = next(i for i, c in enumerate(components) if not c.required)
    data = permit_form(deployed, client, applicant_email="a@b." + "c" * 250,
                       **{f"file_{optional}": (io.BytesIO(PDF), "cam-ket.pdf")})
    html = page(post_receipt(client, data))
    assert 'id="applicant_email-error">Địa chỉ email quá dài' in html
    assert f'id="file_{optional}-error">Tệp đính kèm cho thành phần chưa được đánh dấu' in html
    assert nothing_saved(deployed)


def test_control_characters_are_refused_with_a_message_not_a_database_error(deployed):
    client = signed_in(deployed, "hk.motcua")
    data = permit_form(deployed, client, applicant_name="Trần\x00Bình",
                       file_0=(io.BytesIO(PDF), "scan\x01.pdf"))
    response = post_receipt(client, data)
    assert response.status_code == 400 and 'id="applicant_name-error">Có ký tự không hợp lệ' in page(response)
    assert nothing_saved(deployed)
    ok = post_receipt(client, permit_form(deployed, client, file_0=(io.BytesIO(PDF), "scan\x01.pdf")))
    assert ok.status_code == 302
    with deployed.db.reading() as session:
        assert session.scalar(select(Attachment.file_name)) == "scan.pdf"
    code = ok.headers["Location"].split("/")[-2]
    token = csrf_token(client, "/counter/")
    bad = client.post(f"/counter/dossiers/{code}/refuse", data={"csrf_token": token, "reason": "Sai\x00lý do"})
    assert bad.status_code == 400 and 'id="reason-error"' in page(bad)
    assert dossier(deployed, code).status == DossierStatus.PROCESSING


def test_jurisdiction_outside_the_counter_area_is_refused(deployed):
    client = signed_in(deployed, "hk.motcua")
    html = page(post_receipt(client, permit_form(deployed, client, jurisdiction="KIMMA")))
    assert 'id="jurisdiction-error"' in html and "không thuộc phạm vi tiếp nhận" in html
    assert nothing_saved(deployed)


def test_land_certificate_needs_a_commune_and_feedback_needs_a_responsible_unit(deployed):
    client = signed_in(deployed, "hk.motcua")
    land = page(client.get("/counter/receive/DD-GCN-01"))
    assert re.search(r'<option value="HK"[^>]*disabled', land)  # the district itself cannot take it
    assert "— Chọn địa bàn —" in land
    token = csrf_token(client, "/counter/receive/DD-GCN-01")
    base = {"csrf_token": token, **APPLICANT_FORM, "comp_0": "1", "comp_1": "1", "comp_2": "1", "comp_3": "1"}
    response = client.post("/counter/receive/DD-GCN-01", data={**base, "jurisdiction": "HANGBAC"})
    assert response.status_code == 302, page(response)[:2000]

    form = page(client.get("/counter/receive/PAKN-01"))
    assert "Đơn vị chịu trách nhiệm xử lý" in form and "Phòng Quản lý đô thị quận Hoàn Kiếm" in form
    feedback = {"csrf_token": token, **APPLICANT_FORM, "comp_0": "1", "jurisdiction": "HK"}
    missing = client.post("/counter/receive/PAKN-01", data=feedback)
    assert missing.status_code == 400 and 'id="data_responsible_unit-error"' in page(missing)
    foreign = client.post("/counter/receive/PAKN-01", data={**feedback, "data_responsible_unit": "H26.39.03"})
    assert foreign.status_code == 400 and "không thuộc địa bàn" in page(foreign)
    ok = client.post("/counter/receive/PAKN-01", data={**feedback, "data_responsible_unit": "H26.38.03"})
    assert ok.status_code == 302
    code = ok.headers["Location"].split("/")[-2]
    assert dossier(deployed, code).data == {"responsible_unit": "H26.38.03"}


def test_post_without_csrf_token_is_refused(deployed):
    client = signed_in(deployed, "hk.motcua")
    data = permit_form(deployed, client)
    del data["csrf_token"]
    assert post_receipt(client, data).status_code == 400
    code = receive_permit(deployed)
    assert client.post(f"/counter/dossiers/{code}/refuse", data={"reason": "x"}).status_code == 400
    assert dossier(deployed, code).status == DossierStatus.PROCESSING
    assert nothing_saved(deployed) is False  # the dossier received by the engine helper is there


# ------------------------------------------------------------------------ access


def test_another_counter_never_sees_or_touches_the_dossier(deployed):
    code = receive_permit(deployed)
    other = signed_in(deployed, "bd.motcua")
    for path in ("receipt", "", "supplement-request/print", "refusal/print", "extension/print"):
        url = f"/counter/dossiers/{code}/{path}".rstrip("/")
        response = other.get(url)
        assert response.status_code == 404 and "Trần Văn Bình" not in page(response), url
    token = csrf_token(other, "/counter/")
    for action, data in (("refuse", {"reason": "x"}), ("withdraw", {}), ("extend", {"reason": "x", "extra_days": "2"}),
                         ("supplement-request", {"reason": "x", "missing": "a"}), ("return", {"rating": "5"}),
                         ("supplement-received", {})):
        response = other.post(f"/counter/dossiers/{code}/{action}", data={"csrf_token": token, **data})
        assert response.status_code in (403, 404), action
    d = dossier(deployed, code)
    assert d.status == DossierStatus.PROCESSING and d.original_due_at is None and d.supplement_requests == 0


def test_specialist_cannot_use_counter_actions(deployed):
    code = receive_permit(deployed)
    client = signed_in(deployed, "hk.qldt.cv")
    assert client.get(f"/counter/dossiers/{code}/receipt").status_code == 403


# ---------------------------------------------------------------------- actions


def clerk(ctx):
    client = signed_in(ctx, "hk.motcua")
    return client, csrf_token(client, "/counter/")


def test_supplement_request_prints_form_02_then_the_supplement_arrives(deployed):
    code = receive_permit(deployed)
    client, token = clerk(deployed)
    empty = client.post(f"/counter/dossiers/{code}/supplement-request",
                        data={"csrf_token": token, "reason": "Thiếu giấy tờ", "missing": "  \n "})
    assert empty.status_code == 400 and 'id="missing-error"' in page(empty)
    assert "Thiếu giấy tờ" in page(empty)  # the clerk's input is kept
    assert dossier(deployed, code).status == DossierStatus.PROCESSING

    deployed.clock.advance(hours=1)
    response = client.post(f"/counter/dossiers/{code}/supplement-request", data={
        "csrf_token": token, "reason": "Bản vẽ chưa đúng tỷ lệ 1/100",
        "missing": "Bản vẽ mặt bằng tỷ lệ 1/100\r\nBản sao công chứng giấy chứng nhận quyền sử dụng đất\n"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/counter/dossiers/{code}")
    followed = page(client.get(response.headers["Location"]))
    assert "Đã ghi nhận yêu cầu bổ sung" in followed and "In phiếu bổ sung (Mẫu 02)" in followed
    assert dossier(deployed, code).status == DossierStatus.AWAITING_SUPPLEMENT
    assert code in page(client.get("/counter/"))

    form02 = page(client.get(f"/counter/dossiers/{code}/supplement-request/print"))
    assert "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ" in form02 and "Mẫu số 02" in form02
    assert "<td>Bản vẽ mặt bằng tỷ lệ 1/100</td>" in form02
    assert "<td>Bản sao công chứng giấy chứng nhận quyền sử dụng đất</td>" in form02
    assert "Bản vẽ chưa đúng tỷ lệ 1/100" in form02 and "Hoàng Thị Mai" in form02  # reason, contact officer
    assert "Trần Văn Bình" in form02 and "10:00 02/03/2026" in form02

    bad = client.post(f"/counter/dossiers/{code}/supplement-received", content_type="multipart/form-data",
                      data={"csrf_token": token, "files": (io.BytesIO(b"MZ\x90\x00"), "virus.pdf")})
    assert bad.status_code == 400 and "không phải PDF, JPEG hoặc PNG" in page(bad)
    assert dossier(deployed, code).status == DossierStatus.AWAITING_SUPPLEMENT

    deployed.clock.advance(days=2)
    done = client.post(f"/counter/dossiers/{code}/supplement-received", content_type="multipart/form-data",
                       data={"csrf_token": token, "note": "Đã nộp đủ",
                             "files": [(io.BytesIO(PDF), "ban-ve.pdf"), (io.BytesIO(PNG), "gcn.png")]})
    assert done.status_code == 302
    d = dossier(deployed, code)
    assert d.status == DossierStatus.PROCESSING and d.paused_minutes > 0
    with deployed.db.reading() as session:
        kinds = sorted(session.scalars(select(Attachment.kind).where(Attachment.dossier_id == d.id)))
    assert kinds == ["supplement", "supplement"]
    assert "Đã nhận hồ sơ bổ sung" in page(client.get(done.headers["Location"]))


def test_refusal_prints_form_03_and_cannot_be_repeated(deployed):
    code = receive_permit(deployed)
    client, token = clerk(deployed)
    assert client.get(f"/counter/dossiers/{code}/refusal/print").status_code == 404
    empty = client.post(f"/counter/dossiers/{code}/refuse", data={"csrf_token": token, "reason": " "})
    assert empty.status_code == 400 and 'id="reason-error"' in page(empty)
    response = client.post(f"/counter/dossiers/{code}/refuse", data={
        "csrf_token": token, "reason": "Thửa đất nằm trong quy hoạch mở rộng đường Hàng Bạc"})
    assert response.status_code == 302
    assert dossier(deployed, code).status == DossierStatus.REFUSED
    form03 = page(client.get(f"/counter/dossiers/{code}/refusal/print"))
    assert "PHIẾU TỪ CHỐI TIẾP NHẬN, GIẢI QUYẾT HỒ SƠ" in form03 and "Mẫu số 03" in form03
    assert "Thửa đất nằm trong quy hoạch mở rộng đường Hàng Bạc" in form03 and "Trần Văn Bình" in form03
    again = client.post(f"/counter/dossiers/{code}/refuse", data={"csrf_token": token, "reason": "lần nữa"})
    assert again.status_code == 409 and "Không thể từ chối hồ sơ khi hồ sơ đang ở trạng thái «Đã từ chối»" in page(again)


def test_extension_prints_form_04_with_old_and_new_dates(deployed):
    code = receive_permit(deployed)
    client, token = clerk(deployed)
    url = f"/counter/dossiers/{code}/extend"
    both = client.post(url, data={"csrf_token": token, "reason": "Chờ ý kiến", "extra_days": "3",
                                  "new_date": "30/03/2026"})
    assert both.status_code == 400 and "chỉ một trong hai" in page(both)
    bad_date = client.post(url, data={"csrf_token": token, "reason": "Chờ ý kiến", "new_date": "2026-03-30"})
    assert bad_date.status_code == 400 and "dd/mm/yyyy" in page(bad_date)
    weekend = client.post(url, data={"csrf_token": token, "reason": "Chờ ý kiến", "new_date": "28/03/2026"})
    assert weekend.status_code == 400 and "không phải ngày làm việc" in page(weekend)
    earlier = client.post(url, data={"csrf_token": token, "reason": "Chờ ý kiến", "new_date": "20/03/2026"})
    assert earlier.status_code == 400 and "phải sau ngày hẹn hiện tại" in page(earlier)
    assert dossier(deployed, code).original_due_at is None

    response = client.post(url, data={"csrf_token": token, "reason": "Chờ ý kiến của Sở Xây dựng",
                                      "new_date": "30/03/2026"})
    assert response.status_code == 302
    d = dossier(deployed, code)
    assert d.original_due_at is not None and d.due_at > d.original_due_at
    form04 = page(client.get(f"/counter/dossiers/{code}/extension/print"))
    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in form04 and "Mẫu số 04" in form04
    assert "Kính gửi" in form04 and "Trần Văn Bình" in form04 and code in form04
    assert "09:00 23/03/2026" in form04 and "09:00 30/03/2026" in form04  # original and new appointment
    assert "Chờ ý kiến của Sở Xây dựng" in form04 and "THỦ TRƯỞNG ĐƠN VỊ" in form04 and "xin lỗi" in form04
    assert "Ngày 02/03/2026" in form04

    again = client.post(url, data={"csrf_token": token, "reason": "Lần hai", "extra_days": "2"})
    assert again.status_code == 409 and "đã được điều chỉnh một lần" in page(again)


def test_extension_by_extra_working_days(deployed):
    code = receive_permit(deployed)
    client, token = clerk(deployed)
    response = client.post(f"/counter/dossiers/{code}/extend",
                           data={"csrf_token": token, "reason": "Chờ kết quả đo đạc", "extra_days": "5"})
    assert response.status_code == 302
    assert "09:00 30/03/2026" in page(client.get(f"/counter/dossiers/{code}/extension/print"))
    too_many = receive_permit(deployed)
    bad = client.post(f"/counter/dossiers/{too_many}/extend",
                      data={"csrf_token": token, "reason": "x", "extra_days": "90"})
    assert bad.status_code == 400 and "không quá 60" in page(bad)


def test_return_with_rating_after_the_dossier_is_ready(deployed):
    code = receive_permit(deployed)
    client, token = clerk(deployed)
    early = client.post(f"/counter/dossiers/{code}/return", data={"csrf_token": token, "rating": "5"})
    assert early.status_code == 409 and "Đang giải quyết" in page(early)
    drive(deployed, code, PERMIT_HAPPY)
    assert dossier(deployed, code).status == DossierStatus.AWAITING_RETURN
    listing = page(client.get("/counter/"))
    assert code in listing and "Trả kết quả" in listing
    assert re.search(rf'href="(/counter)?/dossiers/{re.escape(code)}"', listing)
    detail = page(client.get(f"/counter/dossiers/{code}"))
    assert "Rất hài lòng" in detail and "Rất không hài lòng" in detail
    bad = client.post(f"/counter/dossiers/{code}/return", data={"csrf_token": token, "rating": "7"})
    assert bad.status_code == 400 and 'id="rating-error"' in page(bad)
    response = client.post(f"/counter/dossiers/{code}/return", data={"csrf_token": token, "rating": "4"})
    assert response.status_code == 302
    d = dossier(deployed, code)
    assert d.status == DossierStatus.RETURNED and d.rating == 4
    after = page(client.get(f"/counter/dossiers/{code}"))
    assert "Đã trả kết quả" in after and "Hài lòng" in after
    assert code not in page(client.get("/counter/"))


def test_return_without_rating(deployed):
    code = receive_permit(deployed)
    drive(deployed, code, PERMIT_HAPPY)
    client, token = clerk(deployed)
    assert client.post(f"/counter/dossiers/{code}/return", data={"csrf_token": token, "rating": ""}).status_code == 302
    d = dossier(deployed, code)
    assert d.status == DossierStatus.RETURNED and d.rating is None


def test_withdrawal(deployed):
    code = receive_permit(deployed)
    client, token = clerk(deployed)
    response = client.post(f"/counter/dossiers/{code}/withdraw",
                           data={"csrf_token": token, "reason": "Công dân đổi ý"})
    assert response.status_code == 302
    assert dossier(deployed, code).status == DossierStatus.WITHDRAWN
    html = page(client.get(response.headers["Location"]))
    assert "Đã ghi nhận công dân rút hồ sơ" in html and "Công dân đổi ý" in html and "Hồ sơ đã kết thúc" in html
    again = client.post(f"/counter/dossiers/{code}/withdraw", data={"csrf_token": token})
    assert again.status_code == 409


def test_oversized_upload_is_a_clear_413(deployed, tmp_path):
    from engine.context import Context
    from engine.settings import Settings

    small = Context(db=deployed.db, clock=deployed.clock,
                    settings=Settings(database_url=deployed.settings.database_url, instance_dir=tmp_path,
                                      upload_limit_bytes=1024 * 1024))
    client = signed_in(small, "hk.motcua")
    data = permit_form(small, client, file_0=(io.BytesIO(b"%PDF-" + b"0" * (2 * 1024 * 1024)), "lon.pdf"))
    response = post_receipt(client, data)
    assert response.status_code == 413 and "vượt quá giới hạn 1 MB" in page(response)
    assert nothing_saved(small)


# ------------------------------------------------------------------ the queries


def test_counter_lists_are_per_unit_paginated_and_soonest_due_first(deployed):
    codes = [receive_permit(deployed) for _ in range(3)]
    other = receive_permit(deployed, district_index=1)
    with deployed.db.reading() as session:
        unit = person(session, "hk.motcua").unit_id
        first = counter_dossiers(session, unit, DossierStatus.PROCESSING, page=1, per_page=2)
        second = counter_dossiers(session, unit, DossierStatus.PROCESSING, page=2, per_page=2)
        beyond = counter_dossiers(session, unit, DossierStatus.PROCESSING, page=99, per_page=2)
        assert (first.total, first.pages, first.has_next, second.has_prev) == (3, 2, True, True)
        assert [d.code for d in first.items + second.items] == codes and other not in codes
        assert beyond.page == 2
        assert [v.procedure.code for v in procedures_in_effect(session, deployed.clock.now())] == sorted(
            ["XD-GPXD-01", "HKD-DK-01", "HT-KS-01", "DD-GCN-01", "PAKN-01"])


@pytest.mark.parametrize(("procedure", "expected"), [
    ("XD-GPXD-01", {"HK": True, "HANGBAC": True, "HANGTRONG": True}),
    ("DD-GCN-01", {"HK": False, "HANGBAC": True, "HANGTRONG": True}),
    ("HT-KS-01", {"HK": False, "HANGBAC": True, "HANGTRONG": True}),
])
def test_receivable_jurisdictions_follow_lane_resolution(deployed, procedure, expected):
    with deployed.db.reading() as session:
        clerk_user = person(session, "hk.motcua")
        compiled = compiled_version(deployed, version_in_effect(session, procedure, deployed.clock.now()))
        used = {s.lane for s in compiled.steps.values() if s.lane}
        rows = receivable_jurisdictions(session, clerk_user.unit.jurisdiction_id,
                                        [compiled.lanes[n] for n in used])
        assert {j.code: ok for j, _depth, ok in rows} == expected
        assert [depth for _j, depth, _ok in rows] == [0, 1, 1]
        assert session.scalar(select(Unit.code).where(Unit.id == clerk_user.unit_id)) == "H26.38.01"


def test_qr_code_is_inline_svg_of_the_lookup_link():
    link = lookup_url("https://motcua.hanoi.gov.vn/", "H26.38.01-260302-0001")
    assert link == "https://motcua.hanoi.gov.vn/tra-cuu?ma=H26.38.01-260302-0001"
    svg = str(qr_svg(link, size_mm=30))
    assert svg.startswith("<svg") and 'width="30mm"' in svg and "<path" in svg and "<?xml" not in svg
