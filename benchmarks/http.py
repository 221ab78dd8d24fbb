"""Complete construction-permit dossiers through the HTTP API, N clients at once.

    .venv/bin/python -m benchmarks.http --db sqlite|postgresql [--clients 8] [--dossiers 200]
                                        [--workers W] [--threads T] [--profile]

What it does (see benchmarks/README.md, "HTTP benchmark"):

1. a fresh database (SQLite: a file in a temporary instance dir; PostgreSQL:
   the database ``bench_http`` dropped and created again on the server of
   ``--pg-url``), migrated, with the demo organisation and the shipped
   procedures loaded in this process;
2. the server started as a child process with ``motcua serve --production``
   (gunicorn: SQLite one process with threads, PostgreSQL two processes by
   default), JSON access logs to a file, as in production;
3. API tokens for the clerk, the urban-management specialist and the leader
   of three districts (``POST /api/v1/auth/token``);
4. N client threads (one ``httpx.Client`` each, keep-alive) share M dossiers
   of XD-GPXD-01: receive at the counter, then for each step find the task in
   the acting user's inbox (``GET /tasks?q=<code>``), claim it and complete it
   with valid data for the step's fields, until the result is returned to
   the citizen (``POST /dossiers/<code>/return``).

It prints task completions per second (over the wall time of the whole
run), requests per second, and p50/p95/p99 latency per endpoint as the
client saw it. ``--profile`` runs the server's workers under py-spy and
writes the collapsed stacks of each worker's CPU time next to the server log.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("MOTCUA_PASSWORD_HASH_COST", "low")

import httpx
from sqlalchemy import text

from benchmarks.machine import cpu_model
from benchmarks.percentiles import percentile_ms
from engine import schema, scratch_databases
from engine.database import Database
from engine.settings import PROJECT_ROOT, WORKFLOWS_DIR

PROCEDURE = "XD-GPXD-01"
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_http"
PASSWORD = "motcua2026"
DISTRICTS = ("hk", "bd", "cg")
# Who acts on each step of XD-GPXD-01, by role in the district.
STEP_ACTOR = {"Task_ThamDinh": "cv", "Task_KiemTraThucDia": "cv", "Task_DuThaoGiayPhep": "cv",
              "Task_PheDuyet": "ld"}
STEP_DATA: dict[str, dict[str, Any]] = {
    "Task_ThamDinh": {"dia_diem_xay_dung": "12 Hàng Bạc, Hoàn Kiếm", "dien_tich_xay_dung": 85.5, "so_tang": 4,
                      "hop_le": True, "can_kiem_tra": True, "ghi_chu": "Đủ thành phần hồ sơ"},
    "Task_KiemTraThucDia": {"ket_qua_kiem_tra": "Phù hợp", "bien_ban": "Hiện trạng đúng hồ sơ"},
    "Task_DuThaoGiayPhep": {"so_giay_phep": "123/GPXD"},
    "Task_PheDuyet": {"phe_duyet": True, "y_kien": "Đồng ý"},
}
APPLICANT = {"name": "Trần Văn Bình", "id_number": "001085012345", "phone": "0912345678",
             "address": "12 Hàng Bạc, Hoàn Kiếm, Hà Nội", "email": "binh@example.vn"}


# --------------------------------------------------------------------------- figures


@dataclass
class Recorder:
    """Latencies per endpoint label and failed requests, shared by the client threads."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    error_samples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, label: str, seconds: float, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.latencies[label].append(seconds)
            if not ok:
                self.errors[label] += 1
                if len(self.error_samples) < 20:
                    self.error_samples.append(f"{label}: {detail}")

    def total(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def table(self, wall: float, order: tuple[str, ...] = ()) -> str:
        labels = [*[k for k in order if k in self.latencies], *sorted(set(self.latencies) - set(order))]
        lines = [f"  {'endpoint':<14}{'requests':>9}{'errors':>8}{'per s':>9}{'p50 ms':>9}{'p95 ms':>9}"
                 f"{'p99 ms':>9}{'max ms':>9}"]
        for label in labels:
            values = self.latencies[label]
            lines.append(f"  {label:<14}{len(values):>9}{self.errors.get(label, 0):>8}{len(values) / wall:>9.1f}"
                         f"{percentile_ms(values, 50):>9.1f}{percentile_ms(values, 95):>9.1f}"
                         f"{percentile_ms(values, 99):>9.1f}{max(values) * 1000:>9.1f}")
        return "\n".join(lines)


class ApiError(RuntimeError):
    pass


class Api:
    """One client's connection: timed JSON requests, a non-2xx answer recorded and raised."""

    def __init__(self, base_url: str, recorder: Recorder, headers: dict[str, str] | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60.0, headers=headers or {})
        self.recorder = recorder

    def call(self, label: str, method: str, path: str, token: str | None = None, expect: tuple[int, ...] = (200,),
             **kwargs) -> Any:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        try:
            response = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            self.recorder.record(label, time.perf_counter() - started, False, f"{type(exc).__name__}: {exc}")
            raise ApiError(f"{label}: {exc}") from exc
        elapsed = time.perf_counter() - started
        ok = response.status_code in expect
        self.recorder.record(label, elapsed, ok, f"{response.status_code} {response.text[:200]}")
        if not ok:
            raise ApiError(f"{label} {method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.headers.get("content-type", "").startswith("application/json") \
            else response.text

    def close(self) -> None:
        self.http.close()


# --------------------------------------------------------------------------- database and server


def fresh_database(kind: str, instance_dir: Path, pg_url: str) -> str:
    """An empty database URL: a new SQLite file, or the PostgreSQL database of ``pg_url`` dropped and re-created."""
    if kind == "sqlite":
        return f"sqlite:///{instance_dir / 'motcua.db'}"
    scratch_databases.recreate(pg_url)
    return pg_url


def load_demo(database_url: str) -> None:
    """Schema at head, the demo organisation, the shipped procedures: in this process, before the server starts."""
    from engine.context import make_context
    from engine.deployment import deploy_files
    from engine.directory import load_organisation, read_organisation_file
    from engine.settings import Settings

    ctx = make_context(Settings(database_url=database_url, instance_dir=Path(tempfile.gettempdir())))
    try:
        schema.upgrade(ctx.db)
        with ctx.db.transaction() as session:
            load_organisation(session, read_organisation_file(WORKFLOWS_DIR / "organisation.yaml"))
        with ctx.db.transaction() as session:
            deploy_files(ctx, session, sorted((WORKFLOWS_DIR / "procedures").glob("*.bpmn")))
    finally:
        ctx.db.dispose()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen
    log_path: Path

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []


@contextmanager
def running_server(database_url: str, instance_dir: Path, *, workers: int, threads: int,
                   extra_env: dict[str, str] | None = None) -> Iterator[Server]:
    """``motcua serve --production`` in a child process until the block ends (SIGTERM, then SIGKILL)."""
    port = free_port()
    log_path = instance_dir / "server.log"
    env = {**os.environ, "MOTCUA_DATABASE_URL": database_url, "MOTCUA_INSTANCE_DIR": str(instance_dir),
           "MOTCUA_SECRET_KEY": "bench-" + os.urandom(16).hex(), **(extra_env or {})}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the server makes its own under the instance dir
    command = [str(Path(sys.executable).parent / "motcua"), "serve", "--production", "--port", str(port),
               "--workers", str(workers), "--threads", str(threads)]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server stopped at start-up; see {server.log_path}:\n"
                               + server.log_path.read_text(errors="replace")[-2000:])
        try:
            if httpx.get(f"{server.base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server did not become ready in {timeout:.0f} s; see {server.log_path}")


def get_tokens(base_url: str, usernames: list[str]) -> dict[str, str]:
    tokens = {}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for name in usernames:
            response = http.post("/api/v1/auth/token", json={"username": name, "password": PASSWORD})
            response.raise_for_status()
            tokens[name] = response.json()["token"]
    return tokens


def district_users() -> list[str]:
    return [f"{d}.{suffix}" for d in DISTRICTS for suffix in ("motcua", "qldt.cv", "lanhdao")]


def actor_of(district: str, step: str) -> str:
    return f"{district}.qldt.cv" if STEP_ACTOR[step] == "cv" else f"{district}.lanhdao"


def machine_line() -> str:
    model = cpu_model()
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    return (f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


# --------------------------------------------------------------------------- one dossier


def find_task(api: Api, token: str, code: str) -> dict[str, Any]:
    """The dossier's open step in the acting user's inbox."""
    for _ in range(3):
        body = api.call("inbox", "GET", "/api/v1/tasks", token, params={"q": code, "limit": 5})
        items = [t for t in body["items"] if t["dossier"]["code"] == code]
        if items:
            return items[0]
    raise ApiError(f"no open task of {code} in the inbox")


NEXT_STEP = {"Task_ThamDinh": "Task_KiemTraThucDia", "Task_KiemTraThucDia": "Task_DuThaoGiayPhep",
             "Task_DuThaoGiayPhep": "Task_PheDuyet"}


def drive_dossier(api: Api, tokens: dict[str, str], district: str, counter: dict[str, int]) -> None:
    """Receive one XD-GPXD-01 dossier and take it through every step to its return."""
    clerk = tokens[f"{district}.motcua"]
    receipt = api.call("receive", "POST", "/api/v1/dossiers", clerk, expect=(201,),
                       json={"procedure_code": PROCEDURE, "applicant": APPLICANT})
    code, status, expected = receipt["code"], receipt["status"], "Task_ThamDinh"
    while status == "processing":
        token = tokens[actor_of(district, expected)]
        task = find_task(api, token, code)
        step = task["step"]
        if actor_of(district, step) != actor_of(district, expected):  # the model took another path
            token = tokens[actor_of(district, step)]
            task = find_task(api, token, code)
        api.call("claim", "POST", f"/api/v1/tasks/{task['id']}/claim", token)
        done = api.call("complete", "POST", f"/api/v1/tasks/{task['id']}/complete", token,
                        json={"data": STEP_DATA[step]})
        with api.recorder.lock:
            counter["completions"] += 1
        status, expected = done["dossier"]["status"], NEXT_STEP.get(step, "Task_ThamDinh")
    if status != "awaiting_return":
        raise ApiError(f"{code} ended as {status}")
    api.call("return", "POST", f"/api/v1/dossiers/{code}/return", clerk, json={"rating": 5})
    with api.recorder.lock:
        counter["dossiers"] += 1


def run_clients(base_url: str, tokens: dict[str, str], clients: int, dossiers: int,
                recorder: Recorder) -> tuple[float, dict[str, int]]:
    """N threads take dossier numbers from one shared sequence until M are done; returns wall time and counts."""
    numbers = itertools.count()
    counter = {"completions": 0, "dossiers": 0, "failed": 0}
    claim_lock = threading.Lock()

    def client(index: int) -> None:
        api = Api(base_url, recorder)
        try:
            while True:
                with claim_lock:
                    number = next(numbers)
                if number >= dossiers:
                    return
                try:
                    drive_dossier(api, tokens, DISTRICTS[number % len(DISTRICTS)], counter)
                except ApiError as exc:
                    with recorder.lock:
                        counter["failed"] += 1
                    print(f"  client {index}: {exc}", file=sys.stderr)
        finally:
            api.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, counter


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_backends(database_url: str) -> list[int]:
    """Server process ids of the connections to the benchmark's PostgreSQL database (same host only)."""
    if not database_url.startswith("postgresql"):
        return []
    db = Database(database_url)
    try:
        with db.engine.connect() as conn:
            return list(conn.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                          "AND pid <> pg_backend_pid()")))
    finally:
        db.dispose()


@dataclass
class CpuMeter:
    """CPU seconds spent by the server's workers, the database's backends and this client during a run.

    Wall-clock rates depend on whatever else the machine runs; CPU per task
    completion does not, and it bounds what the machine can do when it is ours
    alone: completions per second <= cores / CPU seconds per completion.
    """

    server: Server
    database_url: str
    start: dict[str, dict[int, float]] = field(default_factory=dict)
    client_start: float = 0.0

    def _sample(self) -> dict[str, dict[int, float]]:
        return {"web": {pid: process_cpu(pid) for pid in self.server.worker_pids()},
                "database": {pid: process_cpu(pid) for pid in database_backends(self.database_url)}}

    def __enter__(self) -> CpuMeter:
        self.start, self.client_start = self._sample(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        end = self._sample()
        self.used = {kind: sum(cpu - self.start[kind].get(pid, 0.0) for pid, cpu in end[kind].items())
                     for kind in end}
        self.used["client"] = time.process_time() - self.client_start


@contextmanager
def profiling(server: Server, enabled: bool, seconds: int) -> Iterator[None]:
    """py-spy on every gunicorn worker while the block runs, samples taken only while a thread holds the GIL
(so CPU, not waiting); collapsed stacks (``profile-<pid>.txt``, for flamegraph.pl or speedscope) beside
the server log."""
    if not enabled:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    recorders = [subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "200",
                                   "--gil", "--format", "raw", "--output",
                                   str(server.log_path.with_name(f"profile-{pid}.txt")), "--nonblocking"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for pid in server.worker_pids()]
    try:
        yield
    finally:
        for recorder in recorders:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(timeout=60)


# --------------------------------------------------------------------------- command


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http", description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--dossiers", type=int, default=200)
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn processes (default: 1 on SQLite, 2 on PostgreSQL)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads per process (default: 8 on SQLite, 4 on PostgreSQL)")
    parser.add_argument("--pg-url", default=os.environ.get("MOTCUA_BENCH_PG_URL", DEFAULT_PG_URL),
                        help="PostgreSQL database to drop and re-create (default: bench_http on 127.0.0.1)")
    parser.add_argument("--warmup", type=int, default=6, help="dossiers driven first and not counted")
    parser.add_argument("--profile", action="store_true", help="py-spy the server workers during the run")
    parser.add_argument("--keep", action="store_true", help="keep the instance dir (server log, profiles)")
    args = parser.parse_args(argv)
    workers = args.workers or (1 if args.db == "sqlite" else 2)
    threads = args.threads or (8 if args.db == "sqlite" else 4)

    instance_dir = Path(tempfile.mkdtemp(prefix="motcua-http-bench-"))
    try:
        database_url = fresh_database(args.db, instance_dir, args.pg_url)
        load_demo(database_url)
        print(f"machine: {machine_line()}")
        print(f"server: gunicorn, {workers} process(es) x {threads} thread(s), {args.db}; "
              f"{args.clients} clients, {args.dossiers} dossiers of {PROCEDURE}")
        with running_server(database_url, instance_dir, workers=workers, threads=threads) as server:
            tokens = get_tokens(server.base_url, district_users())
            if args.warmup:
                run_clients(server.base_url, tokens, min(args.clients, args.warmup), args.warmup, Recorder())
            recorder = Recorder()
            with profiling(server, args.profile, seconds=3600), CpuMeter(server, database_url) as cpu:
                wall, counts = run_clients(server.base_url, tokens, args.clients, args.dossiers, recorder)
        print(f"\n{counts['dossiers']} dossiers returned, {counts['failed']} failed, in {wall:.1f} s")
        print(f"task completions per second: {counts['completions'] / wall:.1f}   "
              f"requests per second: {recorder.total() / wall:.1f}   "
              f"dossiers per second: {counts['dossiers'] / wall:.2f}")
        print(recorder.table(wall, ("receive", "inbox", "claim", "complete", "return")))
        done = max(1, counts["completions"])
        server_cpu = cpu.used["web"] + cpu.used["database"]
        print(f"CPU per task completion (its share of the receipt, inbox, claim and return included): "
              f"web {cpu.used['web'] / done * 1000:.1f} ms, database {cpu.used['database'] / done * 1000:.1f} ms, "
              f"client {cpu.used['client'] / done * 1000:.1f} ms")
        cores = os.cpu_count() or 1
        ceiling = min(cores / (server_cpu / done), min(cores, workers) / max(cpu.used["web"] / done, 1e-9))
        print(f"ceiling on this machine with the client elsewhere and nothing else running: {ceiling:.0f} "
              f"completions per second ({cores} cores for {server_cpu / done * 1000:.1f} ms of server CPU each, "
              f"web processes using at most {min(cores, workers)} of them)")
        for sample in recorder.error_samples:
            print(f"  error: {sample}")
        if args.keep or args.profile:
            print(f"server log and profiles kept in {instance_dir}")
        print(f"machine at the end: {machine_line()}")
        return 1 if counts["failed"] or recorder.errors else 0
    finally:
        if not (args.keep or args.profile):
            shutil.rmtree(instance_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
