"""BPMN timer events, fired by the worker on the working calendar instead of the wall clock.

SpiffWorkflow 3.2 decides whether a timer has fired by comparing with
``datetime.now()`` inside the library, and it cannot read the
``working_days(n)`` marker of the safe evaluator at all. So every timer of
a compiled procedure is switched to a definition that only fires when told
(:func:`make_timers_deterministic`, once per compiled spec). When a dossier's
workflow starts waiting on a timer, :func:`plan_timers` (called from
``Mover.sync``) computes the due moment with the calendar and the
engine's clock and records it as due work; the worker then fires it
(``engine.worker``) exactly once. Procedures without timers pay nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task as SpiffTask
from SpiffWorkflow.util.task import TaskState as SpiffState
from sqlalchemy.orm import Session

from engine.calendar import WorkCalendar
from engine.due_work import plan
from engine.errors import RuleViolation
from engine.expressions import working_days_in

TIMER_KIND = "timer"
PLANNED_KEY = "motcua_timer_due"  # internal data of a waiting timer task once its due work is recorded


class WorkerDurationTimer(DurationTimerEventDefinition):
    """A duration timer that fires only when the worker says so."""

    def has_fired(self, my_task: SpiffTask) -> bool:
        return bool(my_task._get_internal_data("event_fired", False))


class WorkerDateTimer(TimeDateEventDefinition):
    """A date timer that fires only when the worker says so."""

    def has_fired(self, my_task: SpiffTask) -> bool:
        return bool(my_task._get_internal_data("event_fired", False))


_SWAPS = {DurationTimerEventDefinition: WorkerDurationTimer, TimeDateEventDefinition: WorkerDateTimer}


def make_timers_deterministic(spec: BpmnProcessSpec, subprocess_specs: Mapping[str, BpmnProcessSpec]) -> bool:
    """Switch duration and date timers to worker-fired ones; True if the procedure has any.

    Cycle timers are left to SpiffWorkflow (real clock) and not planned.
    """
    found = False
    for process in (spec, *subprocess_specs.values()):
        for task_spec in process.task_specs.values():
            definition = getattr(task_spec, "event_definition", None)
            swap = _SWAPS.get(type(definition))
            if swap is not None:
                definition.__class__ = swap
                found = True
            elif isinstance(definition, WorkerDurationTimer | WorkerDateTimer):
                found = True
    return found


def waiting_timers(workflow: BpmnWorkflow) -> list[SpiffTask]:
    """Timer event tasks of the workflow (and its subprocesses) that are waiting to fire."""
    found = []
    for task in _all_tasks(workflow):
        definition = getattr(task.task_spec, "event_definition", None)
        if task.state == SpiffState.WAITING and isinstance(definition, WorkerDurationTimer | WorkerDateTimer):
            found.append(task)
    return found


def _all_tasks(workflow: BpmnWorkflow) -> Iterable[SpiffTask]:
    yield from workflow.tasks.values()
    for sub in workflow.subprocesses.values():
        yield from sub.tasks.values()


def find_task(workflow: BpmnWorkflow, task_id: str) -> SpiffTask | None:
    return next((t for t in _all_tasks(workflow) if str(t.id) == task_id), None)


def timer_reference(dossier_id: int, task: SpiffTask) -> str:
    return f"{dossier_id}:{task.id}"


def due_moment(task: SpiffTask, start: datetime, calendar: WorkCalendar) -> datetime:
    """When a timer that starts waiting at ``start`` falls due.

    ``working_days(n)`` counts on the working calendar; ISO durations
    ("P3D", "PT4H") count calendar time; a date is taken in the calendar's
    zone when it has none.
    """
    definition: TimerEventDefinition = task.task_spec.event_definition
    value = task.workflow.script_engine.evaluate(task, definition.expression)
    days = working_days_in(value)
    if days is not None:
        return calendar.add_working_days(start, days)
    text = str(value).strip()
    if isinstance(definition, WorkerDurationTimer) or text.upper().startswith("P"):
        parsed = TimerEventDefinition.parse_iso_duration(text)
        return start + TimerEventDefinition.get_timedelta_from_start(parsed, start)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(calendar.settings.timezone))
    return moment


def plan_timers(session: Session, dossier, workflow: BpmnWorkflow, now: datetime, calendar: WorkCalendar,
                compiled) -> None:
    """Record due work for every timer the workflow just started waiting on.

    The due moment is remembered in the timer task's internal data, so a
    timer is planned once however often the dossier moves; the unique key
    of ``due_work`` guards the rest.
    """
    if not compiled.has_timers:
        return
    for task in waiting_timers(workflow):
        if task._get_internal_data(PLANNED_KEY) is not None:
            continue
        try:
            due = due_moment(task, now, calendar)
        except Exception as exc:  # a bad expression: say which timer, never a bare traceback
            name = task.task_spec.bpmn_name or task.task_spec.bpmn_id or task.task_spec.name
            raise RuleViolation(f"The timer '{name}' of dossier {dossier.code} cannot be computed: {exc}") from exc
        task._set_internal_data(**{PLANNED_KEY: due.isoformat(), "event_value": due.isoformat()})
        plan(session, TIMER_KIND, timer_reference(dossier.id, task), due, now)


def fire(task: SpiffTask) -> None:
    """Make one waiting timer fire; the caller then runs the engine."""
    task._set_internal_data(event_fired=True)


def shifted(due: datetime, paused_minutes: int, calendar: WorkCalendar) -> datetime:
    """A timer's due moment moved on by the working time the dossier's clock stood still."""
    if paused_minutes <= 0:
        return due
    return calendar.add_working_minutes(due, paused_minutes)
