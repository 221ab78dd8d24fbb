"""Text the database cannot store, or numbers clients cannot read, are refused up front."""

from __future__ import annotations

import pytest

from engine.errors import FormError, NotFound
from engine.lifecycle import get_dossier, refuse
from engine.tasks import get_task
from tests.helpers import APPLICANT, clerk_of, district, receive_permit


@pytest.mark.parametrize(
    ("applicant", "field"),
    [
        ({**APPLICANT, "name": "Trần\x00Bình"}, "applicant.name"),
        ({**APPLICANT, "address": "Hà Nội \ud800"}, "applicant.address"),
        ({**APPLICANT, "email": "a" * 190 + "@example.vn"}, "applicant.email"),
        ({**APPLICANT, "phone": "0912 345 678 999 999 999 999"}, "applicant.phone"),
    ],
)
def test_bad_applicant_text_is_a_form_error(deployed, applicant, field):
    with pytest.raises(FormError) as err:
        receive_permit(deployed, applicant=applicant)
    assert field in {p.element_id for p in err.value.problems}


def test_phone_is_stored_without_spaces_or_dots(deployed):
    code = receive_permit(deployed, applicant={**APPLICANT, "phone": "0912 345.678"})
    with deployed.db.reading() as session:
        assert get_dossier(session, code).applicant_phone == "0912345678"


@pytest.mark.parametrize("value", [float("nan"), 2**60, "x\x00"])
def test_unusable_initial_data_is_refused(deployed, value):
    with pytest.raises(FormError):
        receive_permit(deployed, data={"ghi_chu": value})


@pytest.mark.parametrize("reason", [None, 5, ["a"], "có\x00lỗi", "   "])
def test_refusal_reason_must_be_real_text(deployed, reason):
    code = receive_permit(deployed)
    with deployed.db.transaction() as session, pytest.raises(FormError):
        refuse(deployed, session, get_dossier(session, code), clerk_of(session, district(session)), reason=reason)


@pytest.mark.parametrize("task_id", [0, -1, 2**31, 10**20])
def test_impossible_task_ids_are_not_found(deployed, task_id):
    with deployed.db.reading() as session, pytest.raises(NotFound):
        get_task(session, task_id)
