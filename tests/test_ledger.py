"""The counter's ledger: one line per dossier, the same on the page, in Excel and in CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import pytest
from openpyxl import load_workbook

from engine import ledger
from engine.indicators import ReportFilter
from tests.lifecycle_helpers import person
from tests.test_indicators import build_fixture
from tests.web_helpers import app_for, signed_in

PERIOD = "from=01/03/2026&to=31/03/2026"


@pytest.fixture
def fixture(deployed, clock):
    return build_fixture(deployed, clock)


def test_the_ledger_lists_every_dossier_of_the_counter_in_order(deployed, fixture):
    with deployed.db.reading() as session:
        clerk = person(session, "hk.motcua")
        page = ledger.page(session, clerk, ReportFilter(date(2026, 3, 1), date(2026, 3, 31), clerk.unit_id))
    assert page.total == 10
    assert [line.code for line in page.lines] == [fixture[f"D{i}"] for i in range(1, 11)]
    assert page.by_status == {"returned": 3, "awaiting_return": 3, "awaiting_supplement": 1, "processing": 1,
                              "refused": 1, "withdrawn": 1}
    lines = {line.code: line for line in page.lines}
    first = lines[fixture["D1"]]
    assert first.number == 1 and first.applicant == "Trần Văn Bình"
    assert first.handed_to == "Phòng Quản lý đô thị quận Hoàn Kiếm" and first.handed_at is not None
    assert first.returned_at is not None and first.timing == "early"
    assert lines[fixture["D5"]].timing == "late"  # two supplement requests
    assert lines[fixture["D6"]].timing == "late"  # finished after the original date
    assert lines[fixture["D9"]].timing is None and lines[fixture["D9"]].returned_at is None


def test_paging_and_status_filter(deployed, fixture):
    with deployed.db.reading() as session:
        clerk = person(session, "hk.motcua")
        flt = ReportFilter(date(2026, 3, 1), date(2026, 3, 31), clerk.unit_id)
        second = ledger.page(session, clerk, flt, page=2, per_page=4)
        returned = ledger.page(session, clerk, ReportFilter(flt.date_from, flt.date_to, clerk.unit_id,
                                                            status="returned"))
    assert second.pages == 3 and [line.number for line in second.lines] == [5, 6, 7, 8]
    assert {line.code for line in returned.lines} == {fixture["D1"], fixture["D2"], fixture["D10"]}


def _page_codes(html: str) -> list[str]:
    table = html.split('id="ledger-table"', 1)[1].split("</table>", 1)[0]
    return re.findall(r'href="/dossiers/([^"]+)"', table)


def test_excel_export_matches_the_page(deployed, fixture):
    client = signed_in(deployed, "hk.motcua")
    page = client.get(f"/reports/ledger?{PERIOD}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    codes = _page_codes(html)
    assert codes == [fixture[f"D{i}"] for i in range(1, 11)]
    response = client.get(f"/reports/ledger.xlsx?{PERIOD}")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Sổ theo dõi hồ sơ Bộ phận Một cửa quận Hoàn Kiếm"
    assert rows[2][:3] == ("STT", "Mã hồ sơ", "Người nộp")
    body = rows[3:]
    assert [r[1] for r in body] == codes
    assert [r[0] for r in body] == list(range(1, 11))
    by_code = {r[1]: r for r in body}
    assert by_code[fixture["D1"]][4] == "09:00 02/03/2026"
    assert by_code[fixture["D5"]][10] == "Quá hạn" and by_code[fixture["D1"]][10] == "Trước hạn"
    assert by_code[fixture["D7"]][9] == "Từ chối"
    for code, row in by_code.items():  # every cell of the page's row appears in the sheet's row
        assert row[2] in html and code in html


def test_csv_export_has_a_bom_and_the_same_lines(deployed, fixture):
    client = signed_in(deployed, "hk.motcua")
    response = client.get(f"/reports/ledger.csv?{PERIOD}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:2] == ["STT", "Mã hồ sơ"]
    assert [r[1] for r in rows[1:]] == [fixture[f"D{i}"] for i in range(1, 11)]
    assert "Trần Văn Bình" in rows[1]


def test_printable_ledger_and_bad_dates(deployed, fixture):
    client = signed_in(deployed, "hk.motcua")
    printed = client.get(f"/reports/ledger?{PERIOD}&print=1").get_data(as_text=True)
    assert "SỔ THEO DÕI HỒ SƠ" in printed and fixture["D10"] in printed and "@page" in printed
    bad = client.get("/reports/ledger?from=32/13/2026")
    assert bad.status_code == 200
    assert "Ngày không hợp lệ" in bad.get_data(as_text=True)


def test_a_clerk_sees_only_the_own_counter(deployed, fixture):
    app = app_for(deployed)
    other = signed_in(deployed, "bd.motcua", app)
    html = other.get(f"/reports/ledger?{PERIOD}").get_data(as_text=True)
    assert fixture["D1"] not in html
    with deployed.db.reading() as session:
        hk_counter = person(session, "hk.motcua").unit_id
    assert other.get(f"/reports/ledger?{PERIOD}&unit={hk_counter}").status_code == 404
    assert other.get(f"/reports/ledger.xlsx?{PERIOD}&unit={hk_counter}").status_code == 404
