"""PostgreSQL databases made, remade and dropped by name, for runs that need one of their own.

The test suite's workers, the benchmarks and the stress runs each work on a
database of their own on the server of a given URL. Creating or dropping a
database cannot happen inside it, so these connect to the server's
``postgres`` maintenance database, in autocommit mode.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, create_engine, make_url, text

from engine import schema
from engine.database import Database


@contextmanager
def _maintenance(url: str) -> Iterator[tuple[Connection, str]]:
    """A connection to the server of ``url`` outside its database, and that database's quoted name."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            yield conn, '"' + target.database.replace('"', '""') + '"'
    finally:
        admin.dispose()


def create_if_missing(url: str) -> None:
    """Create the database named in ``url`` unless the server has it."""
    with _maintenance(url) as (conn, name):
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                            {"n": make_url(url).database}).scalar():
            conn.execute(text(f"CREATE DATABASE {name}"))


def drop(url: str) -> None:
    """Drop the database named in ``url``, if there, closing whatever is connected to it."""
    with _maintenance(url) as (conn, name):
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def recreate(url: str) -> None:
    """The database named in ``url``, new and empty."""
    drop(url)
    with _maintenance(url) as (conn, name):
        conn.execute(text(f"CREATE DATABASE {name}"))


def reset_schema(url: str) -> None:
    """Empty the database of ``url`` (everything in its public schema) and migrate it to the head revision."""
    db = Database(url)
    try:
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        schema.upgrade(db)
    finally:
        db.dispose()
