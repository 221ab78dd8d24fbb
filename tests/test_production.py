"""Production serving: a shared session key, refusals that cannot work, and nothing kept per process.

Two ``Context``s with their own pools and spec caches, each behind its own
Flask app, stand for two gunicorn workers (or two hosts) sharing one
database; on PostgreSQL a real ``motcua serve --production`` with two
processes is started as well.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from engine.context import Context
from engine.database import Database
from engine.deployment import deploy
from engine.errors import InvalidInput
from engine.receipt import receive
from engine.settings import SECRET_KEY_FILE, Settings, load_settings
from tests.helpers import APPLICANT, clerk_of, commune_of, district, receive_permit
from tests.web_helpers import PASSWORD, app_for, csrf_token, signed_in
from web.production import (
    ServeOptions,
    check_database,
    create_production_app,
    ensure_secret_key,
    gunicorn_options,
)

KHAI_SINH = Path(__file__).resolve().parent.parent / "workflows" / "procedures" / "khai-sinh.bpmn"


def _twin(ctx: Context, key: str) -> tuple[Context, Context]:
    """Two processes' worth of engine state on the same database and the same session key."""
    settings = Settings(database_url=ctx.settings.database_url, instance_dir=ctx.settings.instance_dir,
                        secret_key=key)
    first = Context(db=Database(settings.database_url), settings=settings, clock=ctx.clock)
    second = Context(db=Database(settings.database_url), settings=settings, clock=ctx.clock)
    return first, second


# --------------------------------------------------------------------------- session key


def test_production_key_is_created_once_private_and_shared(tmp_path):
    settings = Settings(database_url="sqlite://", instance_dir=tmp_path / "instance")
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(ensure_secret_key(settings))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    key_file = tmp_path / "instance" / SECRET_KEY_FILE
    assert len(set(results)) == 1 and len(results[0]) == 64
    assert key_file.read_text().strip() == results[0]
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not [p for p in key_file.parent.iterdir() if p.name.startswith(".secret_key")]
    # every later process reads the same file through the ordinary settings
    assert load_settings({"MOTCUA_INSTANCE_DIR": str(tmp_path / "instance")}).secret_key == results[0]


def test_configured_key_wins_and_no_file_is_written(tmp_path):
    settings = Settings(database_url="sqlite://", instance_dir=tmp_path, secret_key="from-the-environment")
    assert ensure_secret_key(settings) == "from-the-environment"
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_production_app_refuses_to_start_without_a_shared_key(tmp_path, monkeypatch):
    monkeypatch.delenv("MOTCUA_SECRET_KEY", raising=False)
    monkeypatch.setenv("MOTCUA_INSTANCE_DIR", str(tmp_path))
    monkeypatch.setenv("MOTCUA_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(InvalidInput, match="MOTCUA_SECRET_KEY"):
        create_production_app()


# --------------------------------------------------------------------------- refusals and options


def test_sqlite_with_several_processes_is_refused():
    with pytest.raises(InvalidInput, match="SQLite serves one process"):
        check_database(Settings(database_url="sqlite:///x.db", instance_dir=Path(".")), workers=3)
    check_database(Settings(database_url="sqlite:///x.db", instance_dir=Path(".")), workers=1)
    check_database(Settings(database_url="postgresql+psycopg://h/db", instance_dir=Path(".")), workers=8)


def test_cli_refuses_sqlite_with_workers_before_starting_anything(tmp_path, monkeypatch):
    from cli.main import main

    monkeypatch.setenv("MOTCUA_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("MOTCUA_INSTANCE_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["serve", "--production", "--workers", "3"])
    assert result.exit_code == 1
    assert "SQLite serves one process" in result.output
    assert not (tmp_path / "x.db").exists() and not (tmp_path / SECRET_KEY_FILE).exists()


def test_gunicorn_runs_threaded_workers_without_preloading():
    options = gunicorn_options(ServeOptions(host="0.0.0.0", port=8000, threads=4), workers=5)
    assert options["bind"] == "0.0.0.0:8000" and options["workers"] == 5
    assert options["worker_class"] == "gthread" and options["preload_app"] is False
    assert gunicorn_options(ServeOptions(threads=1), workers=2)["worker_class"] == "sync"


def test_metrics_dir_loses_last_runs_counters_and_nothing_else(tmp_path, monkeypatch):
    from web.production import prepare_metrics_dir

    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "counter_123.db").write_bytes(b"old")
    (shared / "keep.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(shared))
    assert prepare_metrics_dir(tmp_path) == str(shared)
    assert sorted(p.name for p in shared.iterdir()) == ["keep.txt"]
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    assert prepare_metrics_dir(tmp_path / "instance") == str(tmp_path / "instance" / "metrics")
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path / "instance" / "metrics")


# --------------------------------------------------------------------------- nothing per process


def test_a_session_signed_in_one_process_is_valid_in_another(deployed):
    first, second = _twin(deployed, "shared-key-for-two-processes")
    try:
        client = signed_in(first, "hk.qldt.cv", app=app_for(first))
        other = app_for(second).test_client()
        cookie = client.get_cookie("session")
        assert cookie is not None
        other.set_cookie("session", cookie.value)
        response = other.get("/inbox/")
        assert response.status_code == 200
        assert "hk.qldt.cv" in response.get_data(as_text=True) or "Bùi Văn Toàn" in response.get_data(as_text=True)
    finally:
        first.db.dispose()
        second.db.dispose()


def test_failed_logins_lock_the_account_across_processes(deployed):
    first, second = _twin(deployed, "k")
    try:
        apps = [app_for(first).test_client(), app_for(second).test_client()]
        for attempt in range(5):
            client = apps[attempt % 2]
            client.post("/login", data={"username": "hk.motcua", "password": "wrong",
                                        "csrf_token": csrf_token(client)})
        client = apps[1]
        response = client.post("/login", data={"username": "hk.motcua", "password": PASSWORD,
                                               "csrf_token": csrf_token(client)})
        assert response.status_code != 302  # locked in the database, whichever process asks
    finally:
        first.db.dispose()
        second.db.dispose()


def test_a_version_deployed_by_one_process_is_used_by_the_other(deployed):
    first, second = _twin(deployed, "k")
    try:
        with second.db.transaction() as session:  # the second process has compiled version 1 already
            clerk = clerk_of(session, commune_of(session, district(session, 0)))
            assert receive(second, session, actor=clerk, procedure_code="HT-KS-01",
                           applicant=APPLICANT).procedure_version.version == 1
        with first.db.transaction() as session:
            version, new = deploy(first, session, KHAI_SINH.read_bytes() + b"\n<!-- v2 -->\n",
                                  file_name="khai-sinh.bpmn", effective_from=first.clock.now())
            assert new and version.version == 2
        with second.db.transaction() as session:
            clerk = clerk_of(session, commune_of(session, district(session, 0)))
            dossier = receive(second, session, actor=clerk, procedure_code="HT-KS-01", applicant=APPLICANT)
            assert dossier.procedure_version.version == 2
    finally:
        first.db.dispose()
        second.db.dispose()


def test_dossier_codes_never_repeat_across_processes(deployed):
    first, second = _twin(deployed, "k")
    try:
        codes = [receive_permit(ctx) for ctx in (first, second, first, second, first, second)]
        assert len(set(codes)) == 6
    finally:
        first.db.dispose()
        second.db.dispose()


# --------------------------------------------------------------------------- the real thing (PostgreSQL)


@pytest.mark.skipif(not os.environ.get("MOTCUA_TEST_DATABASE_URL"), reason="several processes need PostgreSQL")
def test_serve_production_runs_several_processes_sharing_sessions(deployed, tmp_path):
    from benchmarks.http import free_port

    port = free_port()
    env = {**os.environ, "MOTCUA_DATABASE_URL": deployed.settings.database_url,
           "MOTCUA_INSTANCE_DIR": str(tmp_path)}
    env.pop("MOTCUA_SECRET_KEY", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    motcua = str(Path(sys.executable).parent / "motcua")
    process = subprocess.Popen([motcua, "serve", "--production", "--port", str(port), "--workers", "2",
                                "--threads", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("the production server did not become ready")
        assert (tmp_path / SECRET_KEY_FILE).exists()
        login = httpx.get(f"{base}/login")
        token = csrf_token_from(login.text)
        signed = httpx.post(f"{base}/login", data={"username": "hk.qldt.cv", "password": PASSWORD,
                                                   "csrf_token": token}, cookies=login.cookies)
        assert signed.status_code == 302
        cookies = signed.cookies
        # sync workers and a new connection per request: the requests land on both processes
        pages = [httpx.get(f"{base}/inbox/", cookies=cookies) for _ in range(20)]
        assert all(p.status_code == 200 for p in pages)
        metrics = httpx.get(f"{base}/metrics").text
        assert 'motcua_http_requests_total{endpoint="inbox.index",method="GET",status="200"} 20.0' in metrics
    finally:
        process.terminate()
        process.wait(timeout=30)


def csrf_token_from(page: str) -> str:
    from tests.web_helpers import CSRF_RE

    match = CSRF_RE.search(page)
    assert match
    return match.group(1)


@pytest.mark.skipif(not os.environ.get("MOTCUA_TEST_DATABASE_URL"), reason="the load test runs on PostgreSQL")
def test_fifty_users_for_twenty_seconds_get_no_error(pg_url, capsys):
    """The quick form of ``python -m stress.load`` (5 minutes by default): zero errors on gunicorn + PostgreSQL."""
    from sqlalchemy import make_url

    from stress import load

    url = make_url(pg_url)
    target = url.set(database=f"{url.database}_load").render_as_string(hide_password=False)
    status = load.main(["--duration", "20", "--users", "50", "--pg-url", target])
    report = capsys.readouterr().out
    assert status == 0, report
    assert " 0 errors; 0 error lines in the server log" in report
    assert "steps completed 0 " not in report


@pytest.mark.skipif(not os.environ.get("MOTCUA_TEST_DATABASE_URL"), reason="the advisory lock is PostgreSQL's")
def test_hosts_starting_together_migrate_one_after_another(pg_url):
    from sqlalchemy import make_url

    from engine import schema, scratch_databases
    from web.production import migrate

    url = make_url(pg_url)
    target = url.set(database=f"{url.database}_migrate").render_as_string(hide_password=False)
    scratch_databases.recreate(target)
    failures: list[BaseException] = []

    def start_host() -> None:
        db = Database(target)
        try:
            migrate(db)
        except BaseException as exc:
            failures.append(exc)
        finally:
            db.dispose()

    hosts = [threading.Thread(target=start_host, daemon=True) for _ in range(4)]
    for host in hosts:
        host.start()
    for host in hosts:
        host.join(timeout=120)  # without the lock, concurrent upgrades were seen to block for over 10 minutes
    db = Database(target)
    try:
        assert not [host for host in hosts if host.is_alive()], "a start-up migration is still blocked"
        assert not failures, failures
        assert schema.current_revision(db) == schema.head_revision(db)
    finally:
        db.dispose()
        scratch_databases.drop(target)
