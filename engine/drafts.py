"""Designers' drafts: saving unfinished procedures, checking them, deploying them.

A draft keeps the modeler's XML byte for byte: whatever another tool wrote
(foreign extension elements, diagram data) comes back out unchanged. The
only thing checked at saving is that the text is safe, well-formed XML of a
sensible size; the full verdict (``engine.validation``) is asked for
separately and must be clean before a draft becomes a version
(``engine.deployment.deploy`` refuses anything else).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.context import Context
from engine.deployment import deploy
from engine.directory import known_levels, known_unit_types
from engine.errors import Conflict, InvalidInput, NotFound, Problem
from engine.extensions import BPMN_NS, MOTCUA_NS
from engine.models import ProcedureDraft, ProcedureVersion, User
from engine.safexml import parse_xml
from engine.validation import Verdict, validate_bpmn

MAX_DRAFT_BYTES = 5_000_000  # the hardened parser's own limit: a bigger file could never be deployed


def read_upload(data: bytes, file_name: str = "procedure.bpmn") -> bytes:
    """Accept an uploaded or posted document as draft text: safe, well-formed, a BPMN ``definitions``.

    Raises ``InvalidInput`` (``UnsafeXml`` for hostile input) with located problems.
    """
    if not data or not data.strip():
        raise InvalidInput("The file is empty", [Problem("The file is empty")])
    if len(data) > MAX_DRAFT_BYTES:
        raise InvalidInput(
            f"The file is larger than {MAX_DRAFT_BYTES // 1_000_000} MB",
            [Problem(f"The file is {len(data):,} bytes; at most {MAX_DRAFT_BYTES:,} are accepted")],
        )
    root = parse_xml(data, max_bytes=MAX_DRAFT_BYTES).getroot()
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise InvalidInput(
            f"{file_name} is not a BPMN 2.0 file",
            [Problem(f"The root element is <{etree.QName(root).localname}>, not a BPMN 2.0 <definitions>",
                     root.get("id"), root.sourceline)],
        )
    return data


def summary(data: bytes) -> tuple[str, str]:
    """The procedure code and name a draft declares, as far as they can be read (for lists)."""
    root = parse_xml(data, max_bytes=MAX_DRAFT_BYTES).getroot()
    processes = root.findall(f"{{{BPMN_NS}}}process")
    process = next((p for p in processes if p.get("isExecutable") == "true"), processes[0] if processes else None)
    if process is None:
        return "", ""
    procedure = process.find(f"{{{BPMN_NS}}}extensionElements/{{{MOTCUA_NS}}}procedure")
    code = (procedure.get("code") or "") if procedure is not None else ""
    return code.strip()[:40], " ".join((process.get("name") or "").split())[:300]


def save_draft(
    ctx: Context,
    session: Session,
    source: bytes,
    *,
    actor: User,
    draft_id: int | None = None,
    revision: int | None = None,
    base_version_id: int | None = None,
    file_name: str = "",
) -> ProcedureDraft:
    """Create a draft, or overwrite draft ``draft_id`` if nobody saved it since ``revision``."""
    source = read_upload(source, file_name or "procedure.bpmn")
    code, name = summary(source)
    now = ctx.clock.now()
    if draft_id is None:
        if base_version_id is not None and session.get(ProcedureVersion, base_version_id) is None:
            raise NotFound(f"Version {base_version_id} does not exist")
        draft = ProcedureDraft(created_at=now, base_version_id=base_version_id, revision=0,
                               file_name=file_name[:300])
        session.add(draft)
    else:
        draft = get_draft(session, draft_id)
        if revision is not None and draft.revision != revision:
            raise Conflict("Someone saved this draft after you opened it; reload it and make your change again")
    draft.source = source
    draft.procedure_code, draft.name = code, name
    draft.updated_at, draft.updated_by_id = now, actor.id
    draft.revision = (draft.revision or 0) + 1
    session.flush()
    return draft


def get_draft(session: Session, draft_id: int) -> ProcedureDraft:
    draft = session.get(ProcedureDraft, draft_id)
    if draft is None:
        raise NotFound(f"Draft {draft_id} does not exist")
    return draft


def list_drafts(session: Session) -> Sequence[ProcedureDraft]:
    return session.scalars(select(ProcedureDraft).order_by(ProcedureDraft.updated_at.desc())).all()


def delete_draft(session: Session, draft_id: int) -> None:
    session.delete(get_draft(session, draft_id))
    session.flush()


def check(session: Session, source: bytes | str, file_name: str = "procedure.bpmn") -> Verdict:
    """The full deployment verdict against this organisation's unit types and levels."""
    return validate_bpmn(source, file_name=file_name, unit_types=known_unit_types(session) or None,
                         levels=known_levels(session) or None)


def effective_moment(ctx: Context, day: date | None) -> datetime | None:
    """Midnight of ``day`` in the site's zone: a version takes effect for the whole day.

    Refuses a day before today: dossiers already received must never change version.
    """
    if day is None:
        return None
    zone = ZoneInfo(ctx.settings.calendar.timezone)
    if day < ctx.clock.now().astimezone(zone).date():
        raise InvalidInput("The effective date is in the past",
                           [Problem("A new version can take effect today at the earliest", "effective_from")])
    return datetime.combine(day, time(0), tzinfo=zone)


def deploy_source(
    ctx: Context,
    session: Session,
    source: bytes,
    *,
    actor: User,
    effective_on: date | None,
    file_name: str = "procedure.bpmn",
    draft_id: int | None = None,
) -> tuple[ProcedureVersion, bool]:
    """Deploy the modeler's XML as a new version (raises ``InvalidProcedure`` listing every problem).

    The deployed draft is removed: its text now lives on as the version.
    """
    source = read_upload(source, file_name)
    effective_from = effective_moment(ctx, effective_on)
    version, new = deploy(ctx, session, source, file_name=file_name, effective_from=effective_from, actor=actor)
    if draft_id is not None:
        draft = session.get(ProcedureDraft, draft_id)
        if draft is not None:
            session.delete(draft)
            session.flush()
    return version, new
