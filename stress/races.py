"""Races between OS processes on PostgreSQL: one winner each, distinct codes, consistent dossiers.

Each round, worker processes (each with its own engine Context and connection
pool, started with ``spawn`` so nothing is shared but the database) are
released together by a barrier to:

* complete the same step (two users of the unit): one completes, the other
  gets ``Conflict``;
* claim the next step (two users): one holds it, the other gets ``Conflict``;
* receive N dossiers at the same counter at the same second (a fixed clock):
  N distinct codes from the unit's daily sequence, without gaps.

After every round the round's dossiers go through ``engine.consistency``.
Any other exception, a second winner, a duplicate code or an inconsistency is
a failure. Long form::

    python -m stress.races --rounds 1000 [--processes 4] [--url postgresql+psycopg://postgres@127.0.0.1:5432/h_proof_races]

The database named in ``--url`` is created if missing and emptied first.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

os.environ.setdefault("MOTCUA_PASSWORD_HASH_COST", "low")

from sqlalchemy import func, select

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/h_proof_races"
MOMENT = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))  # a Monday morning
PERMIT = "XD-GPXD-01"
FIRST_STEP = ("Task_ThamDinh", {"hop_le": True, "can_kiem_tra": True})
SECOND_STEP = "Task_KiemTraThucDia"
APPLICANT = {"name": "Trần Văn Bình", "id_number": "001085012345", "phone": "0912345678",
             "address": "12 Hàng Bạc, Hoàn Kiếm, Hà Nội"}


def make_ctx(url: str, at: datetime = MOMENT):
    """An engine Context of this process: its own pool, a clock fixed at ``at``."""
    from engine.clock import FixedClock
    from engine.context import Context
    from engine.database import Database
    from engine.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="motcua-stress-"))
    return Context(db=Database(url, pool_size=2), settings=Settings(database_url=url, instance_dir=folder),
                   clock=FixedClock(at))


PERMIT_FILE = "giay-phep-xay-dung.bpmn"


def prepare_database(url: str, *, at: datetime = MOMENT, files: tuple[str, ...] = (PERMIT_FILE,)) -> None:
    """Create the database if missing, empty it, migrate, load the demo organisation and the named procedures."""
    from engine import scratch_databases
    from engine.deployment import deploy_files
    from engine.directory import load_organisation, read_organisation_file
    from engine.settings import WORKFLOWS_DIR

    scratch_databases.create_if_missing(url)
    scratch_databases.reset_schema(url)
    ctx = make_ctx(url, at)
    with ctx.db.transaction() as session:
        load_organisation(session, read_organisation_file(WORKFLOWS_DIR / "organisation.yaml"))
    with ctx.db.transaction() as session:
        deploy_files(ctx, session, [WORKFLOWS_DIR / "procedures" / name for name in files])
    ctx.db.dispose()


# --- the worker processes -------------------------------------------------------------------------

def _act(ctx, job: tuple) -> Any:
    """Run one engine action in one transaction; return what identifies its result."""
    from engine.models import User
    from engine.receipt import receive
    from engine.tasks import claim, complete

    kind, *args = job
    with ctx.db.transaction() as session:
        if kind == "complete":
            task_id, user_id, data = args
            return complete(ctx, session, task_id, session.get(User, user_id), data).id
        if kind == "claim":
            task_id, user_id = args
            return claim(ctx, session, task_id, session.get(User, user_id)).claimed_by_id
        if kind == "receive":
            (clerk_id,) = args
            return receive(ctx, session, actor=session.get(User, clerk_id), procedure_code=PERMIT,
                           applicant=APPLICANT).code
    raise ValueError(kind)


def worker(url: str, jobs, results, barriers: dict[str, Any]) -> None:
    """Wait for a job, meet the others at the job's barrier, act, report ("ok", value) or the error's type."""
    ctx = make_ctx(url)
    with ctx.db.reading() as session:  # warm the pool and the spec cache before the first race
        session.execute(select(1))
    from engine.deployment import compiled_version, version_in_effect

    with ctx.db.reading() as session:
        compiled_version(ctx, version_in_effect(session, PERMIT, ctx.clock.now()))
    results.put(("ready", None))
    while True:
        job = jobs.get()
        if job is None:
            break
        barrier_name, action = job
        barriers[barrier_name].wait(timeout=60)
        try:
            results.put(("ok", _act(ctx, action)))
        except Exception as exc:  # the outcome is what the parent judges
            results.put(("error", f"{type(exc).__module__}.{type(exc).__name__}: {exc}"))
    ctx.db.dispose()


# --- the parent ------------------------------------------------------------------------------------

CONFLICT = "engine.errors.Conflict"
CODE = re.compile(r"[A-Z0-9.]+-\d{6}-\d{4,}")  # dossier codes, left out when counting the losers' messages


@dataclass
class Report:
    rounds: int = 0
    processes: int = 0
    complete_winners: Counter = field(default_factory=Counter)
    claim_winners: Counter = field(default_factory=Counter)
    loser_errors: Counter = field(default_factory=Counter)
    loser_messages: Counter = field(default_factory=Counter)  # which check stopped the loser
    receipts: int = 0
    duplicate_codes: int = 0
    sequence_gaps: int = 0
    inconsistencies: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures and not self.inconsistencies

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["complete_winners"] = dict(self.complete_winners)
        out["claim_winners"] = dict(self.claim_winners)
        out["loser_errors"] = dict(self.loser_errors)
        out["loser_messages"] = dict(self.loser_messages)
        out["inconsistencies"] = self.inconsistencies[:20]
        out["failures"] = self.failures[:20]
        out["ok"] = self.ok
        return out


class Pool:
    """``size`` spawned workers, each with its own job queue, one result queue."""

    def __init__(self, url: str, size: int) -> None:
        spawn = mp.get_context("spawn")
        self.barriers = {"pair": spawn.Barrier(2), "all": spawn.Barrier(size)}
        self.results = spawn.Queue()
        self.queues = [spawn.Queue() for _ in range(size)]
        self.procs = [spawn.Process(target=worker, args=(url, q, self.results, self.barriers), daemon=True)
                      for q in self.queues]
        for proc in self.procs:
            proc.start()
        for _ in self.procs:
            self.results.get(timeout=120)

    def race(self, barrier: str, actions: list[tuple]) -> list[tuple[str, Any]]:
        for queue, action in zip(self.queues, actions, strict=False):
            queue.put((barrier, action))
        return [self.results.get(timeout=120) for _ in actions]

    def close(self) -> None:
        for queue in self.queues:
            queue.put(None)
        for proc in self.procs:
            proc.join(30)
            if proc.is_alive():
                proc.kill()


def _clerk(ctx) -> int:
    """A clerk of the first district's counter: every receipt of the run is at that one counter."""
    from engine.models import Jurisdiction, Unit, User, UserRole

    with ctx.db.reading() as session:
        district = session.scalars(select(Jurisdiction).where(Jurisdiction.level == "district")
                                   .order_by(Jurisdiction.id)).first()
        counter = session.scalars(select(Unit).where(Unit.jurisdiction_id == district.id, Unit.type == "mot_cua")
                                  .order_by(Unit.code)).first()
        clerk = session.scalars(select(User.id).join(UserRole).where(User.unit_id == counter.id,
                                                                     UserRole.role == "clerk")).first()
    return clerk


def _workers_of(ctx, unit_id: int) -> list[int]:
    from engine.models import User, UserRole

    with ctx.db.reading() as session:
        ids = list(dict.fromkeys(session.scalars(
            select(User.id).join(UserRole).where(User.unit_id == unit_id,
                                                 UserRole.role.in_(("specialist", "leader"))).order_by(User.id))))
    assert len(ids) >= 2, f"unit {unit_id} needs two people for the races"
    return ids[:2]


def _open_task(ctx, code: str, step: str):
    from engine.models import Dossier, Task, TaskState

    with ctx.db.reading() as session:
        return session.scalars(select(Task).join(Dossier).where(
            Dossier.code == code, Task.step == step, Task.state == TaskState.OPEN)).first()


def _judge_pair(report: Report, race: str, outcomes: list[tuple[str, Any]], winners: Counter) -> Any:
    wins = [value for kind, value in outcomes if kind == "ok"]
    losses = [value for kind, value in outcomes if kind == "error"]
    winners[len(wins)] += 1
    for loss in losses:
        kind, _, message = loss.partition(": ")
        report.loser_errors[kind] += 1
        report.loser_messages[f"{race}: {CODE.sub('<code>', message)}"] += 1
        if not loss.startswith(CONFLICT + ":"):
            report.failures.append(f"round {report.rounds}: {race} loser got {loss}")
    if len(wins) != 1:
        report.failures.append(f"round {report.rounds}: {race} had {len(wins)} winners: {outcomes}")
    return wins[0] if wins else None


def one_round(ctx, pool: Pool, report: Report, clerk: int, seen_codes: set[str]) -> list[str]:
    """One round of the three races; returns the codes of the dossiers it touched."""
    from engine.receipt import receive

    with ctx.db.transaction() as session:
        from engine.models import User

        code = receive(ctx, session, actor=session.get(User, clerk), procedure_code=PERMIT,
                       applicant=APPLICANT).code
    seen_codes.add(code)
    first = _open_task(ctx, code, FIRST_STEP[0])
    people = _workers_of(ctx, first.unit_id)
    outcomes = pool.race("pair", [("complete", first.id, people[0], FIRST_STEP[1]),
                                  ("complete", first.id, people[1], FIRST_STEP[1])])
    _judge_pair(report, "complete", outcomes, report.complete_winners)
    second = _open_task(ctx, code, SECOND_STEP)
    if second is None:
        report.failures.append(f"round {report.rounds}: {code} has no open {SECOND_STEP} after the completion race")
    else:
        outcomes = pool.race("pair", [("claim", second.id, people[0]), ("claim", second.id, people[1])])
        winner = _judge_pair(report, "claim", outcomes, report.claim_winners)
        holder = _open_task(ctx, code, SECOND_STEP).claimed_by_id
        if winner is not None and holder != winner:
            report.failures.append(f"round {report.rounds}: claim winner {winner} but the task is held by {holder}")
    outcomes = pool.race("all", [("receive", clerk)] * len(pool.procs))
    codes = [value for kind, value in outcomes if kind == "ok"]
    report.failures += [f"round {report.rounds}: receipt failed: {value}" for kind, value in outcomes if kind != "ok"]
    report.receipts += len(codes)
    fresh = set(codes) - seen_codes
    report.duplicate_codes += len(codes) - len(fresh)
    seen_codes.update(fresh)
    return [code, *codes]


def check_round(ctx, report: Report, codes: list[str]) -> None:
    from engine import consistency

    with ctx.db.reading() as session:
        report.inconsistencies += [f"round {report.rounds}: {p}" for p in consistency.check_all(ctx, session, codes)]


def final_checks(ctx, report: Report) -> None:
    """No code twice in the table, and each counter's daily numbers run 1..n without gaps."""
    from engine.models import CodeSequence, Dossier

    with ctx.db.reading() as session:
        total, distinct = session.execute(select(func.count(Dossier.id), func.count(Dossier.code.distinct()))).one()
        report.duplicate_codes += total - distinct
        for seq in session.scalars(select(CodeSequence)):
            numbers = sorted(int(c.rsplit("-", 1)[1]) for c in session.scalars(
                select(Dossier.code).where(Dossier.receiving_unit_id == seq.unit_id,
                                           Dossier.code.like(f"%-{seq.day:%y%m%d}-%"))))
            if numbers != list(range(1, seq.last + 1)):
                report.sequence_gaps += 1
                report.failures.append(f"unit {seq.unit_id} {seq.day}: numbers {numbers[:5]}... last={seq.last}")


def run(url: str, rounds: int, processes: int = 4, progress: bool = False) -> Report:
    """Run ``rounds`` rounds against a database that has the demo organisation and procedures."""
    report = Report(processes=processes)
    ctx = make_ctx(url)
    clerk = _clerk(ctx)
    pool = Pool(url, processes)
    started = time.monotonic()
    seen: set[str] = set()
    try:
        for n in range(rounds):
            report.rounds = n + 1
            check_round(ctx, report, one_round(ctx, pool, report, clerk, seen))
            if progress and (n + 1) % 50 == 0:
                print(f"  {n + 1} rounds, {len(report.failures)} failures, "
                      f"{len(report.inconsistencies)} inconsistencies, {time.monotonic() - started:.0f} s",
                      file=sys.stderr, flush=True)
        final_checks(ctx, report)
    finally:
        report.seconds = round(time.monotonic() - started, 1)
        pool.close()
        ctx.db.dispose()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4, help="worker processes (>= 2)")
    parser.add_argument("--url", default=os.environ.get("MOTCUA_STRESS_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args(argv)
    prepare_database(args.url)
    report = run(args.url, args.rounds, max(2, args.processes), progress=True)
    print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
