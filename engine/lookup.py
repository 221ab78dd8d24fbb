"""What a citizen may see of a dossier: its progress, never anyone's personal data.

The pair (dossier code, last four digits of the applicant's phone) is the
key. A wrong pair and an unknown code give the same answer, so the lookup
cannot be used to test which codes exist.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import Dossier, Pause, Task, TaskState, Unit


def N_(text: str) -> str:
    """Marks a text for the web's message catalog (babel.cfg extracts it); translated where shown."""
    return text


STATUS_TEXT = {
    "processing": N_("Đang giải quyết"),
    "awaiting_supplement": N_("Đang chờ công dân bổ sung hồ sơ"),
    "awaiting_return": N_("Đã có kết quả, mời công dân đến nhận"),
    "returned": N_("Đã trả kết quả"),
    "refused": N_("Hồ sơ bị từ chối giải quyết"),
    "withdrawn": N_("Công dân đã rút hồ sơ"),
}


@dataclass(frozen=True)
class PublicView:
    code: str
    procedure: str
    status: str
    status_text: str
    received_at: datetime
    due_at: datetime
    current_steps: tuple[tuple[str, str], ...]  # (step name, unit name)
    missing: tuple[str, ...]
    supplement_reason: str
    returned_at: datetime | None
    receiving_unit: str
    answer: str = ""  # citizen feedback (PAKN-01): the unit's answer, personal data blanked


PHONE4_RE = re.compile(r"[0-9]{4}")
CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _phone_tail(phone: str) -> str:
    digits = "".join(c for c in phone if c in "0123456789")
    return digits[-4:]


def find(session: Session, code: str, phone4: str) -> PublicView | None:
    """The public view of ``code`` if ``phone4`` matches the applicant's phone, else None."""
    code = (code or "").strip()
    phone4 = (phone4 or "").strip()
    if not PHONE4_RE.fullmatch(phone4) or not CODE_RE.fullmatch(code):
        return None
    dossier = session.scalar(select(Dossier).where(Dossier.code == code))
    tail = _phone_tail(dossier.applicant_phone) if dossier else "----"
    if dossier is None or len(tail) != 4 or not hmac.compare_digest(tail, phone4):
        return None
    return _view(session, dossier)


def _view(session: Session, dossier: Dossier) -> PublicView:
    steps = session.execute(
        select(Task.step_name, Unit.name).join(Unit, Task.unit_id == Unit.id)
        .where(Task.dossier_id == dossier.id, Task.state == TaskState.OPEN).order_by(Task.id)
    ).all()
    pause = None
    if dossier.status == "awaiting_supplement":
        pause = session.scalar(select(Pause).where(Pause.dossier_id == dossier.id, Pause.kind == "supplement")
                               .order_by(Pause.id.desc()))
    fields = {"status_text": STATUS_TEXT.get(dossier.status, dossier.status)} | _feedback_fields(dossier)
    return PublicView(
        code=dossier.code, procedure=dossier.procedure_version.name, status=dossier.status,
        received_at=dossier.received_at,
        due_at=dossier.due_at, current_steps=tuple((s, u) for s, u in steps),
        missing=tuple(pause.missing) if pause else (), supplement_reason=pause.reason if pause else "",
        returned_at=dossier.closed_at if dossier.status == "returned" else None,
        receiving_unit=dossier.receiving_unit.name, **fields,
    )


def _feedback_fields(dossier: Dossier) -> dict:
    """A feedback case shows the answer instead of a result to collect."""
    from engine import feedback

    if not feedback.is_feedback(dossier):
        return {}
    answer = feedback.public_answer(dossier)
    fields = {"answer": answer}
    if answer:
        fields["status_text"] = N_("Đã trả lời phản ánh, kiến nghị")
    return fields
