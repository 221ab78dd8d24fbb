"""Working-day calendar for Vietnamese administrative time limits.

Legal time limits for one-stop-shop procedures are expressed in *working*
days (or hours) counted from receipt of a complete dossier.  A working day has
working periods (by default 08:00-12:00 and 13:00-17:00, i.e. 480 minutes);
Saturdays, Sundays and public holidays are off.  A dossier received at or after
the daily cutoff (15:00 by default) starts counting the next working morning.

Where the days off come from, in order of precedence:

1. ``working_days`` given to :class:`WorkCalendar` -- make-up working days
   (e.g. a Saturday worked in exchange for a bridge day).  They win over
   everything else.
2. ``days_off`` given to :class:`WorkCalendar` -- extra days off (bridge days)
   decided by the government or the province after the ``holidays`` release
   installed here.
3. Statutory holidays from the ``holidays`` package (``country_holidays``),
   including its "observed" substitutes and the published swaps it knows of.
4. Official make-up working weekend days known to the ``holidays`` package
   (``HolidayBase.weekend_workdays``; e.g. Saturday 22 Aug 2026 for VN in
   0.109), honoured automatically when the installed version exposes them.
5. Saturdays and Sundays.

The government moves days every year, and the installed ``holidays`` package
only knows the swaps published before its release.  Nothing year-specific is
hard-coded here: deployments keep an administrator-editable table of extra days
off and make-up working days and pass it as ``days_off`` / ``working_days``.

All datetimes going in must be timezone-aware (naive ones raise
:class:`ValueError`, because guessing the zone of a legal deadline is how
deadlines end up an hour off); they are converted to the calendar's zone and
every datetime coming out is aware and in that zone.  Working periods are
half-open: 12:00 is not working time, but a computation that lands exactly on
12:00 returns 12:00 (the deadline is the end of the morning, not 13:00).

Everything walks whole days with cached per-day lookups, so cost is
O(number of calendar days spanned), never per minute.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

#: Label for days off coming from ``days_off`` (the administrator's table).
EXTRA_DAY_OFF_LABEL = "Ngày nghỉ bù/bổ sung"

_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)
_WEEKEND = frozenset({5, 6})  # Saturday, Sunday (date.weekday())


def _check_periods(periods: tuple[tuple[time, time], ...]) -> None:
    """Reject period lists that would make the day arithmetic ambiguous or endless."""
    if not periods:
        raise ValueError("a working day needs at least one working period")
    previous_end: time | None = None
    for start, end in periods:
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError("working periods are local wall-clock times; give them without a timezone")
        if start >= end:
            raise ValueError(f"working period {start}-{end} must start before it ends")
        if previous_end is not None and start < previous_end:
            raise ValueError(f"working period {start}-{end} overlaps or precedes the previous one")
        previous_end = end


def _span(start: time, end: time) -> timedelta:
    """Length of a same-day period given as two wall-clock times."""
    return datetime.combine(date.min, end) - datetime.combine(date.min, start)


@dataclass(frozen=True)
class CalendarSettings:
    """How a working day looks; immutable so calendars can share it safely.

    ``periods`` are the working periods of each working day, in order and not
    overlapping; ``cutoff`` is the time of day from which something received
    only starts counting the next working day.
    """

    timezone: str = "Asia/Ho_Chi_Minh"
    periods: tuple[tuple[time, time], ...] = ((time(8), time(12)), (time(13), time(17)))
    cutoff: time = time(15)
    country: str = "VN"

    def __post_init__(self) -> None:
        _check_periods(self.periods)


DEFAULT_SETTINGS = CalendarSettings()


class WorkCalendar:
    """Answers "is this working time?" and "when is the deadline?" for one set of rules.

    Build one per rule set (settings + the administrator's table) and reuse it:
    per-year holiday lists and per-day answers are cached on the instance.
    """

    def __init__(
        self,
        settings: CalendarSettings = DEFAULT_SETTINGS,
        days_off: Iterable[date] = (),
        working_days: Iterable[date] = (),
    ) -> None:
        self.settings = settings
        self._zone = _load_zone(settings.timezone)
        if settings.country not in holidays.list_supported_countries():
            raise ValueError(f"the holidays package does not know country {settings.country!r}")
        self._days_off = frozenset(_plain_date(d) for d in days_off)
        self._working_days = frozenset(_plain_date(d) for d in working_days)
        clash = self._days_off & self._working_days
        if clash:
            listed = ", ".join(d.isoformat() for d in sorted(clash))
            raise ValueError(f"dates listed both as day off and as working day: {listed}")
        self._periods = settings.periods
        self._day_length = sum((_span(s, e) for s, e in self._periods), _ZERO)
        self._years: dict[int, holidays.HolidayBase] = {}
        self._package_workdays: dict[int, frozenset[date]] = {}
        self._working: dict[date, bool] = {}

    # ----------------------------------------------------------------- days

    @property
    def minutes_per_day(self) -> int:
        """Working minutes in one full working day (480 with the default periods)."""
        return int(self._day_length.total_seconds() // 60)

    def is_working_day(self, day: date) -> bool:
        """True if ``day`` has working periods; cached because every step asks."""
        day = self._as_day(day)
        known = self._working.get(day)
        if known is None:
            known = self._compute_working(day)
            self._working[day] = known
        return known

    def holiday_name(self, day: date) -> str | None:
        """Why ``day`` is off, for display; None for working days and plain weekends."""
        day = self._as_day(day)
        if day in self._working_days:
            return None
        if day in self._days_off:
            return EXTRA_DAY_OFF_LABEL
        return self._statutory(day.year).get(day)

    def next_working_day(self, day: date) -> date:
        """First working day strictly after ``day``."""
        day = self._as_day(day) + _ONE_DAY
        while not self.is_working_day(day):
            day += _ONE_DAY
        return day

    def _compute_working(self, day: date) -> bool:
        """Apply the precedence documented in the module docstring."""
        if day in self._working_days:
            return True
        if day in self._days_off or day in self._statutory(day.year):
            return False
        if day in self._workdays_from_package(day.year):
            return True
        return day.weekday() not in _WEEKEND

    def _statutory(self, year: int) -> holidays.HolidayBase:
        """The package's holidays for one year, Vietnamese names where available."""
        found = self._years.get(year)
        if found is None:
            found = holidays.country_holidays(self.settings.country, years=year, language="vi")
            self._years[year] = found
        return found

    def _workdays_from_package(self, year: int) -> frozenset[date]:
        """Official make-up working weekend days, if this ``holidays`` version publishes them."""
        found = self._package_workdays.get(year)
        if found is None:
            known = getattr(self._statutory(year), "weekend_workdays", None) or ()
            found = frozenset(d for d in known if d.year == year)
            self._package_workdays[year] = found
        return found

    def _as_day(self, day: date) -> date:
        """Accept a date, or an aware datetime taken as its local date in our zone."""
        if isinstance(day, datetime):
            return self._local(day).date()
        return day

    # -------------------------------------------------------------- instants

    def counting_start(self, received_at: datetime) -> datetime:
        """When the clock starts for something received at ``received_at``.

        Before the cutoff on a working day the clock starts at the next working
        instant of that day (the moment itself, 08:00 if early, 13:00 if at
        lunch); at or after the cutoff, or on a day off, it starts with the
        first period of the next working day.
        """
        moment = self._local(received_at)
        day = moment.date()
        if self.is_working_day(day) and moment.time() < self.settings.cutoff:
            return self._next_working_instant(moment)
        return self._at(self.next_working_day(day), self._periods[0][0])

    def end_of_working_day(self, moment: datetime) -> datetime:
        """Close of the last period of ``moment``'s working day (or the next working day).

        Used for "same day" procedures: the due time is the close of business
        of the day the clock starts on.
        """
        day = self._local(moment).date()
        if not self.is_working_day(day):
            day = self.next_working_day(day)
        return self._at(day, self._periods[-1][1])

    def add_working_minutes(self, start: datetime, minutes: int) -> datetime:
        """``start`` plus ``minutes`` of working time.

        Landing exactly on the end of a period returns that end (12:00, 17:00);
        ``minutes == 0`` returns the next working instant at or after ``start``.
        """
        return self._advance(self._local(start), _duration(minutes, "minutes", timedelta(minutes=1)))

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """``start`` plus ``hours`` of working time (see :meth:`add_working_minutes`)."""
        return self._advance(self._local(start), _duration(hours, "hours", timedelta(hours=1)))

    def add_working_days(self, start: datetime, days: int | float) -> datetime:
        """``start`` plus ``days`` full working days' worth of working minutes.

        Counting in minutes rather than calendar days keeps the time of day:
        received Friday 10:00 with 3 working days is due on the third working
        day after at 10:00.  Fractions (0.5 day) are allowed.
        """
        return self._advance(self._local(start), _duration(days, "days", self._day_length))

    def working_minutes_between(self, a: datetime, b: datetime) -> int:
        """Whole working minutes in ``[a, b)`` (floored); 0 when ``b <= a``."""
        seconds = self._working_time_between(self._local(a), self._local(b)).total_seconds()
        return int(seconds // 60)

    def working_days_between(self, a: datetime, b: datetime) -> float:
        """Working time in ``[a, b)`` in working days (minutes / minutes per day)."""
        return self.working_minutes_between(a, b) / self.minutes_per_day

    # -------------------------------------------------------------- helpers

    def _local(self, moment: datetime) -> datetime:
        """Convert an aware datetime to the calendar's zone; refuse naive ones."""
        if not isinstance(moment, datetime):
            raise ValueError(f"expected a timezone-aware datetime, got {type(moment).__name__}")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(
                f"naive datetime {moment.isoformat()} has no timezone; "
                f"pass an aware datetime (e.g. in {self.settings.timezone})"
            )
        return moment.astimezone(self._zone)

    def _at(self, day: date, clock: time) -> datetime:
        """Aware datetime for a wall-clock time on a given day in our zone."""
        return datetime.combine(day, clock, tzinfo=self._zone)

    def _next_working_instant(self, moment: datetime) -> datetime:
        """``moment`` if it is working time, else the start of the next period."""
        day = moment.date()
        if self.is_working_day(day):
            for start, end in self._periods:
                period_start, period_end = self._at(day, start), self._at(day, end)
                if moment < period_end:
                    return max(moment, period_start)
        return self._at(self.next_working_day(day), self._periods[0][0])

    def _advance(self, moment: datetime, remaining: timedelta) -> datetime:
        """Walk forward consuming ``remaining`` working time, whole days at a time."""
        if remaining <= _ZERO:
            return self._next_working_instant(moment)
        self._check_reachable(moment, remaining)
        landed, remaining = self._consume_day(moment, remaining)
        if landed is not None:
            return landed
        try:
            return self._walk_days(moment.date() + _ONE_DAY, remaining)
        except OverflowError as exc:
            raise ValueError(f"adding {remaining} of working time goes past the year 9999") from exc

    def _walk_days(self, day: date, remaining: timedelta) -> datetime:
        """From the start of ``day``, skip whole working days, then land inside the last one."""
        while True:
            if self.is_working_day(day):
                if remaining > self._day_length:
                    remaining -= self._day_length
                else:
                    landed, remaining = self._consume_day(self._at(day, self._periods[0][0]), remaining)
                    if landed is not None:
                        return landed
            day += _ONE_DAY

    def _check_reachable(self, moment: datetime, remaining: timedelta) -> None:
        """Refuse amounts whose result could not fit in a datetime, before walking toward it.

        Each calendar day holds at most one day's working time, so the answer
        is at least ``remaining / day length`` calendar days away.
        """
        at_least = math.ceil(remaining / self._day_length)
        if at_least > (date.max - moment.date()).days - 1:
            raise ValueError(f"adding {remaining} of working time goes past the year 9999")

    def _consume_day(self, moment: datetime, remaining: timedelta) -> tuple[datetime | None, timedelta]:
        """Spend working time from ``moment`` to the day's close.

        Returns the landing instant if ``remaining`` runs out today (ending
        exactly on a period's end lands on that end), else None and what is left.
        """
        day = moment.date()
        if not self.is_working_day(day):
            return None, remaining
        for start, end in self._periods:
            period_start, period_end = self._at(day, start), self._at(day, end)
            if period_end <= moment:
                continue
            begin = max(moment, period_start)
            available = period_end - begin
            if remaining <= available:
                return begin + remaining, _ZERO
            remaining -= available
        return None, remaining

    def _working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time in ``[a, b)``, full interior days counted without looking at periods."""
        if b <= a:
            return _ZERO
        first, last = a.date(), b.date()
        if first == last:
            return self._overlap_on(first, a, b)
        total = self._overlap_on(first, a, b) + self._overlap_on(last, a, b)
        day = first + _ONE_DAY
        while day < last:
            if self.is_working_day(day):
                total += self._day_length
            day += _ONE_DAY
        return total

    def _overlap_on(self, day: date, a: datetime, b: datetime) -> timedelta:
        """Working time of ``day`` that falls inside ``[a, b)``."""
        if not self.is_working_day(day):
            return _ZERO
        total = _ZERO
        for start, end in self._periods:
            begin = max(a, self._at(day, start))
            finish = min(b, self._at(day, end))
            if finish > begin:
                total += finish - begin
        return total


def _duration(amount: float, unit: str, per_unit: timedelta) -> timedelta:
    """Turn a non-negative amount of ``unit`` into a timedelta; negative or NaN is a caller bug."""
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        raise ValueError(f"{unit} must be a number, got {type(amount).__name__}")
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"{unit} must be a finite number >= 0, got {amount!r}")
    try:
        return per_unit * amount
    except OverflowError as exc:
        raise ValueError(f"{unit}={amount!r} is too large for a calendar") from exc


def _plain_date(day: date) -> date:
    """Normalise a table entry to a plain date (a datetime would never match a day)."""
    if isinstance(day, datetime):
        raise ValueError(f"days_off / working_days take dates, not datetimes: {day!r}")
    if not isinstance(day, date):
        raise ValueError(f"days_off / working_days take dates, got {type(day).__name__}")
    return day


def _load_zone(name: str) -> ZoneInfo:
    """Load the calendar's zone, reporting a typo as a plain ValueError."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc
