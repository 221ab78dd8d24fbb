"""The English interface: every Vietnamese msgid has an English text, and the pages use it.

Vietnamese stays the default; ``/lang/en`` switches a session to English. The
catalog is compiled here when the ``.mo`` is missing or older than the ``.po``
(``make translations`` does it at install), so this file passes from a fresh clone.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from engine.lifecycle import get_dossier, request_supplement
from tests.helpers import APPLICANT, clerk_of, district, receive_permit
from tests.web_helpers import app_for, csrf_token, signed_in

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "web" / "translations"
PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
# The keywords web/*.py uses besides Babel's defaults (_, gettext, ngettext, N_...): see babel.cfg.
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def read_catalog() -> Catalog:
    with PO.open("rb") as f:
        return read_po(f, locale="en")


def compile_catalog() -> None:
    """Write messages.mo from messages.po unless an up-to-date one is there (atomic: safe under xdist)."""
    if MO.exists() and MO.stat().st_mtime >= PO.stat().st_mtime:
        return
    catalog = read_catalog()
    fd, tmp = tempfile.mkstemp(dir=MO.parent, suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write_mo(f, catalog)
        os.replace(tmp, MO)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@pytest.fixture(scope="module", autouse=True)
def _compiled_catalog():
    compile_catalog()


def english(client):
    response = client.get("/lang/en?next=/")
    assert response.status_code == 302
    return client


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def assert_english(page: str, shown: tuple[str, ...], gone: tuple[str, ...]) -> None:
    for text in shown:
        assert text in page, f"missing English text {text!r}"
    for text in gone:
        assert text not in page, f"Vietnamese label left: {text!r}"


class _Texts(HTMLParser):
    """Text nodes and the attributes people read (placeholder, title, aria-label) of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: set[str] = set()
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("placeholder", "title", "aria-label") and value:
                self.texts.add(" ".join(value.split()))

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        text = " ".join(data.split())
        if text and not self._skip:
            self.texts.add(text)


def untranslated_labels(page: str) -> list[str]:
    """Text nodes of ``page`` that are exactly a Vietnamese msgid (placeholders matching anything)."""
    parser = _Texts()
    parser.feed(page)
    found = []
    for message in read_catalog():
        if not message.id or len(message.id) < 3:
            continue
        pattern = re.compile(".+".join(re.escape(part) for part in PLACEHOLDER.split(message.id)[::2]))
        found += [text for text in parser.texts if pattern.fullmatch(text.rstrip(":").strip())]
    return sorted(set(found))


# ------------------------------------------------------------------ catalog


def test_every_msgid_in_the_source_has_an_english_text(tmp_path):
    """Re-extract web/ as babel.cfg says; each msgid must be translated in en/messages.po."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, filename=str(ROOT / "babel.cfg"))
    template = Catalog(project="motcua")
    for filename, lineno, message, comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    pot = tmp_path / "messages.pot"
    with pot.open("wb") as f:
        write_po(f, template)
    with pot.open("rb") as f:
        extracted = [m for m in read_po(f) if m.id]
    assert len(extracted) > 400, "extraction found too little: is babel.cfg still right?"

    catalog = read_catalog()
    missing = [m.id for m in extracted if catalog.get(m.id, context=m.context) is None]
    empty = [m.id for m in extracted if (t := catalog.get(m.id, context=m.context)) is not None
             and not (all(t.string) if isinstance(t.string, tuple) else t.string)]
    fuzzy = [m.id for m in extracted if (t := catalog.get(m.id, context=m.context)) is not None and t.fuzzy]
    assert not missing, f"not in en/messages.po (extract, then pybabel update): {missing}"
    assert not empty, f"no English text: {empty}"
    assert not fuzzy, f"fuzzy, to review: {fuzzy}"


def test_the_catalog_is_clean_and_keeps_every_placeholder():
    catalog = read_catalog()
    assert not catalog.fuzzy
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert not problems
    for message in catalog:
        if message.id:
            assert message.string and not message.fuzzy, message.id
            assert sorted(PLACEHOLDER.findall(message.id)) == sorted(PLACEHOLDER.findall(message.string)), message.id


def test_the_lookup_status_texts_from_the_engine_are_translated():
    """engine/lookup.py's texts are outside babel.cfg but shown through _(view.status_text)."""
    from engine.lookup import STATUS_TEXT

    catalog = read_catalog()
    for text in STATUS_TEXT.values():
        assert catalog.get(text) is not None and catalog.get(text).string, text


def test_the_compiled_catalog_is_the_one_the_app_uses():
    from babel.support import Translations

    translations = Translations.load(str(TRANSLATIONS), ["en"], "messages")
    assert translations.gettext("Tiếp nhận và trả kết quả") == "Receipt and return"
    assert translations.gettext("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM") == "SOCIALIST REPUBLIC OF VIET NAM"


# ------------------------------------------------------------------ pages


def test_vietnamese_is_the_default_and_the_switch_goes_both_ways(org):
    client = app_for(org).test_client()
    page = text_of(client.get("/login"))
    assert '<html lang="vi">' in page and "Đăng nhập hệ thống" in page and "Tên đăng nhập" in page
    assert "Sign in to the system" not in page and ">English</a>" in page

    english(client)
    page = text_of(client.get("/login"))
    assert "Sign in to the system" in page and ">Tiếng Việt</a>" in page

    client.get("/lang/vi?next=/login")
    page = text_of(client.get("/login"))
    assert '<html lang="vi">' in page and "Đăng nhập hệ thống" in page

    fresh = app_for(org).test_client()  # another browser keeps the default
    assert "Đăng nhập hệ thống" in text_of(fresh.get("/login"))


def test_login_page_in_english(org):
    client = english(app_for(org).test_client())
    page = text_of(client.get("/login"))
    assert_english(page, ("Sign in to the system", "Username", "Password", "Sign in", "Dossier lookup",
                          "Electronic One-Stop Shop"),
                   ("Đăng nhập", "Tên đăng nhập", "Mật khẩu", "Tra cứu hồ sơ", "Một cửa điện tử"))
    assert untranslated_labels(page) == []

    assert '<html lang="en">' in page

    failed = client.post("/login", data={"username": "hk.motcua", "password": "sai",
                                          "csrf_token": csrf_token(client)})
    assert failed.status_code == 401 and "Incorrect username or password." in text_of(failed)


def test_counter_page_in_english(deployed):
    receive_permit(deployed)
    client = english(signed_in(deployed, "hk.motcua"))
    response = client.get("/", follow_redirects=True)
    assert response.request.path == "/counter/"
    page = text_of(response)
    assert_english(page, ("Receipt and return", "Receive a new dossier", "Awaiting return",
                          "Awaiting supplement from citizen", "No dossier is awaiting return.", "Receive",
                          "Find dossiers", "Dossier lookup", "Change password", "Sign out", "working day(s)"),
                   ("Tiếp nhận và trả kết quả", "Tiếp nhận hồ sơ mới", "Chờ trả kết quả", "Chờ công dân bổ sung",
                    "Tìm hồ sơ", "Tra cứu hồ sơ", "Đổi mật khẩu", "Đăng xuất", "ngày làm việc"))
    assert '<html lang="en">' in page and untranslated_labels(page) == []


def test_counter_dossier_and_receipt_in_english(deployed):
    code = receive_permit(deployed)
    client = english(signed_in(deployed, "hk.motcua"))
    page = text_of(client.get(f"/counter/dossiers/{code}"))
    assert code in page and APPLICANT["name"] in page
    assert_english(page, ("Dossier details", "Submitted documents", "Print receipt (Form 01)",
                          "Request a dossier supplement", "Refuse the dossier", "Citizen withdraws the dossier",
                          "In progress", "Refuse this dossier? This cannot be undone."),
                   ("Thông tin hồ sơ", "Giấy tờ đã nộp", "In giấy tiếp nhận", "Từ chối hồ sơ", "Đang giải quyết"))
    assert untranslated_labels(page) == []

    receipt = text_of(client.get(f"/counter/dossiers/{code}/receipt"))
    assert_english(receipt, ("RECEIPT AND APPOINTMENT SLIP", "SOCIALIST REPUBLIC OF VIET NAM",
                             "Independence - Freedom - Happiness", "Form No. 01", "Copy 1: for the applicant",
                             "PEOPLE'S COMMITTEE OF"),
                   ("GIẤY TIẾP NHẬN HỒ SƠ", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc",
                    '"f-form-no">Mẫu số 01', "Liên 1", "UBND"))
    assert untranslated_labels(receipt) == []


def test_inbox_in_english(deployed):
    code = receive_permit(deployed)
    client = english(signed_in(deployed, "hk.qldt.cv"))
    response = client.get("/", follow_redirects=True)
    assert response.request.path == "/inbox/"
    page = text_of(response)
    assert code in page
    assert_english(page, ("Dossiers to process", "Dossier code", "Procedure", "Applicant", "Step", "Deadline",
                          "Time left", "Handled by", "Claim", "Unclaimed", "Overdue", "Filter", "8 d"),
                   ("Hồ sơ cần xử lý", "Mã hồ sơ", "Thời gian còn lại", "Người xử lý", "Nhận xử lý",
                    "Chưa có người nhận", "Quá hạn", "8 ngày"))
    assert untranslated_labels(page) == []


def test_dossier_page_in_english(deployed):
    code = receive_permit(deployed)
    page = text_of(english(signed_in(deployed, "hk.qldt.cv")).get(f"/dossiers/{code}"))
    assert code in page and "Thẩm định hồ sơ" in page  # the step's name is data: it stays Vietnamese
    assert_english(page, ("General information", "Steps in progress", "Dossier routing", "Processing log",
                          "Pauses and supplement requests", "Control slip (Form 05)", "Receive dossier",
                          "Processing", "In person"),
                   ("Thông tin chung", "Bước đang xử lý", "Quá trình luân chuyển hồ sơ", "Nhật ký xử lý",
                    "Phiếu kiểm soát", "Tiếp nhận hồ sơ", "Đang xử lý", "Trực tiếp"))
    assert untranslated_labels(page) == []


def test_public_lookup_in_english(deployed):
    code = receive_permit(deployed)
    with deployed.db.transaction() as session:
        request_supplement(deployed, session, get_dossier(session, code), clerk_of(session, district(session)),
                           reason="Thiếu bản vẽ", missing=["Bản vẽ mặt bằng có chữ ký"])
    client = english(app_for(deployed).test_client())
    empty = text_of(client.get("/tra-cuu"))
    assert_english(empty, ("Check the status of a dossier", "Last 4 digits of phone", "Look up"),
                   ("Tra cứu tình trạng hồ sơ", "4 số cuối điện thoại", "Mã hồ sơ"))
    assert untranslated_labels(empty) == []

    page = text_of(client.get("/tra-cuu", query_string={"ma": code, "sdt": "5678"}))
    assert code in page and "Bản vẽ mặt bằng có chữ ký" in page
    assert_english(page, ("Status", "Waiting for the citizen to supplement the dossier", "Date received",
                          "Appointed return date", "To supplement", "Where to collect the result"),
                   ("Tình trạng", "Đang chờ công dân bổ sung hồ sơ", "Ngày tiếp nhận", "Cần bổ sung"))
    assert untranslated_labels(page) == []

    unknown = text_of(client.get("/tra-cuu", query_string={"ma": "H26.38.01-000000-9999", "sdt": "5678"}))
    assert "No dossier matches the code and phone number entered." in unknown


def test_status_and_error_pages_in_english(deployed):
    client = english(app_for(deployed).test_client())
    status = text_of(client.get("/status"))
    assert "System status" in status and "The system is running normally." in status
    assert "Tình trạng hệ thống" not in status and "Hệ thống đang hoạt động" not in status

    signed = english(signed_in(deployed, "hk.motcua"))
    missing = signed.get("/counter/dossiers/H26.38.01-000000-9999")
    assert missing.status_code == 404
    assert "Not found" in text_of(missing) and "Không tìm thấy" not in text_of(missing)


def test_the_unexpected_error_page_in_english(deployed):
    app = app_for(deployed)

    def boom():
        raise RuntimeError("boom")

    app.add_url_rule("/boom", "boom", boom)
    client = app.test_client()
    assert "Hệ thống gặp lỗi ngoài dự kiến" in text_of(client.get("/boom"))
    page = text_of(english(client).get("/boom"))
    assert "System error" in page and "The system hit an unexpected error" in page
    assert "Hệ thống gặp lỗi" not in page and "Lỗi hệ thống" not in page
