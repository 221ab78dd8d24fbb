"""The consistency checker: silent on dossiers in every real state, loud on each kind of corruption."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, insert, select, update

from engine import consistency, demo
from engine.models import Dossier, Event, Handoff, Task, TaskState
from engine.settings import WORKFLOWS_DIR
from tests.helpers import PERMIT_HAPPY, drive, open_tasks, receive_permit


def _check(ctx, code: str | None = None) -> list[consistency.Inconsistency]:
    with ctx.db.reading() as session:
        return consistency.check_all(ctx, session, None if code is None else [code])


def _invariants(problems) -> set[str]:
    return {p.invariant for p in problems}


def test_demo_dossiers_in_every_state_are_consistent(ctx):
    demo.build(ctx, WORKFLOWS_DIR, dossiers=30)
    with ctx.db.reading() as session:
        statuses = set(session.scalars(select(Dossier.status)))
    assert {"processing", "returned", "awaiting_return"} <= statuses
    assert _check(ctx) == []


def test_a_driven_dossier_is_consistent_at_every_step(deployed):
    code = receive_permit(deployed)
    assert _check(deployed, code) == []
    drive(deployed, code, PERMIT_HAPPY)
    assert _check(deployed, code) == []


@pytest.fixture
def received(deployed):
    code = receive_permit(deployed)
    [task] = open_tasks(deployed, code)
    return deployed, code, task


def test_a_lost_task_row_is_found(received):
    ctx, code, task = received
    with ctx.db.transaction() as session:
        session.execute(update(Task).where(Task.id == task.id).values(state=TaskState.CANCELLED))
    problems = _check(ctx, code)
    assert "open-tasks" in _invariants(problems)
    assert any("has no open task row" in p.message for p in problems)
    assert any("no open step" in p.message for p in problems)  # the unit's stint is now idle


def test_a_ghost_task_row_is_found(received):
    ctx, code, task = received
    with ctx.db.transaction() as session:
        session.execute(insert(Task).values(
            dossier_id=task.dossier_id, spiff_id="00000000-0000-0000-0000-000000000000", step="Ghost",
            step_name="Ghost", lane="", unit_id=task.unit_id, state=TaskState.OPEN,
            created_at=task.created_at, due_at=task.due_at))
    problems = _check(ctx, code)
    assert [p.invariant for p in problems] == ["open-tasks"]
    assert "is not a ready step" in problems[0].message


def test_a_gap_in_the_handoffs_is_found(received):
    ctx, code, task = received
    with ctx.db.transaction() as session:
        session.execute(update(Handoff).where(Handoff.dossier_id == task.dossier_id).values(seq=Handoff.seq + 1))
    assert _invariants(_check(ctx, code)) == {"handoffs"}


def test_a_unit_with_a_step_but_no_stint_is_found(received):
    ctx, code, task = received
    with ctx.db.transaction() as session:
        session.execute(delete(Handoff).where(Handoff.dossier_id == task.dossier_id, Handoff.to_unit_id == task.unit_id))
    assert any("has an open step but no open stint" in p.message for p in _check(ctx, code))


def test_a_finished_workflow_still_processing_is_found(deployed):
    code = receive_permit(deployed)
    drive(deployed, code, PERMIT_HAPPY)
    with deployed.db.transaction() as session:
        session.execute(update(Dossier).where(Dossier.code == code).values(status="processing"))
    problems = _check(deployed, code)
    assert "status" in _invariants(problems)
    assert any("workflow is finished but the dossier is processing" in p.message for p in problems)


def test_a_twice_completed_step_is_found(deployed):
    code = receive_permit(deployed)
    drive(deployed, code, PERMIT_HAPPY)
    with deployed.db.transaction() as session:
        first = session.scalars(select(Event).join(Dossier).where(
            Dossier.code == code, Event.action == "completed")).first()
        session.execute(insert(Event).values(dossier_id=first.dossier_id, at=first.at, action="completed",
                                             task_id=first.task_id, detail={}))
    problems = _check(deployed, code)
    assert [(p.invariant, p.message) for p in problems] == [
        ("events", f"done task {first.task_id} has 2 'completed' events")]


def test_motcua_check_prints_problems_and_exits_non_zero(received, monkeypatch):
    from cli.main import main

    ctx, code, task = received
    monkeypatch.setenv("MOTCUA_DATABASE_URL", ctx.db.url)
    runner = CliRunner()
    ok = runner.invoke(main, ["check"])
    assert ok.exit_code == 0, ok.output
    assert "1 dossier" in ok.output
    with ctx.db.transaction() as session:
        session.execute(update(Task).where(Task.id == task.id).values(state=TaskState.DONE))
    bad = runner.invoke(main, ["check"])
    assert bad.exit_code == 1
    assert code in bad.output and "[open-tasks]" in bad.output and "[events]" in bad.output
