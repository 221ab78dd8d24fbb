"""What the designer's start page shows: every procedure, its versions and their use.

One query per list: the versions with their dossier counts come back in a
single grouped statement, so the page stays cheap however many dossiers
exist. The organisation's unit types and levels are offered to the modeler
so a lane can only be mapped to something the directory knows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import Dossier, Jurisdiction, Procedure, ProcedureVersion, Unit, User


@dataclass(frozen=True)
class VersionRow:
    id: int
    version: int
    effective_from: datetime
    deployed_at: datetime
    deployed_by: str
    file_name: str
    dossiers: int
    in_effect: bool  # the version a dossier received now would get
    upcoming: bool  # effective date still to come


@dataclass(frozen=True)
class ProcedureRow:
    code: str
    name: str
    field: str
    versions: list[VersionRow] = field(default_factory=list)

    @property
    def latest(self) -> VersionRow | None:
        return self.versions[0] if self.versions else None


def catalog(session: Session, now: datetime) -> list[ProcedureRow]:
    """Every procedure with its versions, newest first, and how many dossiers each version holds."""
    counts = (
        select(Dossier.procedure_version_id, func.count().label("n"))
        .group_by(Dossier.procedure_version_id)
        .subquery()
    )
    rows = session.execute(
        select(Procedure.code, Procedure.name, Procedure.field, ProcedureVersion, User.full_name,
               func.coalesce(counts.c.n, 0))
        .join(ProcedureVersion, ProcedureVersion.procedure_id == Procedure.id)
        .outerjoin(User, User.id == ProcedureVersion.deployed_by_id)
        .outerjoin(counts, counts.c.procedure_version_id == ProcedureVersion.id)
        .order_by(Procedure.code, ProcedureVersion.version.desc())
    ).all()
    out: dict[str, ProcedureRow] = {}
    for code, name, sector, version, deployer, dossiers in rows:
        row = out.setdefault(code, ProcedureRow(code, name, sector))
        upcoming = version.effective_from > now
        in_effect = not upcoming and not any(v.in_effect for v in row.versions)
        row.versions.append(VersionRow(version.id, version.version, version.effective_from, version.deployed_at,
                                       deployer or "", version.file_name, int(dossiers), in_effect, upcoming))
    return list(out.values())


@dataclass(frozen=True)
class UnitType:
    type: str
    example: str  # the name of one unit of that type, so designers recognise it
    levels: tuple[str, ...]  # levels of the jurisdictions that have such a unit


def unit_vocabulary(session: Session) -> dict[str, list]:
    """Unit types (with an example name and where they exist) and jurisdiction levels, for lanes."""
    rows = session.execute(
        select(Unit.type, Unit.name, Jurisdiction.level).join(Jurisdiction, Jurisdiction.id == Unit.jurisdiction_id)
        .order_by(Unit.type, Unit.code)
    ).all()
    types: dict[str, UnitType] = {}
    for unit_type, name, level in rows:
        known = types.get(unit_type)
        if known is None:
            types[unit_type] = UnitType(unit_type, name, (level,))
        elif level not in known.levels:
            types[unit_type] = UnitType(unit_type, known.example, (*known.levels, level))
    levels = _levels_top_down(session)
    return {
        "types": [{"type": t.type, "example": t.example, "levels": list(t.levels)} for t in types.values()],
        "levels": levels,
    }


def _levels_top_down(session: Session) -> list[str]:
    """Levels ordered from the root of the tree down (province, district, commune in the demo)."""
    depth: dict[int, int] = {}
    order: dict[str, int] = {}
    for jid, parent, level in session.execute(
        select(Jurisdiction.id, Jurisdiction.parent_id, Jurisdiction.level).order_by(Jurisdiction.id)
    ).all():
        depth[jid] = depth.get(parent, -1) + 1 if parent is not None else 0
        order[level] = min(order.get(level, depth[jid]), depth[jid])
    return sorted(order, key=lambda level: (order[level], level))
