"""Finding dossiers by what a clerk types: part of the dossier code or of the applicant's name.

Every list that offers a search box (the unit's inbox on the web and in the
API, the dossier search) matches the same way: case-insensitive, anywhere in
the code or the name, and with ``%`` and ``_`` taken literally, so typing
"50%" never lists every dossier.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_

from engine.models import Dossier


def escape_like(text: str) -> str:
    """``text`` as a LIKE pattern that matches it literally (``\\`` is the escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def dossier_matches(text: str) -> ColumnElement[bool]:
    """Dossiers whose code or applicant's name contains ``text``, ignoring case."""
    term = f"%{escape_like(text.strip())}%"
    return or_(Dossier.code.ilike(term, escape="\\"), Dossier.applicant_name.ilike(term, escape="\\"))
