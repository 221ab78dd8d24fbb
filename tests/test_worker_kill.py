"""A worker killed with SIGKILL mid-run and restarted neither loses nor doubles anything;
two workers running at once never fire the same thing twice.

The worker runs as a real ``motcua worker --once`` process on the real clock,
against dossiers received (with the test's clock) two months ago, so all
their timers, escalations and return dates are long past.
``MOTCUA_WORKER_TEST_DELAY`` widens the moment between a handler's writes
and its commit, where a kill hurts most.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.calendar import WorkCalendar
from engine.deadline_events import DOSSIER_OVERDUE, STEP_OVERDUE
from engine.deployment import deploy_files
from engine.models import Dossier, DueWork, Event, Notification, Task, TaskState, User
from engine.timers import TIMER_KIND
from tests.conftest import PG_URL, VN
from tests.helpers import receive_permit

TIMER_BPMN = Path(__file__).parent / "data" / "timers" / "escalation.bpmn"
MOTCUA = str(Path(sys.executable).parent / "motcua")
PERMITS, TIMED = 5, 3


def long_ago() -> datetime:
    """09:00 on a working day about two months before the real now."""
    calendar = WorkCalendar()
    day = (datetime.now(VN) - timedelta(days=60)).date()
    while not calendar.is_working_day(day):
        day -= timedelta(days=1)
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=VN)


@pytest.fixture
def backlog(deployed, clock):
    """Overdue permits and timed dossiers, all received long ago; returns (permit codes, timed codes)."""
    with deployed.db.transaction() as session:
        deploy_files(deployed, session, [TIMER_BPMN])
    clock.set(long_ago())
    permits = [receive_permit(deployed) for _ in range(PERMITS)]
    timed = [receive_permit(deployed, procedure_code="TEST-TIMER-01") for _ in range(TIMED)]
    return permits, timed


def worker_env(ctx, tmp_path, delay: float = 0.0) -> dict[str, str]:
    env = dict(os.environ)
    env.update(MOTCUA_DATABASE_URL=ctx.db.url, MOTCUA_INSTANCE_DIR=str(tmp_path), MOTCUA_DIGEST_AT="",
               MOTCUA_WORKER_TEST_DELAY=str(delay))
    env.pop("MOTCUA_CONFIG", None)
    return env


def start_worker(ctx, tmp_path, delay: float = 0.0) -> subprocess.Popen:
    return subprocess.Popen([MOTCUA, "worker", "--once"], env=worker_env(ctx, tmp_path, delay),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def done_rows(ctx) -> tuple[int, int]:
    with ctx.db.reading() as session:
        total = session.scalar(select(func.count()).select_from(DueWork)) or 0
        done = session.scalar(select(func.count()).select_from(DueWork).where(DueWork.done_at.is_not(None))) or 0
    return done, total


def check_everything_happened_once(ctx, permits: list[str], timed: list[str]) -> None:
    with ctx.db.reading() as session:
        rows = session.scalars(select(DueWork)).all()
        assert rows and all(r.done_at is not None for r in rows), "some due work was lost"
        assert all(r.outcome != "failed" and r.attempts == 0 for r in rows), [
            (r.kind, r.reference, r.last_error) for r in rows if r.attempts]
        notes = session.execute(select(Notification.kind, Dossier.code, User.username, Notification.title)
                                .join(Dossier, Notification.dossier_id == Dossier.id)
                                .join(User, Notification.user_id == User.id)).all()
        assert max(Counter(tuple(n) for n in notes).values()) == 1, "a notification was sent twice"
        counts = Counter(tuple(n)[:3] for n in notes)
        for code in permits:
            assert counts[(STEP_OVERDUE, code, "hk.qldt.ld")] == 1
            assert counts[(DOSSIER_OVERDUE, code, "hk.qldt.ld")] == 1
        for code in timed:
            dossier_id = session.scalar(select(Dossier.id).where(Dossier.code == code))
            fired = session.scalars(select(Event.detail).where(Event.dossier_id == dossier_id,
                                                               Event.action == "timer_fired")).all()
            assert sorted(d["step"] for d in fired) == ["Timer_ChuyenLanhDao", "Timer_DonDoc"]
            open_steps = session.scalars(select(Task.step).where(Task.dossier_id == dossier_id,
                                                                 Task.state == TaskState.OPEN)).all()
            assert sorted(open_steps) == ["Task_DonDoc", "Task_XuLyThay"]
            assert sum(v for (kind, c, _u), v in counts.items() if kind == TIMER_KIND and c == code) == 2


def test_a_worker_killed_mid_run_and_restarted_does_everything_exactly_once(backlog, deployed, tmp_path):
    permits, timed = backlog
    victim = start_worker(deployed, tmp_path, delay=0.25)
    deadline = time.monotonic() + 60
    while done_rows(deployed)[0] < 3:  # let it commit a few rows, then kill it inside the next one
        assert victim.poll() is None, victim.stderr.read()
        assert time.monotonic() < deadline, "the worker never got going"
        time.sleep(0.02)
    time.sleep(0.1)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    done, total = done_rows(deployed)
    assert 0 < done < total, "the kill did not land mid-run"

    survivor = start_worker(deployed, tmp_path)
    out, err = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, err
    check_everything_happened_once(deployed, permits, timed)

    again = start_worker(deployed, tmp_path)  # a further round finds nothing left to do
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert "done 0" in out
    check_everything_happened_once(deployed, permits, timed)


@pytest.mark.skipif(not PG_URL, reason="several workers at once need PostgreSQL (MOTCUA_TEST_DATABASE_URL)")
def test_two_workers_on_postgresql_share_the_work_and_never_double_fire(backlog, deployed, tmp_path):
    permits, timed = backlog
    workers = [start_worker(deployed, tmp_path, delay=0.05) for _ in range(2)]
    outputs = [w.communicate(timeout=180) for w in workers]
    for w, (_out, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err
    shares = [int(out.split("done ", 1)[1].split(",", 1)[0]) for out, _err in outputs]
    assert all(share > 0 for share in shares), f"one worker did everything: {shares}"
    check_everything_happened_once(deployed, permits, timed)


def test_the_looping_worker_does_the_work_and_stops_cleanly_on_sigterm(backlog, deployed, tmp_path):
    permits, timed = backlog
    looping = subprocess.Popen([MOTCUA, "worker", "--interval", "0.2"], env=worker_env(deployed, tmp_path),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 90
    while True:
        done, total = done_rows(deployed)
        if total and done == total:
            break
        assert looping.poll() is None, looping.stderr.read()
        assert time.monotonic() < deadline, "the looping worker did not finish the backlog"
        time.sleep(0.1)
    looping.send_signal(signal.SIGTERM)
    assert looping.wait(15) == 0
    check_everything_happened_once(deployed, permits, timed)
