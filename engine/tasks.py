"""Human steps: the unit's inbox, claiming a step, completing it with form data."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload

from engine import access, events, handoffs, pauses
from engine.context import Context
from engine.deployment import compiled_by_id
from engine.errors import Conflict, NotFound, RuleViolation
from engine.forms import validate_submission
from engine.models import Dossier, DossierStatus, Procedure, ProcedureVersion, Task, TaskState, User
from engine.rowstore import RowStore
from engine.runtime import Mover, load_workflow, run_engine, spiff_task
from engine.search import dossier_matches


@dataclass(frozen=True)
class InboxQuery:
    """Filters of a unit's inbox ("Hồ sơ cần xử lý")."""

    unit_id: int
    procedure_code: str | None = None
    search: str | None = None
    mine_only_user_id: int | None = None
    limit: int = 50
    offset: int = 0


def inbox_statement(query: InboxQuery) -> Select:
    """One indexed query over open tasks, soonest due first."""
    stmt = (
        select(Task)
        .join(Task.dossier)
        .where(Task.unit_id == query.unit_id, Task.state == TaskState.OPEN)
        .options(joinedload(Task.dossier))
    )
    if query.procedure_code:
        stmt = (
            stmt.join(ProcedureVersion, Dossier.procedure_version_id == ProcedureVersion.id)
            .join(Procedure)
            .where(Procedure.code == query.procedure_code)
        )
    if query.search:
        stmt = stmt.where(dossier_matches(query.search))
    if query.mine_only_user_id is not None:
        stmt = stmt.where(Task.claimed_by_id == query.mine_only_user_id)
    return stmt


def count_statement(query: InboxQuery) -> Select:
    """The number of matching tasks; from the task index alone unless a filter reads the dossier."""
    if query.procedure_code or query.search:
        return select(func.count()).select_from(inbox_statement(query).order_by(None).subquery())
    stmt = select(func.count()).select_from(Task).where(Task.unit_id == query.unit_id, Task.state == TaskState.OPEN)
    if query.mine_only_user_id is not None:
        stmt = stmt.where(Task.claimed_by_id == query.mine_only_user_id)
    return stmt


def inbox(session: Session, query: InboxQuery) -> tuple[list[Task], int]:
    """A page of the inbox and the total number of matching tasks."""
    stmt = inbox_statement(query)
    total = session.scalar(count_statement(query))
    rows = session.scalars(stmt.order_by(Task.due_at, Task.id).limit(query.limit).offset(query.offset))
    return list(rows.unique()), int(total or 0)


def get_task(session: Session, task_id: int, *, with_state: bool = False) -> Task:
    """The task with its dossier, unit and people in one query (and the dossier's workflow state if asked).

    Every client shows these with the task; loading them lazily cost a round trip each.
    """
    if not 0 < task_id < 2**31:
        raise NotFound(f"Task {task_id} does not exist")
    load = joinedload(Task.dossier)
    if with_state:
        load = load.undefer(Dossier.state)
    task = session.scalar(select(Task).where(Task.id == task_id).options(
        load, joinedload(Task.unit), joinedload(Task.claimed_by), joinedload(Task.completed_by)))
    if task is None:
        raise NotFound(f"Task {task_id} does not exist")
    return task


def _row_of(store: RowStore, task_id: int, *, with_state: bool) -> Task:
    if not 0 < task_id < 2**31:
        raise NotFound(f"Task {task_id} does not exist")
    task = store.task_with_dossier(task_id, with_state=with_state, with_dossier_rows=True)
    if task is None:
        raise NotFound(f"Task {task_id} does not exist")
    return task


def _stale(dossier: Dossier) -> Callable[[], Conflict]:
    return lambda: Conflict(f"Dossier {dossier.code} was changed by someone else at the same time; "
                            "reload and try again")


def claim(ctx: Context, session: Session, task_id: int, actor: User) -> Task:
    """Take a step for oneself; exactly one of two simultaneous claims wins.

    Rows travel by plain SQL (``engine.rowstore``): a claim is a clerk's most
    frequent click after opening the inbox.
    """
    store = RowStore(session)
    task = _row_of(store, task_id, with_state=False)
    access.require_task(actor, task)
    if task.state != TaskState.OPEN:
        raise RuleViolation(f"Step '{task.step_name}' is already finished")
    if task.claimed_by_id == actor.id:
        return store.attach(task)
    now = ctx.clock.now()
    if not store.claim(task, actor.id, now):
        raise Conflict(f"Step '{task.step_name}' has just been taken by someone else")
    dossier = task.dossier
    handoffs.mark_received(store, dossier, task.unit_id, actor, now)
    events.record(store, dossier, "claimed", now, actor, from_status=dossier.status, task=task, step=task.step)
    store.flush(_stale(dossier))
    return store.attach(task)


def release(ctx: Context, session: Session, task_id: int, actor: User) -> Task:
    """Give a claimed step back to the unit's pool (the holder or a leader of the unit)."""
    task = get_task(session, task_id)
    access.require_task(actor, task)
    if task.state != TaskState.OPEN:
        raise RuleViolation(f"Step '{task.step_name}' is already finished")
    if task.claimed_by_id is None:
        return task
    if task.claimed_by_id != actor.id and not actor.has_role("leader"):
        raise RuleViolation("Only the person who took this step, or the unit's leader, can release it")
    task.claimed_by, task.claimed_by_id, task.claimed_at = None, None, None
    events.record(
        session,
        task.dossier,
        "released",
        ctx.clock.now(),
        actor,
        from_status=task.dossier.status,
        task=task,
        step=task.step,
    )
    return task


def complete(
    ctx: Context,
    session: Session,
    task_id: int,
    actor: User,
    data: Mapping[str, Any],
    *,
    from_form: bool = False,
    expected_version: int | None = None,
) -> Task:
    """Finish a step with its form data and move the dossier on.

    Only the step's declared fields enter the dossier. The dossier row's
    version makes a second, simultaneous completion fail with a conflict
    instead of running the step twice. Rows travel by plain SQL
    (``engine.rowstore``), the cost of a step being what the service is
    measured by.
    """
    store = RowStore(session)
    task = _row_of(store, task_id, with_state=True)
    access.require_task(actor, task)
    if task.state != TaskState.OPEN:
        raise Conflict(f"Step '{task.step_name}' has already been completed")
    if task.claimed_by_id not in (None, actor.id):
        raise Conflict(f"Step '{task.step_name}' is being handled by someone else")
    dossier = task.dossier
    if expected_version is not None and dossier.version != expected_version:
        raise Conflict(f"Dossier {dossier.code} has changed since you opened it; reload and try again")
    if dossier.status != DossierStatus.PROCESSING:
        raise RuleViolation(f"Dossier {dossier.code} is not being processed (status: {dossier.status})")
    compiled = compiled_by_id(ctx, session, dossier.procedure_version_id)
    step = compiled.steps.get(task.step)
    cleaned = validate_submission(step.fields if step else (), data, from_form=from_form)
    _advance(ctx, store, task, dossier, compiled, actor, cleaned)
    store.flush(_stale(dossier))
    return store.attach(task)


def _advance(ctx: Context, store: RowStore, task: Task, dossier: Dossier, compiled, actor: User,
             cleaned: dict[str, Any]) -> None:
    """Run the step in the workflow and mirror the result in the rows."""
    now = ctx.clock.now()
    calendar = ctx.calendar(store.session)
    workflow = load_workflow(compiled, dossier)
    target = spiff_task(workflow, task)
    target.data.update(cleaned)
    target.run()
    run_engine(workflow)
    _close(task, actor, now, calendar)
    slip = handoffs.Slip(store, dossier)
    slip.mark_received(task.unit_id, actor, now)
    if task.clock_paused and dossier.paused_since is not None:
        pauses.end(store, dossier, now, calendar)
    Mover(store.session, dossier, compiled, calendar, now, actor, store).sync(
        workflow, from_unit_id=task.unit_id, slip=slip)
    dossier.data = {**(dossier.data or {}), **cleaned}
    events.record(
        store,
        dossier,
        "completed",
        now,
        actor,
        from_status=DossierStatus.PROCESSING,
        task=task,
        step=task.step,
        data=cleaned,
    )


def _close(task: Task, actor: User, now, calendar) -> None:
    task.state = TaskState.DONE
    task.completed_at = now
    task.completed_by_id = actor.id
    if task.claimed_by_id is None:
        task.claimed_by_id, task.claimed_at = actor.id, now
    task.working_minutes = calendar.working_minutes_between(task.created_at, now)


def open_tasks(session: Session, dossier: Dossier) -> list[Task]:
    return list(
        session.scalars(
            select(Task).where(Task.dossier_id == dossier.id, Task.state == TaskState.OPEN).order_by(Task.id)
        )
    )


def steps_of(session: Session, dossier: Dossier) -> list[Task]:
    return list(session.scalars(select(Task).where(Task.dossier_id == dossier.id).order_by(Task.id)))
