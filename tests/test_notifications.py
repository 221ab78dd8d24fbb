"""Notifications: the bell (scoped to its owner) and e-mail through a real local SMTP server."""

from __future__ import annotations

import socket
from dataclasses import replace
from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from engine import mail
from engine.deadline_events import STEP_OVERDUE
from engine.models import MailOutbox, Notification, User
from engine.settings import MailSettings, WorkerSettings
from engine.worker import Worker
from tests.conftest import vn
from tests.helpers import receive_permit
from tests.web_helpers import app_for, csrf_token, signed_in

STEP_OVERDUE_AT = vn(2026, 3, 12, 9, 1)  # "Thẩm định hồ sơ" of a permit received Monday 2/3 09:00 is due at 09:00


class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], object]] = []

    async def handle_DATA(self, server, session, envelope):
        parsed = message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


def with_mail(ctx, port: int):
    ctx.settings = replace(ctx.settings, mail=MailSettings(host="127.0.0.1", port=port,
                                                           sender="Một cửa Hoàn Kiếm <motcua@hoankiem.example>"))
    return ctx


def set_email(ctx, username: str, email: str) -> None:
    with ctx.db.transaction() as session:
        session.execute(update(User).where(User.username == username).values(email=email))


def escalate(ctx, clock) -> str:
    """A permit whose first step is overdue, escalated to the unit's leader (no digest, to keep it to one)."""
    ctx.settings = replace(ctx.settings, worker=WorkerSettings(digest_at=None))
    code = receive_permit(ctx)
    clock.set(STEP_OVERDUE_AT)
    Worker(ctx).run_once()
    return code


# ------------------------------------------------------------------ e-mail


def test_an_escalation_is_mailed_in_vietnamese_through_smtp(deployed, clock, smtp):
    inbox, port = smtp
    with_mail(deployed, port)
    set_email(deployed, "hk.qldt.ld", "huong.dt@hoankiem.example")
    code = escalate(deployed, clock)
    overdue = [m for m in inbox.messages if "quá hạn ở bước" in m[2]["Subject"]]
    assert len(overdue) == 1
    sender, recipients, message = overdue[0]
    assert sender == "motcua@hoankiem.example" and recipients == ["huong.dt@hoankiem.example"]
    assert message["Subject"] == f"[Một cửa] Hồ sơ {code} quá hạn ở bước “Thẩm định hồ sơ”"
    body = message.get_content()
    assert "Phòng Quản lý đô thị quận Hoàn Kiếm" in body and "Đề nghị lãnh đạo đơn vị đôn đốc" in body
    assert f"http://127.0.0.1:5000/dossiers/{code}" in body
    with deployed.db.reading() as session:
        assert all(r.sent_at is not None for r in session.scalars(select(MailOutbox)))
    before = len(inbox.messages)
    Worker(deployed).run_once()
    assert len(inbox.messages) == before  # sent once, not again


def test_users_without_an_address_only_get_the_bell(deployed, clock, smtp):
    inbox, port = smtp
    with_mail(deployed, port)
    set_email(deployed, "hk.qldt.ld", "")
    escalate(deployed, clock)
    assert inbox.messages == []
    with deployed.db.reading() as session:
        assert session.scalars(select(Notification).where(Notification.kind == STEP_OVERDUE)).all()
        assert session.scalars(select(MailOutbox)).all() == []


def test_mail_waits_while_the_server_is_down_and_goes_out_later(deployed, clock, smtp):
    inbox, port = smtp
    with_mail(deployed, free_port())  # nobody listens there
    set_email(deployed, "hk.qldt.ld", "huong.dt@hoankiem.example")
    escalate(deployed, clock)
    with deployed.db.reading() as session:
        rows = session.scalars(select(MailOutbox)).all()
    assert rows and all(r.sent_at is None and r.last_error for r in rows)
    with_mail(deployed, port)
    clock.advance(hours=1)
    assert mail.send_pending(deployed) == len(rows)
    assert len(inbox.messages) == len(rows)


def test_a_crash_after_the_smtp_call_resends_that_one_mail_after_the_lease(deployed, clock, smtp, monkeypatch):
    """At least once: the row is marked sent after the SMTP call, so a crash in between resends it."""
    inbox, port = smtp
    with_mail(deployed, port)
    set_email(deployed, "hk.qldt.ld", "huong.dt@hoankiem.example")
    with monkeypatch.context() as patch:
        patch.setattr(mail, "send_pending", lambda ctx, **kw: 0)  # notifications queued, nothing sent yet
        escalate(deployed, clock)
    letter = mail._lease(deployed, clock.now())
    mail.Postman(deployed.settings.mail).send(letter)  # ... and the worker dies before marking it sent

    def copies() -> int:
        return [m[2]["Subject"] for m in inbox.messages].count(letter.subject)

    assert copies() == 1
    mail.send_pending(deployed)  # the other mails go; the lease keeps this one from a second worker meanwhile
    assert copies() == 1
    clock.advance(seconds=mail.LEASE.total_seconds() + 1)
    assert mail.send_pending(deployed) == 1
    assert copies() == 2


# ------------------------------------------------------------------ the bell


def test_the_bell_counts_only_the_user_s_own_unread_notifications(deployed, clock):
    escalate(deployed, clock)
    app = app_for(deployed)
    leader = signed_in(deployed, "hk.qldt.ld", app)
    other = signed_in(deployed, "hk.lanhdao", app)
    assert leader.get("/notifications/unread-count").get_json() == {"unread": 1}
    assert other.get("/notifications/unread-count").get_json() == {"unread": 0}
    badge = leader.get("/notifications/unread-count", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert ">1<" in badge
    home = leader.get("/inbox/").get_data(as_text=True)
    assert 'hx-get="/notifications/unread-count"' in home


def test_the_list_shows_the_notification_and_marking_it_read_opens_the_dossier(deployed, clock):
    code = escalate(deployed, clock)
    app = app_for(deployed)
    leader = signed_in(deployed, "hk.qldt.ld", app)
    page = leader.get("/notifications/").get_data(as_text=True)
    assert f"Hồ sơ {code} quá hạn ở bước “Thẩm định hồ sơ”" in page
    with deployed.db.reading() as session:
        note = session.scalars(select(Notification).join(Notification.user)
                               .where(User.username == "hk.qldt.ld")).one()
    token = csrf_token(leader, "/notifications/")
    response = leader.post(f"/notifications/{note.id}/read", data={"csrf_token": token, "open": "1"})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/dossiers/{code}")
    assert leader.get("/notifications/unread-count").get_json() == {"unread": 0}


def test_nobody_can_read_or_mark_another_user_s_notification(deployed, clock):
    escalate(deployed, clock)
    app = app_for(deployed)
    with deployed.db.reading() as session:
        note = session.scalars(select(Notification).join(Notification.user)
                               .where(User.username == "hk.qldt.ld")).one()
    intruder = signed_in(deployed, "hk.qldt.cv", app)
    assert note.title not in intruder.get("/notifications/").get_data(as_text=True)
    token = csrf_token(intruder, "/notifications/")
    assert intruder.post(f"/notifications/{note.id}/read", data={"csrf_token": token}).status_code == 404
    with deployed.db.reading() as session:
        assert session.get(Notification, note.id).read_at is None


def test_mark_all_read_and_sign_in_required(deployed, clock):
    escalate(deployed, clock)
    app = app_for(deployed)
    anonymous = app.test_client()
    assert anonymous.get("/notifications/").status_code in (302, 401)
    assert anonymous.get("/notifications/unread-count").status_code == 401
    assert anonymous.get("/notifications/unread-count", headers={"HX-Request": "true"}).get_data() == b""
    leader = signed_in(deployed, "hk.qldt.ld", app)
    token = csrf_token(leader, "/notifications/")
    assert leader.post("/notifications/read-all", data={"csrf_token": token}).status_code == 302
    assert leader.get("/notifications/unread-count").get_json() == {"unread": 0}


def test_smtp_login_is_used_when_a_user_is_configured(deployed, clock):
    from aiosmtpd.smtp import AuthResult

    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"bi-mat")

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), authenticator=authenticator,
                            auth_require_tls=False)
    controller.start()
    try:
        deployed.settings = replace(deployed.settings, mail=MailSettings(
            host="127.0.0.1", port=controller.port, user="motcua", password="bi-mat", sender="motcua@hk.example"))
        set_email(deployed, "hk.qldt.ld", "huong.dt@hoankiem.example")
        escalate(deployed, clock)
    finally:
        controller.stop()
    assert logins == [(b"motcua", b"bi-mat")]
    assert len(inbox.messages) == 1


def test_mail_settings_come_from_the_environment_over_the_file(tmp_path):
    from engine.errors import InvalidInput
    from engine.settings import load_settings

    config = tmp_path / "motcua.toml"
    config.write_text('[mail]\nhost = "smtp.file.example"\nport = 2525\nfrom = "a@file.example"\n'
                      '[worker]\ndigest_at = "08:15"\npoll_seconds = 30\n', encoding="utf-8")
    settings = load_settings({"MOTCUA_CONFIG": str(config), "MOTCUA_SMTP_PORT": "587",
                              "MOTCUA_SMTP_STARTTLS": "true", "MOTCUA_SMTP_PASSWORD": "x"})
    assert (settings.mail.host, settings.mail.port, settings.mail.starttls, settings.mail.sender) == (
        "smtp.file.example", 587, True, "a@file.example")
    assert settings.mail.enabled and settings.mail.password == "x"
    assert settings.worker.poll_seconds == 30 and settings.worker.digest_at.isoformat() == "08:15:00"
    assert load_settings({"MOTCUA_DIGEST_AT": ""}).worker.digest_at is None
    assert not load_settings({}).mail.enabled
    with pytest.raises(InvalidInput, match=r"\[mail\]"):
        load_settings({"MOTCUA_SMTP_STARTTLS": "perhaps"})
    with pytest.raises(InvalidInput, match=r"\[worker\]"):
        load_settings({"MOTCUA_DIGEST_AT": "7h30"})
