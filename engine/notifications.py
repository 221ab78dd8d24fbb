"""Messages to staff: a row in the recipient's bell, and an e-mail in the outbox when mail is on.

Notifications are written in the transaction of whatever caused them (the
worker's due work), so they exist exactly when that work is recorded done.
A user only ever sees and changes their own notifications.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.models import MailOutbox, Notification, User, UserRole
from engine.settings import Settings

MAIL_FOOTER = (
    "\n\n--\nThư này được gửi tự động từ {site}. Vui lòng không trả lời thư này."
)


def unit_members(session: Session, unit_id: int, roles: Iterable[str]) -> list[User]:
    """Active users of the unit holding one of ``roles``, in a stable order."""
    return list(
        session.scalars(
            select(User)
            .join(UserRole)
            .where(User.unit_id == unit_id, User.active.is_(True), UserRole.role.in_(tuple(roles)))
            .order_by(User.id)
        ).unique()
    )


def notify(
    session: Session,
    settings: Settings,
    users: Iterable[User],
    *,
    kind: str,
    title: str,
    body: str,
    now: datetime,
    link: str = "",
    dossier_id: int | None = None,
    due_work_id: int | None = None,
) -> list[Notification]:
    """One notification per distinct user, and an outbox mail for those with an address."""
    created: list[tuple[Notification, User]] = []
    seen: set[int] = set()
    for user in users:
        if user.id in seen:
            continue
        seen.add(user.id)
        note = Notification(user_id=user.id, due_work_id=due_work_id, dossier_id=dossier_id, kind=kind,
                            title=title[:300], body=body, link=link[:300], created_at=now)
        session.add(note)
        created.append((note, user))
    session.flush()
    if settings.mail.enabled:
        for note, user in created:
            if user.email:
                session.add(MailOutbox(
                    notification_id=note.id, to_address=user.email, subject=f"[Một cửa] {note.title}"[:300],
                    body=_mail_body(settings, note), created_at=now, lease_until=now, attempts=0,
                    last_error=""))
    return [note for note, _user in created]


def _mail_body(settings: Settings, note: Notification) -> str:
    text = note.body
    if note.link:
        text += f"\n\nXem chi tiết: {settings.public_base_url.rstrip('/')}{note.link}"
    return text + MAIL_FOOTER.format(site=settings.site_name)


def unread_count(session: Session, user_id: int) -> int:
    return int(session.scalar(
        select(func.count()).select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))) or 0)


def recent(session: Session, user_id: int, *, limit: int = 50, offset: int = 0,
           unread_only: bool = False) -> tuple[list[Notification], int]:
    """A page of the user's notifications, newest first, and how many there are in all."""
    where = [Notification.user_id == user_id]
    if unread_only:
        where.append(Notification.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(Notification).where(*where)) or 0
    rows = session.scalars(select(Notification).where(*where)
                           .order_by(Notification.created_at.desc(), Notification.id.desc())
                           .limit(limit).offset(offset))
    return list(rows), int(total)


def mark_read(session: Session, user_id: int, notification_id: int, now: datetime) -> Notification:
    """Mark one of the user's own notifications read; another user's is "not found"."""
    note = session.get(Notification, notification_id) if 0 < notification_id < 2**31 else None
    if note is None or note.user_id != user_id:
        raise NotFound(f"Notification {notification_id} does not exist")
    if note.read_at is None:
        note.read_at = now
    return note


def mark_all_read(session: Session, user_id: int, now: datetime) -> int:
    return session.execute(
        update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
