"""BPMN boundary timers in working days, fired by the worker on a controllable clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from engine.deployment import deploy_files
from engine.models import DueWork, Event, Notification, Task, TaskState, User
from engine.timers import TIMER_KIND
from engine.worker import Worker
from tests.conftest import vn
from tests.helpers import do_step, dossier, open_tasks, receive_permit

TIMER_BPMN = Path(__file__).parent / "data" / "timers" / "escalation.bpmn"
CODE = "TEST-TIMER-01"
PERMIT_WITH_TIMER = Path(__file__).parent / "data" / "timers" / "permit-with-signing-timer.bpmn"


@pytest.fixture
def timed(org):
    with org.db.transaction() as session:
        deploy_files(org, session, [TIMER_BPMN])
    return org


def timer_rows(ctx) -> list[DueWork]:
    with ctx.db.reading() as session:
        return list(session.scalars(select(DueWork).where(DueWork.kind == TIMER_KIND).order_by(DueWork.due_at)))


def fired_events(ctx, code: str) -> list[Event]:
    d = dossier(ctx, code)
    with ctx.db.reading() as session:
        return list(session.scalars(select(Event).where(Event.dossier_id == d.id, Event.action == "timer_fired")
                                    .order_by(Event.id)))


def test_waiting_timers_are_planned_in_working_days(timed):
    code = receive_permit(timed, procedure_code=CODE)  # Monday 2/3/2026 09:00
    rows = timer_rows(timed)
    assert [r.due_at for r in rows] == [vn(2026, 3, 3, 9, 0), vn(2026, 3, 5, 9, 0)]
    assert all(r.done_at is None for r in rows)
    assert [t.step for t in open_tasks(timed, code)] == ["Task_XuLy"]


def test_friday_timer_skips_the_weekend(timed, clock):
    clock.set(vn(2026, 3, 6, 14, 0))  # Friday afternoon
    receive_permit(timed, procedure_code=CODE)
    assert timer_rows(timed)[0].due_at == vn(2026, 3, 9, 14, 0)  # Monday, same time


def test_timers_fire_on_time_and_exactly_once(timed, clock):
    code = receive_permit(timed, procedure_code=CODE)
    worker = Worker(timed)

    clock.set(vn(2026, 3, 3, 8, 59))
    worker.run_once()
    assert fired_events(timed, code) == []
    assert [t.step for t in open_tasks(timed, code)] == ["Task_XuLy"]

    clock.set(vn(2026, 3, 3, 9, 0))  # one working day: the non-interrupting reminder timer
    worker.run_once()
    worker.run_once()
    assert [e.detail["step"] for e in fired_events(timed, code)] == ["Timer_DonDoc"]
    assert sorted(t.step for t in open_tasks(timed, code)) == ["Task_DonDoc", "Task_XuLy"]

    clock.set(vn(2026, 3, 5, 9, 0))  # three working days: the interrupting one takes the step away
    worker.run_once()
    clock.advance(hours=2)
    worker.run_once()
    events = fired_events(timed, code)
    assert [e.detail["step"] for e in events] == ["Timer_DonDoc", "Timer_ChuyenLanhDao"]
    assert events[1].detail["cancelled"] == ["Task_XuLy"]
    steps = {t.step: t.state for t in _all_steps(timed, code)}
    assert steps["Task_XuLy"] == TaskState.CANCELLED
    assert steps["Task_XuLyThay"] == TaskState.OPEN
    assert all(r.done_at is not None and r.outcome == "fired" for r in timer_rows(timed))


def test_the_new_step_s_unit_is_told(timed, clock):
    code = receive_permit(timed, procedure_code=CODE)
    clock.set(vn(2026, 3, 3, 9, 30))
    Worker(timed).run_once()
    leader_task = next(t for t in open_tasks(timed, code) if t.step == "Task_DonDoc")
    with timed.db.reading() as session:
        notes = list(session.scalars(select(Notification).where(Notification.kind == TIMER_KIND)))
        assert notes and {n.user.unit_id for n in notes} == {leader_task.unit_id}
        assert notes[0].title.startswith(f"Hồ sơ {code}: Đôn đốc")


def test_a_step_finished_in_time_cancels_its_timers(timed, clock):
    code = receive_permit(timed, procedure_code=CODE)
    clock.set(vn(2026, 3, 2, 15, 0))
    do_step(timed, code, "Task_XuLy", {"ket_qua": "Xong"})
    clock.set(vn(2026, 3, 9, 9, 0))
    Worker(timed).run_once()
    assert fired_events(timed, code) == []
    assert {r.outcome for r in timer_rows(timed)} == {"closed"}


def test_a_stopped_clock_moves_the_timer_on(timed, clock):
    from engine.lifecycle import receive_supplement, request_supplement
    from tests.helpers import user_in

    code = receive_permit(timed, procedure_code=CODE)
    task = open_tasks(timed, code)[0]
    with timed.db.transaction() as session:
        d = session.get(type(dossier(timed, code)), dossier(timed, code).id)
        request_supplement(timed, session, d, user_in(session, task.unit_id, "specialist"),
                           reason="Thiếu bản vẽ", missing=["Bản vẽ mặt bằng"])
    clock.set(vn(2026, 3, 3, 9, 0))  # the timer's planned moment passes while the clock is stopped
    Worker(timed).run_once()
    assert fired_events(timed, code) == []
    with timed.db.transaction() as session:
        d = session.get(type(dossier(timed, code)), dossier(timed, code).id)
        clerk = user_in(session, d.receiving_unit_id, "clerk")
        receive_supplement(timed, session, d, clerk)  # one working day stood still (Mon 9:00 to Tue 9:00)
    clock.set(vn(2026, 3, 4, 8, 59))
    Worker(timed).run_once()
    assert fired_events(timed, code) == []
    clock.set(vn(2026, 3, 4, 9, 0))
    Worker(timed).run_once()
    assert [e.detail["step"] for e in fired_events(timed, code)] == ["Timer_DonDoc"]


def _all_steps(ctx, code: str) -> list[Task]:
    d = dossier(ctx, code)
    with ctx.db.reading() as session:
        return list(session.scalars(select(Task).where(Task.dossier_id == d.id).order_by(Task.id)))


def test_a_permit_reports_an_unsigned_licence_to_the_leaders_without_cancelling_it(deployed, clock):
    """The construction permit with a non-interrupting "three working days" timer on the signing step.

    A test copy (tests/data/timers/): the shipped procedure's own tests want every node on the main path.
    """
    from tests.helpers import PERMIT_HAPPY

    with deployed.db.transaction() as session:
        deploy_files(deployed, session, [PERMIT_WITH_TIMER])
    code = receive_permit(deployed, procedure_code="TEST-GPXD-TIMER")
    for step in ("Task_ThamDinh", "Task_KiemTraThucDia", "Task_DuThaoGiayPhep"):
        do_step(deployed, code, step, PERMIT_HAPPY[step])
    assert [t.step for t in open_tasks(deployed, code)] == ["Task_PheDuyet"]  # opened Monday 2/3 09:00
    worker = Worker(deployed)
    clock.set(vn(2026, 3, 5, 8, 59))
    worker.run_once()
    assert fired_events(deployed, code) == []
    clock.set(vn(2026, 3, 5, 9, 0))  # three working days later: the step (2 days) is one day overdue
    worker.run_once()
    worker.run_once()
    assert [e.detail["step"] for e in fired_events(deployed, code)] == ["Timer_QuaHanKy"]
    assert [t.step for t in open_tasks(deployed, code)] == ["Task_PheDuyet"]  # non-interrupting
    with deployed.db.reading() as session:
        told = session.execute(select(Notification.title, Notification.user_id)
                               .where(Notification.kind == TIMER_KIND)).all()
        leader = session.scalar(select(User.id).where(User.username == "hk.lanhdao"))
    assert told == [(f"Hồ sơ {code}: Quá hạn ký 1 ngày làm việc", leader)]
    do_step(deployed, code, "Task_PheDuyet", PERMIT_HAPPY["Task_PheDuyet"])
    assert dossier(deployed, code).status == "awaiting_return"


def test_only_procedures_with_timers_pay_for_planning_them():
    from engine.settings import WORKFLOWS_DIR
    from engine.specs import compile_procedure

    assert compile_procedure(TIMER_BPMN.read_bytes()).has_timers
    for path in sorted((WORKFLOWS_DIR / "procedures").glob("*.bpmn")):
        assert not compile_procedure(path.read_bytes(), file_name=path.name).has_timers, path.name


def test_a_timer_expression_that_cannot_be_computed_is_a_clear_refusal(timed, tmp_path):
    from engine.errors import RuleViolation

    source = TIMER_BPMN.read_text(encoding="utf-8").replace(
        "working_days(1)", "working_days(so_ngay)").replace("TEST-TIMER-01", "TEST-TIMER-02")
    path = tmp_path / "bad-timer.bpmn"
    path.write_text(source, encoding="utf-8")
    with timed.db.transaction() as session:
        deploy_files(timed, session, [path])
    with pytest.raises(RuleViolation, match="Đôn đốc sau 1 ngày làm việc"):
        receive_permit(timed, procedure_code="TEST-TIMER-02")


def test_a_waiting_period_between_two_steps_ends_on_the_working_calendar(org, clock):
    """An intermediate catch timer: the dossier waits with no open step, then goes on."""
    with org.db.transaction() as session:
        deploy_files(org, session, [Path(__file__).parent / "data" / "timers" / "waiting-period.bpmn"])
    code = receive_permit(org, procedure_code="TEST-TIMER-03")
    clock.set(vn(2026, 3, 6, 10, 0))  # Friday 10:00: the notice is posted, two working days to wait
    do_step(org, code, "Task_NiemYet", {})
    assert open_tasks(org, code) == []
    worker = Worker(org)
    clock.set(vn(2026, 3, 10, 9, 59))
    worker.run_once()
    assert open_tasks(org, code) == []
    clock.set(vn(2026, 3, 10, 10, 0))  # Tuesday 10:00
    worker.run_once()
    assert [t.step for t in open_tasks(org, code)] == ["Task_KetLuan"]
    assert [e.detail["step"] for e in fired_events(org, code)] == ["Timer_ChoNiemYet"]
