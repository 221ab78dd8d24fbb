"""The worker: plans and runs due work beside the web server (``motcua worker``).

Each round plans what falls due (reminders, escalations, digests; timers
are planned by the runtime when a workflow starts waiting), then runs the
due rows one transaction each: claim the row, run its handler, write what
it produces (notifications, outbox mail, a moved dossier) and mark the row
done, all in one commit. A worker killed at any point therefore leaves each
row either fully done or untouched, and the next worker does it once.
Finally the outbox is sent (see engine.mail for its at-least-once rule).

``MOTCUA_WORKER_TEST_DELAY`` (seconds, test aid only) makes the worker wait
after a handler ran and before its commit, so a test can kill it there.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime

from SpiffWorkflow.util.task import TaskState as SpiffState
from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from engine import events, mail
from engine.context import Context
from engine.deadline_events import (
    HANDLERS,
    HANDLING_ROLES,
    PAUSED_RETRY,
    Outcome,
    Postpone,
    Situation,
    plan_deadlines,
)
from engine.deployment import compiled_by_id
from engine.due_work import claim_next, finish, postpone, record_failure
from engine.models import Dossier, DossierStatus, DueWork, Pause, Task, TaskState, Unit
from engine.notifications import notify, unit_members
from engine.runtime import Mover, load_workflow, run_engine
from engine.timers import PLANNED_KEY, TIMER_KIND, find_task, fire, shifted

log = logging.getLogger("motcua.worker")
TEST_DELAY_ENV = "MOTCUA_WORKER_TEST_DELAY"


@dataclass
class Round:
    """What one round did, for the log and for tests."""

    planned: int = 0
    done: int = 0
    failed: int = 0
    mailed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------ BPMN timers


def fire_timer(situation: Situation, session: Session, row: DueWork, ctx: Context) -> Outcome:
    """Fire one waiting timer of a dossier's workflow and mirror the result like a completed step."""
    dossier_id, _, spiff_id = row.reference.partition(":")
    dossier = session.scalar(select(Dossier).where(Dossier.id == int(dossier_id)).options(undefer(Dossier.state)))
    if dossier is None or not DossierStatus(dossier.status).is_open:
        return "closed"
    if dossier.paused_since is not None:
        return Postpone(situation.now + PAUSED_RETRY)
    compiled = compiled_by_id(ctx, session, dossier.procedure_version_id)
    workflow = load_workflow(compiled, dossier)
    timer = find_task(workflow, spiff_id)
    if timer is None or timer.state != SpiffState.WAITING:
        return "gone"
    due = _due_after_pauses(session, situation, dossier, timer, row)
    if due > situation.now:
        return Postpone(due)
    attached = _attached_unit(session, dossier, timer)
    fire(timer)
    run_engine(workflow)
    status = dossier.status
    with session.no_autoflush:
        step = Mover(session, dossier, compiled, situation.calendar, situation.now, None).sync(
            workflow, from_unit_id=attached)
    name = timer.task_spec.bpmn_name or timer.task_spec.bpmn_id or timer.task_spec.name
    events.record(session, dossier, "timer_fired", situation.now, None, from_status=status,
                  step=timer.task_spec.bpmn_id or timer.task_spec.name, timer=name,
                  cancelled=[t.step for t in step.cancelled], opened=[t.step for t in step.opened])
    if step.opened:
        _tell_units(session, situation, row, dossier, name, step.opened)
    elif attached is not None:
        _tell_leaders(session, situation, row, dossier, name, attached)
    return "fired"


def _due_after_pauses(session: Session, situation: Situation, dossier: Dossier, timer, row: DueWork) -> datetime:
    """The planned moment moved on by the working time the clock stood still since it was planned."""
    planned = timer._get_internal_data(PLANNED_KEY)
    due = datetime.fromisoformat(planned) if planned else row.due_at
    minutes = session.scalar(select(func.coalesce(func.sum(Pause.working_minutes), 0)).where(
        Pause.dossier_id == dossier.id, Pause.started_at >= row.created_at, Pause.ended_at.is_not(None)))
    return shifted(due, int(minutes or 0), situation.calendar)


def _attached_unit(session: Session, dossier: Dossier, timer) -> int | None:
    """The unit of the step a boundary timer is attached to (the hand-off's sender)."""
    siblings = {str(t.id) for t in (timer.parent.children if timer.parent else []) if t.task_spec.manual}
    if not siblings:
        return None
    return session.scalar(select(Task.unit_id).where(
        Task.dossier_id == dossier.id, Task.state == TaskState.OPEN, Task.spiff_id.in_(siblings)).limit(1))


def _tell_units(session: Session, situation: Situation, row: DueWork, dossier: Dossier, name: str,
                opened: list[Task]) -> None:
    for unit_id in dict.fromkeys(t.unit_id for t in opened):
        steps = ", ".join(f"“{t.step_name}”" for t in opened if t.unit_id == unit_id)
        unit = session.get(Unit, unit_id)
        notify(session, situation.settings, unit_members(session, unit_id, HANDLING_ROLES), kind=TIMER_KIND,
               now=situation.now, due_work_id=row.id, dossier_id=dossier.id, link=f"/dossiers/{dossier.code}",
               title=f"Hồ sơ {dossier.code}: {name}",
               body=(f"Hẹn giờ “{name}” của hồ sơ {dossier.code} (người nộp: {dossier.applicant_name}) đã đến hạn.\n"
                     f"{unit.name if unit else 'Đơn vị'} có bước mới cần xử lý: {steps}."))


def _tell_leaders(session: Session, situation: Situation, row: DueWork, dossier: Dossier, name: str,
                  unit_id: int) -> None:
    """A timer that opens no step (an escalation to an end event) is a message to the step's leaders."""
    step = session.scalar(select(Task).where(
        Task.dossier_id == dossier.id, Task.unit_id == unit_id, Task.state == TaskState.OPEN).order_by(Task.id))
    what = f"bước “{step.step_name}”" if step else "bước đang xử lý"
    notify(session, situation.settings, unit_members(session, unit_id, ("leader",)), kind=TIMER_KIND,
           now=situation.now, due_work_id=row.id, dossier_id=dossier.id, link=f"/dossiers/{dossier.code}",
           title=f"Hồ sơ {dossier.code}: {name}",
           body=(f"Hẹn giờ “{name}” của hồ sơ {dossier.code} (người nộp: {dossier.applicant_name}) đã đến hạn "
                 f"khi {what} vẫn chưa xong.\nĐề nghị lãnh đạo đơn vị giải quyết ngay."))


# ------------------------------------------------------------------ the loop


class Worker:
    def __init__(self, ctx: Context, *, batch: int = 500) -> None:
        self.ctx = ctx
        self.batch = batch
        self.test_delay = float(os.environ.get(TEST_DELAY_ENV) or 0)
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True

    def situation(self, session: Session) -> Situation:
        return Situation(now=self.ctx.clock.now(), calendar=self.ctx.calendar(session), settings=self.ctx.settings)

    def plan(self) -> int:
        with self.ctx.db.transaction() as session:
            return plan_deadlines(session, self.situation(session))

    def run_due(self, result: Round) -> None:
        for _ in range(self.batch):
            if self._stopping:
                return
            row_id: int | None = None
            try:
                with self.ctx.db.transaction() as session:
                    situation = self.situation(session)
                    row = claim_next(session, situation.now)
                    if row is None:
                        return
                    row_id = row.id
                    outcome = self._handle(situation, session, row)
                    if isinstance(outcome, Postpone):
                        postpone(row, outcome.until)
                        label = "postponed"
                    else:
                        finish(row, situation.now, outcome)
                        label = outcome.split(":", 1)[0]
                    if self.test_delay:
                        time.sleep(self.test_delay)
                result.done += 1
                result.outcomes[label] = result.outcomes.get(label, 0) + 1
            except Exception as exc:  # one bad row must not stop the others
                if row_id is None:
                    raise
                result.failed += 1
                log.exception("due work %s failed", row_id)
                with self.ctx.db.transaction() as session:
                    record_failure(session, row_id, self.ctx.clock.now(), f"{type(exc).__name__}: {exc}")

    def _handle(self, situation: Situation, session: Session, row: DueWork) -> Outcome:
        if row.kind == TIMER_KIND:
            return fire_timer(situation, session, row, self.ctx)
        handler = HANDLERS.get(row.kind)
        if handler is None:
            return "unknown_kind"
        return handler(situation, session, row)

    def run_once(self) -> Round:
        """Plan, run everything due, send the outbox."""
        result = Round(planned=self.plan())
        self.run_due(result)
        result.mailed = mail.send_pending(self.ctx)
        return result

    def run_forever(self, poll_seconds: float | None = None) -> None:
        interval = poll_seconds or self.ctx.settings.worker.poll_seconds
        while not self._stopping:
            started = time.monotonic()
            try:
                result = self.run_once()
                if result.done or result.failed or result.mailed:
                    log.info("worker round: %s", result)
            except Exception:  # e.g. the database is restarting: wait and try again
                log.exception("worker round failed")
            deadline = started + interval
            while not self._stopping and time.monotonic() < deadline:
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

