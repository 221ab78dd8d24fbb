"""Serving the web application in production: gunicorn, several processes, one shared database.

Every web process (on this host or another) must be interchangeable, so
nothing a later request needs may live in one process's memory: sessions are
signed cookies (the signing key is shared, see ``ensure_secret_key``), rate
limits, login locks, tokens and dossier-code sequences are rows in the
database, and the compiled-spec cache holds only immutable derived data keyed
by procedure-version id.

Two ways in, one behaviour:

- ``motcua serve --production`` (``serve``): migrates the schema under a lock,
  makes sure a shared secret key exists, prepares the metrics directory and
  runs gunicorn in-process;
- ``gunicorn 'web.production:create_production_app()'`` for those who keep
  their own gunicorn configuration (see docs/deployment.md).
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from engine.database import Database
from engine.errors import InvalidInput
from engine.settings import SECRET_KEY_FILE, Settings, load_settings

log = logging.getLogger(__name__)

MIGRATION_LOCK_ID = 0x6D6F7463  # "motc": one advisory lock for every host migrating at start-up


def default_workers() -> int:
    """Two processes per core: one can compute while the other waits for the database."""
    return 2 * (os.cpu_count() or 1)


def ensure_secret_key(settings: Settings) -> str:
    """The session-signing key shared by every process; created once in the instance dir if none is set.

    A random key per process would make a session cookie signed by one
    gunicorn worker invalid in the next, so production never falls back to
    one. The file is created atomically (write a temporary file, then
    ``link`` it into place): when several processes start at once, the first
    link wins and the others read the winner's key.
    """
    if settings.secret_key:
        return settings.secret_key
    directory = settings.instance_dir
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / SECRET_KEY_FILE
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".secret_key.")
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(32))
        os.chmod(temporary, 0o600)
        try:
            os.link(temporary, target)
            log.warning("Created a new session key in %s; set MOTCUA_SECRET_KEY (the same on every host) "
                        "when web processes run on more than one machine", target)
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)
    key = target.read_text(encoding="ascii").strip()
    if not key:
        raise InvalidInput(f"{target} is empty; delete it or set MOTCUA_SECRET_KEY")
    return key


def check_database(settings: Settings, workers: int) -> None:
    """Refuse several processes on SQLite: one writer at a time, and a file only this host sees."""
    if settings.database_url.startswith("sqlite") and workers > 1:
        raise InvalidInput(
            f"SQLite serves one process: run with --workers 1 (threads still serve requests in parallel), "
            f"or set MOTCUA_DATABASE_URL to PostgreSQL for {workers} processes")


def migrate(db: Database) -> None:
    """Bring the schema to head; on PostgreSQL under an advisory lock so hosts starting together take turns."""
    from sqlalchemy import text

    from engine import schema

    if db.dialect != "postgresql":
        schema.upgrade(db)
        return
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        try:
            schema.upgrade(db)
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            conn.commit()


def prepare_metrics_dir(instance_dir: Path) -> str:
    """A clean directory for prometheus_client's per-process files, set before any worker starts."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or str(instance_dir / "metrics")
    Path(path).mkdir(parents=True, exist_ok=True)
    for stale in Path(path).glob("*.db"):  # the last run's counters; nothing else in the directory is touched
        stale.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path


def create_production_app():
    """The WSGI app for one gunicorn worker: a shared key required, JSON logs, proxy headers if configured."""
    from web import create_app
    from web.observability import configure_json_logging

    settings = load_settings()
    if not settings.secret_key:
        raise InvalidInput("No session key: set MOTCUA_SECRET_KEY, or start once with 'motcua serve --production' "
                           f"to create {settings.instance_dir / SECRET_KEY_FILE}")
    configure_json_logging(os.environ.get("MOTCUA_LOG_LEVEL", "INFO"))
    # migrations ran before the workers started; /readyz's revision check would log two lines a probe
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    app = create_app()
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies,
                                x_host=settings.trusted_proxies)
    return app


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int | None = None
    threads: int = 4
    timeout: int = 60
    migrate: bool = True


def gunicorn_options(options: ServeOptions, workers: int) -> dict[str, object]:
    return {
        "bind": f"{options.host}:{options.port}",
        "workers": workers,
        "threads": options.threads,
        "worker_class": "gthread" if options.threads > 1 else "sync",
        "timeout": options.timeout,
        "graceful_timeout": 30,
        "keepalive": 5,
        "preload_app": False,  # each worker opens its own database pool after the fork
        "accesslog": None,  # web/observability.py writes one JSON access line per request
        "errorlog": "-",
        "child_exit": _child_exit,
    }


def _child_exit(_server, worker) -> None:
    """Fold a dead worker's counters into the totals (prometheus_client multiprocess mode)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def serve(options: ServeOptions) -> None:
    """Run gunicorn with ``options`` until stopped; raises InvalidInput for a setup that cannot work."""
    from gunicorn.app.base import BaseApplication

    settings = load_settings()
    workers = options.workers or (1 if settings.database_url.startswith("sqlite") else default_workers())
    check_database(settings, workers)
    ensure_secret_key(settings)
    if options.migrate:
        db = Database(settings.database_url)
        try:
            migrate(db)
        finally:
            db.dispose()
    prepare_metrics_dir(settings.instance_dir)

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in gunicorn_options(options, workers).items():
                self.cfg.set(key, value)

        def load(self):
            return create_production_app()

    Server().run()
