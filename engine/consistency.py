"""Does every dossier's bookkeeping agree with itself? One function per invariant.

A dossier is told four times: the stored SpiffWorkflow state, the ``task``
rows (the inboxes), the ``handoff`` rows (the tracking slip) and the event
log. Races, crashed processes and bugs show up as disagreement between them:
a ready step nobody's inbox shows, a unit holding a dossier with nothing to
do, a finished workflow still "processing", a step completed twice. The race
and kill suites run these checks after every round, and ``motcua check`` runs
them on a live database.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, undefer

from engine.context import Context
from engine.deployment import compiled_by_id
from engine.handoffs import RESULT_NOTE
from engine.models import Dossier, DossierStatus, Event, Handoff, Task, TaskState
from engine.runtime import is_finished, load_workflow, ready_human_tasks

OPEN_STATUSES = frozenset({DossierStatus.PROCESSING, DossierStatus.AWAITING_SUPPLEMENT})
FINISHED_STATUSES = frozenset({DossierStatus.AWAITING_RETURN, DossierStatus.RETURNED})


@dataclass(frozen=True)
class Inconsistency:
    """One broken invariant of one dossier, in words an administrator can act on."""

    code: str
    invariant: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: [{self.invariant}] {self.message}"


@dataclass
class DossierFacts:
    """Everything the checks look at, read once per dossier."""

    dossier: Dossier
    tasks: list[Task]
    stints: list[Handoff]
    completed_events: Counter
    ready_ids: set[str] | None  # spiff ids of READY human tasks; None when the state cannot be loaded
    finished: bool | None
    state_error: str | None = None

    @property
    def open_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.state == TaskState.OPEN]


def gather(ctx: Context, session: Session, dossier: Dossier) -> DossierFacts:
    """Read the dossier's rows and rebuild its workflow from the stored state."""
    tasks = list(session.scalars(select(Task).where(Task.dossier_id == dossier.id).order_by(Task.id)))
    stints = list(session.scalars(select(Handoff).where(Handoff.dossier_id == dossier.id).order_by(Handoff.seq)))
    completed = Counter(dict(session.execute(
        select(Event.task_id, func.count(Event.id))
        .where(Event.dossier_id == dossier.id, Event.action == "completed")
        .group_by(Event.task_id)).all()))
    ready, finished, error = None, None, None
    try:
        workflow = load_workflow(compiled_by_id(ctx, session, dossier.procedure_version_id), dossier)
        ready = {str(t.id) for t in ready_human_tasks(workflow)}
        finished = is_finished(workflow)
    except Exception as exc:  # a state that cannot be loaded is itself the finding
        error = f"{type(exc).__name__}: {exc}"
    return DossierFacts(dossier, tasks, stints, completed, ready, finished, error)


def open_tasks_match_state(facts: DossierFacts) -> list[str]:
    """Open task rows are exactly the ready human tasks of the stored workflow (while the dossier is open).

    A closed dossier (returned, refused, withdrawn, awaiting return) has no open task row at all.
    """
    if facts.state_error:
        return [f"the stored workflow state cannot be loaded ({facts.state_error})"]
    rows = {t.spiff_id: t for t in facts.open_tasks}
    if facts.dossier.status not in OPEN_STATUSES:
        return [f"open task row {t.id} ({t.step}) although the dossier is {facts.dossier.status}"
                for t in rows.values()]
    assert facts.ready_ids is not None
    problems = [f"open task row {t.id} ({t.step}) is not a ready step of the workflow"
                for sid, t in rows.items() if sid not in facts.ready_ids]
    problems += [f"ready step {sid} of the workflow has no open task row"
                 for sid in sorted(facts.ready_ids - set(rows))]
    problems += [f"step {sid} has {n} open task rows"
                 for sid, n in Counter(t.spiff_id for t in facts.open_tasks).items() if n > 1]
    return problems


def handoffs_chain(facts: DossierFacts) -> list[str]:
    """Stints are numbered 1..n without gaps; each open stint is a unit with an open step or the counter's result.

    Every unit with an open step holds an open stint, and the result stint
    is open exactly while the result waits at the counter.
    """
    dossier = facts.dossier
    problems = []
    seqs = [h.seq for h in facts.stints]
    if seqs != list(range(1, len(seqs) + 1)):
        problems.append(f"handoff numbers are {seqs}, not 1..{len(seqs)}")
    if not facts.stints:
        problems.append("the dossier has no handoff at all")
    open_stints = [h for h in facts.stints if h.finished_at is None]
    busy = {t.unit_id for t in facts.open_tasks}
    for stint in open_stints:
        if stint.note == RESULT_NOTE:
            if dossier.status != DossierStatus.AWAITING_RETURN:
                problems.append(f"the result stint {stint.seq} is open although the dossier is {dossier.status}")
            elif stint.to_unit_id != dossier.receiving_unit_id:
                problems.append(f"the result stint {stint.seq} waits at unit {stint.to_unit_id}, not the counter")
        elif stint.to_unit_id not in busy:
            problems.append(f"stint {stint.seq} at unit {stint.to_unit_id} is open but the unit has no open step")
    held = {h.to_unit_id for h in open_stints if h.note != RESULT_NOTE}
    problems += [f"unit {unit} has an open step but no open stint" for unit in sorted(busy - held)]
    results = [h for h in open_stints if h.note == RESULT_NOTE]
    if dossier.status == DossierStatus.AWAITING_RETURN and len(results) != 1:
        problems.append(f"awaiting return with {len(results)} open result stints instead of one")
    return problems


def status_matches_state(facts: DossierFacts) -> list[str]:
    """The workflow is finished exactly when the dossier awaits return or was returned."""
    if facts.finished is None:
        return []  # reported by open_tasks_match_state
    status = facts.dossier.status
    if facts.finished and status not in FINISHED_STATUSES:
        return [f"the workflow is finished but the dossier is {status}"]
    if not facts.finished and status in FINISHED_STATUSES:
        return [f"the dossier is {status} but its workflow is not finished"]
    if (facts.dossier.finished_at is None) == (status in FINISHED_STATUSES):
        return [f"finished_at is {facts.dossier.finished_at} while the dossier is {status}"]
    return []


def one_completed_event_per_done_task(facts: DossierFacts) -> list[str]:
    """Each done step has exactly one 'completed' event, and no other step has any."""
    done = {t.id for t in facts.tasks if t.state == TaskState.DONE}
    problems = [f"done task {tid} has {facts.completed_events.get(tid, 0)} 'completed' events"
                for tid in sorted(done) if facts.completed_events.get(tid, 0) != 1]
    problems += [f"task {tid} is not done but has {n} 'completed' events"
                 for tid, n in sorted(facts.completed_events.items(), key=lambda kv: kv[0] or 0)
                 if tid not in done]
    return problems


INVARIANTS: dict[str, Callable[[DossierFacts], list[str]]] = {
    "open-tasks": open_tasks_match_state,
    "handoffs": handoffs_chain,
    "status": status_matches_state,
    "events": one_completed_event_per_done_task,
}


def check_dossier(ctx: Context, session: Session, dossier: Dossier) -> list[Inconsistency]:
    """Every broken invariant of one dossier (an empty list when it is consistent)."""
    facts = gather(ctx, session, dossier)
    return [Inconsistency(dossier.code, name, message)
            for name, invariant in INVARIANTS.items() for message in invariant(facts)]


def dossiers(session: Session, codes: Iterable[str] | None = None, batch: int = 500) -> Iterator[Dossier]:
    """Dossiers by id (all, or the named codes), a batch at a time so memory stays flat."""
    last = 0
    wanted = list(codes) if codes is not None else None
    while True:
        stmt = (select(Dossier).options(undefer(Dossier.state))
                .where(Dossier.id > last).order_by(Dossier.id).limit(batch))
        if wanted is not None:
            stmt = stmt.where(Dossier.code.in_(wanted))
        rows = list(session.scalars(stmt))
        if not rows:
            return
        yield from rows
        last = rows[-1].id
        session.expunge_all()


def check_all(ctx: Context, session: Session, codes: Iterable[str] | None = None) -> list[Inconsistency]:
    """Every inconsistency of every dossier (or of the named ones)."""
    return [problem for dossier in dossiers(session, codes) for problem in check_dossier(ctx, session, dossier)]
