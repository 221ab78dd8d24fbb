"""A construction-permit dossier from receipt to return, through the engine."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from engine.errors import FormError, RuleViolation
from engine.handoffs import all_stints
from engine.lifecycle import get_dossier, return_result
from engine.models import Event, Task, TaskState
from tests.conftest import vn
from tests.helpers import (
    PERMIT_HAPPY,
    clerk_of,
    district,
    do_step,
    dossier,
    drive,
    open_tasks,
    receive_permit,
)


def test_receipt_registers_code_due_date_first_step_and_handoff(deployed, clock):
    clock.set(vn(2026, 3, 2, 9, 30))
    code = receive_permit(deployed)
    assert re.fullmatch(r"H26\.38\.01-260302-0001", code)
    d = dossier(deployed, code)
    # 15 working days from Mon 2 Mar 09:30 -> Mon 23 Mar 09:30 (no holidays in between)
    assert d.due_at == vn(2026, 3, 23, 9, 30)
    assert d.status == "processing"
    [task] = open_tasks(deployed, code)
    assert task.step == "Task_ThamDinh"
    assert task.due_at == vn(2026, 3, 12, 9, 30)  # its 8-day share
    with deployed.db.reading() as session:
        [stint] = all_stints(session, get_dossier(session, code))
        assert stint.from_unit.code == "H26.38.01" and stint.to_unit.code == "H26.38.03"
        assert stint.finished_at is None


def test_codes_count_per_unit_and_day(deployed, clock):
    first = receive_permit(deployed)
    second = receive_permit(deployed)
    other = receive_permit(deployed, district_index=1)
    clock.set(vn(2026, 3, 3, 8, 30))
    next_day = receive_permit(deployed)
    assert (first[-4:], second[-4:], other[-4:], next_day[-4:]) == ("0001", "0002", "0001", "0001")
    assert next_day.endswith("-260303-0001")


def test_happy_path_hands_over_between_units_and_back_to_the_counter(deployed, clock):
    code = receive_permit(deployed)
    clock.advance(days=1)
    steps = drive(deployed, code, PERMIT_HAPPY)
    assert steps == ["Task_ThamDinh", "Task_KiemTraThucDia", "Task_DuThaoGiayPhep", "Task_PheDuyet"]
    d = dossier(deployed, code)
    assert d.status == "awaiting_return"
    assert d.result_timing == "early"
    assert d.data["so_giay_phep"] == "123/GPXD" and d.data["phe_duyet"] is True
    with deployed.db.reading() as session:
        stints = all_stints(session, get_dossier(session, code))
        route = [(s.from_unit.code, s.to_unit.code) for s in stints]
        assert route == [("H26.38.01", "H26.38.03"), ("H26.38.03", "H26.38.02"), ("H26.38.02", "H26.38.01")]
        assert [s.timing for s in stints[:2]] == ["early", "early"]
        assert all(s.received_by_id for s in stints[:2])
        assert stints[2].finished_at is None


def test_return_closes_the_dossier_with_rating(deployed, clock):
    code = receive_permit(deployed)
    drive(deployed, code, PERMIT_HAPPY)
    with deployed.db.transaction() as session:
        d = get_dossier(session, code)
        return_result(deployed, session, d, clerk_of(session, district(session)), rating=5)
    d = dossier(deployed, code)
    assert (d.status, d.rating) == ("returned", 5)
    with deployed.db.reading() as session:
        assert all(s.finished_at for s in all_stints(session, get_dossier(session, code)))


def test_late_unit_is_marked_late_on_the_tracking_slip(deployed, clock):
    code = receive_permit(deployed)
    clock.set(vn(2026, 3, 20, 10, 0))  # past the 8-day share of the appraisal step
    do_step(deployed, code, "Task_ThamDinh", PERMIT_HAPPY["Task_ThamDinh"])
    with deployed.db.reading() as session:
        first = all_stints(session, get_dossier(session, code))[0]
    assert first.finished_at is None  # the same unit continues with the site inspection
    do_step(deployed, code, "Task_KiemTraThucDia", PERMIT_HAPPY["Task_KiemTraThucDia"])
    clock.set(vn(2026, 3, 27, 10, 0))
    do_step(deployed, code, "Task_DuThaoGiayPhep", PERMIT_HAPPY["Task_DuThaoGiayPhep"])
    with deployed.db.reading() as session:
        first = all_stints(session, get_dossier(session, code))[0]
    assert first.timing == "late"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"hop_le": "yes", "can_kiem_tra": True}, "hop_le"),
        ({"can_kiem_tra": True}, "hop_le"),
        ({"hop_le": True, "can_kiem_tra": True, "secret": 1}, "secret"),
        ({"hop_le": True, "can_kiem_tra": True, "so_tang": 2.5}, "so_tang"),
    ],
)
def test_bad_form_data_is_refused_and_changes_nothing(deployed, data, fragment):
    code = receive_permit(deployed)
    before = dossier(deployed, code)
    with deployed.db.reading() as session:
        events_before = session.scalar(select(func.count(Event.id)))
    with pytest.raises(FormError) as err:
        do_step(deployed, code, "Task_ThamDinh", data)
    assert any(p.element_id == fragment for p in err.value.problems)
    after = dossier(deployed, code)
    assert after.version == before.version and after.data == before.data
    [task] = open_tasks(deployed, code)
    assert task.step == "Task_ThamDinh" and task.state == TaskState.OPEN
    with deployed.db.reading() as session:
        assert session.scalar(select(func.count(Event.id))) == events_before


def test_completing_a_finished_task_is_a_conflict(deployed):
    from engine.errors import Conflict
    from engine.tasks import complete

    code = receive_permit(deployed)
    [task] = open_tasks(deployed, code)
    do_step(deployed, code, "Task_ThamDinh", PERMIT_HAPPY["Task_ThamDinh"])
    with deployed.db.transaction() as session, pytest.raises(Conflict):
        from tests.helpers import worker_for
        complete(deployed, session, task.id, worker_for(session, task), PERMIT_HAPPY["Task_ThamDinh"])


def test_rework_loop_400_rounds_keeps_ready_task_and_flat_state(deployed):
    code = receive_permit(deployed)
    sizes = []
    reject = {**PERMIT_HAPPY, "Task_PheDuyet": {"phe_duyet": False}}
    for round_no in range(400):
        for step in ("Task_ThamDinh", "Task_KiemTraThucDia", "Task_DuThaoGiayPhep", "Task_PheDuyet"):
            do_step(deployed, code, step, reject[step])
        tasks = open_tasks(deployed, code)
        assert [t.step for t in tasks] == ["Task_ThamDinh"], f"round {round_no}"
        d = dossier(deployed, code)
        assert d.status == "processing"
        if round_no in (1, 399):
            with deployed.db.reading() as session:
                sizes.append(len(str(session.scalar(select(Task.id).limit(1))) + str(_state(session, code))))
    assert sizes[1] < sizes[0] * 1.2, sizes
    drive(deployed, code, PERMIT_HAPPY)
    assert dossier(deployed, code).status == "awaiting_return"


def _state(session, code):
    from sqlalchemy.orm import undefer

    from engine.models import Dossier

    return session.scalar(select(Dossier).where(Dossier.code == code).options(undefer(Dossier.state))).state


def test_receipt_after_cutoff_counts_from_next_working_morning(deployed, clock):
    clock.set(vn(2026, 4, 29, 15, 30))  # Wednesday before 30/4 and 1/5
    code = receive_permit(deployed)
    d = dossier(deployed, code)
    assert d.counting_from == vn(2026, 5, 4, 8, 0)
    assert d.due_at == vn(2026, 5, 22, 17, 0)  # the end of the 15th working day


def test_step_not_waiting_is_refused(deployed):
    code = receive_permit(deployed)
    with pytest.raises(StopIteration):
        do_step(deployed, code, "Task_PheDuyet", {"phe_duyet": True})
    _ = RuleViolation


def test_a_unit_late_on_an_early_step_stays_late_on_the_slip(deployed, clock):
    """Finishing the last step within its own share does not hide an overrun earlier step."""
    code = receive_permit(deployed)
    clock.set(vn(2026, 3, 18, 9, 30))  # appraisal took 12 working days of its 8
    do_step(deployed, code, "Task_ThamDinh", PERMIT_HAPPY["Task_ThamDinh"])
    clock.set(vn(2026, 3, 20, 9, 30))  # inspection: 2 days of its 3
    do_step(deployed, code, "Task_KiemTraThucDia", PERMIT_HAPPY["Task_KiemTraThucDia"])
    clock.set(vn(2026, 3, 23, 9, 30))  # drafting: 1 day of its 2
    do_step(deployed, code, "Task_DuThaoGiayPhep", PERMIT_HAPPY["Task_DuThaoGiayPhep"])
    with deployed.db.reading() as session:
        first = all_stints(session, get_dossier(session, code))[0]
    assert first.due_at == vn(2026, 3, 19, 9, 0)  # 8 + 3 + 2 working days from receipt at 09:00
    assert first.timing == "late"
