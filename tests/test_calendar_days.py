"""Administrator edits to the calendar move deadlines at once."""

from __future__ import annotations

from datetime import date

import pytest

from engine.calendar_days import list_days, remove_day, set_day
from engine.errors import InvalidInput, NotFound
from tests.conftest import vn
from tests.helpers import dossier, receive_permit


def test_extra_day_off_pushes_a_new_dossier_due_date(deployed, clock):
    clock.set(vn(2026, 3, 2, 9, 30))
    plain = dossier(deployed, receive_permit(deployed)).due_at
    with deployed.db.transaction() as session:
        set_day(deployed, session, date(2026, 3, 10), "off", "Nghỉ bù")
    bridged = dossier(deployed, receive_permit(deployed)).due_at
    assert plain == vn(2026, 3, 23, 9, 30)
    assert bridged == vn(2026, 3, 24, 9, 30)


def test_make_up_saturday_counts_as_working(deployed, clock):
    with deployed.db.transaction() as session:
        set_day(deployed, session, date(2026, 3, 7), "work", "Làm bù")
        assert deployed.calendar(session).is_working_day(date(2026, 3, 7))
        assert [d.day for d in list_days(session, 2026)] == [date(2026, 3, 7)]
        remove_day(deployed, session, date(2026, 3, 7))
        assert not deployed.calendar(session).is_working_day(date(2026, 3, 7))


def test_bad_edits_are_refused(deployed):
    with deployed.db.transaction() as session:
        with pytest.raises(InvalidInput):
            set_day(deployed, session, date(2026, 3, 7), "holiday")
        with pytest.raises(NotFound):
            remove_day(deployed, session, date(2026, 3, 8))
