"""Deploying procedures as numbered versions with effective dates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.context import Context
from engine.database import Database
from engine.deployment import compiled_version, deploy, deploy_files, list_procedures, version_in_effect
from engine.errors import InvalidProcedure, NotFound
from engine.models import Procedure, ProcedureVersion
from tests.conftest import vn
from tests.helpers import PERMIT, PERMIT_HAPPY, do_step, dossier, open_tasks, receive_permit
from tests.lifecycle_helpers import PROCEDURE_FILES, WORKFLOWS_DIR, row_counts

PERMIT_FILE = WORKFLOWS_DIR / "procedures" / "giay-phep-xay-dung.bpmn"
PERMIT_SOURCE = PERMIT_FILE.read_text(encoding="utf-8")
BIRTH_FILE = WORKFLOWS_DIR / "procedures" / "khai-sinh.bpmn"
SHIPPED = {"XD-GPXD-01", "HT-KS-01", "HKD-DK-01", "DD-GCN-01", "PAKN-01"}


def permit_v2(source: str = PERMIT_SOURCE) -> str:
    """The permit procedure with its inspection step renamed and shortened from 3 days to 1."""
    old = (
        '<bpmn:userTask id="Task_KiemTraThucDia" name="Kiểm tra thực địa">\n'
        "      <bpmn:extensionElements>\n"
        '        <motcua:step days="3" />'
    )
    new = (
        '<bpmn:userTask id="Task_KiemTraThucDia" name="Kiểm tra hiện trạng (mẫu 2026)">\n'
        "      <bpmn:extensionElements>\n"
        '        <motcua:step days="1" />'
    )
    assert source.count(old) == 1
    return source.replace(old, new)


def deploy_text(ctx, text: str, **kwargs):
    with ctx.db.transaction() as session:
        version, new = deploy(
            ctx, session, text.encode("utf-8"), file_name="giay-phep-xay-dung.bpmn", **kwargs
        )
        return version.id, version.version, new


def in_effect(ctx, at, code: str = PERMIT) -> int:
    with ctx.db.reading() as session:
        return version_in_effect(session, code, at).version


def test_every_shipped_procedure_deploys_as_version_1(org):
    with org.db.transaction() as session:
        results = deploy_files(org, session, PROCEDURE_FILES)
        assert [(v.version, new) for _path, v, new in results] == [(1, True)] * len(PROCEDURE_FILES)
        assert {p.code for p in list_procedures(session)} == SHIPPED
        for path, version, _new in results:
            assert version.file_name == path.name
            assert version.source == path.read_bytes()
            assert version.effective_from == org.clock.now()
            assert len(version.sha256) == 64


def test_deploying_the_same_file_again_changes_nothing(deployed):
    before = row_counts(deployed, Procedure, ProcedureVersion)
    with deployed.db.transaction() as session:
        first = version_in_effect(session, PERMIT, deployed.clock.now())
        again = deploy_files(deployed, session, PROCEDURE_FILES)
    assert all(new is False and version.version == 1 for _p, version, new in again)
    assert next(v for p, v, _ in again if p == PERMIT_FILE).id == first.id
    assert row_counts(deployed, Procedure, ProcedureVersion) == before


def test_a_changed_file_becomes_version_2(deployed, clock):
    clock.advance(hours=1)
    _id, number, new = deploy_text(deployed, permit_v2())
    assert (number, new) == (2, True)
    assert in_effect(deployed, clock.now()) == 2
    assert in_effect(deployed, clock.now() - timedelta(minutes=1)) == 1
    assert row_counts(deployed, Procedure)["Procedure"] == len(SHIPPED)
    _id, number, new = deploy_text(deployed, permit_v2())  # and that one is idempotent too
    assert (number, new) == (2, False)


def test_a_future_effective_date_keeps_version_1_in_effect_until_then(deployed, clock):
    starts = vn(2026, 7, 1, 0, 0)
    deploy_text(deployed, permit_v2(), effective_from=starts)
    assert in_effect(deployed, clock.now()) == 1
    assert in_effect(deployed, starts - timedelta(seconds=1)) == 1
    assert in_effect(deployed, starts) == 2
    assert in_effect(deployed, vn(2027, 1, 1, 9, 0)) == 2
    clock.set(vn(2026, 6, 30, 9, 0))
    before = receive_permit(deployed)
    clock.set(vn(2026, 7, 1, 9, 0))
    after = receive_permit(deployed)
    assert (received_under(deployed, before), received_under(deployed, after)) == (1, 2)


def received_under(ctx, code: str) -> int:
    with ctx.db.reading() as session:
        return session.get(ProcedureVersion, dossier(ctx, code).procedure_version_id).version


def test_deploying_the_same_scheduled_file_twice_is_idempotent(deployed):
    starts = vn(2026, 7, 1, 0, 0)
    first = deploy_text(deployed, permit_v2(), effective_from=starts)
    again = deploy_text(deployed, permit_v2(), effective_from=starts)
    assert first[:2] == again[:2] == (first[0], 2)
    assert again[2] is False
    with deployed.db.reading() as session:
        versions = session.scalars(
            select(ProcedureVersion.version).join(Procedure).where(Procedure.code == PERMIT)
        ).all()
    assert sorted(versions) == [1, 2]


def test_a_dossier_keeps_the_version_it_was_received_under(deployed, clock):
    old = receive_permit(deployed)
    clock.advance(hours=1)
    deploy_text(deployed, permit_v2())
    deployed.specs.clear()  # as in another process: the spec is rebuilt from the stored source
    clock.set(vn(2026, 3, 3, 9, 0))
    do_step(deployed, old, "Task_ThamDinh", PERMIT_HAPPY["Task_ThamDinh"])
    [task] = open_tasks(deployed, old)
    assert (task.step, task.step_name) == ("Task_KiemTraThucDia", "Kiểm tra thực địa")
    assert task.due_at == vn(2026, 3, 6, 9, 0)  # v1's 3 days
    assert received_under(deployed, old) == 1
    for step in ("Task_KiemTraThucDia", "Task_DuThaoGiayPhep", "Task_PheDuyet"):
        do_step(deployed, old, step, PERMIT_HAPPY[step])
    assert dossier(deployed, old).status == "awaiting_return"

    new = receive_permit(deployed)
    do_step(deployed, new, "Task_ThamDinh", PERMIT_HAPPY["Task_ThamDinh"])
    [task] = open_tasks(deployed, new)
    assert task.step_name == "Kiểm tra hiện trạng (mẫu 2026)"
    assert task.due_at == vn(2026, 3, 4, 9, 0)  # v2's 1 day


def broken_permit() -> str:
    return PERMIT_SOURCE.replace('targetRef="Task_KiemTraThucDia"', 'targetRef="Task_KhongCo"', 1)


def test_an_invalid_new_procedure_writes_nothing(org):
    before = row_counts(org, Procedure, ProcedureVersion)
    with org.db.transaction() as session, pytest.raises(InvalidProcedure) as err:
        deploy(org, session, broken_permit().encode(), file_name="hong.bpmn")
    assert "hong.bpmn" in err.value.message
    [problem] = err.value.problems
    assert problem.element_id == "Flow_CanKiemTra"
    line = next(i for i, text in enumerate(broken_permit().splitlines(), 1) if 'id="Flow_CanKiemTra"' in text)
    assert problem.line == line
    assert row_counts(org, Procedure, ProcedureVersion) == before == {"Procedure": 0, "ProcedureVersion": 0}


def test_an_invalid_new_version_writes_nothing(deployed):
    before = row_counts(deployed, Procedure, ProcedureVersion)
    with deployed.db.transaction() as session, pytest.raises(InvalidProcedure):
        deploy(deployed, session, broken_permit().encode())
    assert row_counts(deployed, Procedure, ProcedureVersion) == before
    assert in_effect(deployed, deployed.clock.now()) == 1


def test_a_lane_naming_an_unknown_unit_type_is_refused(org):
    text = PERMIT_SOURCE.replace(
        '<motcua:unit type="qldt" level="district" />', '<motcua:unit type="so_xay_dung" level="district" />'
    )
    assert text != PERMIT_SOURCE
    with org.db.transaction() as session, pytest.raises(InvalidProcedure) as err:
        deploy(org, session, text.encode())
    assert [p.element_id for p in err.value.problems] == ["Lane_QLDT"]
    assert "so_xay_dung" in err.value.problems[0].message
    assert err.value.problems[0].line is not None
    assert row_counts(org, Procedure, ProcedureVersion) == {"Procedure": 0, "ProcedureVersion": 0}


def test_a_lane_naming_an_unknown_level_is_refused(org):
    text = PERMIT_SOURCE.replace(
        '<motcua:unit type="qldt" level="district" />', '<motcua:unit type="qldt" level="huyen" />'
    )
    with org.db.transaction() as session, pytest.raises(InvalidProcedure) as err:
        deploy(org, session, text.encode())
    assert [p.element_id for p in err.value.problems] == ["Lane_QLDT"]


def test_version_in_effect_for_unknown_or_not_yet_effective_procedures(deployed):
    with deployed.db.reading() as session, pytest.raises(NotFound, match="does not exist"):
        version_in_effect(session, "KHONG-CO", deployed.clock.now())
    text = PERMIT_SOURCE.replace('code="XD-GPXD-01"', 'code="XD-GPXD-02"')
    with deployed.db.transaction() as session:
        deploy(deployed, session, text.encode(), effective_from=vn(2026, 7, 1, 0, 0))
    with deployed.db.reading() as session, pytest.raises(NotFound, match="no version in effect yet"):
        version_in_effect(session, "XD-GPXD-02", deployed.clock.now())


def test_a_rolled_back_deployment_leaves_no_stale_spec_in_the_cache(org):
    """The cache is filled at deployment, before commit. If that transaction rolls back and
    another process then deploys another file under the same row id (SQLite reuses ids),
    this process must not serve the rolled-back spec for it."""

    class Abort(Exception):
        pass

    with pytest.raises(Abort), org.db.transaction() as session:
        deploy(org, session, permit_v2().encode())
        raise Abort
    other = Context(db=Database(org.db.url), settings=org.settings, clock=org.clock)  # another process
    try:
        with other.db.transaction() as session:
            version, _new = deploy(other, session, BIRTH_FILE.read_bytes(), file_name=BIRTH_FILE.name)
            version_id = version.id
    finally:
        other.db.dispose()
    with org.db.reading() as session:
        version = session.get(ProcedureVersion, version_id)
        assert compiled_version(org, version).info.code == "HT-KS-01"
