"""What happens to a dossier beside its BPMN path.

Supplement requests pause the clock; an extension resets the return date
once, with an apology (form 04); refusal and withdrawal end the dossier;
returning the result closes it with the citizen's rating. Each operation
checks the dossier's status and the actor's rights first and records an
event.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import access, events, handoffs, pauses
from engine.context import Context
from engine.errors import FormError, NotFound, Problem, RuleViolation
from engine.models import Dossier, DossierStatus, Extension, Task, TaskState, User
from engine.text import clean_text

MAX_REASON = 2_000
RATINGS = (1, 2, 3, 4, 5)


def get_dossier(session: Session, code: str) -> Dossier:
    dossier = session.scalar(select(Dossier).where(Dossier.code == code))
    if dossier is None:
        raise NotFound(f"Dossier {code} does not exist")
    return dossier


def _reason(reason: object, field: str = "reason") -> str:
    return clean_text(reason, field, "The reason", MAX_REASON, required=True)


def _require_status(dossier: Dossier, *allowed: DossierStatus, action: str) -> None:
    if dossier.status not in allowed:
        raise RuleViolation(f"Dossier {dossier.code} cannot be {action} now (status: {dossier.status})")


def request_supplement(
    ctx: Context, session: Session, dossier: Dossier, actor: User, *, reason: str, missing: list[str]
) -> Dossier:
    """Ask the citizen for missing papers (form 02); the clock stops until they arrive."""
    access.require_handler(session, actor, dossier)
    _require_status(dossier, DossierStatus.PROCESSING, action="sent back for a supplement")
    if dossier.paused_since is not None:
        raise RuleViolation(f"Dossier {dossier.code}'s clock is already stopped")
    text = _reason(reason)
    items = _missing(missing)
    now = ctx.clock.now()
    pauses.start(session, dossier, "supplement", now, reason=text, missing=items, actor=actor)
    dossier.supplement_requests = (dossier.supplement_requests or 0) + 1
    dossier.status = DossierStatus.AWAITING_SUPPLEMENT
    events.record(
        session,
        dossier,
        "supplement_requested",
        now,
        actor,
        from_status=DossierStatus.PROCESSING,
        reason=text,
        missing=items,
        request_number=dossier.supplement_requests,
    )
    return dossier


def _missing(missing: list[str]) -> list[str]:
    if not isinstance(missing, list) or not all(isinstance(m, str) for m in missing):
        raise FormError(
            "Missing items must be a list of texts", [Problem("Must be a list of texts", "missing")]
        )
    items = [clean_text(m, "missing", "A missing item", 300) for m in missing]
    items = [m for m in items if m]
    if not items:
        raise FormError("List what is missing", [Problem("At least one missing item is required", "missing")])
    if len(items) > 50 or any(len(m) > 300 for m in items):
        raise FormError(
            "Too many or too long missing items", [Problem("At most 50 items of 300 characters", "missing")]
        )
    return items


def receive_supplement(
    ctx: Context, session: Session, dossier: Dossier, actor: User, *, note: str = ""
) -> Dossier:
    """The papers arrived at the counter: the clock runs again with the paused time added."""
    access.require_counter(actor, dossier)
    _require_status(dossier, DossierStatus.AWAITING_SUPPLEMENT, action="marked as supplemented")
    now = ctx.clock.now()
    minutes = pauses.end(session, dossier, now, ctx.calendar(session))
    dossier.status = DossierStatus.PROCESSING
    events.record(
        session,
        dossier,
        "supplement_received",
        now,
        actor,
        from_status=DossierStatus.AWAITING_SUPPLEMENT,
        paused_minutes=minutes,
        note=clean_text(note, "note", "The note", 500),
    )
    return dossier


def extend(
    ctx: Context,
    session: Session,
    dossier: Dossier,
    actor: User,
    *,
    reason: str,
    new_due_at: datetime | None = None,
    extra_days: float | None = None,
) -> Extension:
    """Reset the return date once, with an apology to the citizen (form 04)."""
    access.require_handler(session, actor, dossier)
    _require_status(dossier, DossierStatus.PROCESSING, DossierStatus.AWAITING_SUPPLEMENT, action="extended")
    if dossier.original_due_at is not None:
        raise RuleViolation(f"Dossier {dossier.code}'s return date has already been reset once")
    text = _reason(reason)
    calendar = ctx.calendar(session)
    new_due = _new_due(calendar, dossier, new_due_at, extra_days)
    now = ctx.clock.now()
    extension = Extension(
        dossier_id=dossier.id,
        at=now,
        by_id=actor.id,
        unit_id=actor.unit_id,
        reason=text,
        old_due_at=dossier.due_at,
        new_due_at=new_due,
    )
    session.add(extension)
    notice_days = calendar.working_days_between(now, dossier.due_at)
    dossier.original_due_at, dossier.due_at = dossier.due_at, new_due
    events.record(
        session,
        dossier,
        "extended",
        now,
        actor,
        from_status=dossier.status,
        reason=text,
        old_due_at=extension.old_due_at.isoformat(),
        new_due_at=new_due.isoformat(),
        notice_working_days=round(notice_days, 2),
        late_notice=notice_days < 1,
    )
    return extension


def _new_due(calendar, dossier: Dossier, new_due_at: datetime | None, extra_days: float | None) -> datetime:
    if (new_due_at is None) == (extra_days is None):
        raise FormError(
            "Give either a new date or a number of extra working days",
            [Problem("Give new_due_at or extra_days", "new_due_at")],
        )
    if extra_days is not None:
        if (
            not isinstance(extra_days, int | float)
            or isinstance(extra_days, bool)
            or not 0 < extra_days <= 60
        ):
            raise FormError(
                "Extra days must be between 0 and 60", [Problem("Between 0 and 60", "extra_days")]
            )
        return calendar.add_working_days(dossier.due_at, extra_days)
    if not isinstance(new_due_at, datetime):
        raise FormError("The new date is not a date", [Problem("Not a date and time", "new_due_at")])
    if new_due_at.tzinfo is None:
        raise FormError("The new date needs a time zone", [Problem("Time zone missing", "new_due_at")])
    if new_due_at <= dossier.due_at or new_due_at - dossier.due_at > timedelta(days=366):
        raise FormError("The new date must be later than the current one and within a year of it",
                        [Problem("Later than the current due date, within a year", "new_due_at")])
    return new_due_at


def refuse(ctx: Context, session: Session, dossier: Dossier, actor: User, *, reason: str) -> Dossier:
    """Refuse the dossier with written reasons (form 03); open steps are cancelled."""
    access.require_handler(session, actor, dossier)
    _require_status(dossier, DossierStatus.PROCESSING, DossierStatus.AWAITING_SUPPLEMENT, action="refused")
    return _close(ctx, session, dossier, actor, DossierStatus.REFUSED, "refused", reason=_reason(reason))


def withdraw(ctx: Context, session: Session, dossier: Dossier, actor: User, *, reason: str = "") -> Dossier:
    """The applicant takes the dossier back; recorded by the receiving counter."""
    access.require_counter(actor, dossier)
    _require_status(dossier, DossierStatus.PROCESSING, DossierStatus.AWAITING_SUPPLEMENT, action="withdrawn")
    return _close(
        ctx,
        session,
        dossier,
        actor,
        DossierStatus.WITHDRAWN,
        "withdrawn",
        reason=clean_text(reason, "reason", "The reason", MAX_REASON),
    )


def _close(
    ctx: Context,
    session: Session,
    dossier: Dossier,
    actor: User,
    status: DossierStatus,
    action: str,
    **detail,
) -> Dossier:
    now = ctx.clock.now()
    calendar = ctx.calendar(session)
    before = dossier.status
    if dossier.paused_since is not None:
        pauses.end(session, dossier, now, calendar)
    for task in session.scalars(
        select(Task).where(Task.dossier_id == dossier.id, Task.state == TaskState.OPEN)
    ):
        task.state, task.completed_at = TaskState.CANCELLED, now
    session.flush()
    handoffs.close_idle_stints(session, dossier, now=now, tz=ZoneInfo(calendar.settings.timezone))
    dossier.status, dossier.closed_at = status, now
    events.record(session, dossier, action, now, actor, from_status=before, **detail)
    return dossier


def return_result(
    ctx: Context, session: Session, dossier: Dossier, actor: User, *, rating: int | None = None
) -> Dossier:
    """Hand the result to the citizen at the counter and take their rating (1-5)."""
    access.require_counter(actor, dossier)
    # Only a real int: True == 1 and 5.0 == 5 would slip through a plain "in" test.
    if rating is not None and (type(rating) is not int or rating not in RATINGS):
        raise FormError("Rating must be a whole number from 1 to 5", [Problem("From 1 to 5", "rating")])
    _require_status(dossier, DossierStatus.AWAITING_RETURN, action="returned")
    now = ctx.clock.now()
    tz = ZoneInfo(ctx.calendar(session).settings.timezone)
    for stint in handoffs.open_stints(session, dossier):
        handoffs.finish(stint, now, tz)
        stint.received_at = stint.received_at or now
        stint.received_by_id = stint.received_by_id or actor.id
    dossier.status, dossier.closed_at, dossier.rating = DossierStatus.RETURNED, now, rating
    events.record(
        session, dossier, "returned", now, actor, from_status=DossierStatus.AWAITING_RETURN, rating=rating
    )
    return dossier
