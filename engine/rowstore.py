"""Plain-SQL reads and writes of one dossier's rows, for the steps clerks repeat all day.

Claiming and completing a step touch a handful of rows of one dossier. Run
through the ORM's unit of work, the bookkeeping around those few rows cost
two thirds of a step (see benchmarks/README.md). Here they are read with one
hand-written statement per kind into ordinary mapped instances that no
session tracks, changed by the same engine code as everywhere else, and
written back as plain UPDATE and INSERT statements on the session's own
connection, inside its transaction. Column values pass through the column
types' own SQLAlchemy processors (timestamps on SQLite through C-speed
equivalents that give the same text), so they are stored exactly as the ORM
stores them.

Everything that is not a hot path keeps using the ORM; ``Store`` is the
interface both sides offer to the code that moves a dossier
(``engine.handoffs``, ``engine.runtime``, ``engine.pauses``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from functools import lru_cache
from typing import Any, Protocol, TypeVar

from sqlalchemy import Column, Dialect, func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from engine.errors import Conflict
from engine.models import Base, Dossier, Event, Handoff, Pause, Task, TaskState
from engine.models.base import UTCDateTime

M = TypeVar("M", bound=Base)
_PARAM = re.compile(r":(\w+)")


class Store(Protocol):
    """What moving a dossier needs from persistence, whichever way rows travel."""

    def add(self, obj: Base) -> None: ...

    def open_tasks(self, dossier: Dossier) -> list[Task]: ...

    def open_stints(self, dossier: Dossier) -> list[Handoff]: ...

    def max_seq(self, dossier: Dossier) -> int: ...

    def record_event(self, values: dict[str, Any]) -> None: ...

    def current_pause(self, dossier: Dossier) -> Pause | None: ...


class OrmStore:
    """The ``Store`` of ordinary ORM sessions."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, obj: Base) -> None:
        self.session.add(obj)

    def open_tasks(self, dossier: Dossier) -> list[Task]:
        rows = self.session.scalars(
            select(Task).where(Task.dossier_id == dossier.id, Task.state == TaskState.OPEN).order_by(Task.id))
        # Rows closed earlier in this transaction but not yet flushed still read as open.
        return [row for row in rows if row.state == TaskState.OPEN]

    def open_stints(self, dossier: Dossier) -> list[Handoff]:
        return list(self.session.scalars(
            select(Handoff)
            .where(Handoff.dossier_id == dossier.id, Handoff.finished_at.is_(None))
            .order_by(Handoff.seq)))

    def max_seq(self, dossier: Dossier) -> int:
        return self.session.scalar(select(func.max(Handoff.seq)).where(Handoff.dossier_id == dossier.id)) or 0

    def record_event(self, values: dict[str, Any]) -> None:
        # Events are never read back in the same transaction: a plain INSERT skips the unit of work.
        self.session.execute(insert(Event).values(**values))

    def current_pause(self, dossier: Dossier) -> Pause | None:
        return self.session.scalar(
            select(Pause).where(Pause.dossier_id == dossier.id, Pause.ended_at.is_(None)).order_by(Pause.id.desc()))


def store_of(session: Session | Store) -> Store:
    """The store behind a session, or the store itself."""
    return OrmStore(session) if isinstance(session, Session) else session


def _processors(column: Column, dialect: Dialect) -> tuple[Callable | None, Callable | None]:
    """How a column's values go to the database and come back: the type's own processors.

    Timestamps on SQLite use ``UTCDateTime``'s C-speed text forms, which give
    the same text and values as the type's processors at a fraction of the cost.
    """
    if dialect.name == "sqlite" and isinstance(column.type, UTCDateTime):
        return UTCDateTime.to_sqlite_text, UTCDateTime.from_sqlite_text
    return column.type._cached_bind_processor(dialect), column.type._cached_result_processor(dialect, None)


class _Codec:
    """Column names, value processors and fixed SQL of one table for one dialect."""

    def __init__(self, model: type[Base], dialect: Dialect) -> None:
        table = model.__table__
        self.model = model
        self.table = table.name
        self.columns = [c.name for c in table.columns]
        processors = {c.name: _processors(c, dialect) for c in table.columns}
        self.to_db = {name: pair[0] for name, pair in processors.items()}
        self.from_db = {name: pair[1] for name, pair in processors.items()}
        self.defaults = {c.name: c.default.arg for c in table.columns
                         if c.default is not None and (c.default.is_scalar or c.default.is_callable)}
        self.select_list = ", ".join(f"{self.table}.{name}" for name in self.columns)
        self.select_list_without_state = ", ".join(
            f"{self.table}.{name}" for name in self.columns if name != "state")
        self.id_index = self.columns.index("id")
        self.insert_columns = [name for name in self.columns if name != "id"]
        self.insert_sql = (f"INSERT INTO {self.table} ({', '.join(self.insert_columns)}) "
                           f"VALUES ({', '.join(':' + n for n in self.insert_columns)})")

    def bind(self, name: str, value: Any) -> Any:
        process = self.to_db[name]
        return process(value) if process is not None and value is not None else value

    def instance(self, values: Iterable[Any], *, without_state: bool = False) -> Base:
        """A mapped instance holding ``values`` as loaded, so later changes show as history."""
        obj = self.model._sa_class_manager.new_instance()
        state = instance_state(obj)
        loaded = state.dict
        names = [n for n in self.columns if n != "state"] if without_state else self.columns
        for name, value in zip(names, values, strict=True):
            process = self.from_db[name]
            loaded[name] = process(value) if process is not None and value is not None else value
        state.key = self.identity(loaded["id"])
        return obj

    def identity(self, pk: int) -> tuple:
        return self.model.__mapper__.identity_key_from_primary_key([pk])

    def default(self, name: str) -> Any:
        value = self.defaults.get(name)
        if callable(value):
            return value(None)
        return value


@lru_cache(maxsize=1024)
def _pyformat(sql: str) -> str:
    """``:name`` parameters as psycopg's ``%(name)s``; the statements of a step repeat, so once each."""
    return _PARAM.sub(r"%(\1)s", sql)


@lru_cache(maxsize=256)
def _codec(model: type[Base], dialect: Dialect) -> _Codec:
    """Per dialect object: its processors carry the engine's own settings (its JSON serializer)."""
    return _Codec(model, dialect)


class RowStore:
    """One dossier's rows, read and written by plain SQL within the session's transaction."""

    no_autoflush = nullcontext()

    def __init__(self, session: Session) -> None:
        if session.new or session.dirty or session.deleted:
            session.flush()
        self.session = session
        connection = session.connection()
        self.dialect = connection.dialect
        self._raw = connection.connection.driver_connection
        self._pyformat = self.dialect.name != "sqlite"
        self._loaded: list[Base] = []
        self._identity: dict[tuple[type, int], Base] = {}
        self._read_ahead: dict[int, tuple[list[Task], list[Handoff], int]] = {}
        self._new: list[Base] = []
        self._events: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ reading
    def codec(self, model: type[Base]) -> _Codec:
        return _codec(model, self.dialect)

    def _sql(self, sql: str) -> str:
        return _pyformat(sql) if self._pyformat else sql

    def _run(self, sql: str, params: dict[str, Any]):
        cursor = self._raw.cursor()
        cursor.execute(self._sql(sql), params)
        return cursor

    def _known(self, obj: M) -> M:
        """One instance per row, as in a session: a row read twice is the instance already changed."""
        key = (type(obj), obj.id)
        known = self._identity.get(key)
        if known is None:
            self._identity[key] = obj
            self._loaded.append(obj)
            return obj
        return known

    def _rows(self, model: type[M], where: str, params: dict[str, Any], order: str = "") -> list[M]:
        return self._materialise(model, self._select(model, where, params, order))

    def _select(self, model: type[Base], where: str, params: dict[str, Any], order: str = "") -> Any:
        codec = self.codec(model)
        return self._run(f"SELECT {codec.select_list} FROM {codec.table} WHERE {where}{order}", params)

    def _materialise(self, model: type[M], cursor: Any) -> list[M]:
        """Instances of the rows; a row already read is not decoded again (its instance may hold changes)."""
        codec = self.codec(model)
        found = []
        for values in cursor.fetchall():
            known = self._identity.get((model, values[codec.id_index]))
            found.append(known if known is not None else self._known(codec.instance(values)))
        return found

    def task_with_dossier(self, task_id: int, *, with_state: bool, with_dossier_rows: bool = False) -> Task | None:
        """The task and its dossier (with its workflow state if asked) in one statement.

        ``with_dossier_rows`` also reads the dossier's last stint number (in
        the same statement) and its open tasks and stints, sent together with
        the task (in one round trip on PostgreSQL), for the step about to move
        the dossier.
        """
        tasks, dossiers = self.codec(Task), self.codec(Dossier)
        dossier_list = dossiers.select_list if with_state else dossiers.select_list_without_state
        last_seq = ", (SELECT max(seq) FROM handoff WHERE handoff.dossier_id = task.dossier_id)"
        sql = (f"SELECT {tasks.select_list}, {dossier_list}{last_seq if with_dossier_rows else ''} FROM task "
               "JOIN dossier ON dossier.id = task.dossier_id WHERE task.id = :id")
        of_dossier = "dossier_id = (SELECT dossier_id FROM task WHERE id = :id)"
        with self._pipeline():
            found = self._run(sql, {"id": task_id})
            if with_dossier_rows:
                open_tasks = self._select(Task, f"{of_dossier} AND state = :s", {"id": task_id, "s": str(TaskState.OPEN)},
                                          " ORDER BY id")
                stints = self._select(Handoff, f"{of_dossier} AND finished_at IS NULL", {"id": task_id},
                                      " ORDER BY seq")
        found = found.fetchone()
        if found is None:
            return None
        width = len(tasks.columns)
        end = len(found) - 1 if with_dossier_rows else len(found)
        task = self._known(tasks.instance(found[:width]))
        dossier = self._known(dossiers.instance(found[width:end], without_state=not with_state))
        task.__dict__["dossier"] = dossier
        if with_dossier_rows:
            self._read_ahead[dossier.id] = (self._materialise(Task, open_tasks), self._materialise(Handoff, stints),
                                            found[end] or 0)
        return task

    def open_tasks(self, dossier: Dossier) -> list[Task]:
        ahead = self._read_ahead.get(dossier.id)
        rows = ahead[0] if ahead else self._rows(
            Task, "dossier_id = :d AND state = :s", {"d": dossier.id, "s": str(TaskState.OPEN)}, " ORDER BY id")
        return [row for row in rows if row.state == TaskState.OPEN]

    def current_pause(self, dossier: Dossier) -> Pause | None:
        rows = self._rows(Pause, "dossier_id = :d AND ended_at IS NULL", {"d": dossier.id}, " ORDER BY id DESC")
        return rows[0] if rows else None

    def open_stints(self, dossier: Dossier) -> list[Handoff]:
        ahead = self._read_ahead.get(dossier.id)
        if ahead:
            return [stint for stint in ahead[1] if stint.finished_at is None]
        return self._rows(Handoff, "dossier_id = :d AND finished_at IS NULL", {"d": dossier.id}, " ORDER BY seq")

    def max_seq(self, dossier: Dossier) -> int:
        ahead = self._read_ahead.get(dossier.id)
        if ahead:
            return ahead[2]
        found = self._run("SELECT max(seq) FROM handoff WHERE dossier_id = :d", {"d": dossier.id}).fetchone()
        return found[0] or 0

    # ------------------------------------------------------------------ writing
    def add(self, obj: Base) -> None:
        self._new.append(obj)

    def record_event(self, values: dict[str, Any]) -> None:
        self._events.append(values)

    def claim(self, task: Task, user_id: int, at) -> bool:
        """Take an open, unclaimed step; False when someone else was faster."""
        codec = self.codec(Task)
        cursor = self._run(
            "UPDATE task SET claimed_by_id = :u, claimed_at = :at "
            "WHERE id = :id AND state = :s AND claimed_by_id IS NULL",
            {"u": user_id, "at": codec.bind("claimed_at", at), "id": task.id, "s": str(TaskState.OPEN)})
        if cursor.rowcount != 1:
            return False
        task.__dict__.update(claimed_by_id=user_id, claimed_at=at)
        return True

    def flush(self, conflict: Callable[[], Conflict]) -> None:
        """Write every change: new tasks first (others refer to them), the dossier under its version.

        On PostgreSQL the statements go out in one pipeline, so a step pays
        one round trip for its writes rather than one per row.
        """
        inserted: list[tuple[Base, Any]] = []
        versioned: list[Any] = []
        with self._pipeline():
            for obj in self._loaded:
                if isinstance(obj, Dossier):
                    versioned += self._update_dossier(obj)
                else:
                    self._update(obj)
            for obj in sorted(self._new, key=lambda o: not isinstance(o, Task)):
                if isinstance(obj, Pause) and obj.__dict__.get("task") is not None and obj.task.id is None:
                    self._take_ids(inserted)  # the pause refers to a task inserted just now
                inserted.append((obj, self._insert(obj)))
            codec = self.codec(Event)
            for values in self._events:
                self._insert_values(codec, values, returning=False)
        self._take_ids(inserted)
        if any(cursor.rowcount != 1 for cursor in versioned):
            raise conflict()
        self._loaded, self._new, self._events = [], [], []

    def _pipeline(self):
        return self._raw.pipeline() if self._pyformat else nullcontext()

    def _take_ids(self, inserted: list[tuple[Base, Any]]) -> None:
        """Give inserted rows their ids (read back from RETURNING) and their identity."""
        for obj, cursor in inserted:
            obj.__dict__["id"] = cursor.fetchone()[0]
            state = instance_state(obj)
            state.key = self.codec(type(obj)).identity(obj.id)
            state._commit_all(state.dict)
        inserted.clear()

    def _changes(self, obj: Base) -> dict[str, Any]:
        state = instance_state(obj)
        names = self.codec(type(obj)).columns
        changed = {name: state.dict[name] for name in state.committed_state if name in names}
        state._commit_all(state.dict)
        return changed

    def _update(self, obj: Base) -> None:
        changed = self._changes(obj)
        if not changed:
            return
        codec = self.codec(type(obj))
        sets = ", ".join(f"{name} = :{name}" for name in changed)
        params = {name: codec.bind(name, value) for name, value in changed.items()}
        self._run(f"UPDATE {codec.table} SET {sets} WHERE id = :pk", {**params, "pk": obj.id})

    def _update_dossier(self, dossier: Dossier) -> list[Any]:
        """The dossier's UPDATE, bumping its version only if nobody else has; its cursor tells."""
        changed = self._changes(dossier)
        changed.pop("version", None)
        if not changed:
            return []
        codec = self.codec(Dossier)
        sets = ", ".join(f"{name} = :{name}" for name in changed)
        params = {name: codec.bind(name, value) for name, value in changed.items()}
        cursor = self._run(f"UPDATE dossier SET {sets}, version = :new_version WHERE id = :pk AND version = :old",
                           {**params, "pk": dossier.id, "old": dossier.version, "new_version": dossier.version + 1})
        dossier.__dict__["version"] = dossier.version + 1
        return [cursor]

    def _insert(self, obj: Base) -> Any:
        values = dict(obj.__dict__)
        if isinstance(obj, Pause) and values.get("task") is not None:
            values["task_id"] = values["task"].id
        return self._insert_values(self.codec(type(obj)), values, returning=True)

    def _insert_values(self, codec: _Codec, values: dict[str, Any], *, returning: bool) -> Any:
        """INSERT every column but the id: the value given, else the column's default."""
        params = {name: codec.bind(name, values[name] if name in values else codec.default(name))
                  for name in codec.insert_columns}
        return self._run(codec.insert_sql + " RETURNING id" if returning else codec.insert_sql, params)

    def attach(self, task: Task) -> Task:
        """The task (and its dossier) as the caller should go on seeing them.

        A copy the session holds is refreshed in place, with no query, so a
        caller that loaded the task first keeps using it, lazy relationships
        included. Otherwise the task comes back as written, outside the
        session: its columns and its dossier, nothing to load lazily.
        """
        dossier = task.__dict__.get("dossier")
        if dossier is not None:
            task.__dict__["dossier"] = self._refresh_cached(dossier)
        return self._refresh_cached(task)

    def _refresh_cached(self, obj: M) -> M:
        cached = self.session.identity_map.get(instance_state(obj).key)
        if cached is None or cached is obj:
            return obj
        for name in self.codec(type(obj)).columns:
            if name in obj.__dict__:
                set_committed_value(cached, name, obj.__dict__[name])
        # Related rows follow the new keys when next read (from the identity map when there).
        self.session.expire(cached, [rel.key for rel in type(obj).__mapper__.relationships])
        return cached
