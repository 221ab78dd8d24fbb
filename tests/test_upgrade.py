"""An installation of the previous release (schema 0001) with data in it upgrades to head intact.

The data is made by today's engine on a scratch database, then copied with
plain SQL into a database built at revision 0001, keeping only the columns
0001 has: exactly the rows an installation of the previous release holds,
whatever later migrations add. The copy is then upgraded to head and must
keep every row and value, and the application must carry on with it: a
step completed, a result returned, pages opened.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import MetaData, func, inspect, make_url, select, text

from engine import schema, scratch_databases
from engine.context import Context
from engine.database import Database
from engine.lifecycle import return_result
from engine.models import Dossier, DossierStatus, Task, TaskState
from engine.settings import Settings
from tests.helpers import (
    clerk_of,
    district,
    do_step,
    drive,
    open_tasks,
    receive_permit,
)
from tests.web_helpers import signed_in

PREVIOUS = "0001"
PERMIT_HAPPY = {
    "Task_ThamDinh": {"hop_le": True, "can_kiem_tra": True},
    "Task_KiemTraThucDia": {"ket_qua_kiem_tra": "Phù hợp"},
    "Task_DuThaoGiayPhep": {"so_giay_phep": "12/GPXD"},
    "Task_PheDuyet": {"phe_duyet": True},
}


@pytest.fixture
def old_database(tmp_path, pg_url) -> Iterator[Database]:
    """An empty database at the previous release's schema (its own PostgreSQL database when testing on one)."""
    if pg_url:
        url = make_url(pg_url)
        target = url.set(database=f"{url.database}_upgrade").render_as_string(hide_password=False)
        scratch_databases.recreate(target)
    else:
        target = f"sqlite:///{tmp_path / 'previous-release.db'}"
    db = Database(target)
    schema.upgrade(db, PREVIOUS)
    yield db
    db.dispose()
    if pg_url:
        scratch_databases.drop(target)


def _fill(ctx: Context) -> dict[str, str]:
    """Dossiers in several states, made through the engine: fresh, half-way, awaiting return, returned."""
    codes = {
        "fresh": receive_permit(ctx),
        "halfway": receive_permit(ctx, district_index=1),
        "awaiting_return": receive_permit(ctx, district_index=2),
        "returned": receive_permit(ctx),
    }
    do_step(ctx, codes["halfway"], "Task_ThamDinh", PERMIT_HAPPY["Task_ThamDinh"])
    drive(ctx, codes["awaiting_return"], PERMIT_HAPPY)
    drive(ctx, codes["returned"], PERMIT_HAPPY)
    with ctx.db.transaction() as session:
        dossier = session.scalar(select(Dossier).where(Dossier.code == codes["returned"]))
        return_result(ctx, session, dossier, clerk_of(session, district(session, 0)), rating=4)
    return codes


def _copy_previous_release_rows(source: Database, target: Database) -> dict[str, int]:
    """Copy every table and column that exists at 0001 from ``source`` to ``target``; rows per table."""
    old = MetaData()
    old.reflect(target.engine)
    counts = {}
    with source.engine.connect() as reader, target.engine.begin() as writer:
        for table in old.sorted_tables:
            if table.name == "alembic_version":
                continue
            # the 0001 table's columns, read from today's table: later columns are left behind
            rows = [dict(r._mapping) for r in reader.execute(select(*table.columns))]
            if rows:
                writer.execute(table.insert(), rows)
            counts[table.name] = len(rows)
        if target.dialect == "postgresql":
            for table in old.sorted_tables:
                if "id" in table.columns and table.name != "alembic_version":
                    writer.execute(text(f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', 'id'), "
                                        f"COALESCE((SELECT max(id) FROM \"{table.name}\"), 0) + 1, false)"))
    return counts


def _snapshot(db: Database, tables: list[str]) -> dict[str, list[tuple]]:
    """Every 0001 column of every row, ordered, for comparing before and after the upgrade."""
    old = MetaData()
    old.reflect(db.engine, only=tables)
    with db.engine.connect() as conn:
        return {name: [tuple(r) for r in conn.execute(select(*[old.tables[name].c[c.name] for c in
                                                                 old.tables[name].columns])
                                                        .order_by(*old.tables[name].primary_key.columns))]
                for name in tables}


def test_previous_release_with_data_upgrades_to_head_and_keeps_working(deployed, old_database, tmp_path):
    codes = _fill(deployed)
    counts = _copy_previous_release_rows(deployed.db, old_database)
    assert schema.current_revision(old_database) == PREVIOUS
    assert counts["dossier"] == 4 and counts["task"] >= 10 and counts["user_account"] > 50
    tables = [name for name, n in counts.items() if n]
    before = _snapshot(old_database, tables)

    schema.upgrade(old_database)

    assert schema.current_revision(old_database) == schema.head_revision(old_database)
    assert _snapshot(old_database, tables) == before  # no row or value of the old release changed
    new_tables = set(inspect(old_database.engine).get_table_names())
    assert set(counts) <= new_tables

    upgraded = Context(db=old_database, clock=deployed.clock,
                       settings=Settings(database_url=old_database.url, instance_dir=tmp_path / "upgraded",
                                         secret_key="upgrade-test"))
    # the engine carries on with the old rows: a half-way dossier finishes, a waiting result is returned
    assert [t.step for t in open_tasks(upgraded, codes["halfway"])] == ["Task_KiemTraThucDia"]
    assert drive(upgraded, codes["halfway"], PERMIT_HAPPY) == [
        "Task_KiemTraThucDia", "Task_DuThaoGiayPhep", "Task_PheDuyet"]
    drive(upgraded, codes["fresh"], PERMIT_HAPPY)
    with upgraded.db.transaction() as session:
        dossier = session.scalar(select(Dossier).where(Dossier.code == codes["awaiting_return"]))
        return_result(upgraded, session, dossier, clerk_of(session, district(session, 2)), rating=5)
    new_code = receive_permit(upgraded)  # the code sequence goes on without repeating a number
    with upgraded.db.reading() as session:
        statuses = dict(session.execute(select(Dossier.code, Dossier.status)).all())
        assert session.scalar(select(func.count()).select_from(Task).where(Task.state == TaskState.OPEN)) == 1
    assert statuses[codes["returned"]] == DossierStatus.RETURNED
    assert statuses[codes["awaiting_return"]] == DossierStatus.RETURNED
    assert statuses[codes["halfway"]] == statuses[codes["fresh"]] == DossierStatus.AWAITING_RETURN
    assert new_code not in codes.values() and len(statuses) == 5

    # and the web application serves the upgraded data
    from tests.web_helpers import app_for

    app = app_for(upgraded)
    clerk = signed_in(upgraded, "hk.motcua", app=app)
    page = clerk.get(f"/dossiers/{codes['returned']}")
    assert page.status_code == 200 and codes["returned"] in page.get_data(as_text=True)
    assert clerk.get("/healthz").status_code == 200
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 200, ready.get_json()


@pytest.mark.skipif(os.environ.get("MOTCUA_TEST_DATABASE_URL") is None, reason="runs on PostgreSQL too when set")
def test_upgrade_runs_again_without_changing_anything(old_database):
    schema.upgrade(old_database)
    head = schema.current_revision(old_database)
    schema.upgrade(old_database)
    assert schema.current_revision(old_database) == head == schema.head_revision(old_database)
