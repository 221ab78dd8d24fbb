"""Per-step cost of the engine against a naive SpiffWorkflow round trip.

    python -m benchmarks.steps [--dossiers 200] [--rework 200] [--database-url URL]
                               [--sql] [--profile [N]]

Four measurements, printed as tables (see benchmarks/README.md for what each
figure means):

1. motcua: N construction-permit dossiers (XD-GPXD-01) received at three
   district counters and driven through their four human steps, one
   transaction per user action (receipt; per step an inbox query, a claim
   and a complete), commit included.
2. naive SpiffWorkflow: the same BPMN parsed once with the plain parser;
   every step deserializes the JSON blob, runs the READY user task and the
   engine steps, and serializes again. Blobs live in a dict: no database.
   The library's default script engine is used, as a naive host would.
   Each naive action runs right after the matching motcua action, so both
   see the same load on a shared machine.
3. stored bytes per dossier: motcua's state JSON (plus its rows) against the
   naive blob.
4. a rework loop: one dossier sent back from approval to appraisal
   ``--rework`` times, early rounds against late rounds.

``--sql`` lists the SQL statements of one receipt, claim and complete;
``--profile`` splits the complete time into phases and by package.
Nothing here asserts on timings: it is a measuring command, not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import version as package_version
from pathlib import Path
from time import perf_counter, thread_time
from typing import Any
from zoneinfo import ZoneInfo

os.environ.setdefault("MOTCUA_PASSWORD_HASH_COST", "low")

import sqlalchemy
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, BpmnValidator
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState as SpiffState
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, joinedload

from benchmarks.machine import cpu_model
from benchmarks.percentiles import percentile_ms
from engine import json_text, schema, scratch_databases
from engine.clock import FixedClock
from engine.context import Context
from engine.database import Database
from engine.deployment import deploy_files
from engine.directory import load_organisation, read_organisation_file
from engine.models import Dossier, DossierComponent, Event, Handoff, Task, TaskState, User
from engine.receipt import receive
from engine.rowstore import RowStore
from engine.settings import PROJECT_ROOT, WORKFLOWS_DIR, Settings
from engine.tasks import claim, complete

PROCEDURE = "XD-GPXD-01"
BPMN_FILE = WORKFLOWS_DIR / "procedures" / "giay-phep-xay-dung.bpmn"
BENCH_DB = "motcua_bench"
STEPS = ("Task_ThamDinh", "Task_KiemTraThucDia", "Task_DuThaoGiayPhep", "Task_PheDuyet")
HAPPY: dict[str, dict[str, Any]] = {
    "Task_ThamDinh": {"hop_le": True, "can_kiem_tra": True},
    "Task_KiemTraThucDia": {"ket_qua_kiem_tra": "Phù hợp"},
    "Task_DuThaoGiayPhep": {"so_giay_phep": "123/GPXD"},
    "Task_PheDuyet": {"phe_duyet": True},
}
REWORK = {**HAPPY, "Task_PheDuyet": {"phe_duyet": False}}
APPLICANT = {
    "name": "Trần Văn Bình",
    "id_number": "001085012345",
    "phone": "0912345678",
    "address": "12 Hàng Bạc, Hoàn Kiếm, Hà Nội",
    "email": "binh@example.vn",
}
# Counter clerk, urban-management specialist and leader of three districts.
DISTRICTS = ("hk", "bd", "cg")
WARMUP_DOSSIERS = 3
WINDOW = 5  # rework rounds per window: first WINDOW rounds against the last WINDOW
START = datetime(2026, 3, 2, 8, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))  # a Monday morning


# --------------------------------------------------------------------------- figures


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def p95_ms(values: list[float]) -> float:
    return percentile_ms(values, 95)


def per_second(values: list[float]) -> float:
    """Operations per second of the wall time spent in them (one thread, back to back)."""
    total = sum(values)
    return len(values) / total if total else float("nan")


def row(
    label: str, values: list[float], statements: list[int] | None = None, cpu: list[float] | None = None
) -> str:
    stmts = f"{statistics.mean(statements):8.1f}" if statements else f"{'':>8}"
    cpu_ms = f"{median_ms(cpu):>9.2f}" if cpu else f"{'':>9}"
    return (
        f"  {label:<34}{len(values):>7}{per_second(values):>9.1f}"
        f"{median_ms(values):>11.2f}{p95_ms(values):>9.2f}{cpu_ms}{stmts}"
    )


HEADER = (
    f"  {'operation':<34}{'count':>7}{'per s':>9}{'median ms':>11}{'p95 ms':>9}{'cpu ms':>9}{'SQL/op':>8}"
)


# --------------------------------------------------------------------------- machine and database


def machine() -> list[str]:
    model = cpu_model()
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [
        f"machine: {cpus} CPUs (nproc), {model}, {platform.system()} {platform.release()}",
        f"software: Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"SQLAlchemy {sqlalchemy.__version__}, SpiffWorkflow {package_version('SpiffWorkflow')}, "
        f"lxml {package_version('lxml')}",
        f"engine: {engine_revision()}",
    ]


def engine_revision() -> str:
    """The commit the engine code comes from, and the engine files changed on top of it."""

    def git(*args: str) -> str:
        command = ["git", "-C", str(PROJECT_ROOT), *args]
        return subprocess.run(command, capture_output=True, text=True, check=True, timeout=10).stdout

    try:
        head = git("rev-parse", "--short", "HEAD").strip()
        changed = [line[3:] for line in git("status", "--porcelain", "--", "engine").splitlines()]
    except (OSError, subprocess.SubprocessError):
        return f"{PROJECT_ROOT} (not a git checkout)"
    return f"{PROJECT_ROOT} at {head}" + (f", uncommitted changes in {', '.join(changed)}" if changed else "")


@contextmanager
def bench_database(url: str | None, tmp: Path) -> Iterator[str]:
    """A fresh, empty database URL: a temp SQLite file, or a dedicated PostgreSQL database.

    On PostgreSQL the database ``motcua_bench`` is (re)created on the server of
    ``url`` through its ``postgres`` maintenance database and dropped at the end,
    so the database named in ``url`` (e.g. the test suite's) is never touched.
    """
    if url is None:
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if path and path != ":memory:" and Path(path).exists():
            sys.exit(f"{path} exists; the benchmark needs a fresh database (give a new file name)")
        yield url
        return
    if parsed.get_backend_name() != "postgresql":
        sys.exit(f"unsupported database {parsed.get_backend_name()!r}: use SQLite or PostgreSQL")
    bench = parsed.set(database=BENCH_DB).render_as_string(hide_password=False)
    scratch_databases.recreate(bench)
    try:
        yield bench
    finally:
        scratch_databases.drop(bench)


def make_context(url: str, tmp: Path, clock: FixedClock, **engine_kwargs: Any) -> Context:
    return Context(
        db=Database(url, **engine_kwargs),
        settings=Settings(database_url=url, instance_dir=tmp),
        clock=clock,
    )


def set_up(ctx: Context) -> None:
    schema.upgrade(ctx.db)
    with ctx.db.transaction() as session:
        load_organisation(session, read_organisation_file(WORKFLOWS_DIR / "organisation.yaml"))
    with ctx.db.transaction() as session:
        deploy_files(ctx, session, sorted((WORKFLOWS_DIR / "procedures").glob("*.bpmn")))


def server_version(ctx: Context) -> str:
    with ctx.db.reading() as session:
        if ctx.db.dialect == "postgresql":
            return session.scalar(text("SHOW server_version"))
        return sqlite3.sqlite_version


# --------------------------------------------------------------------------- statement log


class StatementLog:
    """Counts the SQL statements an engine sends; on demand records them and its commits."""

    def __init__(self, engine: sqlalchemy.Engine) -> None:
        self.statements = 0
        self.recorded: list[str] | None = None
        event.listen(engine, "before_cursor_execute", self._on_statement)
        event.listen(engine, "commit", self._on_commit)
        _watch_row_store()
        _ROW_STORE_LOGS[engine.dialect] = self  # the writer's engine options share this dialect object

    def _on_statement(self, _conn, _cursor, statement, _params, _context, executemany) -> None:
        self.statements += 1
        if self.recorded is not None:
            one_line = " ".join(statement.split())
            self.recorded.append(("[executemany] " if executemany else "") + one_line)

    def _on_commit(self, _conn) -> None:
        if self.recorded is not None:
            self.recorded.append("COMMIT")

    @contextmanager
    def recording(self) -> Iterator[list[str]]:
        self.recorded = []
        try:
            yield self.recorded
        finally:
            self.recorded = None


_ROW_STORE_LOGS: dict[Any, StatementLog] = {}


def _watch_row_store() -> None:
    """Count the plain-SQL statements of ``engine.rowstore`` too (they bypass the engine's
    events), each in the log of the engine whose session runs it; installed once."""
    run = RowStore._run
    if getattr(run, "counted", False):
        return

    def counted(store: RowStore, sql: str, params: dict[str, Any]):
        log = _ROW_STORE_LOGS.get(store.dialect)
        if log is not None:
            log._on_statement(None, None, sql, params, None, False)
        return run(store, sql, params)

    counted.counted = True  # type: ignore[attr-defined]
    RowStore._run = counted  # type: ignore[method-assign]


# --------------------------------------------------------------------------- motcua


@dataclass
class Timings:
    receipt: list[float] = field(default_factory=list)
    inbox: list[float] = field(default_factory=list)
    claim: list[float] = field(default_factory=list)
    complete: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statements: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    cpu: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    actor: list[float] = field(default_factory=list)
    actor_cpu: list[float] = field(default_factory=list)
    actor_statements: list[int] = field(default_factory=list)

    def all_completes(self) -> list[float]:
        return [t for step in STEPS for t in self.complete.get(step, [])]


class Driver:
    """Acts like the clients: one transaction per user action, the actor loaded by id in it."""

    def __init__(self, ctx: Context, log: StatementLog) -> None:
        self.ctx = ctx
        self.log = log
        self.clock: FixedClock = ctx.clock  # type: ignore[assignment]
        with ctx.db.reading() as session:
            names = [f"{d}.{role}" for d in DISTRICTS for role in ("motcua", "qldt.cv", "lanhdao")]
            users = {u.username: u for u in session.scalars(select(User).where(User.username.in_(names)))}
        self.clerks = [users[f"{d}.motcua"].id for d in DISTRICTS]
        self.worker_of_unit = {
            users[f"{d}.{role}"].unit_id: users[f"{d}.{role}"].id
            for d in DISTRICTS
            for role in ("qldt.cv", "lanhdao")
        }

    def _measure(self, action: Callable[[], Any], times: list[float], timings: Timings, *kinds: str) -> Any:
        """Run one user action; record wall time in ``times``, CPU time and statements under ``kinds``.

        The actor's own load (authentication, which every request does once
        whatever it asks for) is timed apart, in ``timings.actor``.
        """
        self.clock.advance(seconds=1)
        self._actor_spent = None
        before = self.log.statements
        cpu_started, started = thread_time(), perf_counter()
        result = action()
        wall, cpu = perf_counter() - started, thread_time() - cpu_started
        actor_wall, actor_cpu, actor_statements = self._actor_spent or (0.0, 0.0, 0)
        times.append(wall - actor_wall)
        if self._actor_spent:
            timings.actor.append(actor_wall)
            timings.actor_cpu.append(actor_cpu)
            timings.actor_statements.append(actor_statements)
        for kind in kinds:
            timings.cpu[kind].append(cpu - actor_cpu)
            timings.statements[kind].append(self.log.statements - before - actor_statements)
        return result

    def _actor(self, session: Session, user_id: int) -> User:
        """Load the acting user as a web request does, after BEGIN, timing it apart."""
        session.connection()
        before = self.log.statements
        cpu_started, started = thread_time(), perf_counter()
        user = session.get(User, user_id, options=[joinedload(User.role_rows)])
        self._actor_spent = [perf_counter() - started, thread_time() - cpu_started, self.log.statements - before]
        return user

    def receive(self, timings: Timings, district: int) -> int:
        def action() -> int:
            with self.ctx.db.transaction() as session:
                clerk = self._actor(session, self.clerks[district])
                dossier = receive(
                    self.ctx, session, actor=clerk, procedure_code=PROCEDURE, applicant=APPLICANT
                )
                return dossier.id

        return self._measure(action, timings.receipt, timings, "receipt")

    def open_task(self, timings: Timings, dossier_id: int) -> tuple[int, str, int]:
        def action() -> tuple[int, str, int]:
            with self.ctx.db.reading() as session:
                rows = session.execute(
                    select(Task.id, Task.step, Task.unit_id).where(
                        Task.dossier_id == dossier_id, Task.state == TaskState.OPEN
                    )
                ).all()
            if len(rows) != 1:
                raise RuntimeError(f"dossier {dossier_id}: expected one open task, found {len(rows)}")
            return tuple(rows[0])

        return self._measure(action, timings.inbox, timings, "inbox")

    def claim(self, timings: Timings, task_id: int, user_id: int) -> None:
        def action() -> None:
            with self.ctx.db.transaction() as session:
                claim(self.ctx, session, task_id, self._actor(session, user_id))

        self._measure(action, timings.claim, timings, "claim")

    def complete(self, timings: Timings, task_id: int, user_id: int, step: str, data: Mapping) -> None:
        def action() -> None:
            with self.ctx.db.transaction() as session:
                complete(self.ctx, session, task_id, self._actor(session, user_id), data)

        self._measure(action, timings.complete[step], timings, "complete", f"complete {step}")

    def step(self, timings: Timings, dossier_id: int, answers: Mapping[str, Mapping], expect: str) -> None:
        task_id, step, unit_id = self.open_task(timings, dossier_id)
        if step != expect:
            raise RuntimeError(f"dossier {dossier_id}: expected {expect}, the open step is {step}")
        user_id = self.worker_of_unit[unit_id]
        self.claim(timings, task_id, user_id)
        self.complete(timings, task_id, user_id, step, answers[step])

    def state_bytes(self, dossier_id: int) -> tuple[int, int]:
        """Size of ``json.dumps(Dossier.state)`` and the number of tasks kept in it."""
        with self.ctx.db.reading() as session:
            state = session.scalar(select(Dossier.state).where(Dossier.id == dossier_id))
        return len(json.dumps(state)), len((state or {}).get("tasks", {}))

    def row_footprint(self, dossier_id: int) -> tuple[dict[str, int], int]:
        """Rows a dossier owns and an approximate size: JSON of their column values (not disk size)."""
        counts, size = {}, 0
        with self.ctx.db.reading() as session:
            for model in (Dossier, DossierComponent, Task, Handoff, Event):
                key = Dossier.id if model is Dossier else model.dossier_id
                rows = session.execute(select(model.__table__).where(key == dossier_id)).mappings().all()
                counts[model.__tablename__] = len(rows)
                for r in rows:
                    values = {k: v for k, v in r.items() if k != "state"}
                    size += len(json.dumps(values, default=str))
        return counts, size


@dataclass
class HappyPath:
    timings: Timings
    ids: list[int]
    state_bytes: dict[str, float]
    blob_bytes: dict[str, float]


def happy_path(driver: Driver, count: int, naive: Naive | None = None) -> HappyPath:
    """Receive ``count`` dossiers, then run each step as a wave over all of them.

    With ``naive``, every motcua action is followed at once by the naive one
    for the same dossier, so both see the same load on a shared machine.
    """
    if naive is not None:
        naive.reset()
    timings, states, blobs = Timings(), {}, {}
    ids = []
    for i in range(count):
        ids.append(driver.receive(timings, i % len(DISTRICTS)))
        if naive is not None:
            naive.start(i)
    waves = [("after receipt", None), *((f"after {step}", step) for step in STEPS)]
    for label, step in waves:
        for i, dossier_id in enumerate(ids if step else ()):
            driver.step(timings, dossier_id, HAPPY, step)
            if naive is not None:
                naive.step(i, step, HAPPY[step])
        states[label] = statistics.mean(driver.state_bytes(d)[0] for d in ids)
        if naive is not None:
            blobs[label] = statistics.mean(len(blob) for blob in naive.blobs.values())
    return HappyPath(timings, ids, states, blobs)


@dataclass
class Rework:
    timings: Timings
    state_sizes: dict[int, tuple[int, int]]  # round -> (bytes, tasks kept)
    blob_sizes: dict[int, tuple[int, int]]
    naive_lost: tuple[int, str] | None  # round where the naive host lost the READY task


def rework_loop(driver: Driver, naive: Naive, rounds: int) -> Rework:
    """One dossier sent back ``rounds`` times; each motcua round followed by the naive round."""
    naive.reset()
    timings = Timings()
    dossier_id = driver.receive(timings, 0)
    naive.start(-1)
    states, blobs, lost, naive_rounds = {}, {}, None, 0
    for round_no in range(1, rounds + 1):
        for step in STEPS:
            driver.step(timings, dossier_id, REWORK, step)
        if round_no in (1, rounds):
            states[round_no] = driver.state_bytes(dossier_id)
        if lost is None:
            try:
                for step in STEPS:
                    naive.step(-1, step, REWORK[step])
                naive_rounds = round_no
                if round_no == 1:
                    blobs[1] = _blob_size(naive.blobs[-1])
            except LookupError as exc:
                lost = (round_no, str(exc))
    if naive_rounds > 1:
        blobs[naive_rounds] = _blob_size(naive.blobs[-1])
    return Rework(timings, states, blobs, lost)


# --------------------------------------------------------------------------- naive SpiffWorkflow


class Naive:
    """What a host without a state model does: whole-blob JSON round trip per step."""

    def __init__(self, path: Path) -> None:
        parser = BpmnParser(validator=BpmnValidator())
        parser.add_bpmn_file(str(path))
        self.process_id = parser.get_process_ids()[0]
        self.spec = parser.get_spec(self.process_id)
        self.subprocess_specs = parser.get_subprocess_specs(self.process_id)
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure())
        self.reset()

    def reset(self) -> None:
        self.blobs: dict[int, str] = {}
        self.times: dict[str, list[float]] = defaultdict(list)  # "start" and per step name
        self.cpu: dict[str, list[float]] = defaultdict(list)  # "start", "step" and per step name

    def steps(self) -> list[float]:
        return [t for step in STEPS for t in self.times.get(step, [])]

    def start(self, key: int) -> None:
        cpu_started, started = thread_time(), perf_counter()
        workflow = BpmnWorkflow(self.spec, self.subprocess_specs)  # default script engine
        workflow.do_engine_steps()
        self.blobs[key] = self.serializer.serialize_json(workflow)
        self.times["start"].append(perf_counter() - started)
        self.cpu["start"].append(thread_time() - cpu_started)

    def step(self, key: int, step: str, data: Mapping[str, Any]) -> None:
        """One round trip; raises LookupError if the step is not READY (lost by the library)."""
        cpu_started, started = thread_time(), perf_counter()
        workflow = self.serializer.deserialize_json(self.blobs[key])
        task = next(
            (t for t in workflow.get_tasks(state=SpiffState.READY, manual=True) if t.task_spec.name == step),
            None,
        )
        if task is None:
            raise LookupError(f"{step} (workflow.is_completed() = {workflow.is_completed()})")
        task.data.update(data)
        task.run()
        workflow.do_engine_steps()
        self.blobs[key] = self.serializer.serialize_json(workflow)
        self.times[step].append(perf_counter() - started)
        cpu = thread_time() - cpu_started
        self.cpu["step"].append(cpu)
        self.cpu[step].append(cpu)


def _blob_size(blob: str) -> tuple[int, int]:
    return len(blob), len(json.loads(blob)["tasks"])


# --------------------------------------------------------------------------- --sql and --profile


def list_statements(driver: Driver) -> list[str]:
    """The statements of one receipt, and of the claim and complete of each step."""
    timings, out = Timings(), []
    with driver.log.recording() as recorded:
        dossier_id = driver.receive(timings, 0)
    out += [f"receipt: {len(recorded) - 1} statements + COMMIT", *(f"    {s[:150]}" for s in recorded), ""]
    for step in STEPS:
        task_id, _, unit_id = driver.open_task(timings, dossier_id)
        user_id = driver.worker_of_unit[unit_id]
        for kind, action in (
            ("claim", lambda t=task_id, u=user_id: driver.claim(timings, t, u)),
            ("complete", lambda t=task_id, u=user_id, s=step: driver.complete(timings, t, u, s, HAPPY[s])),
        ):
            with driver.log.recording() as recorded:
                action()
            out.append(f"{kind} {step}: {len(recorded) - 1} statements + COMMIT")
            out += [f"    {s[:150]}" for s in recorded]
            out.append("")
    return out


class Phases:
    """Exclusive wall time per labelled phase; nested phases are subtracted from their parent."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.stack: list[list[float]] = []  # [start, child time]
        self.paused = 0

    def enter(self) -> None:
        self.stack.append([perf_counter(), 0.0])

    def leave(self, label: str) -> None:
        start, child = self.stack.pop()
        if self.paused:
            return
        elapsed = perf_counter() - start
        self.totals[label] += elapsed - child
        if self.stack:
            self.stack[-1][1] += elapsed

    def apart(self, fn: Callable) -> Callable:
        """``fn`` with no phase recorded inside: work the benchmark times apart (the actor's load)."""

        def wrapped(*args, **kwargs):
            self.paused += 1
            try:
                return fn(*args, **kwargs)
            finally:
                self.paused -= 1

        return wrapped

    def wrap(self, label: str, fn: Callable) -> Callable:
        def wrapped(*args, **kwargs):
            self.enter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.leave(label)

        return wrapped


class TimedJson:
    """The JSON columns' coder timed as a phase; an object, since psycopg warns about closures."""

    def __init__(self, phases: Phases, label: str, fn: Callable[[Any], Any]) -> None:
        self.phases, self.label, self.fn = phases, label, fn

    def __call__(self, value: Any) -> Any:
        self.phases.enter()
        try:
            return self.fn(value)
        finally:
            self.phases.leave(self.label)


@contextmanager
def patched(target: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, old)


def profile(url: str, tmp: Path, clock: FixedClock, specs, count: int) -> list[str]:
    """Where a complete's time goes, on ``count`` fresh dossiers for each of two passes.

    Pass 1 wraps the phases of a complete (SpiffWorkflow restore/run/serialize,
    pruning, form checks, flush, commit, JSON coding, SQL execution) with
    timers that keep exclusive time. Pass 2 runs cProfile instead, for self
    time per package; the passes are separate so neither inflates the other.
    """
    from contextlib import ExitStack

    from SpiffWorkflow.task import Task as SpiffTask
    from sqlalchemy.orm import SessionTransaction

    import engine.runtime
    import engine.tasks
    import engine.workflow_state

    phases = Phases()
    ctx = make_context(
        url,
        tmp,
        clock,
        json_serializer=TimedJson(phases, "JSON columns: write (engine.json_text)", json_text.dumps),
        json_deserializer=TimedJson(phases, "JSON columns: read (engine.json_text)", json_text.loads),
    )
    ctx.specs = specs
    driver = Driver(ctx, StatementLog(ctx.db.engine))
    sql_label = "ORM SQL execute (driver + server)"
    event.listen(ctx.db.engine, "before_cursor_execute", lambda *a: phases.enter())
    event.listen(ctx.db.engine, "after_cursor_execute", lambda *a: phases.leave(sql_label))
    wrapped = (
        (sys.modules[__name__], "complete", "tasks.complete: engine code, rows to instances"),
        (engine.tasks, "load_workflow", "spiff: restore state (load_state)"),
        (engine.tasks, "run_engine", "spiff: run task + engine steps"),
        (SpiffTask, "run", "spiff: run task + engine steps"),
        (engine.runtime, "dump_state", "spiff: serialize state (dump_state)"),
        (engine.workflow_state, "prune", "prune serialized tree"),
        (engine.tasks, "validate_submission", "form validation"),
        (Session, "_execute_internal", "ORM statements: compile, run (excl. SQL)"),
        (RowStore, "_run", "plain SQL execute (engine.rowstore)"),
        (Session, "flush", "ORM flush (excl. SQL, JSON)"),
        (SessionTransaction, "commit", "commit (excl. flush)"),
    )

    def drive(before_complete: Callable[[], None], after_complete: Callable[[], None]) -> Timings:
        timings = Timings()
        ids = [driver.receive(timings, i % len(DISTRICTS)) for i in range(count)]
        for step in STEPS:
            for dossier_id in ids:
                task_id, _, unit_id = driver.open_task(timings, dossier_id)
                user_id = driver.worker_of_unit[unit_id]
                driver.claim(timings, task_id, user_id)
                before_complete()
                driver.complete(timings, task_id, user_id, step, HAPPY[step])
                after_complete()
        return timings

    happy_path(driver, WARMUP_DOSSIERS)  # this engine's statement cache starts empty
    per_complete: dict[str, float] = defaultdict(float)

    def collect() -> None:
        for label, seconds in phases.totals.items():
            per_complete[label] += seconds

    with ExitStack() as stack:
        for target, name, label in wrapped:
            stack.enter_context(patched(target, name, phases.wrap(label, getattr(target, name))))
        stack.enter_context(patched(Driver, "_actor", phases.apart(Driver._actor)))
        timings = drive(phases.totals.clear, collect)
    completes = timings.all_completes()
    n, total = len(completes), sum(completes)
    lines = [f"phases of one complete (timers on wrapped functions, exclusive time, mean of {n}; "
             "the actor's load is left out, as in the tables above):"]
    for label, seconds in sorted(per_complete.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {label:<44}{seconds / n * 1000:>8.3f} ms {seconds / total:>6.1%}")
    rest = total - sum(per_complete.values())
    lines.append(
        f"  {'rest: session, pool, BEGIN, timers':<44}{rest / n * 1000:>8.3f} ms {rest / total:>6.1%}"
    )
    lines.append(f"  {'complete, as timed in this pass':<44}{total / n * 1000:>8.3f} ms")
    lines.append("")

    profiler = cProfile.Profile()
    timings = drive(profiler.enable, profiler.disable)
    ctx.db.dispose()
    return lines + by_package(profiler, len(timings.all_completes()))


def by_package(profiler: cProfile.Profile, n: int) -> list[str]:
    """cProfile self time summed per package of the function's file (cProfile inflates call-heavy code)."""
    stats = pstats.Stats(profiler)
    buckets: dict[str, float] = defaultdict(float)
    functions = []
    for (filename, line, name), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():
        buckets[_package(filename, name)] += tottime
        functions.append((tottime, cumtime, f"{_short(filename)}:{line} {name}"))
    total = sum(buckets.values())
    lines = [f"self time by package (cProfile, per complete; profiled total {total / n * 1000:.2f} ms):"]
    for label, seconds in sorted(buckets.items(), key=lambda kv: -kv[1]):
        lines.append(f"  {label:<42}{seconds / n * 1000:>8.3f} ms {seconds / total:>6.1%}")
    lines.append("")
    lines.append("top functions by self time (ms per complete, self / cumulative):")
    for tottime, cumtime, where in sorted(functions, reverse=True)[:20]:
        lines.append(f"  {tottime / n * 1000:>7.3f} {cumtime / n * 1000:>8.3f}  {where}")
    return lines


def _package(filename: str, name: str) -> str:
    if "SpiffWorkflow" in filename:
        return "SpiffWorkflow"
    if "sqlalchemy" in filename:
        return "SQLAlchemy"
    if "/engine/" in filename:
        return "engine/ (motcua)"
    if "psycopg" in filename or "sqlite3" in filename or "sqlite3" in name or "psycopg" in name:
        return "database driver"
    if filename.endswith(("json/__init__.py", "json/encoder.py", "json/decoder.py")) or "_json" in name:
        return "json"
    if "uuid" in filename or "UUID" in name:
        return "uuid"
    if filename == "~":
        return f"builtins ({'execute/commit' if 'execute' in name or 'commit' in name else 'other'})"
    return "other stdlib / site-packages"


def _short(filename: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.steps", description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=200, help="happy-path dossiers (default 200)")
    parser.add_argument("--rework", type=int, default=200, help="rework rounds of one dossier (default 200)")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL or SQLite URL (default: a temp SQLite file); "
        f"on PostgreSQL a database '{BENCH_DB}' is created and dropped on that server",
    )
    parser.add_argument(
        "--sql", action="store_true", help="list the statements of a receipt, claim, complete"
    )
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=50,
        default=0,
        metavar="N",
        help="profile the completes of N more dossiers (default 50)",
    )
    args = parser.parse_args(argv)

    out = print
    out("motcua step benchmark")
    for line in machine():
        out(line)
    out(f"load average at the start: {_load()} (other processes on the machine slow the wall times)")
    with (
        tempfile.TemporaryDirectory(prefix="motcua-bench-") as tmpdir,
        bench_database(args.database_url, Path(tmpdir)) as url,
    ):
        tmp = Path(tmpdir)
        clock = FixedClock(START)
        ctx = make_context(url, tmp, clock)
        set_up(ctx)
        log = StatementLog(ctx.db.engine)
        shown = make_url(url).render_as_string(hide_password=True)
        out(f"database: {ctx.db.dialect} {server_version(ctx)} at {shown}")
        driver = Driver(ctx, log)
        naive = Naive(BPMN_FILE)
        happy_path(driver, WARMUP_DOSSIERS, naive)  # warm caches (spec, calendar, compiled SQL) first

        # 1. motcua happy path, each action followed by the naive one (2.)
        happy = happy_path(driver, args.dossiers, naive)
        timings = happy.timings
        completes = timings.all_completes()
        out("")
        out(
            f"1. motcua: {args.dossiers} dossiers x {len(STEPS)} steps, one transaction per action, "
            f"commit included (single thread)"
        )
        out(HEADER)
        out(row("receipt", timings.receipt, timings.statements["receipt"], timings.cpu["receipt"]))
        out(row("inbox query (open task)", timings.inbox, timings.statements["inbox"], timings.cpu["inbox"]))
        out(row("claim", timings.claim, timings.statements["claim"], timings.cpu["claim"]))
        out(row("complete = step", completes, timings.statements["complete"], timings.cpu["complete"]))
        for step in STEPS:
            out(row(f"  complete {step}", timings.complete[step], cpu=timings.cpu[f"complete {step}"]))
        out(row("actor load (authentication)", timings.actor, timings.actor_statements, timings.actor_cpu))
        out(
            "  (actor load: the acting user and roles, read once per request whatever it asks; timed apart "
            "from the receipt, claim and complete rows above, which start after it, BEGIN included)"
        )
        out(
            "  (per s = operations per second of the time spent in them, back to back; cpu ms = this "
            "thread's CPU time; SQL/op = statements sent, BEGIN and COMMIT not counted)"
        )
        spent = sum(timings.receipt) + sum(timings.inbox) + sum(timings.claim) + sum(completes)
        out(
            f"  all motcua actions took {spent:.2f} s: {len(completes) / spent:.1f} completes/s counting "
            f"receipts, inbox queries and claims too; dossiers now: {_statuses(ctx, happy.ids)}"
        )

        # 2. naive
        n_steps = naive.steps()
        out("")
        out(
            f"2. naive SpiffWorkflow (process '{naive.process_id}'): deserialize_json -> run READY task -> "
            "do_engine_steps -> serialize_json; blobs in a dict, no database; default script engine; "
            "run right after each motcua action"
        )
        out(HEADER)
        out(row("start + serialize", naive.times["start"], cpu=naive.cpu["start"]))
        out(row("step round trip", n_steps, cpu=naive.cpu["step"]))
        for step in STEPS:
            out(row(f"  round trip {step}", naive.times[step], cpu=naive.cpu[step]))

        # 3. ratio and bytes
        counts, row_bytes = driver.row_footprint(happy.ids[0])
        out("")
        out("3. motcua against naive")
        out(
            f"  median step: motcua complete {median_ms(completes):.2f} ms / naive round trip "
            f"{median_ms(n_steps):.2f} ms = {median_ms(completes) / median_ms(n_steps):.2f}x "
            f"(cpu {median_ms(timings.cpu['complete']) / median_ms(naive.cpu['step']):.2f}x); "
            f"p95 {p95_ms(completes) / p95_ms(n_steps):.2f}x; "
            f"throughput {per_second(completes):.1f} vs {per_second(n_steps):.1f} steps/s"
        )
        out(f"  {'stored bytes per dossier (mean)':<36}{'motcua state JSON':>20}{'naive blob':>14}")
        for label, size in happy.state_bytes.items():
            out(f"  {label:<36}{size:>20,.0f}{happy.blob_bytes[label]:>14,.0f}")
        rows = ", ".join(f"{v} {k}" for k, v in counts.items())
        out(
            f"  motcua rows of a finished dossier: {rows}; ~{row_bytes:,} B as JSON of column values "
            "(not on-disk size)"
        )

        # 4. rework
        rework = rework_loop(driver, naive, args.rework)
        rw = rework.timings
        out("")
        out(
            f"4. rework loop: one dossier sent back from Task_PheDuyet to Task_ThamDinh {args.rework} times; "
            f"Task_ThamDinh time, median of rounds 1-{WINDOW} vs last {WINDOW}"
        )
        _rework_lines(
            out,
            "motcua complete",
            rw.complete["Task_ThamDinh"],
            rw.cpu["complete Task_ThamDinh"],
            rework.state_sizes,
            "state JSON",
        )
        if rework.naive_lost:
            round_no, step = rework.naive_lost
            out(
                f"  naive: at round {round_no} SpiffWorkflow no longer listed {step} among READY tasks "
                "(get_tasks stops at depth 1000); the naive loop ended there"
            )
        _rework_lines(
            out,
            "naive round trip",
            naive.times["Task_ThamDinh"],
            naive.cpu["Task_ThamDinh"],
            rework.blob_sizes,
            "blob",
        )
        out(HEADER)
        out(
            row(
                "motcua complete, whole loop",
                rw.all_completes(),
                rw.statements["complete"],
                rw.cpu["complete"],
            )
        )
        out(row("naive round trip, whole loop", naive.steps(), cpu=naive.cpu["step"]))
        out(f"load average at the end: {_load()}")

        if args.sql:
            out("")
            out("SQL statements per action (one dossier; COMMIT is the DBAPI commit, not a statement)")
            for line in list_statements(driver):
                out("  " + line)
        ctx.db.dispose()
        if args.profile:
            out("")
            for line in profile(url, tmp, clock, ctx.specs, args.profile):
                out(line)


def _rework_lines(
    out, label: str, times: list[float], cpu: list[float], sizes: Mapping[int, tuple[int, int]], what: str
) -> None:
    if not times:
        return
    early, late = times[:WINDOW], times[-WINDOW:]
    last = max(sizes) if sizes else None
    out(
        f"  {label:<18} rounds 1-{len(early)}: {median_ms(early):7.2f} ms (cpu {median_ms(cpu[:WINDOW]):.2f})"
        f"   rounds {len(times) - len(late) + 1}-{len(times)}: {median_ms(late):7.2f} ms "
        f"(cpu {median_ms(cpu[-WINDOW:]):.2f})   wall ratio {median_ms(late) / median_ms(early):.2f}x"
    )
    if last:
        first = sizes.get(1, (0, 0))
        out(
            f"  {'':<18} {what} after round 1: {first[0]:,} B ({first[1]} tasks); "
            f"after round {last}: {sizes[last][0]:,} B ({sizes[last][1]} tasks)"
        )


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _statuses(ctx: Context, ids: list[int]) -> str:
    with ctx.db.reading() as session:
        rows = session.execute(
            select(Dossier.status, func.count()).where(Dossier.id.in_(ids)).group_by(Dossier.status)
        ).all()
    return ", ".join(f"{n} {status}" for status, n in rows)


if __name__ == "__main__":
    main()
