"""Deadline events: reminders, escalations and the daily digest, planned and handled.

Planning looks at open steps and dossiers and records due work a little
ahead of its moment (:func:`plan_deadlines`); each kind has a handler that
re-checks the facts when the moment comes, so a step finished, a dossier
extended or a clock stopped in the meantime produces no stale message.
A reference carries the due date it was planned for: a due date that moves
(extension, pause) plans a fresh row instead of reusing the old one.

- ``step_reminder``: one working day before a step's due time, to the person
  who took the step (or the whole unit if nobody did). It is the last
  moment to send the citizen an apology with a new date (form 04).
- ``step_overdue``: when a step's due time passes, to the unit's leaders.
- ``dossier_overdue``: when the dossier's return date passes, to the leaders
  of the units that hold it.
- ``daily_digest``: on working days at the configured time, to each unit's
  leaders: what is open, overdue and due soon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from engine.calendar import WorkCalendar
from engine.due_work import plan_many
from engine.models import Dossier, DossierStatus, DueWork, Task, TaskState, Unit, User, UserRole
from engine.notifications import notify, unit_members
from engine.settings import Settings

LOOKAHEAD = timedelta(hours=1)  # plan rows this long before they fall due
HORIZON = timedelta(days=21)  # steps due further away are not looked at yet
PAUSED_RETRY = timedelta(minutes=30)
OVERDUE_AFTER = timedelta(minutes=1)  # done exactly at the due moment is still on time (handoffs.judge)
DIGEST_LIST = 10
HANDLING_ROLES = ("clerk", "specialist", "leader")

STEP_REMINDER = "step_reminder"
STEP_OVERDUE = "step_overdue"
DOSSIER_OVERDUE = "dossier_overdue"
DAILY_DIGEST = "daily_digest"


@dataclass(frozen=True)
class Postpone:
    """Handler's answer: nothing done yet, look again at ``until``."""

    until: datetime


Outcome = str | Postpone
Handler = Callable[["Situation", Session, DueWork], Outcome]


@dataclass(frozen=True)
class Situation:
    """What a handler needs besides the session: the moment, the calendar, the settings."""

    now: datetime
    calendar: WorkCalendar
    settings: Settings

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.calendar.settings.timezone)

    def local(self, moment: datetime) -> str:
        return moment.astimezone(self.tz).strftime("%H:%M %d/%m/%Y")


def stamp(moment: datetime) -> str:
    """A due moment as written in references (UTC, ISO 8601)."""
    return moment.astimezone(ZoneInfo("UTC")).isoformat()


def one_working_day_before(calendar: WorkCalendar, due: datetime) -> datetime:
    """The moment one full working day before ``due``: the same clock time on the previous working day."""
    local = due.astimezone(ZoneInfo(calendar.settings.timezone))
    day = local.date() - timedelta(days=1)
    while not calendar.is_working_day(day):
        day -= timedelta(days=1)
    return datetime.combine(day, local.timetz())


# ------------------------------------------------------------------ planning


def plan_deadlines(session: Session, situation: Situation) -> int:
    """Record the reminders, escalations and digests that fall due within the look-ahead."""
    now, calendar = situation.now, situation.calendar
    soon = now + LOOKAHEAD
    items: list[tuple[str, str, datetime]] = []
    rows = session.execute(
        select(Task.id, Task.due_at, Task.created_at)
        .join(Dossier, Task.dossier_id == Dossier.id)
        .where(Task.state == TaskState.OPEN, Task.clock_paused.is_(False), Task.due_at <= now + HORIZON,
               Dossier.status == DossierStatus.PROCESSING, Dossier.paused_since.is_(None)))
    for task_id, due, created in rows:
        reference = f"task:{task_id}@{stamp(due)}"
        reminder = one_working_day_before(calendar, due)
        if created < reminder <= soon:
            items.append((STEP_REMINDER, reference, reminder))
        if due + OVERDUE_AFTER <= soon:
            items.append((STEP_OVERDUE, reference, due + OVERDUE_AFTER))
    for dossier_id, due in session.execute(
        select(Dossier.id, Dossier.due_at).where(
            Dossier.status == DossierStatus.PROCESSING, Dossier.paused_since.is_(None),
            Dossier.due_at <= soon - OVERDUE_AFTER)):
        items.append((DOSSIER_OVERDUE, f"dossier:{dossier_id}@{stamp(due)}", due + OVERDUE_AFTER))
    items.extend(_digests(session, situation))
    plan_many(session, items, now)
    return len(items)


def _digests(session: Session, situation: Situation) -> list[tuple[str, str, datetime]]:
    at = situation.settings.worker.digest_at
    if at is None:
        return []
    today = situation.now.astimezone(situation.tz).date()
    if not situation.calendar.is_working_day(today):
        return []
    moment = datetime.combine(today, at, situation.tz)
    if moment > situation.now + LOOKAHEAD:
        return []
    units = session.scalars(
        select(User.unit_id).join(UserRole).where(UserRole.role == "leader", User.active.is_(True)).distinct())
    return [(DAILY_DIGEST, f"unit:{unit_id}@{today.isoformat()}", moment) for unit_id in sorted(units)]


# ------------------------------------------------------------------ handlers


def _parse(reference: str) -> tuple[int, str]:
    head, _, when = reference.partition("@")
    return int(head.split(":", 1)[1]), when


def _open_task(session: Session, reference: str) -> Task | None:
    task_id, when = _parse(reference)
    task = session.scalar(select(Task).where(Task.id == task_id)
                          .options(joinedload(Task.dossier), joinedload(Task.unit), joinedload(Task.claimed_by)))
    if task is None or task.state != TaskState.OPEN or stamp(task.due_at) != when:
        return None
    return task


def _still_running(dossier: Dossier, situation: Situation) -> Outcome | None:
    """None if the dossier's clock runs; otherwise why the row is done or when to look again."""
    if dossier.status not in (DossierStatus.PROCESSING, DossierStatus.AWAITING_SUPPLEMENT):
        return "closed"
    if dossier.paused_since is not None:
        return Postpone(situation.now + PAUSED_RETRY)
    return None


def remind_step(situation: Situation, session: Session, row: DueWork) -> Outcome:
    task = _open_task(session, row.reference)
    if task is None:
        return "stale"
    blocked = _still_running(task.dossier, situation)
    if blocked is not None:
        return blocked
    if situation.now >= task.due_at:
        return "too_late"
    holder = task.claimed_by if task.claimed_by is not None and task.claimed_by.active else None
    people = [holder] if holder else unit_members(session, task.unit_id, HANDLING_ROLES)
    dossier = task.dossier
    notify(session, situation.settings, people, kind=STEP_REMINDER, now=situation.now, due_work_id=row.id,
           dossier_id=dossier.id, link=f"/inbox/tasks/{task.id}",
           title=f"Hồ sơ {dossier.code} còn 1 ngày làm việc đến hạn bước “{task.step_name}”",
           body=(f"Bước “{task.step_name}” của hồ sơ {dossier.code} (người nộp: {dossier.applicant_name}) "
                 f"đến hạn lúc {situation.local(task.due_at)}.\n"
                 "Nếu không thể giải quyết đúng hạn, đơn vị cần gửi văn bản xin lỗi và hẹn lại ngày trả "
                 "kết quả cho công dân (Mẫu số 04) ngay bây giờ; đây là thời điểm cuối cùng để làm việc đó."))
    return f"sent:{len(people)}"


def escalate_step(situation: Situation, session: Session, row: DueWork) -> Outcome:
    task = _open_task(session, row.reference)
    if task is None:
        return "stale"
    blocked = _still_running(task.dossier, situation)
    if blocked is not None:
        return blocked
    leaders = unit_members(session, task.unit_id, ("leader",))
    dossier = task.dossier
    holder = f"Người đang xử lý: {task.claimed_by.full_name}." if task.claimed_by else "Chưa có người nhận xử lý."
    notify(session, situation.settings, leaders, kind=STEP_OVERDUE, now=situation.now, due_work_id=row.id,
           dossier_id=dossier.id, link=f"/dossiers/{dossier.code}",
           title=f"Hồ sơ {dossier.code} quá hạn ở bước “{task.step_name}”",
           body=(f"Bước “{task.step_name}” của hồ sơ {dossier.code} (người nộp: {dossier.applicant_name}) "
                 f"do {task.unit.name} xử lý đã quá hạn từ {situation.local(task.due_at)}. {holder}\n"
                 "Đề nghị lãnh đạo đơn vị đôn đốc giải quyết."))
    return f"sent:{len(leaders)}"


def escalate_dossier(situation: Situation, session: Session, row: DueWork) -> Outcome:
    dossier_id, when = _parse(row.reference)
    dossier = session.get(Dossier, dossier_id)
    if dossier is None:
        return "closed"
    if stamp(dossier.due_at) != when:
        return "stale"
    blocked = _still_running(dossier, situation)
    if blocked is not None:
        return blocked
    open_rows = list(session.scalars(select(Task).where(Task.dossier_id == dossier.id, Task.state == TaskState.OPEN)
                                     .options(joinedload(Task.unit)).order_by(Task.id)))
    unit_ids = list(dict.fromkeys(t.unit_id for t in open_rows)) or [dossier.receiving_unit_id]
    leaders = [u for unit_id in unit_ids for u in unit_members(session, unit_id, ("leader",))]
    where = "; ".join(f"“{t.step_name}” ({t.unit.name})" for t in open_rows) or "chưa có bước đang mở"
    notify(session, situation.settings, leaders, kind=DOSSIER_OVERDUE, now=situation.now, due_work_id=row.id,
           dossier_id=dossier.id, link=f"/dossiers/{dossier.code}",
           title=f"Hồ sơ {dossier.code} đã quá hạn trả kết quả",
           body=(f"Hồ sơ {dossier.code} (người nộp: {dossier.applicant_name}) có hạn trả kết quả "
                 f"{situation.local(dossier.due_at)} nhưng chưa giải quyết xong.\n"
                 f"Đang ở bước: {where}.\n"
                 "Đề nghị lãnh đạo chỉ đạo giải quyết và thông báo xin lỗi công dân nếu chưa làm."))
    return f"sent:{len(leaders)}"


def send_digest(situation: Situation, session: Session, row: DueWork) -> Outcome:
    unit_id, day_text = _parse(row.reference)
    unit = session.get(Unit, unit_id)
    leaders = unit_members(session, unit_id, ("leader",)) if unit is not None else []
    if not leaders:
        return "no_leader"
    tasks = list(session.scalars(
        select(Task).join(Dossier, Task.dossier_id == Dossier.id)
        .where(Task.unit_id == unit_id, Task.state == TaskState.OPEN)
        .options(joinedload(Task.dossier)).order_by(Task.due_at, Task.id)))
    if not tasks:
        return "empty"
    now = situation.now
    overdue = [t for t in tasks if t.dossier.paused_since is None and t.due_at < now]
    soon = [t for t in tasks if t.dossier.paused_since is None and now <= t.due_at
            and situation.calendar.working_days_between(now, t.due_at) <= 1]
    paused = [t for t in tasks if t.dossier.paused_since is not None]
    day = date.fromisoformat(day_text)
    lines = [
        f"Tình hình hồ sơ của {unit.name} đầu ngày {day.strftime('%d/%m/%Y')}:",
        f"- Đang xử lý: {len(tasks)} bước",
        f"- Quá hạn: {len(overdue)}",
        f"- Đến hạn trong 1 ngày làm việc: {len(soon)}",
        f"- Đang tạm dừng (chờ bổ sung, chờ nghĩa vụ tài chính): {len(paused)}",
    ]
    for heading, group in (("Hồ sơ quá hạn", overdue), ("Hồ sơ sắp đến hạn", soon)):
        if group:
            lines += ["", f"{heading}:"]
            lines += [f"- {t.dossier.code}: “{t.step_name}”, hạn {situation.local(t.due_at)}"
                      for t in group[:DIGEST_LIST]]
            if len(group) > DIGEST_LIST:
                lines.append(f"- … và {len(group) - DIGEST_LIST} hồ sơ khác")
    notify(session, situation.settings, leaders, kind=DAILY_DIGEST, now=now, due_work_id=row.id,
           link="/inbox/", title=f"Tổng hợp hồ sơ ngày {day.strftime('%d/%m/%Y')}: {unit.name}",
           body="\n".join(lines))
    return f"sent:{len(leaders)}"


HANDLERS: dict[str, Handler] = {
    STEP_REMINDER: remind_step,
    STEP_OVERDUE: escalate_step,
    DOSSIER_OVERDUE: escalate_dossier,
    DAILY_DIGEST: send_digest,
}
