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
class Settings:
    database_url: str
    instance_dir: Path
    calendar: CalendarSettings = field(default_factory=CalendarSettings)
    site_name: str = "Hệ thống một cửa điện tử"
    public_base_url: str = "http://127.0.0.1:5000"
    upload_limit_bytes: int = 20 * 1024 * 1024
    secret_key: str | None = None


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
        secret_key=env.get("MOTCUA_SECRET_KEY") or site.get("secret_key"),
    )


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
