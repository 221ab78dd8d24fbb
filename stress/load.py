"""Fifty clerks and specialists working at once on gunicorn + PostgreSQL (a headless-locust equivalent).

    .venv/bin/python -m stress.load [--duration 300] [--users 50] [--think 0.5] [--workers 2]
                                    [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_load]

The database named by ``--pg-url`` is dropped and created again, loaded with
the demo organisation and procedures, and served by ``motcua serve
--production`` (behind a pretend reverse proxy: ``MOTCUA_TRUSTED_PROXIES=1``,
each citizen's lookup carries its own ``X-Forwarded-For``). Then, for
``--duration`` seconds, virtual users each with their own API token:

- **clerks** (30%, at the counters of Hoàn Kiếm, Ba Đình and Cầu Giấy):
  receive a construction-permit dossier, open its page, let the citizen look
  it up (public lookup), and hand back results that have come through;
- **specialists** (50%, urban management) and **leaders** (20%): open the
  unit's inbox, take a step (each user takes only the task ids of its own
  share, as colleagues who split the pile, so no two claim the same task),
  open the dossier page, claim and complete it with valid data.

Every user waits ``uniform(0, 2 x think)`` seconds between actions. Any
answer other than the expected one (a 5xx, a 4xx, a timeout) is an error.
Prints throughput and p50/p95/p99 per endpoint; exits 1 on any error.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("MOTCUA_PASSWORD_HASH_COST", "low")

import httpx

from benchmarks.http import (
    APPLICANT,
    STEP_DATA,
    Api,
    ApiError,
    CpuMeter,
    Recorder,
    fresh_database,
    load_demo,
    machine_line,
    running_server,
)

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_load"
DISTRICTS = ("hk", "bd", "cg")
ENDPOINTS = ("receipt", "inbox", "dossier page", "claim", "complete", "lookup", "return")
PROCEDURE = "XD-GPXD-01"


@dataclass(frozen=True)
class Role:
    kind: str  # clerk, specialist or leader
    district: str
    share: int  # this user's index among the users of the same account
    shares: int  # how many users share that account's unit pile

    @property
    def username(self) -> str:
        return {"clerk": f"{self.district}.motcua", "specialist": f"{self.district}.qldt.cv",
                "leader": f"{self.district}.lanhdao"}[self.kind]


def cast(users: int) -> list[Role]:
    """30% clerks, 50% specialists, 20% leaders (at least one of each per district), spread over districts."""
    kinds = {"clerk": max(3, round(users * 0.3)), "leader": max(3, round(users * 0.2))}
    kinds["specialist"] = max(3, users - kinds["clerk"] - kinds["leader"])
    roles = []
    for kind, count in kinds.items():
        per_district = {d: [i for i in range(count) if i % len(DISTRICTS) == n] for n, d in enumerate(DISTRICTS)}
        for district, members in per_district.items():
            roles += [Role(kind, district, share, len(members)) for share in range(len(members))]
    return roles


class Tally:
    """Counters shared by the user threads."""

    def __init__(self, *keys: str) -> None:
        self._lock = threading.Lock()
        self.values = dict.fromkeys(keys, 0)

    def add(self, key: str) -> None:
        with self._lock:
            self.values[key] += 1


class Stop:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def __bool__(self) -> bool:
        return time.monotonic() >= self.deadline


def pause(think: float, stop: Stop) -> None:
    if think > 0 and not stop:
        time.sleep(random.uniform(0, 2 * think))


def citizen_address() -> str:
    """Each lookup comes from some citizen's address (the lookup's rate limit is per address)."""
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def clerk(api: Api, token: str, think: float, stop: Stop, counts: Tally) -> None:
    """Receive, show the page, let the citizen look it up, return finished results."""
    pending: deque[str] = deque()
    while not stop:
        receipt = api.call("receipt", "POST", "/api/v1/dossiers", token, expect=(201,),
                           json={"procedure_code": PROCEDURE, "applicant": APPLICANT})
        pending.append(receipt["code"])
        counts.add("received")
        pause(think, stop)
        api.call("dossier page", "GET", f"/api/v1/dossiers/{receipt['code']}", token)
        pause(think, stop)
        code = pending[0]
        found = api.call("lookup", "GET", f"/api/v1/lookup/{code}", params={"phone4": APPLICANT["phone"][-4:]},
                         headers={"X-Forwarded-For": citizen_address()})
        if found["status"] == "awaiting_return":
            api.call("return", "POST", f"/api/v1/dossiers/{pending.popleft()}/return", token, json={"rating": 5})
            counts.add("returned")
        elif len(pending) > 20:
            pending.rotate(-1)
        pause(think, stop)


def worker(api: Api, token: str, role: Role, think: float, stop: Stop, counts: Tally) -> None:
    """Inbox, then the first task of one's own share: its dossier page, claim, complete."""
    while not stop:
        inbox = api.call("inbox", "GET", "/api/v1/tasks", token, params={"procedure": PROCEDURE, "limit": 100})
        mine = [t for t in inbox["items"] if t["id"] % role.shares == role.share and t["claimed_by"] is None]
        pause(think, stop)
        if not mine or stop:
            continue
        task = mine[0]
        api.call("dossier page", "GET", f"/api/v1/dossiers/{task['dossier']['code']}", token)
        pause(think, stop)
        api.call("claim", "POST", f"/api/v1/tasks/{task['id']}/claim", token)
        api.call("complete", "POST", f"/api/v1/tasks/{task['id']}/complete", token,
                 json={"data": STEP_DATA[task["step"]]})
        counts.add("completed")
        pause(think, stop)


def run(base_url: str, roles: list[Role], duration: float, think: float, recorder: Recorder) -> dict[str, int]:
    shared = Tally("received", "completed", "returned", "aborted")
    tokens: dict[int, str] = {}
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for index, role in enumerate(roles):
            response = http.post("/api/v1/auth/token", json={"username": role.username, "password": "motcua2026"})
            response.raise_for_status()
            tokens[index] = response.json()["token"]

    stop = Stop(duration)

    def user(index: int, role: Role) -> None:
        api = Api(base_url, recorder)
        time.sleep(random.uniform(0, min(2.0, duration / 10)))  # users arrive over the first seconds
        try:
            while not stop:
                try:
                    if role.kind == "clerk":
                        clerk(api, tokens[index], think, stop, shared)
                    else:
                        worker(api, tokens[index], role, think, stop, shared)
                except ApiError as exc:
                    shared.add("aborted")
                    print(f"  {role.username} #{role.share}: {exc}", file=sys.stderr)
        finally:
            api.close()

    threads = [threading.Thread(target=user, args=(i, r), daemon=True) for i, r in enumerate(roles)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return dict(shared.values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds (default 300)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--think", type=float, default=0.5, help="mean seconds between a user's actions")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per process")
    parser.add_argument("--pg-url", default=os.environ.get("MOTCUA_LOAD_PG_URL", DEFAULT_PG_URL),
                        help="PostgreSQL database to drop and re-create")
    parser.add_argument("--keep", action="store_true", help="keep the instance dir with the server log")
    args = parser.parse_args(argv)

    roles = cast(args.users)
    instance_dir = Path(tempfile.mkdtemp(prefix="motcua-load-"))
    try:
        database_url = fresh_database("postgresql", instance_dir, args.pg_url)
        load_demo(database_url)
        kinds = {k: sum(r.kind == k for r in roles) for k in ("clerk", "specialist", "leader")}
        print(f"machine: {machine_line()}")
        print(f"server: gunicorn {args.workers} process(es) x {args.threads} thread(s), PostgreSQL; "
              f"{len(roles)} users ({kinds['clerk']} clerks, {kinds['specialist']} specialists, "
              f"{kinds['leader']} leaders), think time {args.think} s mean, {args.duration:.0f} s")
        recorder = Recorder()
        with running_server(database_url, instance_dir, workers=args.workers, threads=args.threads,
                            extra_env={"MOTCUA_TRUSTED_PROXIES": "1"}) as server:
            started = time.perf_counter()
            with CpuMeter(server, database_url) as cpu:
                counts = run(server.base_url, roles, args.duration, args.think, recorder)
            wall = time.perf_counter() - started
            errors_in_log = sum(1 for line in server.log_path.read_text(errors="replace").splitlines()
                                if '"level": "ERROR"' in line or "Traceback" in line)
        errors = sum(recorder.errors.values())
        print(f"\n{recorder.total()} requests in {wall:.0f} s: {recorder.total() / wall:.1f} per second; "
              f"{errors} errors; {errors_in_log} error lines in the server log")
        print(f"dossiers received {counts['received']}, steps completed {counts['completed']} "
              f"({counts['completed'] / wall:.1f} per second), results returned {counts['returned']}")
        print(recorder.table(wall, ENDPOINTS))
        requests = max(1, recorder.total())
        print(f"CPU seconds: web {cpu.used['web']:.0f}, database {cpu.used['database']:.0f}, client "
              f"{cpu.used['client']:.0f}; per request: web {cpu.used['web'] / requests * 1000:.1f} ms, "
              f"database {cpu.used['database'] / requests * 1000:.1f} ms")
        for sample in recorder.error_samples:
            print(f"  error: {sample}")
        print(f"machine at the end: {machine_line()}")
        if args.keep:
            print(f"server log in {instance_dir}")
        return 1 if errors or counts["aborted"] or errors_in_log else 0
    finally:
        if not args.keep:
            shutil.rmtree(instance_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
