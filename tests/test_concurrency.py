"""Races: simultaneous completions, claims and receipts have exactly one outcome each."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import func, select

from engine.errors import Conflict, RuleViolation
from engine.models import Event, Task, TaskState
from engine.receipt import receive
from engine.tasks import claim, complete
from tests.helpers import APPLICANT, PERMIT_HAPPY, clerk_of, district, open_tasks, receive_permit, user_in


def _race(workers: list[Callable[[], object]]) -> list[object]:
    """Run callables at once; each result is its return value or the exception it raised."""
    barrier = threading.Barrier(len(workers))
    results: list[object] = [None] * len(workers)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = workers[i]()
        except Exception as exc:  # the race outcome is what we assert on
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_two_users_completing_the_same_task_one_wins(deployed):
    for _ in range(5):
        code = receive_permit(deployed)
        [task] = open_tasks(deployed, code)
        with deployed.db.reading() as session:
            users = [user_in(session, task.unit_id, "specialist"), user_in(session, task.unit_id, "leader")]

        def finish(user, task_id=task.id):
            with deployed.db.transaction() as session:
                complete(deployed, session, task_id, session.merge(user), PERMIT_HAPPY["Task_ThamDinh"])
                return "ok"

        results = _race([lambda u=u: finish(u) for u in users])
        assert results.count("ok") == 1, results
        assert all(isinstance(r, Conflict | RuleViolation) for r in results if r != "ok"), results
        with deployed.db.reading() as session:
            rows = session.scalars(select(Task).where(Task.dossier_id == task.dossier_id)).all()
            completed = session.scalar(select(func.count(Event.id)).where(
                Event.dossier_id == task.dossier_id, Event.action == "completed"))
        assert [r.state for r in rows if r.step == "Task_ThamDinh"] == [TaskState.DONE]
        assert [r.step for r in rows if r.state == TaskState.OPEN] == ["Task_KiemTraThucDia"]
        assert completed == 1


def test_two_users_claiming_the_same_task_one_wins(deployed):
    code = receive_permit(deployed)
    [task] = open_tasks(deployed, code)
    with deployed.db.reading() as session:
        users = [user_in(session, task.unit_id, "specialist"), user_in(session, task.unit_id, "leader")]

    def take(user):
        with deployed.db.transaction() as session:
            claim(deployed, session, task.id, session.merge(user))
            return user.id

    results = _race([lambda u=u: take(u) for u in users])
    winners = [r for r in results if isinstance(r, int)]
    assert len(winners) == 1 and any(isinstance(r, Conflict) for r in results), results
    [after] = open_tasks(deployed, code)
    assert after.claimed_by_id == winners[0]


def test_simultaneous_receipts_at_one_counter_get_distinct_codes(deployed):
    with deployed.db.reading() as session:
        clerk = clerk_of(session, district(session))

    def take_in():
        with deployed.db.transaction() as session:
            return receive(deployed, session, actor=session.merge(clerk), procedure_code="XD-GPXD-01",
                           applicant=APPLICANT).code

    codes = _race([take_in for _ in range(8)])
    assert all(isinstance(c, str) for c in codes), codes
    assert sorted(c[-4:] for c in codes) == [f"{n:04d}" for n in range(1, 9)]
