"""Every shipped procedure driven end to end through the engine."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.demo import PLANS
from engine.handoffs import all_stints
from engine.lifecycle import get_dossier
from engine.models import Jurisdiction, Pause
from engine.receipt import receive
from tests.helpers import APPLICANT, clerk_of, district, do_step, dossier, drive, open_tasks

ANSWERS = {plan.code: plan.answers for plan in PLANS}


def _fill(answers):
    values = {"n": 7, "name": "Trần Văn Bình", "address": "12 Hàng Bạc"}
    return {step: {k: v.format(**values) if isinstance(v, str) else v for k, v in data.items()}
            for step, data in answers.items()}


def _commune(session, parent: Jurisdiction) -> Jurisdiction:
    return session.scalars(select(Jurisdiction).where(Jurisdiction.parent_id == parent.id)
                           .order_by(Jurisdiction.id)).first()


def test_birth_registration_at_a_commune_is_due_the_same_day(deployed, clock):
    with deployed.db.transaction() as session:
        ward = _commune(session, district(session))
        d = receive(deployed, session, actor=clerk_of(session, ward), procedure_code="HT-KS-01", applicant=APPLICANT)
        code = d.code
    assert dossier(deployed, code).due_at.astimezone(clock.now().tzinfo).hour == 17
    steps = drive(deployed, code, _fill(ANSWERS["HT-KS-01"]))
    assert steps == ["Task_KiemTraHoSo", "Task_KyGiayKhaiSinh"]
    assert dossier(deployed, code).status == "awaiting_return"


def test_household_business_hands_over_to_the_tax_office_and_back(deployed):
    with deployed.db.transaction() as session:
        d = receive(deployed, session, actor=clerk_of(session, district(session)), procedure_code="HKD-DK-01",
                    applicant=APPLICANT)
        code = d.code
    steps = drive(deployed, code, _fill(ANSWERS["HKD-DK-01"]))
    assert steps == ["Task_ThamDinh", "Task_CapMaSoThue", "Task_PheDuyet"]
    with deployed.db.reading() as session:
        types = [s.to_unit.type for s in all_stints(session, get_dossier(session, code))]
    assert types == ["tckh", "thue", "tckh", "mot_cua"]


def test_land_certificate_runs_parallel_units_across_levels_and_pauses_for_tax(deployed, clock):
    with deployed.db.transaction() as session:
        home = district(session)
        ward = _commune(session, home)
        d = receive(deployed, session, actor=clerk_of(session, home), procedure_code="DD-GCN-01",
                    applicant=APPLICANT, jurisdiction_code=ward.code)
        code = d.code
    answers = _fill(ANSWERS["DD-GCN-01"])
    do_step(deployed, code, "Task_KiemTraHoSo", answers["Task_KiemTraHoSo"])
    parallel = sorted(t.step for t in open_tasks(deployed, code))
    assert parallel == ["Task_DoDac", "Task_XacMinhNiemYet"]
    units = {t.step: t.unit_id for t in open_tasks(deployed, code)}
    assert units["Task_DoDac"] != units["Task_XacMinhNiemYet"]
    for step in ("Task_DoDac", "Task_XacMinhNiemYet", "Task_XacDinhNghiaVuTaiChinh"):
        do_step(deployed, code, step, answers[step])
    assert [t.step for t in open_tasks(deployed, code)] == ["Task_ChoNopThue"]
    paused = dossier(deployed, code)
    assert paused.paused_since is not None
    due_before = paused.due_at
    clock.advance(days=1)  # Tuesday: the citizen pays the next day
    steps = drive(deployed, code, answers)
    assert steps[0] == "Task_ChoNopThue" and steps[-1] == "Task_KyGiayChungNhan"
    assert dossier(deployed, code).status == "awaiting_return"
    with deployed.db.reading() as session:
        d = get_dossier(session, code)
        levels = {s.to_unit.jurisdiction.level for s in all_stints(session, d)}
        pause = session.scalar(select(Pause).where(Pause.dossier_id == d.id, Pause.kind == "step"))
    assert levels == {"commune", "district", "province"}
    assert pause is not None and pause.working_minutes == 480
    from engine.calendar import WorkCalendar
    assert dossier(deployed, code).due_at == WorkCalendar().add_working_minutes(due_before, 480)


def test_feedback_goes_to_the_unit_named_in_its_data(deployed):
    with deployed.db.transaction() as session:
        home = district(session)
        d = receive(deployed, session, actor=clerk_of(session, home), procedure_code="PAKN-01",
                    applicant=APPLICANT, data={"responsible_unit": "H26.38.03"})
        code = d.code
    [task] = open_tasks(deployed, code)
    with deployed.db.reading() as session:
        assert task.unit_id == get_dossier(session, code).lane_units["Đơn vị có trách nhiệm"]
    drive(deployed, code, _fill(ANSWERS["PAKN-01"]))
    assert dossier(deployed, code).status == "awaiting_return"


def test_feedback_without_responsible_unit_fails_at_receipt(deployed):
    from engine.errors import OrganisationError

    with deployed.db.transaction() as session, pytest.raises(OrganisationError) as err:
        receive(deployed, session, actor=clerk_of(session, district(session)), procedure_code="PAKN-01",
                applicant=APPLICANT)
    assert "responsible_unit" in str(err.value)
