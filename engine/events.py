"""The append-only event log of a dossier."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import Dossier, Event, Task, User
from engine.rowstore import Store, store_of


def record(
    session: Session | Store,
    dossier: Dossier,
    action: str,
    at: datetime,
    actor: User | None = None,
    *,
    from_status: str | None = None,
    task: Task | None = None,
    **detail: Any,
) -> None:
    """Append one event; ``to_status`` is the dossier's status after the action."""
    store_of(session).record_event(dict(
        dossier_id=dossier.id, at=at, actor_id=actor.id if actor else None, action=action,
        from_status=from_status, to_status=dossier.status, task_id=task.id if task else None,
        detail=detail,
    ))


def history(session: Session, dossier: Dossier) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.dossier_id == dossier.id).order_by(Event.id)))
