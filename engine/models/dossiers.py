"""Dossiers and everything that happens to them.

The dossier row carries a version column for optimistic locking: two users
acting on the same dossier at once cannot both commit. Open human tasks,
handoffs, pauses, extensions and events are rows of their own so that an
inbox, a tracking slip or an indicator is an indexed query, never a walk
through workflow state.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from engine.models.base import Base, JsonType, UTCDateTime
from engine.models.organisation import Jurisdiction, Unit, User
from engine.models.procedures import ProcedureVersion


class DossierStatus(StrEnum):
    PROCESSING = "processing"  # đang xử lý
    AWAITING_SUPPLEMENT = "awaiting_supplement"  # chờ bổ sung
    AWAITING_RETURN = "awaiting_return"  # có kết quả, chờ trả
    RETURNED = "returned"  # đã trả kết quả
    REFUSED = "refused"  # từ chối giải quyết
    WITHDRAWN = "withdrawn"  # công dân rút hồ sơ

    @property
    def is_open(self) -> bool:
        return self in (DossierStatus.PROCESSING, DossierStatus.AWAITING_SUPPLEMENT)

    @property
    def is_final(self) -> bool:
        return self in (DossierStatus.RETURNED, DossierStatus.REFUSED, DossierStatus.WITHDRAWN)


class TaskState(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class Timing(StrEnum):
    """Result against a due date, as on the tracking slip and in the indicators."""

    EARLY = "early"  # trước hạn
    ON_TIME = "on_time"  # đúng hạn
    LATE = "late"  # quá hạn


class Dossier(Base):
    __tablename__ = "dossier"
    __table_args__ = (
        Index("ix_dossier_receiving_unit_received", "receiving_unit_id", "received_at"),
        Index("ix_dossier_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    procedure_version_id: Mapped[int] = mapped_column(ForeignKey("procedure_version.id"), index=True)
    jurisdiction_id: Mapped[int] = mapped_column(ForeignKey("jurisdiction.id"), index=True)
    receiving_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    channel: Mapped[str] = mapped_column(String(16), default="counter")

    applicant_name: Mapped[str] = mapped_column(String(200))
    applicant_id_number: Mapped[str] = mapped_column(String(20), default="")
    applicant_phone: Mapped[str] = mapped_column(String(20), default="")
    applicant_address: Mapped[str] = mapped_column(String(300), default="")
    applicant_email: Mapped[str] = mapped_column(String(200), default="")

    status: Mapped[str] = mapped_column(String(24), default=DossierStatus.PROCESSING)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    counting_from: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    original_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_minutes: Mapped[int] = mapped_column(Integer, default=0)
    supplement_requests: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    result_timing: Mapped[str | None] = mapped_column(String(10))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rating: Mapped[int | None] = mapped_column(Integer)

    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    lane_units: Mapped[dict[str, int]] = mapped_column(JsonType, default=dict)
    state: Mapped[dict[str, Any] | None] = deferred(mapped_column(JsonType))
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __mapper_args__: ClassVar[dict[str, Any]] = {"version_id_col": version}

    procedure_version: Mapped[ProcedureVersion] = relationship()
    jurisdiction: Mapped[Jurisdiction] = relationship()
    receiving_unit: Mapped[Unit] = relationship(foreign_keys=[receiving_unit_id])
    received_by: Mapped[User | None] = relationship(foreign_keys=[received_by_id])
    components: Mapped[list[DossierComponent]] = relationship(
        back_populates="dossier", cascade="all, delete-orphan", order_by="DossierComponent.id"
    )

    @property
    def extended(self) -> bool:
        return self.original_due_at is not None

    @property
    def paused(self) -> bool:
        return self.paused_since is not None


class DossierComponent(Base):
    """One paper of the dossier as ticked at the counter."""

    __tablename__ = "dossier_component"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    copies: Mapped[int] = mapped_column(Integer, default=1)
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    received: Mapped[bool] = mapped_column(Boolean, default=False)

    dossier: Mapped[Dossier] = relationship(back_populates="components")


class Task(Base):
    """A human step: open rows are the inboxes, done rows the step history."""

    __tablename__ = "task"
    __table_args__ = (
        Index("ix_task_inbox", "unit_id", "state", "due_at"),
        Index("ix_task_dossier_state", "dossier_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id", ondelete="CASCADE"))
    spiff_id: Mapped[str] = mapped_column(String(36))
    step: Mapped[str] = mapped_column(String(200))
    step_name: Mapped[str] = mapped_column(String(300))
    lane: Mapped[str] = mapped_column(String(200), default="")
    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"))
    state: Mapped[str] = mapped_column(String(10), default=TaskState.OPEN)
    clock_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    working_minutes: Mapped[int | None] = mapped_column(Integer)

    dossier: Mapped[Dossier] = relationship()
    unit: Mapped[Unit] = relationship()
    claimed_by: Mapped[User | None] = relationship(foreign_keys=[claimed_by_id])
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])


class Handoff(Base):
    """One line of the tracking slip (form 05): a unit's stint with the dossier."""

    __tablename__ = "handoff"
    __table_args__ = (Index("ix_handoff_dossier_seq", "dossier_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    from_unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    to_unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), index=True)
    handed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    handed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    timing: Mapped[str | None] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(String(300), default="")

    from_unit: Mapped[Unit | None] = relationship(foreign_keys=[from_unit_id])
    to_unit: Mapped[Unit] = relationship(foreign_keys=[to_unit_id])
    handed_by: Mapped[User | None] = relationship(foreign_keys=[handed_by_id])
    received_by: Mapped[User | None] = relationship(foreign_keys=[received_by_id])


class Pause(Base):
    """Time the clock stood still: a supplement request or a paused-clock step."""

    __tablename__ = "pause"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "supplement" or "step"
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    working_minutes: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text, default="")
    missing: Mapped[list] = mapped_column(JsonType, default=list)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))

    task: Mapped[Task | None] = relationship()


class Extension(Base):
    """The one allowed reset of the return date, with the apology (form 04)."""

    __tablename__ = "extension"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("unit.id"))
    reason: Mapped[str] = mapped_column(Text)
    old_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    new_due_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Event(Base):
    """Append-only log of every action on a dossier."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_dossier_id", "dossier_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dossier_id: Mapped[int] = mapped_column(ForeignKey("dossier.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))
    detail: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)

    actor: Mapped[User | None] = relationship()


class CodeSequence(Base):
    """Daily dossier-number counter per receiving unit, bumped atomically."""

    __tablename__ = "code_sequence"

    unit_id: Mapped[int] = mapped_column(ForeignKey("unit.id"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)

