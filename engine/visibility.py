"""Which dossiers a user may see, as SQL: the list form of ``access.can_view``.

``access.can_view`` answers for one dossier already loaded; a search page
needs the same rule as a WHERE clause so that filtering, counting and
paging happen in the database and nothing the user may not see is ever
loaded. The two must agree (tested against each other).
"""

from __future__ import annotations

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import Session

from engine.access import is_admin, is_jurisdiction_leader
from engine.models import Dossier, Jurisdiction, Task, User

MAX_DEPTH = 64  # same guard as directory.ancestry


def jurisdiction_subtree(session: Session, root_id: int) -> list[int]:
    """``root_id`` and every jurisdiction below it, one query per level of the tree."""
    found = [root_id]
    frontier = [root_id]
    seen = {root_id}
    for _ in range(MAX_DEPTH):
        children = [
            child for child in session.scalars(select(Jurisdiction.id).where(Jurisdiction.parent_id.in_(frontier)))
            if child not in seen
        ]
        if not children:
            break
        seen.update(children)
        found.extend(children)
        frontier = children
    return found


def visibility_clause(session: Session, user: User):
    """A boolean SQL expression over ``Dossier`` true for the dossiers ``user`` may see (None: all)."""
    if is_admin(user):
        return None
    conditions = [
        Dossier.receiving_unit_id == user.unit_id,
        exists().where(Task.dossier_id == Dossier.id, Task.unit_id == user.unit_id),
    ]
    if is_jurisdiction_leader(user):
        conditions.append(Dossier.jurisdiction_id.in_(jurisdiction_subtree(session, user.unit.jurisdiction_id)))
    return or_(*conditions)


def visible_dossiers(session: Session, user: User) -> Select:
    """``SELECT dossier`` restricted to what ``user`` may see; add filters and ordering to taste."""
    stmt = select(Dossier)
    clause = visibility_clause(session, user)
    return stmt if clause is None else stmt.where(clause)
