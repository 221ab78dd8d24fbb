"""Read-only queries the one-stop counter's pages need.

The dossiers a counter follows (by status, soonest due first, a page at a
time), the jurisdictions and units of its area, the procedures in effect,
and the records behind the printable forms 02-04. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from engine.directory import ancestry
from engine.extensions import LaneInfo
from engine.models import Dossier, Event, Extension, Jurisdiction, Pause, Procedure, ProcedureVersion, Unit

MAX_PER_PAGE = 100
MAX_DEPTH = 16


@dataclass(frozen=True)
class Page:
    items: Sequence[Dossier]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def counter_dossiers(session: Session, unit_id: int, status: str, *, page: int = 1, per_page: int = 20) -> Page:
    """Dossiers received by ``unit_id`` in ``status``, soonest due first.

    Served by the index on (status, due_at) plus the receiving unit filter;
    the procedure version is loaded with the rows (no query per line).
    """
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    where = (Dossier.receiving_unit_id == unit_id, Dossier.status == status)
    total = int(session.scalar(select(func.count()).select_from(Dossier).where(*where)) or 0)
    pages = max(1, -(-total // per_page))
    page = max(1, min(page, pages))
    items = list(session.scalars(
        select(Dossier).where(*where).options(joinedload(Dossier.procedure_version))
        .order_by(Dossier.due_at, Dossier.id).offset((page - 1) * per_page).limit(per_page)
    ))
    return Page(items, total, page, per_page)


def jurisdictions_within(session: Session, root_id: int) -> list[tuple[Jurisdiction, int]]:
    """``root_id`` and every jurisdiction below it, depth first, each with its depth."""
    root = session.get(Jurisdiction, root_id)
    if root is None:
        return []
    children: dict[int, list[Jurisdiction]] = {}
    frontier, depth = [root.id], 0
    while frontier and depth < MAX_DEPTH:
        rows = list(session.scalars(
            select(Jurisdiction).where(Jurisdiction.parent_id.in_(frontier)).order_by(Jurisdiction.name)))
        for row in rows:
            children.setdefault(row.parent_id, []).append(row)
        frontier, depth = [r.id for r in rows], depth + 1
    out: list[tuple[Jurisdiction, int]] = []

    def walk(node: Jurisdiction, level: int) -> None:
        out.append((node, level))
        for child in children.get(node.id, []):
            walk(child, level + 1)

    walk(root, 0)
    return out


def units_within(session: Session, root_id: int) -> list[Unit]:
    """Units of ``root_id`` and of the jurisdictions below it, grouped by jurisdiction."""
    tree = jurisdictions_within(session, root_id)
    order = {j.id: i for i, (j, _) in enumerate(tree)}
    units = list(session.scalars(
        select(Unit).where(Unit.jurisdiction_id.in_(list(order))).options(joinedload(Unit.jurisdiction))))
    return sorted(units, key=lambda u: (order[u.jurisdiction_id], u.code))


def procedures_in_effect(session: Session, at: datetime) -> list[ProcedureVersion]:
    """For each procedure, its newest version whose effective date has come; by procedure code."""
    newest = (
        select(ProcedureVersion.procedure_id, func.max(ProcedureVersion.version).label("version"))
        .where(ProcedureVersion.effective_from <= at)
        .group_by(ProcedureVersion.procedure_id)
        .subquery()
    )
    return list(session.scalars(
        select(ProcedureVersion)
        .join(newest, (ProcedureVersion.procedure_id == newest.c.procedure_id)
              & (ProcedureVersion.version == newest.c.version))
        .join(Procedure)
        .options(joinedload(ProcedureVersion.procedure))
        .order_by(Procedure.code)
    ))


def last_pause(session: Session, dossier: Dossier, kind: str = "supplement") -> Pause | None:
    """The newest pause of ``kind`` (the supplement request behind form 02)."""
    return session.scalar(
        select(Pause).where(Pause.dossier_id == dossier.id, Pause.kind == kind).order_by(Pause.id.desc()).limit(1))


def last_event(session: Session, dossier: Dossier, action: str) -> Event | None:
    """The newest event ``action`` of the dossier (e.g. "refused", behind form 03)."""
    return session.scalar(
        select(Event).where(Event.dossier_id == dossier.id, Event.action == action)
        .options(joinedload(Event.actor)).order_by(Event.id.desc()).limit(1))


def extension_of(session: Session, dossier: Dossier) -> Extension | None:
    """The one reset of the return date (form 04), if any."""
    return session.scalar(
        select(Extension).where(Extension.dossier_id == dossier.id).order_by(Extension.id.desc()).limit(1))


def receivable_jurisdictions(
    session: Session, root_id: int, lanes: Iterable[LaneInfo]
) -> list[tuple[Jurisdiction, int, bool]]:
    """The counter's area (``root_id`` and below), each with its depth and whether
    every fixed lane of a procedure resolves there.

    The same rule as ``directory.resolve_lane`` (the unit of the lane's type in
    the nearest jurisdiction of the lane's level, counting the jurisdiction
    itself), answered in memory with two queries instead of one per lane and
    jurisdiction, so a provincial centre with hundreds of communes stays fast.
    Lanes that take their unit from the dossier's data are not checked here.
    """
    tree = jurisdictions_within(session, root_id)
    if not tree:
        return []
    fixed = [lane for lane in lanes if not lane.from_data]
    nodes = {j.id: j for j, _ in tree} | {j.id: j for j in ancestry(tree[0][0])}
    present = {(jid, kind) for jid, kind in session.execute(
        select(Unit.jurisdiction_id, Unit.type).where(Unit.jurisdiction_id.in_(list(nodes))))}

    def chain(node: Jurisdiction) -> list[Jurisdiction]:
        out, cur = [], node
        while cur is not None and len(out) < MAX_DEPTH * 4:
            out.append(cur)
            cur = nodes.get(cur.parent_id) if cur.parent_id is not None else None
        return out

    result = []
    for node, depth in tree:
        up = chain(node)
        ok = True
        for lane in fixed:
            target = next((j for j in up if j.level == lane.level), None)
            if target is None or (target.id, lane.unit_type) not in present:
                ok = False
                break
        result.append((node, depth, ok))
    return result
