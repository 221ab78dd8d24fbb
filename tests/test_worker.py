"""Deadline events: reminders, escalations and the daily digest reach the right people, once."""

from __future__ import annotations

from sqlalchemy import select

from engine.deadline_events import DAILY_DIGEST, DOSSIER_OVERDUE, STEP_OVERDUE, STEP_REMINDER
from engine.models import DueWork, Notification, User
from engine.tasks import claim
from engine.worker import Worker
from tests.conftest import vn
from tests.helpers import do_step, dossier, open_tasks, receive_permit, user_in

# A permit received Monday 2/3/2026 09:00: "Thẩm định hồ sơ" (8 working days) is due Thursday 12/3 09:00.
STEP_DUE = vn(2026, 3, 12, 9, 0)
REMINDER_AT = vn(2026, 3, 11, 9, 0)
ESCALATION_AT = vn(2026, 3, 12, 9, 1)  # done at 09:00 sharp is still on time


def notes(ctx, kind: str) -> list[tuple[str, str]]:
    """(username, title) of every notification of ``kind``."""
    with ctx.db.reading() as session:
        rows = session.execute(select(User.username, Notification.title).join(Notification.user)
                               .where(Notification.kind == kind).order_by(Notification.id))
        return [tuple(r) for r in rows]


def test_the_reminder_comes_one_working_day_before_the_step_is_due(deployed, clock):
    code = receive_permit(deployed)
    task = open_tasks(deployed, code)[0]
    assert task.due_at == STEP_DUE
    worker = Worker(deployed)
    clock.set(vn(2026, 3, 11, 8, 59))
    worker.run_once()
    assert notes(deployed, STEP_REMINDER) == []
    clock.set(REMINDER_AT)
    worker.run_once()
    clock.advance(minutes=30)
    worker.run_once()
    reminded = notes(deployed, STEP_REMINDER)
    # nobody took the step yet: the whole unit is told (its specialist and its leader), once each
    assert sorted(u for u, _ in reminded) == ["hk.qldt.cv", "hk.qldt.ld"]
    assert reminded[0][1] == f"Hồ sơ {code} còn 1 ngày làm việc đến hạn bước “Thẩm định hồ sơ”"
    with deployed.db.reading() as session:
        body = session.scalars(select(Notification.body).where(Notification.kind == STEP_REMINDER)).first()
    assert "Mẫu số 04" in body and "09:00 12/03/2026" in body


def test_a_taken_step_reminds_only_the_person_who_took_it(deployed, clock):
    code = receive_permit(deployed)
    task = open_tasks(deployed, code)[0]
    with deployed.db.transaction() as session:
        claim(deployed, session, task.id, user_in(session, task.unit_id, "specialist"))
    clock.set(REMINDER_AT)
    Worker(deployed).run_once()
    assert [u for u, _ in notes(deployed, STEP_REMINDER)] == ["hk.qldt.cv"]


def test_a_step_done_in_time_gets_no_reminder_nor_escalation(deployed, clock):
    code = receive_permit(deployed)
    clock.set(vn(2026, 3, 10, 10, 0))
    do_step(deployed, code, "Task_ThamDinh", {"hop_le": True, "can_kiem_tra": False})
    clock.set(vn(2026, 3, 12, 10, 1))
    Worker(deployed).run_once()
    about_review = [t for _, t in notes(deployed, STEP_REMINDER) + notes(deployed, STEP_OVERDUE)
                    if "Thẩm định" in t]
    assert about_review == []
    # the next step ("Dự thảo giấy phép", 2 working days from 10/3 10:00) is now overdue: its own escalation
    assert [t for _, t in notes(deployed, STEP_OVERDUE)] == [
        f"Hồ sơ {code} quá hạn ở bước “Dự thảo giấy phép”"]


def test_an_overdue_step_is_escalated_to_the_unit_s_leader_once(deployed, clock):
    code = receive_permit(deployed)
    worker = Worker(deployed)
    clock.set(STEP_DUE)
    worker.run_once()
    assert notes(deployed, STEP_OVERDUE) == []
    clock.set(ESCALATION_AT)
    worker.run_once()
    worker.run_once()
    assert notes(deployed, STEP_OVERDUE) == [("hk.qldt.ld", f"Hồ sơ {code} quá hạn ở bước “Thẩm định hồ sơ”")]


def test_a_late_worker_sends_the_escalation_but_not_the_stale_reminder(deployed, clock):
    receive_permit(deployed)
    clock.set(vn(2026, 3, 13, 9, 0))  # the worker was down for two days
    Worker(deployed).run_once()
    assert notes(deployed, STEP_REMINDER) == []
    assert [u for u, _ in notes(deployed, STEP_OVERDUE)] == ["hk.qldt.ld"]


def test_an_overdue_dossier_is_escalated_to_the_leaders_of_the_units_holding_it(deployed, clock):
    code = receive_permit(deployed)
    due = dossier(deployed, code).due_at
    clock.set(due)
    worker = Worker(deployed)
    worker.run_once()
    assert notes(deployed, DOSSIER_OVERDUE) == []
    clock.advance(minutes=1)
    worker.run_once()
    worker.run_once()
    assert notes(deployed, DOSSIER_OVERDUE) == [("hk.qldt.ld", f"Hồ sơ {code} đã quá hạn trả kết quả")]


def test_no_escalation_while_the_clock_is_stopped(deployed, clock):
    from engine.lifecycle import request_supplement

    code = receive_permit(deployed)
    task = open_tasks(deployed, code)[0]
    with deployed.db.transaction() as session:
        d = session.get(type(dossier(deployed, code)), dossier(deployed, code).id)
        request_supplement(deployed, session, d, user_in(session, task.unit_id, "specialist"),
                           reason="Thiếu giấy tờ", missing=["Bản sao sổ đỏ"])
    clock.set(vn(2026, 3, 13, 10, 0))
    Worker(deployed).run_once()
    assert notes(deployed, STEP_OVERDUE) == [] and notes(deployed, DOSSIER_OVERDUE) == []


def test_the_daily_digest_goes_to_each_unit_head_on_working_days(deployed, clock):
    codes = [receive_permit(deployed) for _ in range(2)]
    worker = Worker(deployed)
    clock.set(vn(2026, 3, 3, 7, 29))  # Tuesday, before the digest time (07:30 by default)
    worker.run_once()
    assert notes(deployed, DAILY_DIGEST) == []
    clock.set(vn(2026, 3, 3, 7, 30))
    worker.run_once()
    worker.run_once()
    digests = notes(deployed, DAILY_DIGEST)
    assert digests == [("hk.qldt.ld", "Tổng hợp hồ sơ ngày 03/03/2026: Phòng Quản lý đô thị quận Hoàn Kiếm")]
    with deployed.db.reading() as session:
        body = session.scalars(select(Notification.body).where(Notification.kind == DAILY_DIGEST)).one()
    assert "- Đang xử lý: 2 bước" in body and "- Quá hạn: 0" in body
    clock.set(vn(2026, 3, 7, 8, 0))  # Saturday: no digest
    worker.run_once()
    assert len(notes(deployed, DAILY_DIGEST)) == 1
    clock.set(vn(2026, 3, 13, 7, 45))  # Friday after the steps fell due: they are listed as overdue
    worker.run_once()
    with deployed.db.reading() as session:
        latest = session.scalars(select(Notification.body).where(Notification.kind == DAILY_DIGEST)
                                 .order_by(Notification.id.desc())).first()
    assert "- Quá hạn: 2" in latest and all(code in latest for code in codes)


def test_the_digest_can_be_switched_off(deployed, clock):
    from dataclasses import replace

    from engine.settings import WorkerSettings

    deployed.settings = replace(deployed.settings, worker=WorkerSettings(digest_at=None))
    receive_permit(deployed)
    clock.set(vn(2026, 3, 3, 9, 0))
    Worker(deployed).run_once()
    assert notes(deployed, DAILY_DIGEST) == []


def test_planning_twice_records_each_piece_of_work_once(deployed, clock):
    receive_permit(deployed)
    clock.set(ESCALATION_AT)
    worker = Worker(deployed)
    worker.plan()
    worker.plan()
    with deployed.db.reading() as session:
        rows = session.execute(select(DueWork.kind, DueWork.reference)).all()
    assert len(rows) == len(set(rows)) and len(rows) >= 3


def test_a_failing_handler_is_retried_later_and_does_not_stop_the_others(deployed, clock, monkeypatch):
    from engine import deadline_events

    receive_permit(deployed)
    clock.set(ESCALATION_AT)

    def broken(situation, session, row):
        raise RuntimeError("mail server on fire")

    monkeypatch.setitem(deadline_events.HANDLERS, STEP_OVERDUE, broken)
    result = Worker(deployed).run_once()
    assert result.failed == 1 and result.done >= 1
    with deployed.db.reading() as session:
        row = session.scalars(select(DueWork).where(DueWork.kind == STEP_OVERDUE)).one()
    assert row.done_at is None and row.attempts == 1 and "mail server on fire" in row.last_error
    assert row.due_at > ESCALATION_AT
