"""Citizen feedback: the public form, its guards, routing to the responsible leader, the answer on lookup."""

from __future__ import annotations

import re
import time
from datetime import date

import pytest
from sqlalchemy import func, select

from engine import indicators
from engine.indicators import ReportFilter
from engine.models import Dossier, Task, TaskState, Unit
from tests.conftest import vn
from tests.helpers import do_step, open_tasks, receive_permit
from tests.lifecycle_helpers import person
from web.feedback import form_token

CONTENT = "Hồ sơ của tôi đã quá hẹn mà chưa được trả kết quả, đề nghị xem xét."


@pytest.fixture
def app(deployed):
    from tests.web_helpers import app_for

    return app_for(deployed)


def _token(client, app, seconds_ago: float = 60) -> str:
    page = client.get("/phan-anh").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    with app.test_request_context():
        return csrf, form_token(time.time() - seconds_ago)


def _send(client, app, *, seconds_ago: float = 60, **fields):
    csrf, ts = _token(client, app, seconds_ago)
    data = {"csrf_token": csrf, "ts": ts, "kind": "unit", "content": CONTENT, "name": "Lê Thị Hoa",
            "phone": "0987654321", "email": "hoa@example.vn", "about_dossier": "", "about_unit": ""}
    data.update(fields)
    return client.post("/phan-anh", data=data)


def _cases(ctx) -> list[Dossier]:
    with ctx.db.reading() as session:
        pakn = indicators.feedback_version_ids(session)
        return list(session.scalars(select(Dossier).where(Dossier.procedure_version_id.in_(pakn))))


def test_the_form_is_public_and_carries_its_guards(app):
    page = app.test_client().get("/phan-anh")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'name="website"' in html and 'name="ts"' in html and 'name="csrf_token"' in html
    assert "Gửi phản ánh, kiến nghị" in html


def test_feedback_about_a_unit_goes_to_that_unit(deployed, app):
    client = app.test_client()
    response = _send(client, app, about_unit="H26.38.03")  # urban management office of Hoàn Kiếm
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    code = re.search(r'id="feedback-code">([^<]+)<', response.get_data(as_text=True)).group(1)
    assert code.startswith("PAKN-H26.38.03-")
    [case] = _cases(deployed)
    assert case.code == code and case.channel == "online"
    assert case.data["noi_dung_phan_anh"] == CONTENT
    with deployed.db.reading() as session:
        unit = session.scalar(select(Unit).where(Unit.code == "H26.38.03"))
        tasks = list(session.scalars(select(Task).where(Task.dossier_id == case.id, Task.state == TaskState.OPEN)))
        calendar = deployed.calendar(session)
    assert [t.unit_id for t in tasks] == [unit.id]
    assert calendar.working_days_between(case.counting_from, case.due_at) == 15


def test_feedback_about_a_dossier_goes_to_the_leadership_of_its_counter(deployed, app):
    code = receive_permit(deployed)
    response = _send(app.test_client(), app, kind="dossier", about_dossier=code)
    assert response.status_code == 200
    [case] = _cases(deployed)
    assert case.data["ve_ho_so"] == code
    [task] = open_tasks(deployed, case.code)
    with deployed.db.reading() as session:
        assert session.get(Unit, task.unit_id).code == "H26.38.02"  # Lãnh đạo UBND quận Hoàn Kiếm


def test_a_counter_named_as_subject_sends_the_feedback_to_its_leaders(deployed, app):
    assert _send(app.test_client(), app, about_unit="H26.39.01").status_code == 200
    [case] = _cases(deployed)
    assert case.code.startswith("PAKN-H26.39.02-")


@pytest.mark.parametrize("fields, problem", [
    ({"content": "ngắn"}, "ít nhất 10 ký tự"),
    ({"phone": "12"}, "9 đến 12 chữ số"),
    ({"kind": "dossier", "about_dossier": "H26.38.01-260302-9999"}, "Không tìm thấy hồ sơ"),
    ({"about_unit": ""}, "chọn cơ quan"),
])
def test_wrong_input_is_explained_and_nothing_is_created(deployed, app, fields, problem):
    response = _send(app.test_client(), app, **({"about_unit": "H26.38.03"} | fields))
    assert response.status_code == 400
    assert problem in response.get_data(as_text=True)
    assert _cases(deployed) == []


def test_robots_are_turned_away(deployed, app):
    client = app.test_client()
    honeypot = _send(client, app, about_unit="H26.38.03", website="http://spam.example")
    too_fast = _send(client, app, about_unit="H26.38.03", seconds_ago=0)
    forged = _send(client, app, about_unit="H26.38.03", ts="not-a-signed-token")
    for response in (honeypot, too_fast, forged):
        assert response.status_code == 400
        assert "Không gửi được phản ánh" in response.get_data(as_text=True)
    assert _cases(deployed) == []


def test_the_form_is_rate_limited_per_client(deployed, app):
    client = app.test_client()
    statuses = [_send(client, app, about_unit="H26.38.03").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert len(_cases(deployed)) == 5


def test_the_answer_is_shown_on_lookup_without_personal_data(deployed, app, clock):
    client = app.test_client()
    _send(client, app, about_unit="H26.38.03")
    [case] = _cases(deployed)
    waiting = client.get(f"/tra-cuu?ma={case.code}&sdt=4321").get_data(as_text=True)
    assert "Phòng Quản lý đô thị quận Hoàn Kiếm" in waiting and 'id="feedback-answer"' not in waiting
    clock.set(vn(2026, 3, 5, 10, 0))
    do_step(deployed, case.code, "Task_XacMinh", {"ket_qua_xac_minh": "Đã xác minh", "de_xuat": "Trả lời"})
    answer = ("Kính gửi bà Lê Thị Hoa (0987654321, hoa@example.vn): hồ sơ đã được giải quyết, "
              "mời bà đến nhận kết quả.")
    do_step(deployed, case.code, "Task_TraLoi", {"noi_dung_tra_loi": answer})
    html = client.get(f"/tra-cuu?ma={case.code}&sdt=4321").get_data(as_text=True)
    shown = re.search(r'id="feedback-answer"[^>]*>([^<]*)<', html).group(1)
    assert "hồ sơ đã được giải quyết" in shown
    for secret in ("Lê Thị Hoa", "0987654321", "hoa@example.vn"):
        assert secret not in html
    assert "Đã trả lời phản ánh, kiến nghị" in html
    assert 'id="feedback-answer"' not in client.get(f"/tra-cuu?ma={case.code}&sdt=0000").get_data(as_text=True)


def test_feedback_is_counted_in_indicator_5_2_not_as_dossiers(deployed, app, clock):
    client = app.test_client()
    for _ in range(2):
        _send(client, app, about_unit="H26.38.03")
    on_time, _late = _cases(deployed)
    do_step(deployed, on_time.code, "Task_XacMinh", {"ket_qua_xac_minh": "Đã xác minh", "de_xuat": "Trả lời"})
    do_step(deployed, on_time.code, "Task_TraLoi", {"noi_dung_tra_loi": "Đã giải quyết."})
    clock.set(vn(2026, 4, 15, 9, 0))  # beyond 15 working days for the second
    march = ReportFilter(date(2026, 3, 1), date(2026, 3, 31))
    with deployed.db.reading() as session:
        admin = person(session, "hn.quantri")
        fb = indicators.feedback_counts(session, admin, march, clock.now())
        dossiers = indicators.totals(session, admin, march, clock.now())
        n = session.scalar(select(func.count()).select_from(Dossier))
    assert n == 2
    assert (fb.received, fb.answered, fb.answered_on_time, fb.open_overdue) == (2, 1, 1, 1)
    assert fb.on_time_share == 50.0
    assert dossiers.received == 0

