"""Who may see and do what: one place for the rules every client applies.

Scope follows the one-stop-shop model: a unit sees the dossiers it holds or
held; the receiving counter follows its dossiers to the end (one focal
point); a leader of the People's Committee sees every dossier of their
jurisdiction and below; an administrator sees everything.
"""

from __future__ import annotations

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from engine.directory import ancestry
from engine.errors import Forbidden
from engine.models import Dossier, Task, User

PROCESSING_ROLES = frozenset({"specialist", "leader", "clerk"})
LEADERSHIP_UNIT_TYPE = "lanh_dao"


def is_admin(user: User) -> bool:
    return user.has_role("admin")


def in_jurisdiction_of(user: User, dossier: Dossier) -> bool:
    """The dossier's jurisdiction is the leader's own or lies below it."""
    return any(j.id == user.unit.jurisdiction_id for j in ancestry(dossier.jurisdiction))


def unit_touched(session: Session, unit_id: int, dossier: Dossier) -> bool:
    return bool(
        session.scalar(select(exists().where(Task.dossier_id == dossier.id, Task.unit_id == unit_id)))
    )


DOSSIER_ROLES = frozenset({"clerk", "specialist", "leader"})


def can_view(session: Session, user: User, dossier: Dossier) -> bool:
    """Whether ``user`` may see ``dossier`` at all; designers see procedures, not dossiers."""
    if is_admin(user):
        return True
    if not (user.roles & DOSSIER_ROLES):
        return False
    if dossier.receiving_unit_id == user.unit_id:
        return True
    if is_jurisdiction_leader(user) and in_jurisdiction_of(user, dossier):
        return True
    return unit_touched(session, user.unit_id, dossier)


def is_jurisdiction_leader(user: User) -> bool:
    """Leaders of a People's Committee (a ``lanh_dao`` unit) oversee their whole area.

    The head of an office or a branch (tax, land registration) leads that unit
    only, and sees the dossiers that unit holds or held.
    """
    return user.has_role("leader") and user.unit.type == LEADERSHIP_UNIT_TYPE


def require_view(session: Session, user: User, dossier: Dossier) -> None:
    if not can_view(session, user, dossier):
        raise Forbidden(f"You have no access to dossier {dossier.code}")


def require_task(user: User, task: Task) -> None:
    """Only people of the unit that holds a step may work on it."""
    if task.unit_id != user.unit_id or not (user.roles & PROCESSING_ROLES):
        raise Forbidden("This step belongs to another unit")


def require_counter(user: User, dossier: Dossier) -> None:
    """Counter actions (supplement arrival, withdrawal, return) belong to the receiving counter."""
    if not (user.has_role("clerk") and user.unit_id == dossier.receiving_unit_id) and not is_admin(user):
        raise Forbidden(f"Only the counter that received dossier {dossier.code} can do this")


def require_handler(session: Session, user: User, dossier: Dossier) -> None:
    """Supplement requests, extensions and refusals: the receiving counter or a unit holding a step."""
    if is_admin(user) or (user.has_role("clerk") and user.unit_id == dossier.receiving_unit_id):
        return
    holds = session.scalar(
        select(
            exists().where(Task.dossier_id == dossier.id, Task.unit_id == user.unit_id, Task.state == "open")
        )
    )
    if not holds or not (user.roles & {"specialist", "leader"}):
        raise Forbidden(f"Only the counter or a unit processing dossier {dossier.code} can do this")


def require_role(user: User, *roles: str) -> None:
    if not (user.roles & set(roles)) and not is_admin(user):
        raise Forbidden(f"This needs one of the roles: {', '.join(roles)}")
