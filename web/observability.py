"""Request ids, structured JSON logs and the Prometheus ``/metrics`` endpoint.

An operator running several web processes on several hosts needs to follow
one request through the logs of all of them, and to see load and backlog
without reading the database by hand:

- every request gets an id: the caller's ``X-Request-ID`` when it is a sane
  token (a reverse proxy usually sets one), otherwise a new one; it is
  returned in the response header and added to every log line written while
  the request runs (``request_id`` in the JSON);
- ``configure_json_logging`` makes the root logger write one JSON object per
  line; the production server turns it on, tests and ``motcua serve`` keep
  plain logs unless ``MOTCUA_LOG_FORMAT=json``;
- ``/metrics`` serves request counts and latency histograms by endpoint
  (summed over all gunicorn workers through prometheus_client's
  multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set) and gauges
  computed from the database at scrape time (open dossiers, overdue
  dossiers, open tasks, worker lag), so they are right whichever process
  answers the scrape.

``/metrics`` answers a bearer token equal to ``MOTCUA_METRICS_TOKEN`` when
one is configured; without a token it answers only direct loopback requests
(no ``X-Forwarded-For``, i.e. not relayed by a reverse proxy).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from flask import Blueprint, Flask, current_app, g, has_request_context, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import SQLAlchemyError

from engine.models import Dossier, DossierStatus, Task, TaskState

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
ACCESS_LOGGER = "motcua.access"

REQUESTS = Counter(
    "motcua_http_requests_total", "HTTP requests answered, by method, endpoint and status",
    ["method", "endpoint", "status"],
)
LATENCY = Histogram(
    "motcua_http_request_duration_seconds", "Time to answer an HTTP request, by method and endpoint",
    ["method", "endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

bp = Blueprint("observability", __name__)


# --------------------------------------------------------------------------- request ids


def request_id() -> str | None:
    """The current request's id, or None outside a request."""
    return getattr(g, "request_id", None) if has_request_context() else None


def _incoming_id() -> str:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    return given if _SANE_ID.match(given) else uuid.uuid4().hex


def _start_request() -> None:
    g.request_id = _incoming_id()
    g.request_started = time.perf_counter()


def _finish_request(response):
    rid = getattr(g, "request_id", None)
    if rid is None:  # a request that failed before before_request ran
        return response
    response.headers[REQUEST_ID_HEADER] = rid
    elapsed = time.perf_counter() - g.request_started
    endpoint = request.endpoint or "unmatched"
    if endpoint != "observability.metrics":
        REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
        LATENCY.labels(request.method, endpoint).observe(elapsed)
    logging.getLogger(ACCESS_LOGGER).info(
        "%s %s %s", request.method, request.path, response.status_code,
        extra={"method": request.method, "path": request.path, "endpoint": endpoint,
               "status": response.status_code, "duration_ms": round(elapsed * 1000, 2),
               "remote_addr": request.remote_addr},
    )
    return response


# --------------------------------------------------------------------------- JSON logs


class RequestIdFilter(logging.Filter):
    """Stamp every record with the id of the request it was written in (``-`` outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id() or "-"
        return True


_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id() or "-",
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def json_handler(stream=None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    return handler


def configure_json_logging(level: int | str = logging.INFO, stream=None) -> None:
    """Send every log record of the process to ``stream`` as JSON lines (replaces root handlers)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(json_handler(stream))
    root.setLevel(level)


# --------------------------------------------------------------------------- metrics


class DatabaseGauges:
    """Gauges read from the shared database when scraped, so every process reports the same truth."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        ctx = self._app.extensions["motcua"]
        now = ctx.clock.now()
        try:
            with ctx.db.reading() as session:
                open_dossiers = session.scalar(select(func.count()).select_from(Dossier).where(
                    Dossier.status.in_([DossierStatus.PROCESSING, DossierStatus.AWAITING_SUPPLEMENT])))
                overdue = session.scalar(select(func.count()).select_from(Dossier).where(
                    Dossier.status == DossierStatus.PROCESSING, Dossier.paused_since.is_(None),
                    Dossier.due_at < now))
                open_tasks = session.scalar(select(func.count()).select_from(Task).where(
                    Task.state == TaskState.OPEN))
                lag = worker_lag_seconds(session, now)
        except SQLAlchemyError:
            yield GaugeMetricFamily("motcua_database_up", "1 when the database answered the scrape", value=0)
            return
        yield GaugeMetricFamily("motcua_database_up", "1 when the database answered the scrape", value=1)
        yield GaugeMetricFamily("motcua_open_dossiers", "Dossiers processing or awaiting a supplement",
                                value=open_dossiers or 0)
        yield GaugeMetricFamily("motcua_overdue_dossiers", "Dossiers processing past their due date, clock running",
                                value=overdue or 0)
        yield GaugeMetricFamily("motcua_open_tasks", "Open human steps", value=open_tasks or 0)
        if lag is not None:
            yield GaugeMetricFamily(
                "motcua_worker_lag_seconds",
                "Age of the oldest due but undone row of the worker's due-work table (0 when none)", value=lag)


DUE_WORK_DONE_COLUMNS = ("done_at", "fired_at", "processed_at", "completed_at", "finished_at")


def _due_work_model():
    """The worker's due-work model (engine/models/deadlines.py), or None before that module exists."""
    try:
        from engine.models import deadlines
    except ImportError:
        return None, None
    for value in vars(deadlines).values():
        table = getattr(value, "__table__", None)
        if table is None or getattr(value, "__module__", "") != deadlines.__name__:
            continue
        columns = table.c
        done = next((columns[name] for name in DUE_WORK_DONE_COLUMNS if name in columns), None)
        if "due_at" in columns and done is not None:
            return columns["due_at"], done
    return None, None


def worker_lag_seconds(session, now: datetime) -> float | None:
    """Seconds since the oldest due-but-undone work row fell due; None when there is no such table yet."""
    due, done = _due_work_model()
    if due is None or not inspect(session.get_bind()).has_table(due.table.name):
        return None
    oldest = session.scalar(select(func.min(due)).where(done.is_(None), due <= now))
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return max(0.0, (now - oldest).total_seconds())


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        for collector in (REQUESTS, LATENCY):
            registry.register(collector)
    registry.register(DatabaseGauges(current_app._get_current_object()))
    return registry


def _allowed() -> bool:
    token = current_app.extensions["motcua"].settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
    relayed = "X-Forwarded-For" in request.headers or "Forwarded" in request.headers
    return not relayed and request.remote_addr in LOOPBACK


@bp.get("/metrics")
def metrics():
    """Prometheus text format; token or loopback only (see the module docstring)."""
    if not _allowed():
        return {"error": "forbidden",
                "message": "Metrics need 'Authorization: Bearer <MOTCUA_METRICS_TOKEN>' or a local request"}, 403
    return generate_latest(_registry()), 200, {"Content-Type": CONTENT_TYPE_LATEST}


def init_app(app: Flask) -> None:
    """Request ids and request metrics for every request; the ``/metrics`` endpoint."""
    app.before_request(_start_request)
    app.after_request(_finish_request)
    app.register_blueprint(bp)
    if os.environ.get("MOTCUA_LOG_FORMAT") == "json":
        configure_json_logging()
