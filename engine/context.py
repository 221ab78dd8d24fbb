"""What every engine operation needs: database, clock, settings, caches.

A plain holder, built once per process by a client (web app, CLI, worker)
and passed to the operations; it holds no domain logic of its own.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import CalendarSettings, WorkCalendar
from engine.clock import Clock, SystemClock
from engine.database import Database
from engine.models import CalendarDay
from engine.settings import Settings, load_settings
from engine.specs import SpecCache


class CalendarSource:
    """The working calendar with the administrator's extra days, reloaded every ``ttl`` seconds.

    Several processes share one database, so an edit made in one must reach
    the others without a restart; a short TTL does that cheaply.
    """

    def __init__(self, settings: CalendarSettings, ttl: float = 60.0) -> None:
        self._settings = settings
        self._ttl = ttl
        self._lock = threading.Lock()
        self._calendar: WorkCalendar | None = None
        self._loaded_at = 0.0

    def get(self, session: Session) -> WorkCalendar:
        with self._lock:
            if self._calendar is None or time.monotonic() - self._loaded_at > self._ttl:
                rows = session.scalars(select(CalendarDay)).all()
                self._calendar = WorkCalendar(
                    self._settings,
                    days_off=[r.day for r in rows if r.kind == "off"],
                    working_days=[r.day for r in rows if r.kind == "work"],
                )
                self._loaded_at = time.monotonic()
            return self._calendar

    def invalidate(self) -> None:
        with self._lock:
            self._calendar = None


@dataclass
class Context:
    db: Database
    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    specs: SpecCache = field(default_factory=SpecCache)
    calendars: CalendarSource | None = None

    def __post_init__(self) -> None:
        if self.calendars is None:
            self.calendars = CalendarSource(self.settings.calendar)

    def calendar(self, session: Session) -> WorkCalendar:
        assert self.calendars is not None
        return self.calendars.get(session)


def make_context(settings: Settings | None = None, clock: Clock | None = None, **engine_kwargs) -> Context:
    settings = settings or load_settings()
    return Context(
        db=Database(settings.database_url, **engine_kwargs), settings=settings, clock=clock or SystemClock()
    )
