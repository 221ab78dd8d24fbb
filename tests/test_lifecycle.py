"""What happens to a dossier beside its BPMN path: supplements, extension, refusal,
withdrawal, return, and the paused-clock step of the land procedure."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from engine import lifecycle
from engine.errors import Forbidden, FormError, OrganisationError, RuleViolation
from engine.handoffs import all_stints
from engine.lifecycle import get_dossier
from engine.models import Dossier, Extension, Pause, Task
from engine.receipt import receive
from engine.tasks import claim, complete
from tests.conftest import vn
from tests.helpers import APPLICANT, PERMIT_HAPPY, do_step, dossier, drive, open_tasks, receive_permit
from tests.lifecycle_helpers import LAND, LAND_TO_TAX, events_of, fast_deployed, person, row_counts, snapshot

RECEIVED = vn(2026, 3, 2, 9, 0)  # Monday; the clock fixture's start
DUE = vn(2026, 3, 23, 9, 0)  # 15 working days later
APPRAISAL_DUE = vn(2026, 3, 12, 9, 0)  # the appraisal step's 8-day share
MISSING = ["Bản vẽ mặt cắt công trình", "Bản sao giấy chứng nhận quyền sử dụng đất"]


@pytest.fixture
def deployed(ctx):
    """The demo organisation and procedures, copied from a template (see fast_deployed)."""
    return fast_deployed(ctx)


def act(ctx, code: str, username: str, operation, **kwargs):
    """Run a lifecycle operation on dossier ``code`` as ``username`` in one transaction."""
    with ctx.db.transaction() as session:
        return operation(ctx, session, get_dossier(session, code), person(session, username), **kwargs)


def ask_supplement(ctx, code: str, username: str = "hk.qldt.cv", **kwargs):
    kwargs.setdefault("reason", "Thiếu bản vẽ và giấy tờ đất")
    kwargs.setdefault("missing", MISSING)
    return act(ctx, code, username, lifecycle.request_supplement, **kwargs)


def new_events(ctx, code: str, before: int):
    return events_of(ctx, code)[before:]


def assert_unchanged(ctx, code: str, before: dict) -> None:
    assert snapshot(ctx, code) == before


# ----------------------------------------------------------------------------- supplements


def test_supplement_request_stops_the_clock_with_a_pause_row(deployed, clock):
    code = receive_permit(deployed)
    clock.set(vn(2026, 3, 5, 10, 0))
    ask_supplement(deployed, code)
    d = dossier(deployed, code)
    assert d.status == "awaiting_supplement"
    assert d.paused_since == vn(2026, 3, 5, 10, 0)
    assert d.supplement_requests == 1
    assert d.due_at == DUE  # unchanged until the papers arrive
    with deployed.db.reading() as session:
        [pause] = session.scalars(select(Pause).where(Pause.dossier_id == d.id)).all()
        assert pause.kind == "supplement"
        assert pause.reason == "Thiếu bản vẽ và giấy tờ đất"
        assert pause.missing == MISSING
        assert pause.started_at == vn(2026, 3, 5, 10, 0) and pause.ended_at is None
        assert pause.requested_by_id == person(session, "hk.qldt.cv").id


def test_completing_a_step_while_awaiting_supplement_is_refused_and_changes_nothing(deployed, clock):
    code = receive_permit(deployed)
    [task] = open_tasks(deployed, code)
    with deployed.db.transaction() as session:
        claim(deployed, session, task.id, person(session, "hk.qldt.cv"))
    ask_supplement(deployed, code)
    before = snapshot(deployed, code)
    clock.advance(hours=2)
    with pytest.raises(RuleViolation), deployed.db.transaction() as session:
        complete(deployed, session, task.id, person(session, "hk.qldt.cv"), PERMIT_HAPPY["Task_ThamDinh"])
    assert_unchanged(deployed, code, before)


def test_supplement_received_shifts_every_open_due_date_by_the_paused_working_time(deployed, clock):
    code = receive_permit(deployed)
    [task] = open_tasks(deployed, code)
    assert task.due_at == APPRAISAL_DUE
    clock.set(vn(2026, 3, 5, 10, 0))  # Thursday
    ask_supplement(deployed, code)
    clock.set(vn(2026, 3, 10, 10, 0))  # the next Tuesday: Thu, Fri, Mon = 3 working days, over a weekend
    act(deployed, code, "hk.motcua", lifecycle.receive_supplement, note="Đã nhận đủ bản vẽ")
    with deployed.db.reading() as session:
        calendar = deployed.calendar(session)
        paused = calendar.working_minutes_between(vn(2026, 3, 5, 10, 0), vn(2026, 3, 10, 10, 0))
        assert paused == 3 * 480
        d = get_dossier(session, code)
        assert d.status == "processing" and d.paused_since is None
        assert d.paused_minutes == paused
        assert d.due_at == calendar.add_working_minutes(DUE, paused) == vn(2026, 3, 26, 9, 0)
        [open_task] = session.scalars(select(Task).where(Task.dossier_id == d.id, Task.state == "open")).all()
        assert open_task.due_at == vn(2026, 3, 17, 9, 0)  # Thu 12 + 3 working days, over a weekend
        [stint] = all_stints(session, d)
        assert stint.finished_at is None and stint.due_at == vn(2026, 3, 17, 9, 0)
        [pause] = session.scalars(select(Pause).where(Pause.dossier_id == d.id)).all()
        assert (pause.ended_at, pause.working_minutes) == (vn(2026, 3, 10, 10, 0), paused)
    [event] = events_of(deployed, code)[-1:]
    assert event.action == "supplement_received" and event.detail["paused_minutes"] == paused


def test_paused_time_skips_public_holidays(deployed, clock):
    clock.set(vn(2026, 4, 28, 9, 0))  # Tuesday before 30/4 and 1/5
    code = receive_permit(deployed)
    due = dossier(deployed, code).due_at
    clock.set(vn(2026, 4, 29, 10, 0))
    ask_supplement(deployed, code)
    clock.set(vn(2026, 5, 4, 10, 0))  # Monday: only Wed 10:00-17:00 and Mon 08:00-10:00 were working time
    act(deployed, code, "hk.motcua", lifecycle.receive_supplement)
    d = dossier(deployed, code)
    assert d.paused_minutes == 480
    with deployed.db.reading() as session:
        assert d.due_at == deployed.calendar(session).add_working_minutes(due, 480)
    assert d.due_at == due + timedelta(days=1)  # one working day later, same time (no holiday at the end)


def test_a_second_supplement_request_is_counted(deployed, clock):
    code = receive_permit(deployed)
    ask_supplement(deployed, code)
    clock.advance(days=1)
    act(deployed, code, "hk.motcua", lifecycle.receive_supplement, note=None)
    clock.advance(hours=3)
    ask_supplement(deployed, code, missing=["Bản cam kết an toàn công trình liền kề"])
    d = dossier(deployed, code)
    assert (d.status, d.supplement_requests) == ("awaiting_supplement", 2)
    requested = [e for e in events_of(deployed, code) if e.action == "supplement_requested"]
    assert [e.detail["request_number"] for e in requested] == [1, 2]
    assert snapshot(deployed, code)["pauses"] == 2


def test_a_supplement_cannot_be_requested_twice_while_waiting(deployed):
    code = receive_permit(deployed)
    ask_supplement(deployed, code)
    before = snapshot(deployed, code)
    with pytest.raises(RuleViolation):
        ask_supplement(deployed, code, username="hk.motcua")
    assert_unchanged(deployed, code, before)


@pytest.mark.parametrize("username", ["hk.motcua", "hk.qldt.cv", "hk.qldt.ld", "hn.quantri"])
def test_who_may_request_a_supplement(deployed, username):
    code = receive_permit(deployed)
    ask_supplement(deployed, code, username=username)
    assert dossier(deployed, code).status == "awaiting_supplement"


@pytest.mark.parametrize(
    "username",
    [
        "bd.motcua",  # the counter of another district
        "hangbac.motcua",  # a commune counter below the receiving district
        "bd.qldt.cv",  # the same kind of office in another district
        "hk.tckh.cv",  # an office of the same district holding no step
        "hk.lanhdao",  # the district's leadership holds no step yet
        "hn.thietke",  # a designer
    ],
)
def test_who_may_not_request_a_supplement(deployed, username):
    code = receive_permit(deployed)
    before = snapshot(deployed, code)
    with pytest.raises(Forbidden):
        ask_supplement(deployed, code, username=username)
    assert_unchanged(deployed, code, before)


def test_a_unit_that_no_longer_holds_a_step_may_not_request_a_supplement(deployed):
    code = receive_permit(deployed)
    for step in ("Task_ThamDinh", "Task_KiemTraThucDia", "Task_DuThaoGiayPhep"):
        do_step(deployed, code, step, PERMIT_HAPPY[step])
    with pytest.raises(Forbidden):
        ask_supplement(deployed, code, username="hk.qldt.cv")
    ask_supplement(deployed, code, username="hk.lanhdao")  # the leadership holds the signing step now
    assert dossier(deployed, code).status == "awaiting_supplement"


@pytest.mark.parametrize("username", ["hk.qldt.cv", "hk.qldt.ld", "bd.motcua", "hangbac.motcua"])
def test_only_the_receiving_counter_records_the_supplement(deployed, username):
    code = receive_permit(deployed)
    ask_supplement(deployed, code)
    before = snapshot(deployed, code)
    with pytest.raises(Forbidden):
        act(deployed, code, username, lifecycle.receive_supplement)
    assert_unchanged(deployed, code, before)


def test_a_supplement_cannot_be_received_when_none_was_asked(deployed):
    code = receive_permit(deployed)
    before = snapshot(deployed, code)
    with pytest.raises(RuleViolation):
        act(deployed, code, "hk.motcua", lifecycle.receive_supplement)
    assert_unchanged(deployed, code, before)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"reason": ""},
        {"reason": "   "},
        {"reason": None},
        {"reason": "x" * 2001},
        {"missing": []},
        {"missing": ["", "  "]},
        {"missing": "Bản vẽ"},
        {"missing": ["Bản vẽ", 3]},
        {"missing": [f"Giấy tờ {i}" for i in range(51)]},
        {"missing": ["x" * 301]},
    ],
)
def test_bad_supplement_request_is_refused_and_changes_nothing(deployed, kwargs):
    code = receive_permit(deployed)
    before = snapshot(deployed, code)
    with pytest.raises(FormError):
        ask_supplement(deployed, code, **kwargs)
    assert_unchanged(deployed, code, before)


# ----------------------------------------------------------------------------- extension


def test_extension_by_extra_days_keeps_the_original_date(deployed, clock):
    code = receive_permit(deployed)
    clock.set(vn(2026, 3, 16, 9, 0))
    ext = act(
        deployed, code, "hk.qldt.cv", lifecycle.extend, reason="Cần lấy ý kiến Sở Xây dựng", extra_days=5
    )
    d = dossier(deployed, code)
    assert d.original_due_at == DUE
    assert d.due_at == vn(2026, 3, 30, 9, 0)
    assert (ext.old_due_at, ext.new_due_at) == (DUE, vn(2026, 3, 30, 9, 0))
    [event] = events_of(deployed, code)[-1:]
    assert event.action == "extended"
    assert event.detail["late_notice"] is False
    assert event.detail["notice_working_days"] == 5.0


def test_extension_to_a_new_date(deployed):
    code = receive_permit(deployed)
    act(deployed, code, "hk.motcua", lifecycle.extend, reason="Chờ ý kiến", new_due_at=vn(2026, 4, 3, 17, 0))
    d = dossier(deployed, code)
    assert (d.original_due_at, d.due_at) == (DUE, vn(2026, 4, 3, 17, 0))


def test_the_return_date_can_be_reset_only_once(deployed):
    code = receive_permit(deployed)
    act(deployed, code, "hk.qldt.cv", lifecycle.extend, reason="Lần một", extra_days=3)
    before = snapshot(deployed, code)
    with pytest.raises(RuleViolation):
        act(deployed, code, "hk.qldt.cv", lifecycle.extend, reason="Lần hai", extra_days=3)
    assert_unchanged(deployed, code, before)
    assert before["extensions"] == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"new_due_at": vn(2026, 3, 20, 17, 0)},  # earlier than the current due date
        {"new_due_at": DUE},  # not later
        {"new_due_at": datetime(2026, 4, 3, 17, 0)},  # no time zone
        {"new_due_at": "2026-04-03T17:00:00+07:00"},  # text, not a datetime
        {},  # neither a date nor days
        {"new_due_at": vn(2026, 4, 3, 17, 0), "extra_days": 2},  # both
        {"extra_days": 0},
        {"extra_days": -2},
        {"extra_days": 61},
        {"extra_days": True},
        {"extra_days": "5"},
        {"extra_days": 3, "reason": " "},
    ],
)
def test_bad_extension_is_a_form_error_and_changes_nothing(deployed, kwargs):
    code = receive_permit(deployed)
    before = snapshot(deployed, code)
    kwargs.setdefault("reason", "Cần thêm thời gian")
    with pytest.raises(FormError):
        act(deployed, code, "hk.qldt.cv", lifecycle.extend, **kwargs)
    assert_unchanged(deployed, code, before)


def test_extension_with_less_than_a_working_day_of_notice_is_flagged_late(deployed, clock):
    code = receive_permit(deployed)
    clock.set(vn(2026, 3, 20, 10, 0))  # Friday; the due time is Monday 09:00: 7 working hours away
    act(deployed, code, "hk.qldt.cv", lifecycle.extend, reason="Báo muộn", extra_days=2)
    [event] = events_of(deployed, code)[-1:]
    assert event.detail["late_notice"] is True
    assert event.detail["notice_working_days"] == round(420 / 480, 2)


def test_extension_by_someone_outside_the_dossier_is_forbidden(deployed):
    code = receive_permit(deployed)
    before = snapshot(deployed, code)
    with pytest.raises(Forbidden):
        act(deployed, code, "bd.qldt.cv", lifecycle.extend, reason="Không liên quan", extra_days=2)
    assert_unchanged(deployed, code, before)


# ----------------------------------------------------------------------------- refusal, withdrawal


def test_refusal_cancels_open_steps_and_closes_stints(deployed, clock):
    code = receive_permit(deployed)
    clock.advance(days=1)
    act(deployed, code, "hk.qldt.cv", lifecycle.refuse, reason="Công trình nằm trong khu vực cấm xây dựng")
    d = dossier(deployed, code)
    assert d.status == "refused" and d.closed_at == clock.now()
    assert open_tasks(deployed, code) == []
    with deployed.db.reading() as session:
        [task] = session.scalars(select(Task).where(Task.dossier_id == d.id)).all()
        assert (task.state, task.completed_at) == ("cancelled", clock.now())
        assert all(s.finished_at == clock.now() for s in all_stints(session, d))
    [event] = events_of(deployed, code)[-1:]
    assert (event.action, event.from_status, event.to_status) == ("refused", "processing", "refused")
    assert event.detail["reason"] == "Công trình nằm trong khu vực cấm xây dựng"


def test_refusing_twice_is_a_rule_violation(deployed):
    code = receive_permit(deployed)
    act(deployed, code, "hk.qldt.cv", lifecycle.refuse, reason="Không đủ điều kiện")
    before = snapshot(deployed, code)
    with pytest.raises(RuleViolation):
        act(deployed, code, "hk.motcua", lifecycle.refuse, reason="Lần nữa")
    assert_unchanged(deployed, code, before)


def test_refusal_while_awaiting_supplement_ends_the_pause(deployed, clock):
    code = receive_permit(deployed)
    ask_supplement(deployed, code)
    clock.advance(days=2)
    act(deployed, code, "hk.motcua", lifecycle.refuse, reason="Quá hạn bổ sung")
    d = dossier(deployed, code)
    assert d.status == "refused" and d.paused_since is None
    with deployed.db.reading() as session:
        [pause] = session.scalars(select(Pause).where(Pause.dossier_id == d.id)).all()
        assert pause.ended_at == clock.now()


def test_refusal_needs_a_reason(deployed):
    code = receive_permit(deployed)
    before = snapshot(deployed, code)
    with pytest.raises(FormError):
        act(deployed, code, "hk.qldt.cv", lifecycle.refuse, reason="  ")
    assert_unchanged(deployed, code, before)


def test_withdrawal_by_the_receiving_counter(deployed):
    code = receive_permit(deployed)
    act(deployed, code, "hk.motcua", lifecycle.withdraw, reason="Công dân xin rút hồ sơ")
    d = dossier(deployed, code)
    assert d.status == "withdrawn" and d.closed_at is not None
    assert open_tasks(deployed, code) == []


@pytest.mark.parametrize("username", ["hk.qldt.cv", "hk.lanhdao", "bd.motcua", "hangbac.motcua"])
def test_withdrawal_by_anyone_else_is_forbidden(deployed, username):
    code = receive_permit(deployed)
    before = snapshot(deployed, code)
    with pytest.raises(Forbidden):
        act(deployed, code, username, lifecycle.withdraw, reason="Rút")
    assert_unchanged(deployed, code, before)


def test_a_closed_dossier_cannot_be_withdrawn_or_sent_for_supplement(deployed):
    code = receive_permit(deployed)
    act(deployed, code, "hk.motcua", lifecycle.withdraw)
    before = snapshot(deployed, code)
    with pytest.raises(RuleViolation):
        act(deployed, code, "hk.motcua", lifecycle.withdraw)
    with pytest.raises(RuleViolation):
        ask_supplement(deployed, code, username="hk.motcua")
    with pytest.raises(RuleViolation):
        act(deployed, code, "hk.motcua", lifecycle.extend, reason="x", extra_days=1)
    assert_unchanged(deployed, code, before)


# ----------------------------------------------------------------------------- return


def test_return_is_refused_while_the_dossier_is_still_processed(deployed):
    code = receive_permit(deployed)
    before = snapshot(deployed, code)
    with pytest.raises(RuleViolation):
        act(deployed, code, "hk.motcua", lifecycle.return_result, rating=5)
    assert_unchanged(deployed, code, before)


def test_rating_must_be_a_whole_number_from_1_to_5(deployed):
    code = receive_permit(deployed)
    drive(deployed, code, PERMIT_HAPPY)
    before = snapshot(deployed, code)
    for rating in (0, 6, -1, True, False, "5", 2.5, 5.0, [5]):
        with pytest.raises(FormError):
            act(deployed, code, "hk.motcua", lifecycle.return_result, rating=rating)
        assert_unchanged(deployed, code, before)


@pytest.mark.parametrize("rating", [1, 5, None])
def test_valid_ratings_are_kept(deployed, rating):
    code = receive_permit(deployed)
    drive(deployed, code, PERMIT_HAPPY)
    act(deployed, code, "hk.motcua", lifecycle.return_result, rating=rating)
    d = dossier(deployed, code)
    assert (d.status, d.rating) == ("returned", rating)


def test_a_returned_dossier_cannot_be_returned_again(deployed):
    code = receive_permit(deployed)
    drive(deployed, code, PERMIT_HAPPY)
    act(deployed, code, "hk.motcua", lifecycle.return_result, rating=4)
    before = snapshot(deployed, code)
    with pytest.raises(RuleViolation):
        act(deployed, code, "hk.motcua", lifecycle.return_result, rating=5)
    assert_unchanged(deployed, code, before)
    assert before["rating"] == 4


@pytest.mark.parametrize("username", ["hk.qldt.cv", "hk.lanhdao", "bd.motcua"])
def test_only_the_receiving_counter_returns_the_result(deployed, username):
    code = receive_permit(deployed)
    drive(deployed, code, PERMIT_HAPPY)
    before = snapshot(deployed, code)
    with pytest.raises(Forbidden):
        act(deployed, code, username, lifecycle.return_result, rating=5)
    assert_unchanged(deployed, code, before)


# ----------------------------------------------------------------------------- one event per operation


def _supplement_then_receive(ctx, code):
    ask_supplement(ctx, code)
    return (
        "hk.motcua",
        lifecycle.receive_supplement,
        {},
        ("supplement_received", "awaiting_supplement", "processing"),
    )


def _drive_then_return(ctx, code):
    drive(ctx, code, PERMIT_HAPPY)
    return "hk.motcua", lifecycle.return_result, {"rating": 5}, ("returned", "awaiting_return", "returned")


@pytest.mark.parametrize(
    "prepare",
    [
        lambda ctx, code: (
            "hk.qldt.cv",
            lifecycle.request_supplement,
            {"reason": "Thiếu", "missing": MISSING},
            ("supplement_requested", "processing", "awaiting_supplement"),
        ),
        _supplement_then_receive,
        lambda ctx, code: (
            "hk.qldt.ld",
            lifecycle.extend,
            {"reason": "Gia hạn", "extra_days": 2},
            ("extended", "processing", "processing"),
        ),
        lambda ctx, code: (
            "hk.qldt.cv",
            lifecycle.refuse,
            {"reason": "Không đủ điều kiện"},
            ("refused", "processing", "refused"),
        ),
        lambda ctx, code: ("hk.motcua", lifecycle.withdraw, {}, ("withdrawn", "processing", "withdrawn")),
        _drive_then_return,
    ],
    ids=["request_supplement", "receive_supplement", "extend", "refuse", "withdraw", "return"],
)
def test_every_operation_writes_exactly_one_event(deployed, clock, prepare):
    code = receive_permit(deployed)
    username, operation, kwargs, (action, from_status, to_status) = prepare(deployed, code)
    before = len(events_of(deployed, code))
    clock.advance(hours=1)
    act(deployed, code, username, operation, **kwargs)
    [event] = new_events(deployed, code, before)
    assert (event.action, event.from_status, event.to_status) == (action, from_status, to_status)
    with deployed.db.reading() as session:
        assert event.actor_id == person(session, username).id
    assert event.at == clock.now()


# ----------------------------------------------------------------------------- land: the paused-clock step


def receive_land(ctx, jurisdiction_code: str | None = "HANGBAC") -> str:
    with ctx.db.transaction() as session:
        d = receive(
            ctx,
            session,
            actor=person(session, "hk.motcua"),
            procedure_code=LAND,
            applicant=APPLICANT,
            jurisdiction_code=jurisdiction_code,
        )
        return d.code


def test_the_land_procedure_declares_a_paused_clock_step(deployed):
    from engine.deployment import compiled_version, version_in_effect

    with deployed.db.reading() as session:
        compiled = compiled_version(deployed, version_in_effect(session, LAND, deployed.clock.now()))
    assert compiled.steps["Task_ChoNopThue"].clock_paused is True
    assert [s for s, info in compiled.steps.items() if info.clock_paused] == ["Task_ChoNopThue"]


def test_land_dossier_clock_stops_while_the_tax_is_being_paid(deployed, clock):
    code = receive_land(deployed)
    due = dossier(deployed, code).due_at
    assert due == vn(2026, 3, 30, 9, 0)  # 20 working days from Mon 2 Mar 09:00
    times = [vn(2026, 3, 3, 9, 0), vn(2026, 3, 3, 10, 0), vn(2026, 3, 3, 11, 0), vn(2026, 3, 5, 14, 0)]
    for at, step in zip(times, LAND_TO_TAX, strict=True):
        clock.set(at)
        do_step(deployed, code, step, LAND_TO_TAX[step])
    d = dossier(deployed, code)
    assert (d.status, d.paused_since, d.due_at) == ("processing", vn(2026, 3, 5, 14, 0), due)
    [waiting] = open_tasks(deployed, code)
    assert waiting.step == "Task_ChoNopThue" and waiting.clock_paused
    with deployed.db.reading() as session:
        [pause] = session.scalars(select(Pause).where(Pause.dossier_id == d.id)).all()
        assert (pause.kind, pause.task_id, pause.ended_at) == ("step", waiting.id, None)
    clock.set(vn(2026, 3, 11, 14, 0))  # the citizen pays the next Wednesday: 4 working days later
    do_step(deployed, code, "Task_ChoNopThue", {"da_nop_thue": True, "so_chung_tu": "BL-0001"})
    with deployed.db.reading() as session:
        calendar = deployed.calendar(session)
        assert calendar.working_minutes_between(vn(2026, 3, 5, 14, 0), vn(2026, 3, 11, 14, 0)) == 4 * 480
        d = get_dossier(session, code)
        assert d.paused_since is None and d.paused_minutes == 4 * 480
        assert d.due_at == calendar.add_working_minutes(due, 4 * 480) == vn(2026, 4, 3, 9, 0)
        [pause] = session.scalars(select(Pause).where(Pause.dossier_id == d.id)).all()
        assert (pause.ended_at, pause.working_minutes) == (vn(2026, 3, 11, 14, 0), 4 * 480)
    [next_task] = open_tasks(deployed, code)
    assert next_task.step == "Task_ThamDinh"
    assert next_task.due_at == vn(2026, 3, 16, 14, 0)  # its 3 days count from the payment, over a weekend


def test_land_dossier_waiting_again_when_the_tax_is_not_paid(deployed, clock):
    code = receive_land(deployed)
    for step in LAND_TO_TAX:
        do_step(deployed, code, step, LAND_TO_TAX[step])
    clock.advance(days=1)
    do_step(deployed, code, "Task_ChoNopThue", {"da_nop_thue": False})
    d = dossier(deployed, code)
    assert d.paused_since == clock.now() and d.paused_minutes == 480
    [waiting] = open_tasks(deployed, code)
    assert waiting.step == "Task_ChoNopThue"
    assert snapshot(deployed, code)["pauses"] == 2


def test_land_dossier_at_district_level_is_refused_at_receipt(deployed):
    before = row_counts(deployed, Dossier, Task)
    with pytest.raises(OrganisationError) as err:
        receive_land(deployed, jurisdiction_code=None)
    assert [p.element_id for p in err.value.problems] == ["Lane_DiaChinh"]
    assert "commune" in err.value.problems[0].message
    assert row_counts(deployed, Dossier, Task) == before


def test_supplement_request_during_a_paused_step(deployed):
    code = receive_land(deployed)
    for step in LAND_TO_TAX:
        do_step(deployed, code, step, LAND_TO_TAX[step])
    before = snapshot(deployed, code)
    with pytest.raises(RuleViolation):
        ask_supplement(deployed, code, username="hk.motcua")
    assert_unchanged(deployed, code, before)


def test_extension_rows_are_kept(deployed):
    code = receive_permit(deployed)
    act(deployed, code, "hk.qldt.cv", lifecycle.extend, reason="Gia hạn", extra_days=1)
    with deployed.db.reading() as session:
        [ext] = session.scalars(select(Extension)).all()
        assert ext.reason == "Gia hạn" and ext.by_id == person(session, "hk.qldt.cv").id
