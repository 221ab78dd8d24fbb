"""kill -9 under load: every acknowledged action survives exactly once, nothing is left stuck.

Runs ``motcua serve --production`` (gunicorn, 2 worker processes) on
PostgreSQL and, when the project has it, ``motcua worker``. Client threads
drive a steady load through the JSON API: a clerk receives construction-
permit dossiers, the two people of Quận Hoàn Kiếm who work its steps claim
and complete them. Every acknowledged action (HTTP 2xx with the resulting
code, task id and dossier version) goes into a ledger. Meanwhile a killer
sends SIGKILL to a random gunicorn worker every ``--interval`` seconds
(gunicorn's master starts a new one) and, with ``--worker``, to the
``motcua worker`` process (restarted as systemd would).

Afterwards, read straight from the database:

* every acknowledged receipt is a dossier, once;
* every acknowledged completion is a done task with exactly one
  'completed' event;
* ``engine.consistency`` finds nothing wrong with any dossier (no step
  without an inbox row, no stint without a step, no finished workflow
  still processing);
* the app still answers /healthz and a fresh receipt;
* with the worker: every timer that fell due while it was being killed has
  fired (the step after it is open or done).

Long form::

    python -m stress.kills --seconds 300 --interval 2 [--worker] [--url postgresql+psycopg://...h_proof_kills]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("MOTCUA_PASSWORD_HASH_COST", "low")

import requests
from sqlalchemy import func, select

from stress.races import APPLICANT, PERMIT, make_ctx, prepare_database

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/h_proof_kills"
ROOT = Path(__file__).resolve().parent.parent
MOTCUA = str(Path(sys.executable).with_name("motcua"))
PASSWORD = "motcua2026"
CLERK = "hk.motcua"
WORKERS_OF_UNIT = {"H26.38.03": "hk.qldt.cv", "H26.38.02": "hk.lanhdao"}  # who works the permit's steps in Hoàn Kiếm
ANSWERS = {
    "Task_ThamDinh": {"hop_le": True, "can_kiem_tra": True},
    "Task_KiemTraThucDia": {"ket_qua_kiem_tra": "Phù hợp"},
    "Task_DuThaoGiayPhep": {"so_giay_phep": "123/GPXD"},
    "Task_PheDuyet": {"phe_duyet": True},
}
TIMER_PROCEDURE = "KILL-TIMER-01"
TIMER_SECONDS = 3
TIMER_FILE = ROOT / "tests" / "data" / "timers" / "waiting-period.bpmn"


def timer_procedure() -> bytes:
    """The waiting-period test procedure with a wall-clock wait of a few seconds."""
    text = TIMER_FILE.read_text(encoding="utf-8")
    text = text.replace("working_days(2)", f'"PT{TIMER_SECONDS}S"').replace("TEST-TIMER-03", TIMER_PROCEDURE)
    return text.encode()


# ------------------------------------------------------------------ processes

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """Live child processes of ``pid`` (from /proc, no extra dependency)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def has_worker_command() -> bool:
    """``motcua worker`` exists (issue 5 adds it)."""
    result = subprocess.run([MOTCUA, "worker", "--help"], capture_output=True, text=True, check=False)
    return result.returncode == 0


@dataclass
class Services:
    """The gunicorn master (``motcua serve --production``) and, optionally, ``motcua worker``."""

    url: str
    port: int
    instance: Path
    worker: bool
    server: subprocess.Popen | None = None
    worker_proc: subprocess.Popen | None = None
    logs: list[Any] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "MOTCUA_DATABASE_URL": self.url, "MOTCUA_INSTANCE_DIR": str(self.instance),
                "MOTCUA_SECRET_KEY": "kills-suite-shared-key", "MOTCUA_LOG_LEVEL": "WARNING",
                "MOTCUA_PASSWORD_HASH_COST": "low", "PYTHONUNBUFFERED": "1"}

    def _log(self, name: str):
        handle = open(self.instance / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.logs.append(handle)
        return handle

    def start(self) -> None:
        self.server = subprocess.Popen(
            [MOTCUA, "serve", "--production", "--workers", "2", "--threads", "2", "--host", "127.0.0.1",
             "--port", str(self.port), "--no-migrate"],
            env=self.env, stdout=self._log("server"), stderr=subprocess.STDOUT, cwd=ROOT)
        if self.worker:
            self.start_worker()
        self.wait_ready()

    def start_worker(self) -> None:
        self.worker_proc = subprocess.Popen([MOTCUA, "worker", "--interval", "1"], env=self.env,
                                            stdout=self._log("worker"), stderr=subprocess.STDOUT, cwd=ROOT)

    def wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if self.server and self.server.poll() is not None:
                raise RuntimeError(f"the server exited with {self.server.returncode}; see {self.instance}/server.log")
            time.sleep(0.2)
        raise RuntimeError("the server did not answer /healthz in time")

    def web_workers(self) -> list[int]:
        return children(self.server.pid) if self.server else []

    def kill_web_worker(self, rng: random.Random) -> int | None:
        pids = self.web_workers()
        if not pids:
            return None
        pid = rng.choice(pids)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return pid

    def kill_and_restart_worker(self) -> bool:
        if not self.worker_proc:
            return False
        self.worker_proc.kill()
        self.worker_proc.wait(10)
        self.start_worker()
        return True

    def stop(self) -> None:
        for proc in (self.worker_proc, self.server):
            if proc and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for handle in self.logs:
            handle.close()


# ------------------------------------------------------------------ clients and the ledger

@dataclass
class Ledger:
    """What the server acknowledged, and every answer that was not an acknowledgement."""

    receipts: list[str] = field(default_factory=list)
    timer_receipts: list[str] = field(default_factory=list)
    completions: list[tuple[int, int]] = field(default_factory=list)  # (task id, dossier version after)
    waits_started: list[tuple[str, float]] = field(default_factory=list)  # (code, monotonic time)
    answers: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str) -> None:
        with self.lock:
            self.answers[what] += 1


class Client:
    """One user on the API, with a token (tokens live in the database, so they survive restarts)."""

    def __init__(self, base: str, username: str, ledger: Ledger) -> None:
        self.base, self.username, self.ledger = base, username, ledger
        self.http = requests.Session()
        response = self.http.post(f"{base}/api/v1/auth/token", json={"username": username, "password": PASSWORD},
                                  timeout=30)
        response.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {response.json()['token']}"

    def call(self, method: str, path: str, **kwargs) -> requests.Response | None:
        """The answer, or None when the connection broke (a killed worker): then nothing was acknowledged."""
        try:
            response = self.http.request(method, f"{self.base}/api/v1{path}", timeout=30, **kwargs)
        except requests.RequestException as exc:
            self.ledger.note(f"connection: {type(exc).__name__}")
            self.http.close()  # a fresh connection for the next request
            return None
        self.ledger.note(f"{method} {path.split('/')[1]} {response.status_code}")
        return response


def clerk_loop(client: Client, stop: threading.Event, with_timers: bool) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        timer = with_timers and n % 5 == 0
        code = TIMER_PROCEDURE if timer else PERMIT
        response = client.call("POST", "/dossiers", json={"procedure_code": code, "applicant": APPLICANT})
        if response is not None and response.status_code == 201:
            with client.ledger.lock:
                (client.ledger.timer_receipts if timer else client.ledger.receipts).append(response.json()["code"])
        stop.wait(0.05)


def worker_loop(client: Client, stop: threading.Event, rng: random.Random) -> None:
    while not stop.is_set():
        listing = client.call("GET", "/tasks", params={"limit": 20})
        if listing is None or listing.status_code != 200 or not listing.json()["items"]:
            stop.wait(0.2)
            continue
        task = rng.choice(listing.json()["items"])
        claimed = client.call("POST", f"/tasks/{task['id']}/claim")
        if claimed is None or claimed.status_code != 200:
            continue
        data = ANSWERS.get(task["step"], {})
        done = client.call("POST", f"/tasks/{task['id']}/complete",
                           json={"data": data, "expected_version": claimed.json()["dossier"]["version"]})
        if done is not None and done.status_code == 200:
            body = done.json()
            with client.ledger.lock:
                client.ledger.completions.append((body["task"]["id"], body["dossier"]["version"]))
                if task["step"] == "Task_NiemYet":
                    client.ledger.waits_started.append((body["dossier"]["code"], time.monotonic()))


# ------------------------------------------------------------------ the run and its verdict

@dataclass
class Report:
    seconds: float = 0.0
    web_kills: int = 0
    worker_kills: int = 0
    worker: str = "not run"
    receipts: int = 0
    completions: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    missing_receipts: list[str] = field(default_factory=list)
    bad_completions: list[str] = field(default_factory=list)
    inconsistencies: list[str] = field(default_factory=list)
    timers_due: int = 0
    timers_not_fired: list[str] = field(default_factory=list)
    still_serves: bool = False
    server_errors: int = 0

    @property
    def ok(self) -> bool:
        return (not self.missing_receipts and not self.bad_completions and not self.inconsistencies
                and not self.timers_not_fired and self.still_serves and self.server_errors == 0)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items()}
        for key in ("missing_receipts", "bad_completions", "inconsistencies", "timers_not_fired"):
            out[key] = out[key][:20]
        out["ok"] = self.ok
        return out


def deploy_timer_procedure(url: str) -> None:
    from engine.deployment import deploy

    ctx = make_ctx(url)
    with ctx.db.transaction() as session:
        deploy(ctx, session, timer_procedure(), file_name="kill-timer.bpmn",
               effective_from=ctx.clock.now())
    ctx.db.dispose()


def verify(url: str, ledger: Ledger, report: Report, *, timers: bool, end: float) -> None:
    """Compare the ledger with the database, and check every dossier."""
    from engine import consistency
    from engine.models import Dossier, Event, Task, TaskState

    ctx = make_ctx(url)
    ctx.clock = __import__("engine.clock", fromlist=["SystemClock"]).SystemClock()
    with ctx.db.reading() as session:
        acked = ledger.receipts + ledger.timer_receipts
        counts = dict(session.execute(select(Dossier.code, func.count(Dossier.id))
                                      .where(Dossier.code.in_(acked)).group_by(Dossier.code)).all()) if acked else {}
        report.missing_receipts = [c for c in acked if counts.get(c) != 1]
        for task_id, _version in ledger.completions:
            task = session.get(Task, task_id)
            events = session.scalar(select(func.count(Event.id)).where(Event.task_id == task_id,
                                                                       Event.action == "completed"))
            if task is None or task.state != TaskState.DONE or events != 1:
                report.bad_completions.append(f"task {task_id}: {task and task.state}, {events} 'completed' events")
        report.inconsistencies = [str(p) for p in consistency.check_all(ctx, session)]
        if timers:
            for code, started in ledger.waits_started:
                if end - started < TIMER_SECONDS + 5:
                    continue  # not due long enough before the end to demand it
                report.timers_due += 1
                after = session.scalar(select(func.count(Task.id)).join(Dossier).where(
                    Dossier.code == code, Task.step == "Task_KetLuan"))
                if not after:
                    report.timers_not_fired.append(code)
    ctx.db.dispose()


def run(url: str, seconds: float, interval: float, *, worker: bool | None = None, seed: int = 6,
        prepare: bool = True) -> Report:
    """Load, kill, verify. ``worker=None`` runs the worker when the command exists."""
    report = Report()
    rng = random.Random(seed)
    if prepare:
        prepare_database(url)
    worker = has_worker_command() if worker is None else worker
    report.worker = "killed and restarted" if worker else "hook only: 'motcua worker' not run"
    if worker:
        deploy_timer_procedure(url)
    instance = Path(tempfile.mkdtemp(prefix="motcua-kills-"))
    services = Services(url=url, port=free_port(), instance=instance, worker=worker)
    ledger = Ledger()
    stop = threading.Event()
    services.start()
    base = f"http://127.0.0.1:{services.port}"
    threads: list[threading.Thread] = []
    started = time.monotonic()
    try:
        clerk = Client(base, CLERK, ledger)
        people = [Client(base, name, ledger) for name in WORKERS_OF_UNIT.values()]
        threads = [threading.Thread(target=clerk_loop, args=(clerk, stop, worker), daemon=True)]
        threads += [threading.Thread(target=worker_loop, args=(p, stop, random.Random(rng.random())), daemon=True)
                    for p in people]
        for thread in threads:
            thread.start()
        while time.monotonic() - started < seconds:
            time.sleep(interval)
            if services.kill_web_worker(rng) is not None:
                report.web_kills += 1
                services.wait_ready()  # the other worker answers meanwhile; never kill the last one standing
            if worker and report.web_kills % 2 == 0 and services.kill_and_restart_worker():
                report.worker_kills += 1
        stop.set()
        for thread in threads:
            thread.join(60)
        if worker:
            time.sleep(TIMER_SECONDS + 4)  # let the last worker fire what fell due
        end = time.monotonic()
        services.wait_ready()
        fresh = Client(base, CLERK, Ledger())
        answer = fresh.call("POST", "/dossiers", json={"procedure_code": PERMIT, "applicant": APPLICANT})
        report.still_serves = answer is not None and answer.status_code == 201
        if report.still_serves:
            ledger.receipts.append(answer.json()["code"])
    finally:
        stop.set()
        report.seconds = round(time.monotonic() - started, 1)
        services.stop()
    report.receipts, report.completions = len(ledger.receipts) + len(ledger.timer_receipts), len(ledger.completions)
    report.answers = dict(sorted(ledger.answers.items()))
    report.server_errors = sum(n for what, n in ledger.answers.items() if what.split()[-1].startswith("5"))
    verify(url, ledger, report, timers=worker, end=end)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between two kills")
    parser.add_argument("--worker", action=argparse.BooleanOptionalAction, default=None,
                        help="also kill -9 'motcua worker' and check timers (default: when the command exists)")
    parser.add_argument("--url", default=os.environ.get("MOTCUA_STRESS_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args(argv)
    report = run(args.url, args.seconds, args.interval, worker=args.worker)
    print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
