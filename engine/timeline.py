"""One dossier's whole story, read in a handful of queries for the dossier page and form 05.

A read model: nothing here changes a row. Everything a page needs is
loaded eagerly so it can be rendered after the session has closed, and
people and units are resolved to names in one query each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, lazyload, load_only

from engine.calendar import WorkCalendar
from engine.models import (
    Attachment,
    Dossier,
    Event,
    Extension,
    Handoff,
    Pause,
    Procedure,
    ProcedureVersion,
    Task,
    TaskState,
    Unit,
    User,
)


@dataclass(frozen=True)
class PauseView:
    """A time the clock stood still; ``working_minutes`` so far when it is still running."""

    kind: str
    reason: str
    missing: list[str]
    started_at: datetime
    ended_at: datetime | None
    working_minutes: int
    requested_by: str

    @property
    def ongoing(self) -> bool:
        return self.ended_at is None


@dataclass(frozen=True)
class ExtensionView:
    at: datetime
    by: str
    unit: str
    reason: str
    old_due_at: datetime
    new_due_at: datetime


@dataclass(frozen=True)
class EventView:
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    step: str | None
    detail: dict


@dataclass
class Timeline:
    dossier: Dossier
    procedure_code: str
    procedure_name: str
    version: int
    time_limit_days: float
    stints: list[Handoff]
    pauses: list[PauseView]
    extensions: list[ExtensionView]
    open_tasks: list[Task]
    steps: list[Task]
    events: list[EventView]
    attachments: list[Attachment]
    minutes_per_day: int
    step_names: dict[int, str] = field(default_factory=dict)

    @property
    def supplement_pauses(self) -> list[PauseView]:
        return [p for p in self.pauses if p.kind == "supplement"]


def _user_options():
    return (load_only(User.id, User.full_name, User.username, User.unit_id), lazyload(User.role_rows))


def load(session: Session, dossier: Dossier, *, calendar: WorkCalendar, now: datetime) -> Timeline:
    """The timeline of ``dossier`` as of ``now`` (a running pause is counted up to ``now``)."""
    procedure = session.execute(
        select(Procedure.code, ProcedureVersion.name, ProcedureVersion.version, ProcedureVersion.time_limit_days)
        .join(Procedure, ProcedureVersion.procedure_id == Procedure.id)
        .where(ProcedureVersion.id == dossier.procedure_version_id)
    ).one()
    stints = list(session.scalars(
        select(Handoff).where(Handoff.dossier_id == dossier.id).order_by(Handoff.seq)
        .options(joinedload(Handoff.from_unit), joinedload(Handoff.to_unit),
                 joinedload(Handoff.handed_by).options(*_user_options()),
                 joinedload(Handoff.received_by).options(*_user_options()))
    ).unique())
    steps = list(session.scalars(
        select(Task).where(Task.dossier_id == dossier.id).order_by(Task.id)
        .options(joinedload(Task.unit), joinedload(Task.claimed_by).options(*_user_options()),
                 joinedload(Task.completed_by).options(*_user_options()))
    ).unique())
    pause_rows = list(session.scalars(select(Pause).where(Pause.dossier_id == dossier.id).order_by(Pause.id)))
    extension_rows = list(session.scalars(
        select(Extension).where(Extension.dossier_id == dossier.id).order_by(Extension.id)))
    event_rows = list(session.scalars(
        select(Event).where(Event.dossier_id == dossier.id).order_by(Event.id)
        .options(joinedload(Event.actor).options(*_user_options()))
    ).unique())
    attachments = list(session.scalars(
        select(Attachment).where(Attachment.dossier_id == dossier.id).order_by(Attachment.id)))

    user_ids = {p.requested_by_id for p in pause_rows} | {e.by_id for e in extension_rows}
    user_ids.discard(None)
    names = dict(session.execute(select(User.id, User.full_name).where(User.id.in_(user_ids))).all()) \
        if user_ids else {}
    unit_ids = {e.unit_id for e in extension_rows if e.unit_id is not None}
    unit_names = dict(session.execute(select(Unit.id, Unit.name).where(Unit.id.in_(unit_ids))).all()) \
        if unit_ids else {}

    pauses = [
        PauseView(
            kind=p.kind, reason=p.reason or "", missing=list(p.missing or []), started_at=p.started_at,
            ended_at=p.ended_at,
            working_minutes=p.working_minutes if p.working_minutes is not None
            else calendar.working_minutes_between(p.started_at, p.ended_at or now),
            requested_by=names.get(p.requested_by_id, ""),
        )
        for p in pause_rows
    ]
    extensions = [
        ExtensionView(at=e.at, by=names.get(e.by_id, ""), unit=unit_names.get(e.unit_id, ""), reason=e.reason,
                      old_due_at=e.old_due_at, new_due_at=e.new_due_at)
        for e in extension_rows
    ]
    step_names = {t.id: t.step_name for t in steps}
    events = [
        EventView(at=e.at, actor=e.actor.full_name if e.actor else "", action=e.action,
                  from_status=e.from_status, to_status=e.to_status,
                  step=step_names.get(e.task_id) if e.task_id else None, detail=dict(e.detail or {}))
        for e in event_rows
    ]
    return Timeline(
        dossier=dossier,
        procedure_code=procedure.code,
        procedure_name=procedure.name,
        version=procedure.version,
        time_limit_days=procedure.time_limit_days,
        stints=stints,
        pauses=pauses,
        extensions=extensions,
        open_tasks=[t for t in steps if t.state == TaskState.OPEN],
        steps=steps,
        events=events,
        attachments=attachments,
        minutes_per_day=calendar.minutes_per_day,
        step_names=step_names,
    )


def find_dossier(session: Session, code: str) -> Dossier | None:
    """The dossier with ``code`` and the relations its pages show, or None."""
    return session.scalar(
        select(Dossier).where(Dossier.code == code)
        .options(joinedload(Dossier.jurisdiction), joinedload(Dossier.receiving_unit),
                 joinedload(Dossier.received_by).options(*_user_options()))
    )
