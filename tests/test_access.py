"""Who may see a dossier and who may work on its steps (engine.access)."""

from __future__ import annotations

import pytest

from engine import access
from engine.errors import Forbidden
from engine.lifecycle import get_dossier
from engine.models import Task
from engine.tasks import claim, complete, release
from tests.helpers import PERMIT_HAPPY, do_step, open_tasks, receive_permit
from tests.lifecycle_helpers import fast_deployed, person, snapshot


@pytest.fixture
def deployed(ctx):
    return fast_deployed(ctx)


def can_view(ctx, code: str, username: str) -> bool:
    with ctx.db.reading() as session:
        return access.can_view(session, person(session, username), get_dossier(session, code))


@pytest.fixture
def permit(deployed):
    """A construction permit of Hoàn Kiếm, appraised by its urban office and now at the leadership."""
    code = receive_permit(deployed)
    for step in ("Task_ThamDinh", "Task_KiemTraThucDia", "Task_DuThaoGiayPhep"):
        do_step(deployed, code, step, PERMIT_HAPPY[step])
    [task] = open_tasks(deployed, code)
    assert task.step == "Task_PheDuyet"
    return code


@pytest.mark.parametrize(
    "username",
    [
        "hn.quantri",  # administrator
        "hk.motcua",  # the receiving counter
        "hk.qldt.cv",  # the urban office held (and finished) steps
        "hk.qldt.ld",
        "hk.lanhdao",  # the district's leadership, which holds the signing step
        "hn.lanhdao",  # the city's leader: the district lies below the city
    ],
)
def test_who_can_view_a_district_dossier(deployed, permit, username):
    assert can_view(deployed, permit, username) is True
    with deployed.db.reading() as session:
        access.require_view(session, person(session, username), get_dossier(session, permit))


@pytest.mark.parametrize(
    "username",
    [
        "bd.qldt.cv",  # the same office of another district
        "bd.motcua",  # the counter of another district
        "bd.lanhdao",  # the leader of another district
        "hk.tckh.cv",  # an office of the same district that never held the dossier
        "hangbac.lanhdao",  # a commune leader: the district dossier is above the commune
        "hn.motcua",  # the city's counter did not receive it
        "hn.thietke",  # a designer
    ],
)
def test_who_cannot_view_a_district_dossier(deployed, permit, username):
    assert can_view(deployed, permit, username) is False
    with deployed.db.reading() as session, pytest.raises(Forbidden):
        access.require_view(session, person(session, username), get_dossier(session, permit))


def test_a_unit_can_view_only_once_it_gets_a_step(deployed):
    code = receive_permit(deployed)
    assert can_view(deployed, code, "hk.qldt.cv") is True  # the first step is its own
    assert can_view(deployed, code, "hk.lanhdao") is True  # as the district's leader
    with deployed.db.transaction() as session:
        leader_unit = person(session, "hk.lanhdao").unit_id
        assert access.unit_touched(session, leader_unit, get_dossier(session, code)) is False


@pytest.mark.parametrize("username", ["bd.qldt.cv", "hk.lanhdao", "hk.motcua", "hk.tckh.cv", "hn.thietke"])
def test_require_task_refuses_people_outside_the_unit(deployed, username):
    code = receive_permit(deployed)
    [task] = open_tasks(deployed, code)
    with deployed.db.reading() as session, pytest.raises(Forbidden):
        access.require_task(person(session, username), session.get(Task, task.id))


def test_require_task_admits_the_unit_s_specialist_and_leader(deployed):
    code = receive_permit(deployed)
    [task] = open_tasks(deployed, code)
    with deployed.db.reading() as session:
        for username in ("hk.qldt.cv", "hk.qldt.ld"):
            access.require_task(person(session, username), session.get(Task, task.id))


@pytest.mark.parametrize("username", ["bd.qldt.cv", "hk.lanhdao", "hk.motcua", "hn.quantri"])
def test_completing_another_unit_s_step_is_forbidden_and_changes_nothing(deployed, username):
    code = receive_permit(deployed)
    [task] = open_tasks(deployed, code)
    before = snapshot(deployed, code)
    with pytest.raises(Forbidden), deployed.db.transaction() as session:
        complete(deployed, session, task.id, person(session, username), PERMIT_HAPPY["Task_ThamDinh"])
    with pytest.raises(Forbidden), deployed.db.transaction() as session:
        claim(deployed, session, task.id, person(session, username))
    assert snapshot(deployed, code) == before


def test_releasing_another_unit_s_step_is_forbidden(deployed):
    code = receive_permit(deployed)
    [task] = open_tasks(deployed, code)
    with deployed.db.transaction() as session:
        claim(deployed, session, task.id, person(session, "hk.qldt.cv"))
    before = snapshot(deployed, code)
    with pytest.raises(Forbidden), deployed.db.transaction() as session:
        release(deployed, session, task.id, person(session, "bd.qldt.ld"))
    assert snapshot(deployed, code) == before


def test_commune_dossier_is_visible_to_district_and_city_leaders_but_not_other_communes(deployed):
    from engine.receipt import receive
    from tests.helpers import APPLICANT

    with deployed.db.transaction() as session:
        code = receive(
            deployed,
            session,
            actor=person(session, "hangbac.motcua"),
            procedure_code="HT-KS-01",
            applicant=APPLICANT,
            data={},
        ).code
    assert can_view(deployed, code, "hangbac.lanhdao") is True
    assert can_view(deployed, code, "hk.lanhdao") is True
    assert can_view(deployed, code, "hn.lanhdao") is True
    assert can_view(deployed, code, "hangtrong.lanhdao") is False
    assert can_view(deployed, code, "bd.lanhdao") is False
    assert can_view(deployed, code, "hk.motcua") is False


def test_head_of_an_office_does_not_see_other_units_dossiers_of_the_area(deployed, permit):
    """The district tax branch's leader leads that branch, not the district."""
    assert can_view(deployed, permit, "hk.thue.ld") is False
    assert can_view(deployed, permit, "hk.lanhdao") is True


def test_designers_see_procedures_not_dossiers(deployed, permit):
    """The city designer sits in the city counter's unit but is no clerk."""
    assert can_view(deployed, permit, "hn.thietke") is False


def test_a_counter_cannot_route_a_case_to_another_district_s_unit(deployed):
    from engine.errors import InvalidInput
    from engine.receipt import receive
    from tests.helpers import APPLICANT, clerk_of, district

    with deployed.db.transaction() as session, pytest.raises(InvalidInput, match="outside the area"):
        receive(deployed, session, actor=clerk_of(session, district(session)), procedure_code="PAKN-01",
                applicant=APPLICANT, data={"responsible_unit": "H26.39.03"})
