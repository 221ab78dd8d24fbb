"""Sending the outbox by SMTP with the standard library.

Delivery is at least once: a worker leases a row in a short transaction,
calls the SMTP server outside any transaction, then marks the row sent.
If the process dies after the server accepted the mail but before the row
is marked, the lease runs out and that one mail is sent again; nothing is
ever lost. Several workers can share the outbox: the lease is taken with
``FOR UPDATE SKIP LOCKED`` on PostgreSQL (and under SQLite's single
writer lock), so two workers never hold the same row.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import select

from engine.context import Context
from engine.models import MailOutbox
from engine.settings import MailSettings

LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class Letter:
    id: int
    to: str
    subject: str
    body: str


def build_message(settings: MailSettings, letter: Letter) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = letter.to
    message["Subject"] = letter.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=f"motcua.{letter.id}")
    message.set_content(letter.body, charset="utf-8")
    return message


class Postman:
    """One SMTP connection, opened on the first letter and reused for the batch."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def send(self, letter: Letter) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        self._smtp.send_message(build_message(self.settings, letter))

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.settings.host, self.settings.port, timeout=self.settings.timeout)
        try:
            if self.settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.settings.user:
                smtp.login(self.settings.user, self.settings.password)
        except Exception:
            smtp.close()
            raise
        return smtp

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except smtplib.SMTPException:
                self._smtp.close()
            except OSError:
                pass
            self._smtp = None


def _lease(ctx: Context, now: datetime) -> Letter | None:
    with ctx.db.transaction() as session:
        row = session.scalar(
            select(MailOutbox)
            .where(MailOutbox.sent_at.is_(None), MailOutbox.lease_until <= now,
                   MailOutbox.attempts < MAX_ATTEMPTS)
            .order_by(MailOutbox.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if row is None:
            return None
        row.lease_until = now + LEASE
        row.attempts += 1
        return Letter(row.id, row.to_address, row.subject, row.body)


def _settle(ctx: Context, letter: Letter, now: datetime, error: str | None) -> None:
    with ctx.db.transaction() as session:
        row = session.get(MailOutbox, letter.id)
        if row is None:
            return
        if error is None:
            row.sent_at = now
            row.last_error = ""
        else:
            row.last_error = error[:2000]
            row.lease_until = now + timedelta(minutes=2 ** min(row.attempts, 8))


def send_pending(ctx: Context, *, limit: int = 200) -> int:
    """Send up to ``limit`` waiting mails; return how many the server accepted."""
    if not ctx.settings.mail.enabled:
        return 0
    postman = Postman(ctx.settings.mail)
    sent = 0
    try:
        for _ in range(limit):
            letter = _lease(ctx, ctx.clock.now())
            if letter is None:
                break
            try:
                postman.send(letter)
            except (smtplib.SMTPException, OSError) as exc:
                postman.close()
                _settle(ctx, letter, ctx.clock.now(), f"{type(exc).__name__}: {exc}")
                continue
            _settle(ctx, letter, ctx.clock.now(), None)
            sent += 1
    finally:
        postman.close()
    return sent
