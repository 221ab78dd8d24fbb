"""Tests for engine.calendar: the working-day calendar behind every legal time limit."""

from __future__ import annotations

import random
import time as clock
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest

from engine.calendar import EXTRA_DAY_OFF_LABEL, CalendarSettings, WorkCalendar

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    """A wall-clock moment in Vietnam."""
    return datetime(y, m, d, hh, mm, tzinfo=VN)


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar()


def _package_knows_workday(day: date) -> bool:
    """Whether the installed ``holidays`` release lists ``day`` as an official make-up workday."""
    known = getattr(holidays.country_holidays("VN", years=day.year), "weekend_workdays", None) or ()
    return day in known


# ------------------------------------------------------------------ the headline case


def test_three_working_days_from_friday_before_tet_is_wednesday_after(cal: WorkCalendar) -> None:
    received = at(2026, 2, 13, 10)
    start = cal.counting_start(received)
    assert start == received
    assert cal.add_working_days(start, 3) == at(2026, 2, 25, 10)


# ------------------------------------------------------------------ real 2026 calendar


@pytest.mark.parametrize("day", [date(2026, 2, d) for d in range(16, 21)])
def test_tet_2026_days_are_off(cal: WorkCalendar, day: date) -> None:
    assert not cal.is_working_day(day)
    assert cal.holiday_name(day)


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 1, 1),
        date(2026, 4, 27),  # Hùng Kings fell on Sunday 26 Apr; observed Monday
        date(2026, 4, 30),
        date(2026, 5, 1),
        date(2026, 8, 31),
        date(2026, 9, 1),
        date(2026, 9, 2),
        date(2026, 11, 24),  # Vietnamese Culture Day, from 2026
    ],
)
def test_2026_statutory_weekdays_are_off(cal: WorkCalendar, day: date) -> None:
    assert day.weekday() < 5
    assert not cal.is_working_day(day)
    assert cal.holiday_name(day)


def test_hung_kings_2026_named_on_the_sunday_and_observed_on_monday(cal: WorkCalendar) -> None:
    assert cal.holiday_name(date(2026, 4, 26)) is not None
    assert not cal.is_working_day(date(2026, 4, 26))
    assert not cal.is_working_day(date(2026, 4, 27))
    assert cal.is_working_day(date(2026, 4, 28))


def test_regular_weekday_is_working(cal: WorkCalendar) -> None:
    assert cal.is_working_day(date(2026, 3, 11))
    assert cal.holiday_name(date(2026, 3, 11)) is None


def test_saturday_and_sunday_are_off(cal: WorkCalendar) -> None:
    assert not cal.is_working_day(date(2026, 3, 14))
    assert not cal.is_working_day(date(2026, 3, 15))
    assert cal.holiday_name(date(2026, 3, 14)) is None


def test_makeup_saturday_via_working_days_is_working() -> None:
    day = date(2026, 8, 22)
    assert day.weekday() == 5
    assert WorkCalendar(working_days=[day]).is_working_day(day)
    assert WorkCalendar(working_days=[day]).holiday_name(day) is None


def test_makeup_saturday_known_to_package_is_working_automatically(cal: WorkCalendar) -> None:
    day = date(2026, 8, 22)
    if not _package_knows_workday(day):
        pytest.skip("this holidays release does not publish 22 Aug 2026 as a make-up working day")
    assert cal.is_working_day(day)
    # ...and a neighbouring ordinary Saturday stays off
    assert not cal.is_working_day(date(2026, 8, 29))


def test_working_days_override_a_statutory_holiday() -> None:
    assert WorkCalendar(working_days=[date(2026, 5, 1)]).is_working_day(date(2026, 5, 1))


def test_deadline_skips_national_day_block(cal: WorkCalendar) -> None:
    # Fri 28 Aug 10:00 + 1 day: Mon 31 Aug - Wed 2 Sep off -> Thu 3 Sep 10:00
    assert cal.add_working_days(at(2026, 8, 28, 10), 1) == at(2026, 9, 3, 10)


def test_next_working_day(cal: WorkCalendar) -> None:
    assert cal.next_working_day(date(2026, 2, 13)) == date(2026, 2, 23)
    assert cal.next_working_day(date(2026, 3, 11)) == date(2026, 3, 12)
    assert cal.next_working_day(date(2026, 4, 29)) == date(2026, 5, 4)


# ------------------------------------------------------------------ extra days off (admin table)


def test_extra_days_off_are_honoured() -> None:
    bridge = date(2026, 3, 12)
    calendar = WorkCalendar(days_off=[bridge])
    assert not calendar.is_working_day(bridge)
    assert calendar.holiday_name(bridge) == EXTRA_DAY_OFF_LABEL
    assert calendar.add_working_days(at(2026, 3, 11, 9), 1) == at(2026, 3, 13, 9)


def test_same_date_as_day_off_and_working_day_is_refused() -> None:
    with pytest.raises(ValueError, match="both"):
        WorkCalendar(days_off=[date(2026, 3, 12)], working_days=[date(2026, 3, 12)])


def test_datetime_in_admin_table_is_refused() -> None:
    with pytest.raises(ValueError, match="dates"):
        WorkCalendar(days_off=[at(2026, 3, 12)])


# ------------------------------------------------------------------ counting_start


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (at(2026, 3, 11, 7, 30), at(2026, 3, 11, 8)),  # before 08:00 -> 08:00 same day
        (at(2026, 3, 11, 9, 15), at(2026, 3, 11, 9, 15)),  # inside the morning -> itself
        (at(2026, 3, 11, 12), at(2026, 3, 11, 13)),  # lunch starts at 12:00
        (at(2026, 3, 11, 12, 30), at(2026, 3, 11, 13)),  # lunch -> 13:00
        (at(2026, 3, 11, 14, 59), at(2026, 3, 11, 14, 59)),  # just before cutoff
        (at(2026, 3, 11, 15), at(2026, 3, 12, 8)),  # at cutoff -> next morning
        (at(2026, 3, 11, 16, 30), at(2026, 3, 12, 8)),  # after cutoff, still office hours
        (at(2026, 3, 11, 20), at(2026, 3, 12, 8)),  # evening
        (at(2026, 3, 13, 15, 30), at(2026, 3, 16, 8)),  # Friday after cutoff -> Monday
        (at(2026, 3, 14, 10), at(2026, 3, 16, 8)),  # Saturday
        (at(2026, 3, 15, 10), at(2026, 3, 16, 8)),  # Sunday
        (at(2026, 2, 13, 16), at(2026, 2, 23, 8)),  # eve of Tết after cutoff
        (at(2026, 4, 29, 15, 1), at(2026, 5, 4, 8)),  # eve of 30/4 after cutoff
        (at(2026, 4, 30, 9), at(2026, 5, 4, 8)),  # on the holiday itself
    ],
)
def test_counting_start(cal: WorkCalendar, received: datetime, expected: datetime) -> None:
    assert cal.counting_start(received) == expected


def test_counting_start_converts_other_zones(cal: WorkCalendar) -> None:
    # 07:59 UTC is 14:59 in Hà Nội (before cutoff); 08:00 UTC is 15:00 (at cutoff)
    before = cal.counting_start(datetime(2026, 3, 11, 7, 59, tzinfo=UTC))
    after = cal.counting_start(datetime(2026, 3, 11, 8, 0, tzinfo=UTC))
    assert before == at(2026, 3, 11, 14, 59)
    assert before.tzinfo == VN
    assert after == at(2026, 3, 12, 8)


def test_custom_cutoff_is_used() -> None:
    calendar = WorkCalendar(CalendarSettings(cutoff=time(16)))
    assert calendar.counting_start(at(2026, 3, 11, 15, 30)) == at(2026, 3, 11, 15, 30)
    assert calendar.counting_start(at(2026, 3, 11, 16)) == at(2026, 3, 12, 8)


# ------------------------------------------------------------------ add_working_minutes


def test_landing_exactly_on_noon_returns_noon(cal: WorkCalendar) -> None:
    assert cal.add_working_minutes(at(2026, 3, 11, 8), 240) == at(2026, 3, 11, 12)


def test_landing_exactly_on_close_returns_close(cal: WorkCalendar) -> None:
    assert cal.add_working_minutes(at(2026, 3, 11, 13), 240) == at(2026, 3, 11, 17)
    assert cal.add_working_days(at(2026, 3, 11, 8), 1) == at(2026, 3, 11, 17)


def test_spanning_lunch(cal: WorkCalendar) -> None:
    assert cal.add_working_minutes(at(2026, 3, 11, 11, 30), 60) == at(2026, 3, 11, 13, 30)
    assert cal.add_working_minutes(at(2026, 3, 11, 11, 30), 31) == at(2026, 3, 11, 13, 1)


def test_spanning_weekend(cal: WorkCalendar) -> None:
    assert cal.add_working_minutes(at(2026, 3, 13, 16), 120) == at(2026, 3, 16, 9)
    assert cal.add_working_minutes(at(2026, 3, 13, 16), 60) == at(2026, 3, 13, 17)


def test_zero_minutes_moves_to_next_working_instant(cal: WorkCalendar) -> None:
    assert cal.add_working_minutes(at(2026, 3, 11, 9), 0) == at(2026, 3, 11, 9)
    assert cal.add_working_minutes(at(2026, 3, 11, 12), 0) == at(2026, 3, 11, 13)
    assert cal.add_working_minutes(at(2026, 3, 14, 10), 0) == at(2026, 3, 16, 8)


def test_start_outside_working_time_counts_from_next_period(cal: WorkCalendar) -> None:
    assert cal.add_working_minutes(at(2026, 3, 11, 12, 30), 10) == at(2026, 3, 11, 13, 10)
    assert cal.add_working_minutes(at(2026, 3, 11, 18), 10) == at(2026, 3, 12, 8, 10)


def test_add_working_hours_and_fractional_days(cal: WorkCalendar) -> None:
    assert cal.add_working_hours(at(2026, 3, 11, 10), 4) == at(2026, 3, 11, 15)
    assert cal.add_working_hours(at(2026, 3, 11, 10), 1.5) == at(2026, 3, 11, 11, 30)
    assert cal.add_working_days(at(2026, 3, 11, 8), 0.5) == at(2026, 3, 11, 12)


def test_results_are_aware_in_calendar_zone(cal: WorkCalendar) -> None:
    result = cal.add_working_days(datetime(2026, 3, 11, 3, tzinfo=UTC), 1)
    assert result.tzinfo == VN
    assert result == at(2026, 3, 12, 10)


def test_minutes_per_day_follows_periods() -> None:
    assert WorkCalendar().minutes_per_day == 480
    custom = WorkCalendar(
        CalendarSettings(periods=((time(7, 30), time(11, 30)), (time(13, 30), time(16, 30))))
    )
    assert custom.minutes_per_day == 420
    assert custom.add_working_days(at(2026, 3, 11, 7, 30), 1) == at(2026, 3, 11, 16, 30)


# ------------------------------------------------------------------ between / symmetry


def test_working_minutes_between_basics(cal: WorkCalendar) -> None:
    assert cal.working_minutes_between(at(2026, 3, 11, 8), at(2026, 3, 11, 17)) == 480
    assert cal.working_minutes_between(at(2026, 3, 11, 11), at(2026, 3, 11, 14)) == 120
    assert cal.working_minutes_between(at(2026, 3, 13, 16), at(2026, 3, 16, 9)) == 120
    assert cal.working_minutes_between(at(2026, 3, 11, 10), at(2026, 3, 11, 10)) == 0
    assert cal.working_minutes_between(at(2026, 3, 12, 10), at(2026, 3, 11, 10)) == 0


def test_working_minutes_between_floors_seconds(cal: WorkCalendar) -> None:
    a = at(2026, 3, 11, 9)
    assert cal.working_minutes_between(a, a + timedelta(seconds=119)) == 1


def test_working_days_between_over_tet(cal: WorkCalendar) -> None:
    assert cal.working_days_between(at(2026, 2, 13, 10), at(2026, 2, 25, 10)) == 3.0
    assert cal.working_days_between(at(2026, 3, 11, 8), at(2026, 3, 11, 12)) == 0.5


def _starts() -> list[datetime]:
    """Starts covering every kind of moment: in periods, lunch, night, weekend, holidays."""
    fixed = [
        at(2026, 2, 13, 10),
        at(2026, 2, 13, 16, 45),
        at(2026, 3, 11, 7),
        at(2026, 3, 11, 12),
        at(2026, 3, 11, 12, 30),
        at(2026, 3, 11, 16, 59),
        at(2026, 3, 14, 11),
        at(2026, 4, 29, 14),
        at(2026, 8, 28, 9, 17),
        at(2026, 11, 23, 15, 5),
        at(2026, 12, 31, 16),
    ]
    rng = random.Random(20260213)
    base = at(2026, 1, 1)
    fixed += [base + timedelta(minutes=rng.randrange(0, 366 * 24 * 60)) for _ in range(40)]
    return fixed


def test_add_then_between_gives_back_the_minutes(cal: WorkCalendar) -> None:
    amounts = [0, 1, 59, 60, 239, 240, 241, 479, 480, 481, 960, 1440, 2400, 7200, 24_000]
    rng = random.Random(7)
    amounts += [rng.randrange(1, 30_000) for _ in range(20)]
    for start in _starts():
        for minutes in amounts:
            end = cal.add_working_minutes(start, minutes)
            assert end >= start
            assert cal.working_minutes_between(start, end) == minutes, (start, minutes)


def test_add_lands_on_working_time_or_period_end(cal: WorkCalendar) -> None:
    for start in _starts():
        for minutes in (1, 240, 480, 1000):
            end = cal.add_working_minutes(start, minutes)
            assert cal.is_working_day(end.date())
            local = end.time()
            assert (time(8) < local <= time(12)) or (time(13) < local <= time(17)), end


# ------------------------------------------------------------------ end_of_working_day


def test_end_of_working_day(cal: WorkCalendar) -> None:
    assert cal.end_of_working_day(at(2026, 3, 11, 9)) == at(2026, 3, 11, 17)
    assert cal.end_of_working_day(at(2026, 3, 14, 9)) == at(2026, 3, 16, 17)  # Saturday -> Monday
    assert cal.end_of_working_day(at(2026, 2, 17, 9)) == at(2026, 2, 23, 17)  # Tết -> after


def test_same_day_procedure_after_cutoff_is_due_next_day_close(cal: WorkCalendar) -> None:
    start = cal.counting_start(at(2026, 3, 11, 15, 30))
    assert cal.end_of_working_day(start) == at(2026, 3, 12, 17)


# ------------------------------------------------------------------ invalid input


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.counting_start(datetime(2026, 3, 11, 9)),
        lambda c: c.add_working_minutes(datetime(2026, 3, 11, 9), 10),
        lambda c: c.add_working_days(datetime(2026, 3, 11, 9), 1),
        lambda c: c.add_working_hours(datetime(2026, 3, 11, 9), 1),
        lambda c: c.end_of_working_day(datetime(2026, 3, 11, 9)),
        lambda c: c.working_minutes_between(datetime(2026, 3, 11, 9), at(2026, 3, 12)),
        lambda c: c.working_minutes_between(at(2026, 3, 11), datetime(2026, 3, 12, 9)),
        lambda c: c.working_days_between(datetime(2026, 3, 11, 9), at(2026, 3, 12)),
        lambda c: c.is_working_day(datetime(2026, 3, 11, 9)),
    ],
)
def test_naive_datetimes_are_rejected(cal: WorkCalendar, call: Callable[[WorkCalendar], object]) -> None:
    with pytest.raises(ValueError, match="naive"):
        call(cal)


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.add_working_minutes(at(2026, 3, 11, 9), -1),
        lambda c: c.add_working_days(at(2026, 3, 11, 9), -0.5),
        lambda c: c.add_working_hours(at(2026, 3, 11, 9), -2),
        lambda c: c.add_working_days(at(2026, 3, 11, 9), float("nan")),
        lambda c: c.add_working_days(at(2026, 3, 11, 9), float("inf")),
    ],
)
def test_negative_or_non_finite_amounts_are_rejected(
    cal: WorkCalendar, call: Callable[[WorkCalendar], object]
) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        call(cal)


def test_amount_beyond_datetime_range_is_rejected(cal: WorkCalendar) -> None:
    with pytest.raises(ValueError, match="9999"):
        cal.add_working_days(at(2026, 3, 11, 9), 10_000_000)


@pytest.mark.parametrize(
    "settings",
    [
        {"periods": ()},
        {"periods": ((time(12), time(8)),)},
        {"periods": ((time(8), time(12)), (time(11), time(17)))},
    ],
)
def test_bad_periods_are_rejected(settings: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        CalendarSettings(**settings)


def test_unknown_timezone_and_country_are_rejected() -> None:
    with pytest.raises(ValueError, match="timezone"):
        WorkCalendar(CalendarSettings(timezone="Asia/Nowhere"))
    with pytest.raises(ValueError, match="country"):
        WorkCalendar(CalendarSettings(country="XX"))


# ------------------------------------------------------------------ speed


def test_ten_thousand_days_is_fast() -> None:
    calendar = WorkCalendar()
    started = clock.perf_counter()
    end = calendar.add_working_days(at(2026, 3, 11, 9), 10_000)
    assert calendar.working_days_between(at(2026, 3, 11, 9), end) == 10_000
    assert clock.perf_counter() - started < 2.0


def test_typical_deadlines_are_cheap_once_warm(cal: WorkCalendar) -> None:
    start = at(2026, 3, 11, 9)
    cal.add_working_days(start, 20)
    started = clock.perf_counter()
    for i in range(1000):
        cal.add_working_days(start + timedelta(minutes=37 * i), 15)
    assert clock.perf_counter() - started < 1.0
