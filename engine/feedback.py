"""Citizen feedback (phản ánh, kiến nghị): received without sign-in, run as procedure PAKN-01.

A feedback case is a dossier of the feedback procedure, so it gets a code,
a 15-working-day due date, steps in the responsible unit's inbox, a
tracking slip and an event log like any dossier. The procedure's lane takes
its unit from the data (``responsible_unit``): the unit the citizen names,
or the People's Committee leadership when the feedback is about a counter
or about a dossier (the head is accountable for the one-stop shop). The
answer recorded at the last step is shown on the public lookup with the
citizen's own details blanked out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import events
from engine.codes import format_code, next_sequence
from engine.context import Context
from engine.deployment import compiled_version, version_in_effect
from engine.directory import resolve_lane
from engine.errors import FormError, InvalidInput, Problem
from engine.indicators import FEEDBACK_CODE
from engine.models import Dossier, DossierComponent, DossierStatus, Unit
from engine.receipt import EMAIL_RE, PHONE_RE, due_date
from engine.runtime import Mover, new_workflow, run_engine
from engine.text import clean_text

LEADERSHIP = "lanh_dao"
COUNTER = "mot_cua"
ANSWER_KEY = "noi_dung_tra_loi"
MIN_CONTENT = 10
MAX_CONTENT = 5_000
CODE_PREFIX = "PAKN"


@dataclass(frozen=True)
class Submission:
    """What the public form sends; ``about_dossier`` or ``about_unit`` names the subject."""

    content: str
    phone: str
    name: str = ""
    email: str = ""
    about_dossier: str = ""
    about_unit: str = ""


def _check(sub: Submission) -> tuple[str, str, str, str]:
    problems = []
    content = name = email = ""
    try:
        content = clean_text(sub.content, "content", "The feedback", MAX_CONTENT, required=True)
        if len(content) < MIN_CONTENT:
            problems.append(Problem(f"Write at least {MIN_CONTENT} characters", "content"))
    except FormError as exc:
        problems.extend(exc.problems)
    phone = (sub.phone or "").replace(" ", "").replace(".", "")
    if not PHONE_RE.match(phone):
        problems.append(Problem("Phone number must have 9 to 12 digits", "phone"))
    try:
        name = clean_text(sub.name, "name", "The name", 200)
        email = clean_text(sub.email, "email", "The e-mail", 200)
    except FormError as exc:
        problems.extend(exc.problems)
    if email and not EMAIL_RE.match(email):
        problems.append(Problem("E-mail address is not valid", "email"))
    if bool(sub.about_dossier) == bool(sub.about_unit):
        problems.append(Problem("Name either a dossier or a unit", "about"))
    if problems:
        raise FormError("The feedback cannot be sent", problems)
    return content, phone, name, email


def responsible_unit(session: Session, sub: Submission) -> tuple[Unit, str]:
    """The unit that must answer, and the dossier code the feedback is about (if any)."""
    if sub.about_dossier:
        code = sub.about_dossier.strip()[:64]
        dossier = session.scalar(select(Dossier).where(Dossier.code == code))
        if dossier is None:
            raise InvalidInput("No dossier has this code", [Problem("Unknown dossier code", "about_dossier")])
        return _leadership(session, dossier.receiving_unit), code
    unit = session.scalar(select(Unit).where(Unit.code == sub.about_unit.strip()[:40]))
    if unit is None:
        raise InvalidInput("Unknown unit", [Problem("Unknown unit", "about_unit")])
    return (_leadership(session, unit) if unit.type == COUNTER else unit), ""


def _leadership(session: Session, unit: Unit) -> Unit:
    leader = session.scalar(select(Unit).where(Unit.jurisdiction_id == unit.jurisdiction_id,
                                               Unit.type == LEADERSHIP).order_by(Unit.code).limit(1))
    return leader or unit


def submit(ctx: Context, session: Session, sub: Submission) -> Dossier:
    """Register the feedback and start PAKN-01 in the responsible unit; returns the case."""
    content, phone, name, email = _check(sub)
    unit, about_code = responsible_unit(session, sub)
    now = ctx.clock.now()
    version = version_in_effect(session, FEEDBACK_CODE, now)
    compiled = compiled_version(ctx, version)
    data = {"responsible_unit": unit.code, "noi_dung_phan_anh": content}
    if about_code:
        data["ve_ho_so"] = about_code
    lanes = {step.lane for step in compiled.steps.values() if step.lane}
    lane_units = {name_: resolve_lane(session, unit.jurisdiction, compiled.lanes[name_], data).id
                  for name_ in sorted(lanes)}
    calendar = ctx.calendar(session)
    day = now.astimezone(ZoneInfo(calendar.settings.timezone)).date()
    counting_from = calendar.counting_start(now)
    case = Dossier(
        code=format_code(f"{CODE_PREFIX}-{unit.code}", day, next_sequence(session, unit.id, day)),
        procedure_version_id=version.id, jurisdiction_id=unit.jurisdiction_id, receiving_unit_id=unit.id,
        received_by_id=None, channel="online", applicant_name=name, applicant_phone=phone,
        applicant_email=email, status=DossierStatus.PROCESSING, received_at=now, counting_from=counting_from,
        due_at=due_date(calendar, counting_from, compiled.info.time_limit_days), data=data,
        lane_units=lane_units,
        components=[DossierComponent(name=c.name, copies=c.copies, required=c.required, received=c.required)
                    for c in compiled.info.components],
    )
    session.add(case)
    session.flush()
    workflow = new_workflow(compiled, data)
    run_engine(workflow)
    Mover(session, case, compiled, calendar, now, None).sync(workflow, from_unit_id=None)
    events.record(session, case, "received", now, None, procedure=FEEDBACK_CODE, version=version.version,
                  channel="online")
    return case


def is_feedback(dossier: Dossier) -> bool:
    return dossier.procedure_version.procedure.code == FEEDBACK_CODE


PHONE_LIKE = re.compile(r"\+?\d[\d .]{7,14}\d")
EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
HIDDEN = "***"


def public_answer(dossier: Dossier) -> str:
    """The unit's answer as the citizen may see it publicly: no name, phone, e-mail or ID number."""
    if dossier.finished_at is None:
        return ""
    text = str((dossier.data or {}).get(ANSWER_KEY) or "")
    for secret in (dossier.applicant_name, dossier.applicant_id_number, dossier.applicant_email,
                   dossier.applicant_phone):
        if secret and len(secret) >= 2:
            text = re.sub(re.escape(secret), HIDDEN, text, flags=re.IGNORECASE)
    text = EMAIL_LIKE.sub(HIDDEN, text)
    return PHONE_LIKE.sub(HIDDEN, text)
