"""Dossier codes: ``<receiving unit code>-YYMMDD-NNNN``, a daily sequence per unit.

The counter row is bumped with one ``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING`` statement, atomic on PostgreSQL and SQLite alike, so two clerks
receiving at the same second can never get the same number.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.models import CodeSequence, Unit


def next_sequence(session: Session, unit_id: int, day: date) -> int:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(CodeSequence)
        .values(unit_id=unit_id, day=day, last=1)
        .on_conflict_do_update(
            index_elements=[CodeSequence.unit_id, CodeSequence.day], set_={"last": CodeSequence.last + 1}
        )
        .returning(CodeSequence.last)
    )
    return int(session.execute(stmt).scalar_one())


def format_code(unit_code: str, day: date, number: int) -> str:
    return f"{unit_code}-{day:%y%m%d}-{number:04d}"


def next_dossier_code(session: Session, unit: Unit, day: date) -> str:
    """Allocate the next code of ``unit`` for the local date ``day``."""
    return format_code(unit.code, day, next_sequence(session, unit.id, day))
