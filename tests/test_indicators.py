"""The national indicators on ten construction-permit dossiers driven through the real engine.

Every dossier is received on Monday 2 March 2026 at 09:00 at the Hoàn Kiếm
counter (legal limit 15 working days: due Monday 23 March 09:00); the clock
then moves forward only. Hand-computed expectations:

| dossier | what happens | counts as |
|---|---|---|
| D1 | done at once, returned, rating 5, received online | finished early |
| D2 | done 23/3 08:30 (the due day), returned, rating 2 | finished on time, a complaint |
| D3 | done 25/3 | finished late |
| D4 | supplement requested, still waiting | in progress, paused |
| D5 | two supplement requests, then done at once | finished late (more than one request) |
| D6 | extended by 5 days, done 25/3 (before the new date, after the original) | finished late |
| D7 | refused, received by post | refused |
| D8 | withdrawn | withdrawn |
| D9 | nothing done | in progress, overdue on 25/3 |
| D10 | supplement asked 2/3, arrived 25/3 (17 working days paused), done at once, rating 4 | finished early (pause excluded) |

On-time share (2.1) = 3 of 6 = 50%; satisfaction (5.4) = 100 - (3 late + 1 complaint) / 6 = 33.3%;
average working days (2.2) = (0 + 15 + 17 + 0 + 17 + (17 - 17)) / 6 = 8.2.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from engine import indicators, lifecycle, rollup
from engine.indicators import ReportFilter
from engine.models import Dossier, ReportDay
from tests.conftest import vn
from tests.helpers import PERMIT_HAPPY, clerk_of, district, drive, receive_permit
from tests.lifecycle_helpers import person

MARCH = ReportFilter(date(2026, 3, 1), date(2026, 3, 31))


def _act(ctx, code: str, operation, **kwargs):
    with ctx.db.transaction() as session:
        dossier = session.scalar(select(Dossier).where(Dossier.code == code))
        clerk = clerk_of(session, district(session))
        return operation(ctx, session, dossier, clerk, **kwargs)


def build_fixture(ctx, clock) -> dict[str, str]:
    """The ten dossiers of the module docstring; returns name -> code."""
    d = {f"D{i}": receive_permit(ctx, channel="online" if i == 1 else "post" if i == 7 else "counter")
         for i in range(1, 11)}
    drive(ctx, d["D1"], PERMIT_HAPPY)
    _act(ctx, d["D1"], lifecycle.return_result, rating=5)
    for _ in range(2):
        _act(ctx, d["D5"], lifecycle.request_supplement, reason="Thiếu bản vẽ", missing=["Bản vẽ mặt bằng"])
        _act(ctx, d["D5"], lifecycle.receive_supplement)
    drive(ctx, d["D5"], PERMIT_HAPPY)
    _act(ctx, d["D7"], lifecycle.refuse, reason="Không thuộc thẩm quyền")
    _act(ctx, d["D8"], lifecycle.withdraw, reason="Công dân xin rút")
    _act(ctx, d["D4"], lifecycle.request_supplement, reason="Thiếu giấy tờ", missing=["Giấy chứng nhận"])
    _act(ctx, d["D10"], lifecycle.request_supplement, reason="Thiếu giấy tờ", missing=["Giấy chứng nhận"])
    _act(ctx, d["D6"], lifecycle.extend, reason="Cần xác minh thêm", extra_days=5)

    clock.set(vn(2026, 3, 23, 8, 30))
    drive(ctx, d["D2"], PERMIT_HAPPY)
    _act(ctx, d["D2"], lifecycle.return_result, rating=2)

    clock.set(vn(2026, 3, 25, 9, 0))
    drive(ctx, d["D6"], PERMIT_HAPPY)
    drive(ctx, d["D3"], PERMIT_HAPPY)
    _act(ctx, d["D10"], lifecycle.receive_supplement)
    drive(ctx, d["D10"], PERMIT_HAPPY)
    _act(ctx, d["D10"], lifecycle.return_result, rating=4)
    return d


@pytest.fixture
def fixture(deployed, clock):
    return build_fixture(deployed, clock)


def leader(session):
    return person(session, "hk.lanhdao")


def test_the_dossiers_are_where_the_story_says(deployed, fixture):
    with deployed.db.reading() as session:
        rows = {d.code: d for d in session.scalars(select(Dossier))}
    d = {name: rows[code] for name, code in fixture.items()}
    assert d["D1"].result_timing == "early" and d["D2"].result_timing == "on_time"
    assert d["D3"].result_timing == "late"
    assert d["D5"].supplement_requests == 2 and d["D5"].result_timing == "early"
    assert d["D6"].original_due_at is not None and d["D6"].result_timing == "early"
    assert d["D10"].paused_minutes == 17 * 480 and d["D10"].result_timing == "early"
    assert d["D4"].status == "awaiting_supplement" and d["D9"].status == "processing"


def test_totals_follow_the_national_rules(deployed, fixture):
    now = deployed.clock.now()
    with deployed.db.reading() as session:
        c = indicators.totals(session, leader(session), MARCH, now)
    assert (c.received, c.in_progress, c.overdue, c.paused) == (10, 2, 1, 1)
    assert (c.finished, c.early, c.on_time, c.late) == (6, 2, 1, 3)
    assert (c.refused, c.withdrawn) == (1, 1)
    assert (c.online, c.post, c.counter) == (1, 1, 8)
    assert c.on_time_share == 50.0
    assert c.online_share == 10.0
    assert (c.rated, c.complaint, c.average_rating) == (3, 1, 3.67)
    assert c.satisfaction == 33.3


def test_each_figure_drills_down_to_its_dossiers(deployed, fixture):
    now = deployed.clock.now()
    expected = {"late": {"D3", "D5", "D6"}, "early": {"D1", "D10"}, "on_time": {"D2"}, "overdue": {"D9"},
                "paused": {"D4"}, "in_progress": {"D4", "D9"}, "refused": {"D7"}, "withdrawn": {"D8"},
                "complaint": {"D2"}, "online": {"D1"}}
    names = {code: name for name, code in fixture.items()}
    with deployed.db.reading() as session:
        for category, dossiers in expected.items():
            stmt = indicators.drill_statement(session, leader(session), MARCH, now, category)
            assert {names[d.code] for d in session.scalars(stmt)} == dossiers, category


def test_average_working_days_exclude_pauses(deployed, fixture):
    with deployed.db.reading() as session:
        times = {t.code: t for t in indicators.average_working_days(
            session, leader(session), MARCH, deployed.calendar(session))}
    permit = times["XD-GPXD-01"]
    assert permit.finished == 6
    assert permit.average_days == round(49 / 6, 1)
    assert "PAKN-01" not in times


def test_the_rollup_gives_the_same_figures_as_counting_live(deployed, fixture):
    now = deployed.clock.now()
    with deployed.db.reading() as session:
        live = indicators.totals(session, leader(session), MARCH, now)
        live_units = indicators.breakdown(session, leader(session), MARCH, now, "unit")
        live_days = indicators.average_working_days(session, leader(session), MARCH, deployed.calendar(session))
    with deployed.db.transaction() as session:
        mark = rollup.refresh(session, deployed.calendar(session), now, lag=timedelta(0))
    assert mark == now
    with deployed.db.reading() as session:
        rows = list(session.scalars(select(ReportDay)))
        # closed before the mark: D1, D2 returned, D7 refused, D8 withdrawn; D10 was returned at the mark itself
        assert sum(r.received for r in rows) == 4
        assert indicators.totals(session, leader(session), MARCH, now) == live
        assert indicators.breakdown(session, leader(session), MARCH, now, "unit") == live_units
        assert indicators.average_working_days(session, leader(session), MARCH,
                                               deployed.calendar(session)) == live_days
    with deployed.db.transaction() as session:  # a second refresh adds nothing twice
        rollup.refresh(session, deployed.calendar(session), now)
    with deployed.db.reading() as session:
        assert indicators.totals(session, leader(session), MARCH, now) == live


def test_breakdowns_add_up_and_the_dashboard_agrees(deployed, fixture):
    now = deployed.clock.now()
    with deployed.db.reading() as session:
        user = leader(session)
        total = indicators.totals(session, user, MARCH, now)
        for dimension in indicators.DIMENSIONS:
            lines = indicators.breakdown(session, user, MARCH, now, dimension)
            assert sum(line.counts.received for line in lines) == total.received, dimension
        dash_total, months, units = indicators.dashboard_lines(session, user, MARCH, now)
    assert dash_total == total
    assert [m.label for m in months] == ["03/2026"]
    assert [u.label for u in units] == ["Bộ phận Một cửa quận Hoàn Kiếm"]


def test_the_period_and_the_scope_limit_the_count(deployed, fixture):
    now = deployed.clock.now()
    with deployed.db.reading() as session:
        april = indicators.totals(session, leader(session), ReportFilter(date(2026, 4, 1), date(2026, 4, 30)), now)
        other_district = indicators.totals(session, person(session, "bd.lanhdao"), MARCH, now)
        city = indicators.totals(session, person(session, "hn.lanhdao"), MARCH, now)
        clerk = indicators.totals(session, person(session, "hk.motcua"), MARCH, now)
    assert april.received == 0
    assert other_district.received == 0
    assert city.received == 10 and clerk.received == 10


def test_overdue_ranking_and_oldest_open_say_who_holds_them(deployed, fixture):
    now = deployed.clock.now()
    with deployed.db.reading() as session:
        ranking = indicators.overdue_by_unit(session, leader(session), MARCH, now)
        oldest = indicators.oldest_open(session, leader(session), MARCH)
    assert [(r.name, r.overdue) for r in ranking] == [("Phòng Quản lý đô thị quận Hoàn Kiếm", 1)]
    assert {o.code for o in oldest} == {fixture["D4"], fixture["D9"]}
    held = next(o for o in oldest if o.code == fixture["D9"])
    assert held.holders and held.holders[0][0] == "Phòng Quản lý đô thị quận Hoàn Kiếm"


def test_a_rebuilt_rollup_counts_the_same(deployed, fixture):
    now = deployed.clock.now()
    with deployed.db.reading() as session:
        live = indicators.totals(session, leader(session), MARCH, now)
    with deployed.db.transaction() as session:
        rollup.refresh(session, deployed.calendar(session), now, lag=timedelta(0))
    with deployed.db.transaction() as session:
        rollup.rebuild(session, deployed.calendar(session), now, lag=timedelta(0))
    with deployed.db.reading() as session:
        assert indicators.totals(session, leader(session), MARCH, now) == live
        assert sum(r.received for r in session.scalars(select(ReportDay))) == 4
