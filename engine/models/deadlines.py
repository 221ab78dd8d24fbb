"""Work that falls due at a moment, the notifications it produces and the mail it sends.

``due_work`` is the worker's agenda: one row per thing to do at a moment
(fire a BPMN timer, remind a unit, escalate to a leader, send a digest).
The unique ``(kind, reference)`` key makes planning idempotent: planning
the same thing twice inserts nothing. A row is finished by setting
``done_at`` in the same transaction as everything its handler wrote, so a
worker killed half-way leaves the row pending and the work undone.

A notification belongs to one user; ``(due_work_id, user_id)`` is unique,
so a handler run twice cannot notify anyone twice. E-mail goes through
``mail_outbox``: rows written with the notification, marked sent after the
SMTP call (a crash between the two resends that one mail, never loses it).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.models.base import Base, UTCDateTime
from engine.models.organisation import User


class DueWork(Base):
    """One thing the worker must do once, at or after ``due_at``."""

    __tablename__ = "due_work"
    __table_args__ = (
        UniqueConstraint("kind", "reference"),
        Index("ix_due_work_pending", "done_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    reference: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(24), default="")


class Notification(Base):
    """A message in one user's bell; Vietnamese text written when it was created."""

    __tablename__ = "notification"
    __table_args__ = (
        UniqueConstraint("due_work_id", "user_id"),
        Index("ix_notification_user_read", "user_id", "read_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    due_work_id: Mapped[int | None] = mapped_column(ForeignKey("due_work.id", ondelete="SET NULL"))
    dossier_id: Mapped[int | None] = mapped_column(ForeignKey("dossier.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


class MailOutbox(Base):
    """An e-mail waiting for (or done with) its SMTP call.

    ``lease_until`` lets several workers share the outbox without holding a
    database lock during the network call: a worker leases a row, sends,
    then marks it sent; a lease left by a crashed worker runs out and the
    mail is tried again.
    """

    __tablename__ = "mail_outbox"
    __table_args__ = (Index("ix_mail_outbox_pending", "sent_at", "lease_until"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification.id", ondelete="SET NULL"), unique=True)
    to_address: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
