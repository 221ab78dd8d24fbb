"""Small helpers the engine tests share: find people, receive dossiers, drive steps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from engine.context import Context
from engine.models import Dossier, Jurisdiction, Task, TaskState, Unit, User, UserRole
from engine.receipt import receive
from engine.tasks import claim, complete

APPLICANT = {"name": "Trần Văn Bình", "id_number": "001085012345", "phone": "0912345678",
             "address": "12 Hàng Bạc, Hoàn Kiếm, Hà Nội", "email": "binh@example.vn"}

PERMIT = "XD-GPXD-01"
PERMIT_HAPPY = {
    "Task_ThamDinh": {"hop_le": True, "can_kiem_tra": True},
    "Task_KiemTraThucDia": {"ket_qua_kiem_tra": "Phù hợp"},
    "Task_DuThaoGiayPhep": {"so_giay_phep": "123/GPXD"},
    "Task_PheDuyet": {"phe_duyet": True},
}


def jurisdictions(session, level: str) -> list[Jurisdiction]:
    return list(session.scalars(select(Jurisdiction).where(Jurisdiction.level == level).order_by(Jurisdiction.id)))


def unit_of(session, jurisdiction: Jurisdiction, unit_type: str) -> Unit:
    return session.scalars(select(Unit).where(Unit.jurisdiction_id == jurisdiction.id, Unit.type == unit_type)
                           .order_by(Unit.code)).first()


def user_in(session, unit_id: int, *roles: str) -> User:
    user = session.scalars(
        select(User).join(UserRole).where(User.unit_id == unit_id, UserRole.role.in_(roles)).order_by(User.id)
    ).first()
    assert user is not None, f"no user with {roles} in unit {unit_id}"
    return user


def district(session, index: int = 0) -> Jurisdiction:
    return jurisdictions(session, "district")[index]


def commune_of(session, parent: Jurisdiction, index: int = 0) -> Jurisdiction:
    return [j for j in jurisdictions(session, "commune") if j.parent_id == parent.id][index]


def clerk_of(session, jurisdiction: Jurisdiction) -> User:
    return user_in(session, unit_of(session, jurisdiction, "mot_cua").id, "clerk")


def receive_permit(ctx: Context, *, district_index: int = 0, **kwargs: Any) -> str:
    """Receive a construction-permit dossier at a district counter; return its code."""
    with ctx.db.transaction() as session:
        clerk = clerk_of(session, district(session, district_index))
        dossier = receive(ctx, session, actor=clerk, procedure_code=kwargs.pop("procedure_code", PERMIT),
                          applicant=kwargs.pop("applicant", APPLICANT), **kwargs)
        return dossier.code


def open_tasks(ctx: Context, code: str) -> list[Task]:
    with ctx.db.reading() as session:
        return list(session.scalars(select(Task).join(Dossier).where(
            Dossier.code == code, Task.state == TaskState.OPEN).order_by(Task.id)))


def worker_for(session, task: Task) -> User:
    return user_in(session, task.unit_id, "specialist", "leader")


def do_step(ctx: Context, code: str, step: str, data: Mapping[str, Any]) -> Task:
    """Claim and complete the open task ``step`` of dossier ``code`` as someone of its unit."""
    task = next(t for t in open_tasks(ctx, code) if t.step == step)
    with ctx.db.transaction() as session:
        user = worker_for(session, task)
        claim(ctx, session, task.id, user)
        return complete(ctx, session, task.id, user, data)


def drive(ctx: Context, code: str, answers: Mapping[str, Mapping[str, Any]], limit: int = 50) -> list[str]:
    """Complete open tasks with ``answers`` until none is left; return the steps done in order."""
    done = []
    for _ in range(limit):
        tasks = open_tasks(ctx, code)
        if not tasks:
            return done
        for task in tasks:
            do_step(ctx, code, task.step, answers[task.step])
            done.append(task.step)
    raise AssertionError(f"dossier {code} still has open tasks after {limit} rounds")


def dossier(ctx: Context, code: str) -> Dossier:
    with ctx.db.reading() as session:
        return session.scalar(select(Dossier).where(Dossier.code == code))
