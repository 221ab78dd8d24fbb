"""Receiving a dossier at the counter (tiếp nhận): checks, code, deadline, first handoff."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from engine import access, events
from engine.calendar import WorkCalendar
from engine.codes import next_dossier_code
from engine.context import Context
from engine.deployment import compiled_version, version_in_effect
from engine.directory import ancestry, get_jurisdiction, resolve_lane
from engine.errors import FormError, InvalidInput, OrganisationError, Problem
from engine.models import Dossier, DossierComponent, DossierStatus, Jurisdiction, Unit, User
from engine.runtime import Mover, new_workflow, run_engine
from engine.specs import CompiledProcedure
from engine.text import text_problem

CHANNELS = ("counter", "online", "post")
ID_NUMBER_RE = re.compile(r"^(\d{9}|\d{12})$")
PHONE_RE = re.compile(r"^\+?\d{9,12}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
MAX_DATA_KEYS = 50
MAX_VALUE_CHARS = 10_000


@dataclass(frozen=True)
class Applicant:
    name: str
    id_number: str = ""
    phone: str = ""
    address: str = ""
    email: str = ""

    @classmethod
    def from_mapping(cls, raw: Any) -> Applicant:
        if not isinstance(raw, Mapping):
            raise FormError(
                "The applicant must be given as an object", [Problem("Missing applicant", "applicant")]
            )
        unknown = set(raw) - {"name", "id_number", "phone", "address", "email"}
        problems = [Problem(f"Unknown applicant field '{k}'", f"applicant.{k}") for k in sorted(unknown)]
        values = {}
        for key in ("name", "id_number", "phone", "address", "email"):
            value = raw.get(key, "")
            if value is None:
                value = ""
            if not isinstance(value, str):
                problems.append(Problem(f"Applicant {key} must be text", f"applicant.{key}"))
                value = ""
            values[key] = value.strip()
        values["phone"] = values["phone"].replace(" ", "").replace(".", "")
        if problems:
            raise FormError("The applicant's details are not valid", problems)
        return cls(**values)

    def problems(self) -> list[Problem]:
        out = []
        for key, label, limit in FIELD_LIMITS:
            problem = text_problem(getattr(self, key), label, limit)
            if problem:
                out.append(Problem(problem, f"applicant.{key}"))
        if not self.name:
            out.append(Problem("The applicant's name is required", "applicant.name"))
        if self.id_number and not ID_NUMBER_RE.match(self.id_number):
            out.append(Problem("ID number must have 9 or 12 digits", "applicant.id_number"))
        if self.phone and not PHONE_RE.match(self.phone):
            out.append(Problem("Phone number must have 9 to 12 digits", "applicant.phone"))
        if self.email and not EMAIL_RE.match(self.email):
            out.append(Problem("E-mail address is not valid", "applicant.email"))
        return out


FIELD_LIMITS = (("name", "The applicant's name", 200), ("id_number", "The ID number", 20),
                ("phone", "The phone number", 20), ("address", "The address", 300), ("email", "The e-mail", 200))


def receive(
    ctx: Context,
    session: Session,
    *,
    actor: User,
    procedure_code: str,
    applicant: Applicant | Mapping[str, Any],
    jurisdiction_code: str | None = None,
    components: Sequence[str] | None = None,
    data: Mapping[str, Any] | None = None,
    channel: str = "counter",
) -> Dossier:
    """Register a complete dossier and start its procedure.

    ``components`` are the names of the papers handed in (all of them when
    None). Every lane of the procedure is resolved to a unit now, so a
    missing unit is an error at the counter rather than a stuck dossier.
    """
    access.require_role(actor, "clerk")
    now = ctx.clock.now()
    person = applicant if isinstance(applicant, Applicant) else Applicant.from_mapping(applicant)
    version = version_in_effect(session, procedure_code, now)
    compiled = compiled_version(ctx, version)
    clean_data = _check_data(data or {})
    problems = person.problems() + _check_channel(channel)
    ticked = _check_components(compiled, components, problems)
    if problems:
        raise FormError("The dossier cannot be received", problems)
    jurisdiction = _jurisdiction(session, actor, jurisdiction_code)
    lane_units = _resolve_lanes(session, compiled, jurisdiction, clean_data)
    _check_units_in_area(session, actor, lane_units)
    calendar = ctx.calendar(session)
    tz = ZoneInfo(calendar.settings.timezone)
    counting_from = calendar.counting_start(now)
    dossier = Dossier(
        code=next_dossier_code(session, actor.unit, now.astimezone(tz).date()),
        procedure_version_id=version.id,
        jurisdiction_id=jurisdiction.id,
        receiving_unit_id=actor.unit_id,
        received_by_id=actor.id,
        channel=channel,
        applicant_name=person.name,
        applicant_id_number=person.id_number,
        applicant_phone=person.phone,
        applicant_address=person.address,
        applicant_email=person.email,
        status=DossierStatus.PROCESSING,
        received_at=now,
        counting_from=counting_from,
        due_at=due_date(calendar, counting_from, compiled.info.time_limit_days),
        data=clean_data,
        lane_units=lane_units,
        components=[
            DossierComponent(name=c.name, copies=c.copies, required=c.required, received=c.name in ticked)
            for c in compiled.info.components
        ],
    )
    session.add(dossier)
    session.flush()
    workflow = new_workflow(compiled, clean_data)
    run_engine(workflow)
    mover = Mover(session, dossier, compiled, calendar, now, actor)
    mover.sync(workflow, from_unit_id=actor.unit_id)
    events.record(session, dossier, "received", now, actor, procedure=procedure_code, version=version.version)
    return dossier


def due_date(calendar: WorkCalendar, counting_from, limit_days: float):
    """``limit_days`` working days from the start of counting; 0 means the same working day."""
    if limit_days <= 0:
        return calendar.end_of_working_day(counting_from)
    return calendar.add_working_minutes(counting_from, round(limit_days * calendar.minutes_per_day))


def _check_channel(channel: str) -> list[Problem]:
    if channel not in CHANNELS:
        return [Problem(f"Channel must be one of {', '.join(CHANNELS)}", "channel")]
    return []


def _check_components(
    compiled: CompiledProcedure, components: Sequence[str] | None, problems: list[Problem]
) -> set[str]:
    known = {c.name for c in compiled.info.components}
    if components is None:
        return known
    if isinstance(components, str) or not all(isinstance(c, str) for c in components):
        problems.append(Problem("Components must be a list of component names", "components"))
        return set()
    ticked = set(components)
    problems.extend(
        Problem(f"'{name}' is not a component of this procedure", "components")
        for name in sorted(ticked - known)
    )
    missing = [c.name for c in compiled.info.components if c.required and c.name not in ticked]
    if missing:
        problems.append(Problem("Required components are missing: " + "; ".join(missing), "components"))
    return ticked & known


def _check_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Initial data: flat JSON scalars under identifier keys, bounded in size."""
    if not isinstance(data, Mapping):
        raise FormError("Data must be an object", [Problem("Data must be an object", "data")])
    problems = []
    if len(data) > MAX_DATA_KEYS:
        problems.append(Problem(f"At most {MAX_DATA_KEYS} data fields are accepted", "data"))
    for key, value in data.items():
        if not isinstance(key, str) or not KEY_RE.match(key):
            problems.append(Problem(f"Data key {key!r} is not a valid name", "data"))
        elif value is not None and not isinstance(value, str | int | float | bool):
            problems.append(Problem(f"Data '{key}' must be text, a number or true/false", f"data.{key}"))
        elif isinstance(value, str) and (problem := text_problem(value, f"Data '{key}'", MAX_VALUE_CHARS)):
            problems.append(Problem(problem, f"data.{key}"))
        elif isinstance(value, int | float) and not isinstance(value, bool) and not _plain_number(value):
            problems.append(Problem(f"Data '{key}' is not a usable number", f"data.{key}"))
    if problems:
        raise FormError("The dossier's data is not valid", problems)
    return dict(data)


def _plain_number(value: float) -> bool:
    """Finite and within the range JSON clients handle exactly."""
    return math.isfinite(value) and abs(value) <= 2**53


def _jurisdiction(session: Session, actor: User, code: str | None) -> Jurisdiction:
    """The dossier's jurisdiction: the counter's own, or one below it."""
    if not code:
        return actor.unit.jurisdiction
    jurisdiction = get_jurisdiction(session, code)
    if jurisdiction is None:
        raise InvalidInput(
            f"Jurisdiction {code} does not exist", [Problem("Unknown jurisdiction", "jurisdiction")]
        )
    if all(j.id != actor.unit.jurisdiction_id for j in ancestry(jurisdiction)):
        raise InvalidInput(
            f"{jurisdiction.name} is outside the area of {actor.unit.name}",
            [Problem("Jurisdiction outside this counter's area", "jurisdiction")],
        )
    return jurisdiction


def _check_units_in_area(session: Session, actor: User, lane_units: dict[str, int]) -> None:
    """A counter hands dossiers only to units of its own area or above it (never to a neighbour's).

    Lanes by type and level resolve upwards by construction; a unit named in
    the dossier's data (``fromData``) could be anywhere, so it is checked.
    """
    area = actor.unit.jurisdiction_id
    above = {j.id for j in ancestry(actor.unit.jurisdiction)}
    for lane, unit_id in lane_units.items():
        unit = session.get(Unit, unit_id)
        if unit.jurisdiction_id not in above and area not in {j.id for j in ancestry(unit.jurisdiction)}:
            raise InvalidInput(
                f"{unit.name} is outside the area of {actor.unit.name}",
                [Problem(f"Lane '{lane}': the unit must belong to this counter's area", "data")],
            )


def _resolve_lanes(
    session: Session, compiled: CompiledProcedure, jurisdiction: Jurisdiction, data: Mapping[str, Any]
) -> dict[str, int]:
    lanes_in_use = {step.lane for step in compiled.steps.values() if step.lane}
    resolved, problems = {}, []
    for name in sorted(lanes_in_use):
        try:
            resolved[name] = resolve_lane(session, jurisdiction, compiled.lanes[name], data).id
        except OrganisationError as exc:
            problems.append(Problem(exc.message, compiled.lanes[name].element_id))
    if problems:
        raise OrganisationError("No unit can handle part of this procedure here", problems)
    return resolved
