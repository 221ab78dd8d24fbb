"""Deploying procedures as numbered versions with effective dates.

A dossier keeps the version it was received under; a changed BPMN for an
existing procedure code becomes the next version. Deploying the very same
file again changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from engine.context import Context
from engine.directory import known_levels, known_unit_types
from engine.errors import NotFound
from engine.models import Procedure, ProcedureVersion, User
from engine.specs import CompiledProcedure, compile_procedure


def deploy(
    ctx: Context,
    session: Session,
    source: bytes,
    *,
    file_name: str = "procedure.bpmn",
    effective_from: datetime | None = None,
    actor: User | None = None,
) -> tuple[ProcedureVersion, bool]:
    """Validate and store ``source``; return the version and whether it is new.

    Raises ``InvalidProcedure`` with every problem found; nothing is written then.
    """
    compiled = compile_procedure(
        source,
        file_name=file_name,
        unit_types=known_unit_types(session) or None,
        levels=known_levels(session) or None,
    )
    now = ctx.clock.now()
    procedure = session.scalar(select(Procedure).where(Procedure.code == compiled.info.code))
    if procedure is None:
        procedure = Procedure(code=compiled.info.code, name=compiled.info.name, field=compiled.info.field)
        session.add(procedure)
        session.flush()
    else:
        latest = _latest(session, procedure)
        if (
            latest is not None
            and latest.sha256 == compiled.sha256
            and (effective_from is None or latest.effective_from == effective_from)
        ):
            return latest, False
        procedure.name, procedure.field = compiled.info.name, compiled.info.field
    number = (
        session.scalar(
            select(func.max(ProcedureVersion.version)).where(ProcedureVersion.procedure_id == procedure.id)
        )
        or 0
    ) + 1
    version = ProcedureVersion(
        procedure=procedure,
        version=number,
        effective_from=effective_from or now,
        deployed_at=now,
        deployed_by_id=actor.id if actor else None,
        process_id=compiled.process_id,
        name=compiled.info.name,
        time_limit_days=compiled.info.time_limit_days,
        components=[asdict(c) for c in compiled.info.components],
        source=bytes(source if isinstance(source, bytes) else source.encode()),
        sha256=compiled.sha256,
        file_name=Path(file_name).name,
    )
    session.add(version)
    session.flush()
    _prime_after_commit(ctx, session, version.id, compiled)
    return version, True


def _prime_after_commit(ctx: Context, session: Session, version_id: int, compiled: CompiledProcedure) -> None:
    """Cache the compiled spec under its row id once the deployment has committed.

    Priming before commit could leave an entry for an id that a rollback
    frees and another process reuses (SQLite reuses ids) for another file.
    """

    def prime(_session: Session) -> None:
        ctx.specs.put(version_id, compiled)

    event.listen(session, "after_commit", prime, once=True)


def _latest(session: Session, procedure: Procedure) -> ProcedureVersion | None:
    return session.scalar(
        select(ProcedureVersion)
        .where(ProcedureVersion.procedure_id == procedure.id)
        .order_by(ProcedureVersion.version.desc())
        .limit(1)
    )


def deploy_files(ctx: Context, session: Session, paths: list[Path], actor: User | None = None):
    """Deploy several files; each result is (path, version, is_new)."""
    results = []
    for path in paths:
        version, new = deploy(ctx, session, path.read_bytes(), file_name=path.name, actor=actor)
        results.append((path, version, new))
    return results


def version_in_effect(session: Session, code: str, at: datetime) -> ProcedureVersion:
    """The newest version of procedure ``code`` whose effective date has come."""
    version = session.scalar(
        select(ProcedureVersion)
        .join(Procedure)
        .where(Procedure.code == code, ProcedureVersion.effective_from <= at)
        .order_by(ProcedureVersion.version.desc())
        .limit(1)
    )
    if version is None:
        exists = session.scalar(select(Procedure.id).where(Procedure.code == code))
        if exists is None:
            raise NotFound(f"Procedure {code} does not exist")
        raise NotFound(f"Procedure {code} has no version in effect yet")
    return version


def compiled_version(ctx: Context, version: ProcedureVersion) -> CompiledProcedure:
    """The parsed spec of ``version`` from the cache, parsed from its stored source on a miss."""
    return ctx.specs.get(version.id, lambda: version.source)


def compiled_by_id(ctx: Context, session: Session, version_id: int) -> CompiledProcedure:
    """Like ``compiled_version`` but reads the stored source only on a cache miss."""
    return ctx.specs.get(version_id, lambda: session.scalar(
        select(ProcedureVersion.source).where(ProcedureVersion.id == version_id)))


def list_procedures(session: Session) -> list[Procedure]:
    return list(session.scalars(select(Procedure).order_by(Procedure.code)))
