"""Request ids, JSON log lines, the protected /metrics endpoint and readiness."""

from __future__ import annotations

import io
import json
import logging
from datetime import timedelta

from sqlalchemy import inspect

from engine import schema
from engine.context import Context
from engine.database import Database
from engine.settings import Settings
from tests.helpers import receive_permit
from tests.web_helpers import app_for
from web import observability


def _json_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _capture_logs():
    stream = io.StringIO()
    handler = observability.json_handler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    return stream, lambda: (root.removeHandler(handler), root.setLevel(old_level))


def test_the_callers_request_id_is_kept_and_returned(ctx):
    client = app_for(ctx).test_client()
    response = client.get("/healthz", headers={"X-Request-ID": "proxy-4f2a.17"})
    assert response.headers["X-Request-ID"] == "proxy-4f2a.17"


def test_a_missing_or_unsafe_request_id_is_replaced_by_a_new_one(ctx):
    client = app_for(ctx).test_client()
    fresh = client.get("/healthz").headers["X-Request-ID"]
    hostile = client.get("/healthz", headers={"X-Request-ID": 'x" injected {"level":"ERROR"}'}).headers["X-Request-ID"]
    too_long = client.get("/healthz", headers={"X-Request-ID": "a" * 300}).headers["X-Request-ID"]
    for rid in (fresh, hostile, too_long):
        assert len(rid) == 32 and int(rid, 16) >= 0
    assert len({fresh, hostile, too_long}) == 3


def test_every_log_line_of_a_request_carries_its_id_as_json(ctx):
    app = app_for(ctx)

    @app.get("/_test_log")
    def _test_log():
        logging.getLogger("engine.something").warning("inside the request", extra={"dossier": "H26-1"})
        return "ok"

    stream, restore = _capture_logs()
    try:
        app.test_client().get("/_test_log", headers={"X-Request-ID": "req-42"})
        logging.getLogger("motcua.outside").info("no request here")
    finally:
        restore()
    lines = _json_lines(stream)
    inside = [line for line in lines if line["request_id"] == "req-42"]
    assert {line["logger"] for line in inside} >= {"engine.something", "motcua.access"}
    warning = next(line for line in inside if line["logger"] == "engine.something")
    assert warning["message"] == "inside the request" and warning["dossier"] == "H26-1"
    access = next(line for line in inside if line["logger"] == "motcua.access")
    assert access["status"] == 200 and access["path"] == "/_test_log" and access["duration_ms"] >= 0
    assert next(line for line in lines if line["logger"] == "motcua.outside")["request_id"] == "-"


def test_metrics_count_requests_and_latencies_by_endpoint(ctx):
    client = app_for(ctx).test_client()
    for _ in range(3):
        client.get("/healthz")
    client.get("/no-such-page")
    body = client.get("/metrics").get_data(as_text=True)
    counts = [line for line in body.splitlines()
              if line.startswith('motcua_http_requests_total{endpoint="health.healthz",method="GET",status="200"}')]
    assert counts and float(counts[0].split()[-1]) >= 3
    assert 'motcua_http_requests_total{endpoint="unmatched",method="GET",status="404"}' in body
    assert 'motcua_http_request_duration_seconds_bucket{endpoint="health.healthz",le="0.005",method="GET"}' in body


def test_metrics_report_open_and_overdue_dossiers_from_the_database(deployed):
    receive_permit(deployed)
    receive_permit(deployed, district_index=1)
    client = app_for(deployed).test_client()
    body = client.get("/metrics").get_data(as_text=True)
    assert "motcua_open_dossiers 2.0" in body
    assert "motcua_overdue_dossiers 0.0" in body
    assert "motcua_open_tasks 2.0" in body
    assert "motcua_database_up 1.0" in body
    deployed.clock.advance(days=60)
    body = client.get("/metrics").get_data(as_text=True)
    assert "motcua_overdue_dossiers 2.0" in body


def test_worker_lag_is_reported_once_the_due_work_table_exists(deployed):
    body = app_for(deployed).test_client().get("/metrics").get_data(as_text=True)
    due, _done = observability._due_work_model()
    if due is None or not inspect(deployed.db.engine).has_table(due.table.name):
        # the worker's due-work table is not there yet: the gauge is left out, nothing fails
        assert "motcua_worker_lag_seconds" not in body
        return
    assert "motcua_worker_lag_seconds 0.0" in body
    with deployed.db.transaction() as session:
        now = deployed.clock.now()
        session.execute(due.table.insert().values(kind="test", reference="lag", due_at=now - timedelta(minutes=5),
                                                  created_at=now, attempts=0, last_error="", outcome=""))
    body = app_for(deployed).test_client().get("/metrics").get_data(as_text=True)
    assert "motcua_worker_lag_seconds 300.0" in body


def test_metrics_refuse_requests_relayed_by_a_proxy(ctx):
    client = app_for(ctx).test_client()
    assert client.get("/metrics").status_code == 200
    response = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.status_code == 403 and response.get_json()["error"] == "forbidden"
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 403


def test_metrics_with_a_token_need_that_token(ctx):
    settings = Settings(database_url=ctx.settings.database_url, instance_dir=ctx.settings.instance_dir,
                        metrics_token="s3cret-scrape")
    guarded = Context(db=ctx.db, settings=settings, clock=ctx.clock)
    client = app_for(guarded).test_client()
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    remote = {"REMOTE_ADDR": "10.1.2.3"}
    ok = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"}, environ_base=remote)
    assert ok.status_code == 200 and ok.content_type.startswith("text/plain")


def test_readiness_fails_until_the_schema_is_at_head(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    schema.upgrade(db, "0001")
    ctx = Context(db=db, settings=Settings(database_url=url, instance_dir=tmp_path))
    client = app_for(ctx).test_client()
    behind = client.get("/readyz")
    if schema.head_revision(db) != "0001":
        assert behind.status_code == 503 and behind.get_json()["schema"] == "0001"
    schema.upgrade(db)
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["schema"] == schema.head_revision(db)
    assert client.get("/healthz").status_code == 200
    db.dispose()
