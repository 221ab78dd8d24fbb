"""Designers' unfinished procedures.

A draft is the BPMN text exactly as the modeler wrote it (foreign extensions
and diagram data included); it becomes a procedure version only when it is
deployed. Drafts are shared by the designers of the installation.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, UTCDateTime


class ProcedureDraft(Base):
    __tablename__ = "procedure_draft"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    procedure_code: Mapped[str] = mapped_column(String(40), default="", index=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    base_version_id: Mapped[int | None] = mapped_column(ForeignKey("procedure_version.id"))
    file_name: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # Bumped on every save: a page that saves over a newer save is refused (optimistic lock).
    revision: Mapped[int] = mapped_column(Integer, default=1)
