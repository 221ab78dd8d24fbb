"""Site settings from the environment and an optional TOML file.

Environment variables win over the file so that one file can serve several
processes of a deployment that differ only in, say, the database URL.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

from engine.calendar import CalendarSettings
from engine.errors import InvalidInput

PROJECT_ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS_DIR = PROJECT_ROOT / "workflows"


@dataclass(frozen=True)
class MailSettings:
    """SMTP for notification e-mail; no host means mail stays in the app (the bell only)."""

    host: str = ""
    port: int = 25
    user: str = ""
    password: str = ""
    starttls: bool = False
    sender: str = "motcua@localhost"
    timeout: float = 30.0

    @property
    def enabled(self) -> bool:
        return bool(self.host)


@dataclass(frozen=True)
class WorkerSettings:
    """When the worker looks for due work and when unit heads get their daily digest.

    ``digest_at`` is a local time on working days; ``None`` turns the digest off.
    """

    poll_seconds: float = 60.0
    digest_at: time | None = time(7, 30)


@dataclass(frozen=True)
class Settings:
    database_url: str
    instance_dir: Path
    calendar: CalendarSettings = field(default_factory=CalendarSettings)
    site_name: str = "Hệ thống một cửa điện tử"
    public_base_url: str = "http://127.0.0.1:5000"
    upload_limit_bytes: int = 20 * 1024 * 1024
    secret_key: str | None = None
    metrics_token: str | None = None
    trusted_proxies: int = 0
    mail: MailSettings = field(default_factory=MailSettings)
    worker: WorkerSettings = field(default_factory=WorkerSettings)


def default_database_url(instance_dir: Path) -> str:
    return f"sqlite:///{instance_dir / 'motcua.db'}"


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read ``MOTCUA_*`` variables and the file named by ``MOTCUA_CONFIG``."""
    env = dict(os.environ if env is None else env)
    instance_dir = Path(env.get("MOTCUA_INSTANCE_DIR", PROJECT_ROOT / "instance"))
    data = _read_file(env.get("MOTCUA_CONFIG"))
    site = data.get("site", {})
    return Settings(
        database_url=env.get("MOTCUA_DATABASE_URL")
        or data.get("database", {}).get("url")
        or default_database_url(instance_dir),
        instance_dir=instance_dir,
        calendar=_calendar_settings(data.get("calendar", {})),
        site_name=site.get("name", Settings.site_name),
        public_base_url=env.get("MOTCUA_PUBLIC_BASE_URL")
        or site.get("public_base_url", Settings.public_base_url),
        upload_limit_bytes=int(site.get("upload_limit_mb", 20)) * 1024 * 1024,
        secret_key=env.get("MOTCUA_SECRET_KEY") or site.get("secret_key") or read_secret_key_file(instance_dir),
        metrics_token=env.get("MOTCUA_METRICS_TOKEN") or site.get("metrics_token"),
        trusted_proxies=_whole_number(env.get("MOTCUA_TRUSTED_PROXIES", site.get("trusted_proxies", 0)),
                                      "MOTCUA_TRUSTED_PROXIES"),
        mail=_mail_settings(env, data.get("mail", {})),
        worker=_worker_settings(env, data.get("worker", {})),
    )


def _mail_settings(env: dict[str, str], section: dict[str, Any]) -> MailSettings:
    """``MOTCUA_SMTP_*`` variables over the ``[mail]`` table of the file."""
    default = MailSettings()

    def pick(name: str, key: str, fallback: Any) -> Any:
        value = env.get(f"MOTCUA_SMTP_{name}")
        return value if value is not None else section.get(key, fallback)

    try:
        return MailSettings(
            host=str(pick("HOST", "host", default.host)),
            port=int(pick("PORT", "port", default.port)),
            user=str(pick("USER", "user", default.user)),
            password=str(pick("PASSWORD", "password", default.password)),
            starttls=_flag(pick("STARTTLS", "starttls", default.starttls)),
            sender=str(pick("FROM", "from", default.sender)),
            timeout=float(pick("TIMEOUT", "timeout", default.timeout)),
        )
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"Invalid [mail] settings: {exc}") from exc


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not true or false")


def _worker_settings(env: dict[str, str], section: dict[str, Any]) -> WorkerSettings:
    """``MOTCUA_WORKER_POLL_SECONDS`` and ``MOTCUA_DIGEST_AT`` over the ``[worker]`` table."""
    default = WorkerSettings()
    try:
        poll = float(env.get("MOTCUA_WORKER_POLL_SECONDS") or section.get("poll_seconds", default.poll_seconds))
        digest = env.get("MOTCUA_DIGEST_AT")
        if digest is None:
            digest = section.get("digest_at", "07:30")
        if poll <= 0:
            raise ValueError("poll_seconds must be positive")
        return WorkerSettings(poll_seconds=poll, digest_at=time.fromisoformat(digest) if digest else None)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"Invalid [worker] settings: {exc}") from exc


SECRET_KEY_FILE = "secret_key"


def read_secret_key_file(instance_dir: Path) -> str | None:
    """The key every process of an installation shares, kept in ``<instance>/secret_key``.

    Signed session cookies must verify in whichever process gets the next
    request; ``motcua serve --production`` writes this file once when neither
    ``MOTCUA_SECRET_KEY`` nor the configuration file gives a key.
    """
    try:
        return (instance_dir / SECRET_KEY_FILE).read_text(encoding="ascii").strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


def _whole_number(value: object, name: str) -> int:
    try:
        number = int(str(value))
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a whole number, not {value!r}") from exc
    if number < 0:
        raise InvalidInput(f"{name} must not be negative")
    return number


def _read_file(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise InvalidInput(f"Configuration file {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"Configuration file {path} is not valid TOML: {exc}") from exc


def _calendar_settings(section: dict[str, Any]) -> CalendarSettings:
    default = CalendarSettings()
    try:
        periods = (
            tuple(
                (time.fromisoformat(start), time.fromisoformat(end))
                for start, end in section.get("working_periods", [])
            )
            or default.periods
        )
        return CalendarSettings(
            timezone=section.get("timezone", default.timezone),
            periods=periods,
            cutoff=time.fromisoformat(section["cutoff"]) if "cutoff" in section else default.cutoff,
            country=section.get("country", default.country),
        )
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"Invalid [calendar] settings: {exc}") from exc
