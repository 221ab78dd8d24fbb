"""Database connections and the one-transaction-per-action session scope."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from engine import json_text
from engine.errors import Conflict


def make_engine(url: str, **kwargs) -> Engine:
    """An Engine tuned per backend.

    SQLite runs in WAL mode so readers never block the writer, with a busy
    timeout so concurrent writers queue instead of failing at once. JSON
    columns are coded by ``engine.json_text`` unless the caller says otherwise.
    """
    kwargs.setdefault("json_serializer", json_text.dumps)
    kwargs.setdefault("json_deserializer", json_text.loads)
    if url.startswith("sqlite"):
        _ensure_sqlite_dir(url)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split("///", 1)[-1]
    if path and path != ":memory:" and not path.startswith("file:"):
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # Let SQLAlchemy issue BEGIN itself (see _sqlite_begin_immediate).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin_immediate(connection) -> None:
    """Take the write lock at BEGIN for write transactions.

    A deferred transaction that reads and then writes can fail with
    "database is locked" without waiting when another writer committed in
    between; BEGIN IMMEDIATE makes writers queue on the busy timeout instead.
    Read-only sessions keep a plain BEGIN so they never wait for writers.
    The statement goes straight to the driver: through SQLAlchemy's
    execution path it cost a third of an empty transaction.
    """
    immediate = connection.get_execution_options().get("motcua_write", False)
    connection.connection.driver_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """An engine plus its session factory; one per process."""

    def __init__(self, url: str, **engine_kwargs) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(self.engine.execution_options(motcua_write=True), expire_on_commit=False)
        # SQLite has one writer at a time. Threads of this process queue here, in order, instead of
        # polling the file lock with sleeps (SQLite's busy handler), which gave writes long tails.
        self._write_turn = threading.RLock() if self.engine.dialect.name == "sqlite" else nullcontext()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits together, or not at all.

        A lost optimistic-lock race (the row's version moved under us)
        becomes ``Conflict``, which clients show as "reload and try again".
        """
        try:
            with self._write_turn, self._writer() as session, session.begin():
                yield session
        except StaleDataError as exc:
            raise Conflict("Someone else changed this dossier at the same time; reload and try again") from exc

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads; rolled back at the end."""
        with self.sessions() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
