"""The plain-SQL step path reads and writes rows exactly as the ORM does."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, select

from engine.models import Dossier, Handoff, Task
from engine.models.base import UTCDateTime
from engine.rowstore import RowStore
from tests.helpers import PERMIT_HAPPY, do_step, open_tasks, receive_permit

SQLITE = create_engine("sqlite://").dialect


def _moments() -> list[datetime]:
    rng = random.Random(7)
    zones = [UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-3, minutes=-30))]
    moments = [datetime(2026, 3, 2, 8, 0, tzinfo=UTC), datetime(1, 1, 1, 0, 0, 1, tzinfo=UTC),
               datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=7)))]
    for _ in range(300):
        moments.append(datetime(rng.randint(1990, 2100), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                                rng.randint(0, 59), rng.randint(0, 59), rng.choice([0, rng.randint(0, 999_999)]),
                                tzinfo=rng.choice(zones)))
    return moments


def test_sqlite_text_of_a_moment_is_what_the_column_type_writes_and_reads():
    column = UTCDateTime()
    bind = column._cached_bind_processor(SQLITE)
    result = column._cached_result_processor(SQLITE, None)
    for moment in _moments():
        text = bind(moment)
        assert UTCDateTime.to_sqlite_text(moment) == text
        assert UTCDateTime.from_sqlite_text(text) == result(text) == moment
        assert UTCDateTime.from_sqlite_text(text).tzinfo is UTC


def test_sqlite_text_without_microseconds_reads_as_the_column_type_reads_it():
    result = UTCDateTime()._cached_result_processor(SQLITE, None)
    assert UTCDateTime.from_sqlite_text("2026-03-02 01:00:00") == result("2026-03-02 01:00:00")


def test_naive_moments_are_refused():
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime.to_sqlite_text(datetime(2026, 3, 2, 8, 0))


def _columns(obj) -> dict:
    return {c.name: getattr(obj, c.name) for c in type(obj).__table__.columns}


def test_rows_read_by_plain_sql_equal_the_orm_rows(ctx, deployed):
    code = receive_permit(ctx)
    do_step(ctx, code, "Task_ThamDinh", PERMIT_HAPPY["Task_ThamDinh"])
    [task] = open_tasks(ctx, code)
    with ctx.db.transaction() as session:
        store = RowStore(session)
        plain = store.task_with_dossier(task.id, with_state=True, with_dossier_rows=True)
        stints = store.open_stints(plain.dossier)
        last_seq = store.max_seq(plain.dossier)
        opened = store.open_tasks(plain.dossier)
    with ctx.db.reading() as session:
        orm = session.get(Task, task.id)
        assert _columns(plain) == _columns(orm)
        assert _columns(plain.dossier) == _columns(session.get(Dossier, orm.dossier_id))
        orm_stints = session.scalars(select(Handoff).where(
            Handoff.dossier_id == orm.dossier_id, Handoff.finished_at.is_(None)).order_by(Handoff.seq)).all()
        assert [_columns(s) for s in stints] == [_columns(s) for s in orm_stints]
        assert last_seq == max(h.seq for h in session.scalars(select(Handoff).where(
            Handoff.dossier_id == orm.dossier_id)))
        assert opened == [plain]  # the task read twice is one instance
