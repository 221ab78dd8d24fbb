"""The engine's tables, as SQLAlchemy 2.0 typed models.

Import models from here; each submodule holds one area of the domain.
"""

from engine.models.accounts import ApiToken, RateBucket
from engine.models.attachments import Attachment
from engine.models.base import Base
from engine.models.calendar import CalendarDay
from engine.models.deadlines import DueWork, MailOutbox, Notification
from engine.models.dossiers import (
    CodeSequence,
    Dossier,
    DossierComponent,
    DossierStatus,
    Event,
    Extension,
    Handoff,
    Pause,
    Task,
    TaskState,
    Timing,
)
from engine.models.drafts import ProcedureDraft
from engine.models.organisation import ROLES, Jurisdiction, Unit, User, UserRole
from engine.models.procedures import Procedure, ProcedureVersion
from engine.models.reports import ReportDay, ReportWatermark

__all__ = [
    "ROLES",
    "ApiToken",
    "Attachment",
    "Base",
    "CalendarDay",
    "CodeSequence",
    "Dossier",
    "DossierComponent",
    "DossierStatus",
    "DueWork",
    "Event",
    "Extension",
    "Handoff",
    "Jurisdiction",
    "MailOutbox",
    "Notification",
    "Pause",
    "Procedure",
    "ProcedureDraft",
    "ProcedureVersion",
    "RateBucket",
    "ReportDay",
    "ReportWatermark",
    "Task",
    "TaskState",
    "Timing",
    "Unit",
    "User",
    "UserRole",
]
