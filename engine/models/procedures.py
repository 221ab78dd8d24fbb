"""Procedures and their deployed versions.

The BPMN source is stored once per version; the parsed spec lives in the
per-process cache (engine.specs) and never inside a dossier's state.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.models.base import Base, JsonType, UTCDateTime


class Procedure(Base):
    __tablename__ = "procedure"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    field: Mapped[str] = mapped_column(String(200), default="")

    versions: Mapped[list[ProcedureVersion]] = relationship(
        back_populates="procedure", order_by="ProcedureVersion.version"
    )


class ProcedureVersion(Base):
    __tablename__ = "procedure_version"
    __table_args__ = (UniqueConstraint("procedure_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure_id: Mapped[int] = mapped_column(ForeignKey("procedure.id"))
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    process_id: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))
    time_limit_days: Mapped[float] = mapped_column(Float)
    components: Mapped[list] = mapped_column(JsonType, default=list)
    source: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    sha256: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(300), default="")
    note: Mapped[str] = mapped_column(Text, default="")

    procedure: Mapped[Procedure] = relationship(back_populates="versions")
