"""Driving a dossier's workflow: start it, run a human step, mirror the result in tables.

After every move the open human tasks of the workflow are mirrored into the
``task`` table (the inboxes), handoffs are updated, and the pruned state is
stored. Tasks are found by scanning ``workflow.tasks`` directly rather than
through SpiffWorkflow's depth-limited iterator, so no task can hide from us.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState as SpiffState
from sqlalchemy.orm import Session

from engine import handoffs, pauses
from engine.calendar import WorkCalendar
from engine.errors import RuleViolation
from engine.models import Dossier, DossierStatus, Task, TaskState, User
from engine.rowstore import OrmStore, Store
from engine.scripting import SCRIPT_ENGINE, expression_error_in
from engine.specs import CompiledProcedure
from engine.timers import plan_timers
from engine.workflow_state import dump_state, load_state

_NOT_FINISHED = int(SpiffState.NOT_FINISHED_MASK)
_WAITING = int(SpiffState.WAITING)


@dataclass
class Step:
    """What one move of the workflow changed."""

    opened: list[Task] = field(default_factory=list)
    cancelled: list[Task] = field(default_factory=list)
    finished: bool = False


def new_workflow(compiled: CompiledProcedure, data: Mapping[str, Any]) -> BpmnWorkflow:
    workflow = BpmnWorkflow(compiled.spec, dict(compiled.subprocess_specs), script_engine=SCRIPT_ENGINE)
    workflow.task_tree.data.update(data)
    for child in workflow.task_tree.children:
        child.data.update(data)
    return workflow


def load_workflow(compiled: CompiledProcedure, dossier: Dossier) -> BpmnWorkflow:
    if dossier.state is None:
        raise RuleViolation(f"Dossier {dossier.code} has no workflow state")
    return load_state(dossier.state, compiled.spec, compiled.subprocess_specs)


def ready_human_tasks(workflow: BpmnWorkflow) -> list[SpiffTask]:
    """READY manual tasks, found without SpiffWorkflow's depth-limited iterator."""
    return [t for t in workflow.tasks.values() if t.state == SpiffState.READY and t.task_spec.manual]


def is_finished(workflow: BpmnWorkflow) -> bool:
    """True only when no task of the workflow can still run."""
    return not any(t.state & _NOT_FINISHED for t in workflow.tasks.values())


def is_waiting(workflow: BpmnWorkflow) -> bool:
    return any(t.state == _WAITING for t in workflow.tasks.values())


def spiff_task(workflow: BpmnWorkflow, task: Task) -> SpiffTask:
    found = workflow.tasks.get(UUID(task.spiff_id))
    if found is None or found.state != SpiffState.READY:
        raise RuleViolation(f"Step '{task.step_name}' is no longer waiting for input")
    return found


def run_engine(workflow: BpmnWorkflow) -> None:
    """Run automatic steps (gateways, scripts, events) until people or timers are needed."""
    try:
        workflow.refresh_timers()
        workflow.do_engine_steps()
    except SpiffWorkflowException as exc:
        raise _explain(exc) from exc


def _explain(exc: SpiffWorkflowException) -> RuleViolation:
    """A designer-readable reason why the engine could not go on."""
    spec = getattr(getattr(exc, "task", None), "task_spec", None) or getattr(exc, "task_spec", None)
    where = getattr(spec, "bpmn_id", None) or getattr(spec, "name", None)
    cause = expression_error_in(exc)
    message = cause.message if cause else str(exc).splitlines()[0]
    return RuleViolation(f"The procedure could not continue at '{where}': {message}" if where else message)


@dataclass
class Mover:
    """Everything needed to mirror one move of one dossier into the tables."""

    session: Session
    dossier: Dossier
    compiled: CompiledProcedure
    calendar: WorkCalendar
    now: datetime
    actor: User | None
    store: Store | None = None

    def __post_init__(self) -> None:
        self.store = self.store or OrmStore(self.session)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.calendar.settings.timezone)

    def sync(self, workflow: BpmnWorkflow, *, from_unit_id: int | None, slip: handoffs.Slip | None = None) -> Step:
        """Mirror the workflow's human tasks into rows, update handoffs, store state.

        New task rows are flushed once for their ids; everything else is
        written with the transaction, so the dossier row is updated once.
        """
        step = Step()
        open_rows = {t.spiff_id: t for t in self._open_rows()}
        slip = slip or handoffs.Slip(self.store, self.dossier)
        ready = {str(t.id): t for t in ready_human_tasks(workflow)}
        for spiff_id, row in open_rows.items():
            if spiff_id not in ready:
                row.state = TaskState.CANCELLED
                row.completed_at = self.now
                step.cancelled.append(row)
        step.opened = [self._open_row(task) for spiff_id, task in ready.items() if spiff_id not in open_rows]
        with self.session.no_autoflush:
            slip.record_moves(step.opened, from_unit_id=from_unit_id, actor=self.actor, now=self.now,
                              extend=self._extend_stint)
            self._pause_for_paused_steps(step.opened)
            step.finished = is_finished(workflow)
            if not ready and not step.finished and not is_waiting(workflow):
                raise RuleViolation(
                    f"The procedure of dossier {self.dossier.code} stopped with no step to do; "
                    "check its diagram for a dead end")
            if step.finished:
                self._finish(from_unit_id, slip)
            busy = {row.unit_id for row in open_rows.values() if row.state == TaskState.OPEN}
            busy.update(row.unit_id for row in step.opened)
            slip.close_idle(busy, now=self.now, tz=self.tz)
            plan_timers(self.session, self.dossier, workflow, self.now, self.calendar, self.compiled)
            self.dossier.state = dump_state(workflow)
        return step

    def _open_rows(self) -> list[Task]:
        """Rows open in the database and not closed earlier in this transaction."""
        return self.store.open_tasks(self.dossier)

    def _open_row(self, task: SpiffTask) -> Task:
        info = self.compiled.steps.get(task.task_spec.name)
        lane = task.task_spec.lane or ""
        unit_id = self.dossier.lane_units.get(lane)
        if unit_id is None:
            raise RuleViolation(f"Step '{task.task_spec.name}' is in lane '{lane}', which has no unit")
        row = Task(
            dossier_id=self.dossier.id,
            spiff_id=str(task.id),
            step=task.task_spec.name,
            step_name=task.task_spec.bpmn_name or task.task_spec.name,
            lane=lane,
            unit_id=unit_id,
            clock_paused=bool(info and info.clock_paused),
            created_at=self.now,
            due_at=self._step_due(info.minutes if info else 0),
        )
        self.store.add(row)
        return row

    def _extend_stint(self, due: datetime, task: Task) -> datetime:
        """A unit's due date moved on by one more step's share of working time."""
        info = self.compiled.steps.get(task.step)
        minutes = info.minutes if info and not info.clock_paused else 0
        return self.calendar.add_working_minutes(due, minutes) if minutes > 0 else max(due, task.due_at)

    def _step_due(self, minutes: int) -> datetime:
        """A step's due moment: its share of working time from when it can start."""
        if minutes <= 0:
            return self.dossier.due_at
        start = max(self.now, self.dossier.counting_from)
        return self.calendar.add_working_minutes(start, minutes)

    def _pause_for_paused_steps(self, opened: list[Task]) -> None:
        """A paused-clock step (e.g. the citizen paying tax) stops the dossier's clock."""
        for row in opened:
            if row.clock_paused and self.dossier.paused_since is None:
                pauses.start(
                    self.store,
                    self.dossier,
                    "step",
                    self.now,
                    reason=row.step_name,
                    actor=self.actor,
                    task=row,
                )

    def _finish(self, from_unit_id: int | None, slip: handoffs.Slip) -> None:
        self.dossier.status = DossierStatus.AWAITING_RETURN
        self.dossier.finished_at = self.now
        self.dossier.result_timing = handoffs.judge(self.now, self.dossier.due_at, self.tz)
        slip.hand_back_to_counter(from_unit_id=from_unit_id, actor=self.actor, now=self.now)
