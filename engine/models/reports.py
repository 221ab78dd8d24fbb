"""What the reports keep beside the dossiers: a per-day rollup of closed dossiers and indexes.

A dossier that is returned, refused or withdrawn (``closed_at`` set) never
changes again, so its figures can be added once to ``report_day`` (one row
per local day of receipt, receiving unit, jurisdiction and procedure
version) and never recounted. Reports read the rollup for closed dossiers
and count the rest (open, waiting to be returned, closed in the last few
minutes) live; ``report_watermark`` says up to which ``closed_at`` the
rollup is complete. See ``engine.rollup``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, UTCDateTime
from engine.models.dossiers import Dossier, Task

ROLLUP_COUNTS = ("received", "finished", "early", "on_time", "late", "refused", "withdrawn", "online", "counter",
                 "post", "rated", "complaint", "rating_sum", "days_n")


class ReportDay(Base):
    __tablename__ = "report_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)  # local day of receipt
    receiving_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), primary_key=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction.id"), primary_key=True)
    procedure_version_id: Mapped[int] = mapped_column(ForeignKey("procedure_version.id"), primary_key=True)
    received: Mapped[int] = mapped_column(Integer, default=0)
    finished: Mapped[int] = mapped_column(Integer, default=0)
    early: Mapped[int] = mapped_column(Integer, default=0)
    on_time: Mapped[int] = mapped_column(Integer, default=0)
    late: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    withdrawn: Mapped[int] = mapped_column(Integer, default=0)
    online: Mapped[int] = mapped_column(Integer, default=0)
    counter: Mapped[int] = mapped_column(Integer, default=0)
    post: Mapped[int] = mapped_column(Integer, default=0)
    rated: Mapped[int] = mapped_column(Integer, default=0)
    complaint: Mapped[int] = mapped_column(Integer, default=0)
    rating_sum: Mapped[int] = mapped_column(Integer, default=0)
    days_n: Mapped[int] = mapped_column(Integer, default=0)  # finished dossiers with a working-day count
    days_sum: Mapped[float] = mapped_column(Float, default=0.0)  # their working days, pauses excluded


class ReportWatermark(Base):
    """One row: dossiers closed before ``closed_before`` are in ``report_day``."""

    __tablename__ = "report_watermark"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    closed_before: Mapped[datetime] = mapped_column(UTCDateTime)


OPEN_ONLY = text("status IN ('processing', 'awaiting_supplement')")
NOT_CLOSED = text("closed_at IS NULL")
OPEN_TASK = text("state = 'open'")
# Everything the live part of a report reads, so PostgreSQL answers it from the index alone.
LIVE_COLUMNS = ("id", "status", "receiving_unit_id", "jurisdiction_id", "procedure_version_id", "channel", "due_at",
                "paused_since", "finished_at", "result_timing", "supplement_requests", "original_due_at", "rating",
                "counting_from", "paused_minutes")

REPORT_INDEXES = (
    Index("ix_dossier_received_at", Dossier.received_at),
    Index("ix_dossier_closed_at", Dossier.closed_at),
    # the live part of every report (not yet closed) and the oldest open dossiers, small partial indexes
    Index("ix_dossier_unclosed_received", Dossier.received_at, postgresql_where=NOT_CLOSED, sqlite_where=NOT_CLOSED,
          postgresql_include=list(LIVE_COLUMNS)),
    Index("ix_dossier_open_received", Dossier.received_at, postgresql_where=OPEN_ONLY, sqlite_where=OPEN_ONLY),
    # which unit holds each open dossier (the overdue ranking), without visiting the task rows
    Index("ix_task_open_dossier", Task.dossier_id, postgresql_where=OPEN_TASK, sqlite_where=OPEN_TASK,
          postgresql_include=["unit_id"]),
)
