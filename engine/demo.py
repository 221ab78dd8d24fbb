"""Demo data: the Hà Nội organisation, the shipped procedures and dossiers in every state.

Dossiers are played through the real engine operations on a clock set in
the past, so their codes, due dates, handoffs and events are exactly what
real use would have produced: some returned early or late, some waiting at
a unit, some overdue, waiting for a supplement, extended, refused or
withdrawn.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from engine import lifecycle
from engine.clock import FixedClock, SystemClock
from engine.context import Context
from engine.deployment import deploy
from engine.directory import load_organisation, read_organisation_file
from engine.models import Dossier, Jurisdiction, Task, TaskState, Unit, User, UserRole
from engine.receipt import receive
from engine.tasks import claim, complete

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Minh", "Thu", "Quang", "Hồng", "Đức", "Thanh"]
GIVEN = ["An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Hải", "Hương", "Khánh", "Lan", "Long", "Mai", "Nam",
         "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Trung", "Yến"]
STREETS = ["Hàng Bạc", "Hàng Trống", "Điện Biên Phủ", "Kim Mã", "Trần Duy Hưng", "Hoàng Quốc Việt",
           "Nguyễn Thái Học", "Lý Thường Kiệt"]


@dataclass(frozen=True)
class Plan:
    """How a demo dossier of one procedure is received and answered."""

    code: str
    counter_level: str  # level of the receiving counter's jurisdiction
    in_commune: bool  # the dossier belongs to a commune below the counter
    answers: dict[str, dict[str, Any]]
    data: dict[str, Any] = field(default_factory=dict)


PLANS = [
    Plan("XD-GPXD-01", "district", False, {
        "Task_ThamDinh": {"hop_le": True, "can_kiem_tra": True, "so_tang": 4, "dien_tich_xay_dung": 72.5},
        "Task_KiemTraThucDia": {"ket_qua_kiem_tra": "Phù hợp", "bien_ban": "Hiện trạng phù hợp hồ sơ"},
        "Task_DuThaoGiayPhep": {"so_giay_phep": "GPXD-2026/{n}"},
        "Task_PheDuyet": {"phe_duyet": True},
    }),
    Plan("HKD-DK-01", "district", False, {
        "Task_ThamDinh": {"ten_ho_kinh_doanh": "Hộ kinh doanh {name}", "chu_ho_kinh_doanh": "{name}",
                          "dia_diem_kinh_doanh": "{address}", "nganh_nghe": "Bán lẻ đồ uống",
                          "von_kinh_doanh": 150000000, "hop_le": True},
        "Task_CapMaSoThue": {"ma_so_thue": "8{n:09d}"},
        "Task_PheDuyet": {"phe_duyet": True, "ma_so_ho_kinh_doanh": "01A8{n:06d}"},
    }),
    Plan("HT-KS-01", "commune", False, {
        "Task_KiemTraHoSo": {"ho_ten_tre": "{name}", "ngay_sinh": "2026-01-15", "gioi_tinh": "Nữ",
                             "dan_toc": "Kinh", "quoc_tich": "Việt Nam", "noi_sinh": "Bệnh viện Phụ sản Hà Nội",
                             "hop_le": True},
        "Task_KyGiayKhaiSinh": {"phe_duyet": True},
    }),
    Plan("DD-GCN-01", "district", True, {
        "Task_KiemTraHoSo": {"hop_le": True},
        "Task_DoDac": {"so_to_ban_do": "12", "so_thua": "{n}", "dien_tich": 85.4},
        "Task_XacMinhNiemYet": {"nguon_goc_dat": "Đất ở sử dụng ổn định từ năm 1990",
                                "tinh_trang_tranh_chap": "Không tranh chấp", "phu_hop_quy_hoach": True},
        "Task_XacDinhNghiaVuTaiChinh": {"so_tien_thue": 12500000},
        "Task_ChoNopThue": {"da_nop_thue": True},
        "Task_ThamDinh": {"ket_qua_tham_dinh": "Đủ điều kiện cấp Giấy chứng nhận"},
        "Task_KyGiayChungNhan": {"phe_duyet": True},
    }),
    Plan("PAKN-01", "district", False, {
        "Task_XacMinh": {"ket_qua_xac_minh": "Đã kiểm tra tại chỗ", "de_xuat": "Trả lời công dân"},
        "Task_TraLoi": {"noi_dung_tra_loi": "Đơn vị đã tiếp thu và xử lý phản ánh."},
    }, {"responsible_unit": "qldt"}),
]

OUTCOMES = ["returned", "returned", "awaiting_return", "processing", "processing", "overdue", "supplement",
            "extended", "refused", "withdrawn"]


def build(ctx: Context, workflows: Path, *, dossiers: int = 90, seed: int = 2026) -> str:
    """Load the organisation and procedures; add ``dossiers`` demo dossiers if none exist yet."""
    with ctx.db.transaction() as session:
        org = load_organisation(session, read_organisation_file(workflows / "organisation.yaml"))
    since = ctx.clock.now() - timedelta(days=120)  # demo dossiers are received in the past
    files = sorted((workflows / "procedures").glob("*.bpmn"))
    with ctx.db.transaction() as session:
        results = [deploy(ctx, session, path.read_bytes(), file_name=path.name, effective_from=since)
                   for path in files]
    deployed = sum(1 for _, new in results if new)
    with ctx.db.reading() as session:
        existing = session.scalar(select(func.count(Dossier.id))) or 0
    made = 0 if existing or dossiers <= 0 else _play(ctx, dossiers, random.Random(seed))
    return (f"Organisation: {org.summary()}\nProcedures: {deployed} new version(s) of {len(results)} file(s)\n"
            f"Dossiers: {made} created ({existing} already there)")


def _play(ctx: Context, count: int, rng: random.Random) -> int:
    clock = FixedClock(SystemClock().now())
    demo_ctx = Context(db=ctx.db, settings=ctx.settings, clock=clock, specs=ctx.specs, calendars=ctx.calendars)
    real_now = clock.now()
    for n in range(count):
        plan = PLANS[n % len(PLANS)]
        outcome = OUTCOMES[(n // 3) % len(OUTCOMES)]  # every district gets every outcome
        clock.set(_start_time(demo_ctx, real_now, rng, outcome))
        _one(demo_ctx, plan, outcome, n, rng)
    return count


def _start_time(ctx: Context, now: datetime, rng: random.Random, outcome: str) -> datetime:
    """A past working moment: long ago for overdue dossiers, recent for fresh ones."""
    with ctx.db.reading() as session:
        calendar = ctx.calendar(session)
    back = {"overdue": 40, "returned": 25, "awaiting_return": 18}.get(outcome, 6)
    moment = now - timedelta(days=rng.randint(back, back + 6), hours=rng.randint(0, 6))
    return calendar.add_working_minutes(moment, rng.randint(0, 180))


def _one(ctx: Context, plan: Plan, outcome: str, n: int, rng: random.Random) -> None:
    person = _applicant(rng)
    fill = {"n": n + 1, "name": person["name"], "address": person["address"]}
    with ctx.db.transaction() as session:
        clerk, jurisdiction = _counter(session, plan, n)
        data = _plan_data(session, plan, clerk)
        dossier = receive(ctx, session, actor=clerk, procedure_code=plan.code, applicant=person,
                          jurisdiction_code=jurisdiction, data=data)
        code = dossier.code
    if outcome == "withdrawn":
        _counter_action(ctx, code, lambda s, d, u: lifecycle.withdraw(ctx, s, d, u, reason="Công dân xin rút hồ sơ"))
        return
    steps = {"processing": rng.randint(0, 3), "supplement": 1, "extended": 1, "refused": 1,
             "overdue": rng.randint(0, 1)}.get(outcome, 99)
    _advance(ctx, code, plan, fill, steps, rng)
    _finish(ctx, code, outcome, rng)


def _finish(ctx: Context, code: str, outcome: str, rng: random.Random) -> None:
    if outcome == "supplement":
        _counter_action(ctx, code, lambda s, d, u: lifecycle.request_supplement(
            ctx, s, d, u, reason="Bản vẽ thiếu chữ ký của chủ đầu tư", missing=["Bản vẽ thiết kế có chữ ký"]))
    elif outcome == "extended":
        _counter_action(ctx, code, lambda s, d, u: lifecycle.extend(
            ctx, s, d, u, reason="Cần lấy ý kiến cơ quan liên quan", extra_days=5))
    elif outcome == "refused":
        _counter_action(ctx, code, lambda s, d, u: lifecycle.refuse(
            ctx, s, d, u, reason="Hồ sơ không đủ điều kiện theo quy định"))
    elif outcome == "returned":
        ctx.clock.advance(hours=rng.randint(2, 30))
        _counter_action(ctx, code, lambda s, d, u: lifecycle.return_result(ctx, s, d, u, rating=rng.randint(3, 5)))


def _advance(ctx: Context, code: str, plan: Plan, fill: dict[str, Any], steps: int, rng: random.Random) -> None:
    for _ in range(steps):
        with ctx.db.reading() as session:
            tasks = list(session.scalars(select(Task).join(Dossier).where(
                Dossier.code == code, Task.state == TaskState.OPEN).order_by(Task.id)))
        if not tasks:
            return
        for task in tasks:
            ctx.clock.advance(hours=rng.randint(3, 40))
            with ctx.db.transaction() as session:
                user = _worker(session, task.unit_id)
                claim(ctx, session, task.id, user)
                complete(ctx, session, task.id, user, _fill(plan.answers[task.step], fill))


def _fill(template: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.format(**values) if isinstance(v, str) else v for k, v in template.items()}


def _counter_action(ctx: Context, code: str, action) -> None:
    ctx.clock.advance(hours=1)
    with ctx.db.transaction() as session:
        dossier = lifecycle.get_dossier(session, code)
        clerk = session.scalars(select(User).join(UserRole).where(
            User.unit_id == dossier.receiving_unit_id, UserRole.role == "clerk")).first()
        action(session, dossier, clerk)


def _counter(session, plan: Plan, n: int) -> tuple[User, str | None]:
    levels = list(session.scalars(select(Jurisdiction).where(Jurisdiction.level == plan.counter_level)
                                  .order_by(Jurisdiction.id)))
    jurisdiction = levels[n % len(levels)]
    counter = session.scalars(select(Unit).where(Unit.jurisdiction_id == jurisdiction.id,
                                                 Unit.type == "mot_cua")).first()
    clerk = session.scalars(select(User).join(UserRole).where(User.unit_id == counter.id,
                                                               UserRole.role == "clerk")).first()
    target = None
    if plan.in_commune:
        communes = list(session.scalars(select(Jurisdiction).where(Jurisdiction.parent_id == jurisdiction.id)
                                        .order_by(Jurisdiction.id)))
        target = communes[n % len(communes)].code
    return clerk, target


def _plan_data(session, plan: Plan, clerk: User) -> dict[str, Any]:
    """Fill unit-type placeholders (e.g. the responsible unit) with the counter's district unit."""
    data = dict(plan.data)
    if "responsible_unit" in data:
        unit = session.scalars(select(Unit).where(Unit.jurisdiction_id == clerk.unit.jurisdiction_id,
                                                  Unit.type == data["responsible_unit"])).first()
        data["responsible_unit"] = unit.code
    return data


def _worker(session, unit_id: int) -> User:
    return session.scalars(select(User).join(UserRole).where(
        User.unit_id == unit_id, UserRole.role.in_(("specialist", "leader"))).order_by(User.id)).first()


def _applicant(rng: random.Random) -> dict[str, str]:
    name = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    return {
        "name": name, "id_number": f"001{rng.randint(10**8, 10**9 - 1)}", "phone": f"09{rng.randint(10**7, 10**8 - 1)}",
        "address": f"Số {rng.randint(1, 200)} phố {rng.choice(STREETS)}, Hà Nội", "email": "",
    }
