"""Days an administrator adds on top of the statutory calendar."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base


class CalendarDay(Base):
    """An extra day off (bridge day) or a make-up working day (e.g. a Saturday)."""

    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "off" or "work"
    note: Mapped[str] = mapped_column(String(200), default="")
