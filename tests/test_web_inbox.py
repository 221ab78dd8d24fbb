"""The department inbox and the task page: who sees what, deadlines, filters, claiming, completing."""

from __future__ import annotations

import re

from sqlalchemy import event, select

from engine.errors import Problem
from engine.forms import FieldDef
from engine.models import Dossier, Event, Task, TaskState
from engine.receipt import receive
from engine.tasks import claim
from tests.conftest import vn
from tests.helpers import APPLICANT, PERMIT_HAPPY, do_step, dossier, open_tasks, receive_permit
from tests.lifecycle_helpers import person
from tests.web_helpers import app_for, csrf_token, signed_in
from web import formfields

ROW_RE = re.compile(r'<tr class="([^"]*)" data-task="(\d+)">')
VERSION_RE = re.compile(r'name="expected_version" value="(\d+)"')


def rows(page: str) -> dict[int, str]:
    """task id -> the row's CSS class, for every row of the inbox table."""
    return {int(task_id): css for css, task_id in ROW_RE.findall(page)}


def task_page(client, task_id: int) -> tuple[str, str, int]:
    """The task page's HTML, its CSRF token and the dossier version it was drawn with."""
    page = client.get(f"/inbox/tasks/{task_id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    return page, token, int(VERSION_RE.search(page).group(1))


def submit(client, task_id: int, data: dict, *, version: int | None = None, follow: bool = False):
    _page, token, drawn = task_page(client, task_id)
    form = {"csrf_token": token, "expected_version": str(drawn if version is None else version),
            "submit": "complete", **data}
    return client.post(f"/inbox/tasks/{task_id}", data=form, follow_redirects=follow)


def only_task(ctx, code: str) -> Task:
    tasks = open_tasks(ctx, code)
    assert len(tasks) == 1, tasks
    return tasks[0]


# ----------------------------------------------------------------- the list


def test_inbox_shows_a_received_dossier_to_its_unit_and_not_to_another_district(deployed):
    code = receive_permit(deployed)
    task = only_task(deployed, code)
    app = app_for(deployed)
    page = signed_in(deployed, "hk.qldt.cv", app).get("/inbox/")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Hồ sơ cần xử lý" in body and code in body and APPLICANT["name"] in body
    assert "Thẩm định hồ sơ" in body and "Cấp giấy phép xây dựng" in body
    for header in ("Mã hồ sơ", "Thủ tục", "Người nộp", "Bước", "Ngày nhận", "Hạn xử lý", "Thời gian còn lại",
                   "Người xử lý"):
        assert f">{header}</th>" in body
    assert "02/03/2026" in body and "09:00" in body  # received Monday 2 March 2026, 09:00
    assert "8 ngày" in body  # the appraisal step has 8 working days
    assert task.id in rows(body)

    other = signed_in(deployed, "bd.qldt.cv", app).get("/inbox/").get_data(as_text=True)
    assert code not in other and APPLICANT["name"] not in other
    assert "Đơn vị không có hồ sơ nào đang chờ xử lý" in other


def test_the_counter_clerk_has_no_inbox(deployed):
    assert signed_in(deployed, "hk.motcua").get("/inbox/").status_code == 403
    assert app_for(deployed).test_client().get("/inbox/").status_code == 302  # signed out: to the login page


def test_overdue_rows_are_red_and_rows_due_within_a_working_day_amber(deployed, clock):
    code = receive_permit(deployed)
    task = only_task(deployed, code)  # due 8 working days later: Thursday 12 March, 09:00
    client = signed_in(deployed, "hk.qldt.cv")

    assert rows(client.get("/inbox/").get_data(as_text=True))[task.id] == ""

    clock.set(vn(2026, 3, 11, 10, 0))  # 7 working hours left
    body = client.get("/inbox/").get_data(as_text=True)
    assert rows(body)[task.id] == "row-soon" and "7 giờ" in body

    clock.set(vn(2026, 3, 13, 10, 0))  # Thursday 09:00-17:00 and Friday 08:00-10:00 past the due moment
    body = client.get("/inbox/").get_data(as_text=True)
    assert rows(body)[task.id] == "row-overdue"
    assert "Quá hạn 1 ngày 1 giờ" in body


def test_filters_search_and_pagination(deployed):
    codes = [receive_permit(deployed, applicant={**APPLICANT, "name": f"Người Nộp Số {i:02d}"}) for i in range(30)]
    client = signed_in(deployed, "hk.qldt.cv")

    first = client.get("/inbox/").get_data(as_text=True)
    assert len(rows(first)) == 25 and "Trang 1/2" in first and "tổng số 30" in first
    second = client.get("/inbox/?page=2").get_data(as_text=True)
    assert len(rows(second)) == 5 and "Trang 2/2" in second
    assert not set(rows(first)) & set(rows(second))
    assert len(rows(client.get("/inbox/?page=99").get_data(as_text=True))) == 5  # past the end: the last page

    by_name = client.get("/inbox/?q=Nộp Số 07").get_data(as_text=True)
    assert len(rows(by_name)) == 1 and "Người Nộp Số 07" in by_name
    by_code = client.get(f"/inbox/?q={codes[12]}").get_data(as_text=True)
    assert len(rows(by_code)) == 1 and codes[12] in by_code
    assert "Không có bước nào khớp" in client.get("/inbox/?q=100%").get_data(as_text=True)  # % is not a wildcard

    assert len(rows(client.get("/inbox/?procedure=XD-GPXD-01").get_data(as_text=True))) == 25
    assert rows(client.get("/inbox/?procedure=HKD-DK-01").get_data(as_text=True)) == {}

    mine = only_task(deployed, codes[3])
    token = csrf_token(client, "/inbox/")
    assert client.post(f"/inbox/tasks/{mine.id}/claim", data={"csrf_token": token}).status_code == 302
    assert list(rows(client.get("/inbox/?status=mine").get_data(as_text=True))) == [mine.id]
    unclaimed = client.get("/inbox/?status=unclaimed").get_data(as_text=True)
    assert "tổng số 29" in unclaimed and mine.id not in rows(unclaimed)
    assert rows(client.get("/inbox/?status=overdue").get_data(as_text=True)) == {}


def test_overdue_filter_and_htmx_partial(deployed, clock):
    early = receive_permit(deployed)
    clock.set(vn(2026, 3, 5, 9, 0))
    late_comer = receive_permit(deployed)
    clock.set(vn(2026, 3, 13, 9, 0))  # past the first dossier's step, not the second's
    client = signed_in(deployed, "hk.qldt.cv")
    overdue = client.get("/inbox/?status=overdue").get_data(as_text=True)
    assert early in overdue and late_comer not in overdue

    partial = client.get("/inbox/?q=" + late_comer, headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in partial and 'id="inbox-table"' in partial and late_comer in partial
    full = client.get("/inbox/").get_data(as_text=True)
    assert 'hx-get="/inbox/"' in full and 'hx-target="#inbox-results"' in full  # filters update the table in place


# ----------------------------------------------------------------- claim and release


def test_claim_then_the_task_page_then_release(deployed):
    code = receive_permit(deployed)
    task = only_task(deployed, code)
    client = signed_in(deployed, "hk.qldt.cv")
    token = csrf_token(client, "/inbox/")

    assert client.post(f"/inbox/tasks/{task.id}/claim").status_code == 400  # no CSRF token
    response = client.post(f"/inbox/tasks/{task.id}/claim", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/inbox/tasks/{task.id}")
    page = client.get(f"/inbox/tasks/{task.id}").get_data(as_text=True)
    assert "Bạn đang xử lý bước này" in page and code in page and APPLICANT["name"] in page
    assert "Bùi Văn Toàn" in page  # the stint is signed for by the one who claimed it
    assert "<strong>Tôi</strong>" in client.get("/inbox/").get_data(as_text=True)

    colleague = signed_in(deployed, "hk.qldt.ld")
    assert "Đang do Bùi Văn Toàn xử lý" in colleague.get(f"/inbox/tasks/{task.id}").get_data(as_text=True)
    response = colleague.post(f"/inbox/tasks/{task.id}/claim", data={"csrf_token": csrf_token(colleague, "/inbox/")},
                              follow_redirects=True)
    assert "vừa được người khác nhận trước" in response.get_data(as_text=True)

    response = client.post(f"/inbox/tasks/{task.id}/release", data={"csrf_token": token}, follow_redirects=True)
    assert "Đã trả bước" in response.get_data(as_text=True)
    assert only_task(deployed, code).claimed_by_id is None


# ----------------------------------------------------------------- the step form


def test_the_form_draws_each_declared_field_type(deployed):
    code = receive_permit(deployed)
    task = only_task(deployed, code)
    page, _token, version = task_page(signed_in(deployed, "hk.qldt.cv"), task.id)
    assert version == dossier(deployed, code).version
    assert re.search(r'<input[^>]*type="text" name="dia_diem_xay_dung"', page)
    assert re.search(r'<input[^>]*type="number" name="dien_tich_xay_dung"[^>]*step="any"', page, re.S)
    assert re.search(r'<input[^>]*type="number" name="so_tang"[^>]*step="1"', page, re.S)
    assert re.search(r'<input[^>]*type="radio" name="hop_le"[^>]*value="true"', page)
    assert re.search(r'<input[^>]*type="radio" name="hop_le"[^>]*value="false"', page)
    assert re.search(r'<textarea[^>]*name="ghi_chu"', page)
    assert "Diện tích xây dựng tầng 1 (m²)" in page and "Có" in page and "Không" in page


def test_completing_the_form_moves_the_dossier_on_to_the_leadership(deployed):
    code = receive_permit(deployed)
    app = app_for(deployed)
    specialist = signed_in(deployed, "hk.qldt.cv", app)
    appraisal = only_task(deployed, code)
    specialist.post(f"/inbox/tasks/{appraisal.id}/claim", data={"csrf_token": csrf_token(specialist, "/inbox/")})

    response = submit(specialist, appraisal.id, {
        "dia_diem_xay_dung": "12 Hàng Bạc", "dien_tich_xay_dung": "120,5", "so_tang": "4",
        "hop_le": "true", "can_kiem_tra": "false", "ghi_chu": "Đủ điều kiện",
    })
    assert response.status_code == 302 and response.headers["Location"].endswith("/inbox/")
    inbox = specialist.get("/inbox/").get_data(as_text=True)
    assert "Đã hoàn thành bước «Thẩm định hồ sơ»" in inbox and "Phòng Quản lý đô thị" in inbox
    d = dossier(deployed, code)
    assert d.data["so_tang"] == 4 and d.data["dien_tich_xay_dung"] == 120.5 and d.data["can_kiem_tra"] is False

    draft = only_task(deployed, code)
    assert draft.step == "Task_DuThaoGiayPhep"
    assert submit(specialist, draft.id, {"so_giay_phep": "45/GPXD"}).status_code == 302

    approval = only_task(deployed, code)
    assert approval.step == "Task_PheDuyet"
    leader_inbox = signed_in(deployed, "hk.lanhdao", app).get("/inbox/").get_data(as_text=True)
    assert code in leader_inbox and "Phê duyệt, ký giấy phép" in leader_inbox and approval.id in rows(leader_inbox)
    specialist.get("/inbox/")  # the confirmation shown once
    assert code not in specialist.get("/inbox/").get_data(as_text=True)

    # The leader's task page shows what the earlier steps recorded.
    page, _token, _version = task_page(signed_in(deployed, "hk.lanhdao", app), approval.id)
    assert "Kết quả các bước trước" in page and "45/GPXD" in page and "Đủ điều kiện" in page


def test_an_invalid_form_is_answered_400_with_messages_next_to_the_fields_and_nothing_changes(deployed):
    code = receive_permit(deployed)
    task = only_task(deployed, code)
    before = dossier(deployed, code)
    with deployed.db.reading() as session:
        events_before = len(session.scalars(select(Event).join(Dossier).where(Dossier.code == code)).all())
    client = signed_in(deployed, "hk.qldt.cv")

    response = submit(client, task.id, {"so_tang": "abc", "dien_tich_xay_dung": "nhiều", "can_kiem_tra": "true",
                                        "dia_diem_xay_dung": "Số 5 Đinh Liệt"})
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "Biểu mẫu chưa hợp lệ" in body
    so_tang = body[body.index('id="field-so_tang-group"'):body.index('id="field-hop_le-group"')]
    assert "Phải là số nguyên" in so_tang and 'value="abc"' in so_tang and "is-invalid" in so_tang
    assert "Phải là một số" in body
    hop_le = body[body.index('id="field-hop_le-group"'):body.index('id="field-can_kiem_tra-group"')]
    assert "Xin chọn Có hoặc Không" in hop_le
    assert 'value="Số 5 Đinh Liệt"' in body  # what was typed is kept
    assert re.search(r'name="can_kiem_tra"[^>]*value="true"\s*checked', body)

    after = dossier(deployed, code)
    assert after.version == before.version and after.data == before.data
    assert [(t.id, t.state) for t in open_tasks(deployed, code)] == [(task.id, TaskState.OPEN)]
    with deployed.db.reading() as session:
        assert len(session.scalars(select(Event).join(Dossier).where(Dossier.code == code)).all()) == events_before


def test_a_missing_required_text_and_an_undeclared_key_are_refused(deployed):
    code = receive_permit(deployed)
    do_step(deployed, code, "Task_ThamDinh", {"hop_le": True, "can_kiem_tra": False})
    draft = only_task(deployed, code)
    client = signed_in(deployed, "hk.qldt.cv")
    response = submit(client, draft.id, {"so_giay_phep": "  "})
    assert response.status_code == 400 and "Trường này bắt buộc" in response.get_data(as_text=True)
    response = submit(client, draft.id, {"so_giay_phep": "1/GPXD", "phe_duyet": "true"})
    assert response.status_code == 400 and "không thuộc bước này" in response.get_data(as_text=True)
    assert only_task(deployed, code).id == draft.id


def test_a_stale_page_gets_a_409_with_a_reload_link(deployed):
    code = receive_permit(deployed)
    task = only_task(deployed, code)
    version = dossier(deployed, code).version
    client = signed_in(deployed, "hk.qldt.cv")
    response = submit(client, task.id, {"hop_le": "true", "can_kiem_tra": "true"}, version=version - 1)
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "Hồ sơ đã được người khác cập nhật" in body and f'href="/inbox/tasks/{task.id}"' in body
    assert only_task(deployed, code).id == task.id and dossier(deployed, code).version == version


def test_two_people_on_one_step_the_second_gets_the_conflict_message(deployed):
    code = receive_permit(deployed)
    task = only_task(deployed, code)
    app = app_for(deployed)
    first, second = signed_in(deployed, "hk.qldt.cv", app), signed_in(deployed, "hk.qldt.ld", app)
    _page, token, version = task_page(second, task.id)  # the leader opens the page too
    assert submit(first, task.id, {"hop_le": "true", "can_kiem_tra": "true"}).status_code == 302
    response = second.post(f"/inbox/tasks/{task.id}", data={
        "csrf_token": token, "expected_version": str(version), "hop_le": "false", "can_kiem_tra": "false"})
    assert response.status_code == 409 and "Hồ sơ đã được người khác cập nhật" in response.get_data(as_text=True)
    assert dossier(deployed, code).data["hop_le"] is True


def test_a_form_without_the_dossier_version_is_refused(deployed):
    code = receive_permit(deployed)
    task = only_task(deployed, code)
    client = signed_in(deployed, "hk.qldt.cv")
    _page, token, _version = task_page(client, task.id)
    response = client.post(f"/inbox/tasks/{task.id}", data={"csrf_token": token, "hop_le": "true",
                                                           "can_kiem_tra": "true"})
    assert response.status_code == 400 and only_task(deployed, code).id == task.id


def test_another_units_user_gets_no_task_page_and_cannot_act(deployed):
    code = receive_permit(deployed)
    task = only_task(deployed, code)
    app = app_for(deployed)
    for username in ("bd.qldt.cv", "hk.lanhdao", "hk.tckh.cv"):
        client = signed_in(deployed, username, app)
        page = client.get(f"/inbox/tasks/{task.id}")
        assert page.status_code in (403, 404), username
        body = page.get_data(as_text=True)
        assert APPLICANT["name"] not in body and code not in body
        token = csrf_token(client, "/inbox/")
        assert client.post(f"/inbox/tasks/{task.id}/claim", data={"csrf_token": token}).status_code in (403, 404)
        response = client.post(f"/inbox/tasks/{task.id}", data={
            "csrf_token": token, "expected_version": str(dossier(deployed, code).version),
            "hop_le": "true", "can_kiem_tra": "true"})
        assert response.status_code in (403, 404) and APPLICANT["name"] not in response.get_data(as_text=True)
    assert only_task(deployed, code).claimed_by_id is None and only_task(deployed, code).id == task.id
    assert signed_in(deployed, "hk.qldt.cv", app).get("/inbox/tasks/999999").status_code == 404


def test_a_finished_step_shows_read_only(deployed):
    code = receive_permit(deployed)
    task = only_task(deployed, code)
    do_step(deployed, code, "Task_ThamDinh", PERMIT_HAPPY["Task_ThamDinh"])
    page = signed_in(deployed, "hk.qldt.cv").get(f"/inbox/tasks/{task.id}").get_data(as_text=True)
    assert "Bước này đã kết thúc" in page and 'id="step-form"' not in page


def test_dates_written_dd_mm_yyyy_and_choices_on_the_birth_registration_form(deployed):
    with deployed.db.transaction() as session:
        code = receive(deployed, session, actor=person(session, "hangbac.motcua"), procedure_code="HT-KS-01",
                       applicant={**APPLICANT, "name": "Nguyễn Thị Hoa"}).code
    task = only_task(deployed, code)
    client = signed_in(deployed, "hangbac.tuphap")
    page, _token, _version = task_page(client, task.id)
    assert re.search(r'<input[^>]*type="date" name="ngay_sinh"', page)
    assert re.search(r'<select[^>]*name="gioi_tinh"', page) and ">Nữ</option>" in page

    child = {"ho_ten_tre": "Nguyễn Minh An", "gioi_tinh": "Nữ", "dan_toc": "Kinh", "quoc_tich": "Việt Nam",
             "noi_sinh": "Bệnh viện Phụ sản Hà Nội", "hop_le": "true"}
    wrong = submit(client, task.id, {**child, "ngay_sinh": "31/02/2026", "gioi_tinh": "Khác"})
    assert wrong.status_code == 400
    body = wrong.get_data(as_text=True)
    assert "Ngày này không có trên lịch" in body and "Xin chọn một trong các giá trị: Nam, Nữ" in body
    missing = submit(client, task.id, {**child, "ngay_sinh": "", "dan_toc": ""})
    assert missing.status_code == 400 and missing.get_data(as_text=True).count("Trường này bắt buộc") == 2

    assert submit(client, task.id, {**child, "ngay_sinh": "15/02/2026"}).status_code == 302
    assert dossier(deployed, code).data["ngay_sinh"] == "2026-02-15"
    history = signed_in(deployed, "hangbac.motcua").get(f"/dossiers/{code}").get_data(as_text=True)
    assert "Ngày, tháng, năm sinh: 15/02/2026" in history and "Giới tính: Nữ" in history


def test_form_field_helpers():
    born = FieldDef("ngay_sinh", "date", "Ngày sinh", required=True)
    count = FieldDef("so_tang", "integer", "Số tầng")
    flag = FieldDef("co_ham", "boolean", "Có tầng hầm")
    drawn = formfields.views([born, count, flag], submitted={"ngay_sinh": "5/3/2026", "so_tang": "abc"},
                             problems=[Problem("'Số tầng' must be a whole number", "so_tang")])
    assert drawn[0].value == "2026-03-05" and drawn[0].shown_date == "05/03/2026"
    assert drawn[1].errors == ("Phải là số nguyên, ví dụ: 3.",) and drawn[1].value == "abc"
    assert drawn[2].widget == "checkbox" and drawn[2].value == ""
    stored = formfields.views([born, flag], stored={"ngay_sinh": "2026-03-05", "co_ham": True})
    assert stored[0].value == "2026-03-05" and stored[1].value == "true"
    assert formfields.submitted_data({"csrf_token": "x", "expected_version": "3", "submit": "1", "a": "b"}) == {"a": "b"}
    assert formfields.message_for(Problem("something new")) == "something new"
    assert formfields.display_value("number", 12500000) == "12.500.000"
    assert formfields.display_value("number", 85.5) == "85,5"
    assert formfields.display_value("boolean", False) == "Không"


def test_the_inbox_page_costs_the_same_few_queries_whatever_its_length(deployed):
    client = signed_in(deployed, "hk.qldt.cv")
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    def queries_for_inbox() -> int:
        statements.clear()
        event.listen(deployed.db.engine, "before_cursor_execute", count)
        try:
            assert client.get("/inbox/").status_code == 200
        finally:
            event.remove(deployed.db.engine, "before_cursor_execute", count)
        return len(statements)

    receive_permit(deployed)
    with_one = queries_for_inbox()
    for _ in range(12):
        code = receive_permit(deployed)
        with deployed.db.transaction() as session:
            claim(deployed, session, only_task(deployed, code).id, person(session, "hk.qldt.ld"))
    assert queries_for_inbox() == with_one


def test_a_value_refused_as_too_long_is_not_sent_back_in_the_form(deployed):
    code = receive_permit(deployed)
    app = app_for(deployed)
    specialist = signed_in(deployed, "hk.qldt.cv", app)
    appraisal = only_task(deployed, code)
    huge = "x" * 200_000  # the text field's limit is 100,000 characters
    response = submit(specialist, appraisal.id, {
        "dia_diem_xay_dung": "12 Hàng Bạc", "dien_tich_xay_dung": "120", "so_tang": "4",
        "hop_le": "true", "can_kiem_tra": "false", "ghi_chu": huge,
    })
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "x" * 1_000 not in page and len(page) < 100_000
    assert "12 Hàng Bạc" in page  # the rest of the answers are kept
