"""Settings come from the environment and an optional TOML file; bad values are clear errors."""

from __future__ import annotations

from datetime import time

import pytest

from engine.errors import InvalidInput
from engine.settings import load_settings


def test_defaults_put_sqlite_under_the_instance_directory(tmp_path):
    settings = load_settings({"MOTCUA_INSTANCE_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'motcua.db'}"
    assert settings.calendar.cutoff == time(15)


def test_file_sets_calendar_and_site_and_environment_wins(tmp_path):
    config = tmp_path / "motcua.toml"
    config.write_text(
        '[database]\nurl = "sqlite:///from-file.db"\n'
        '[site]\nname = "Trung tâm HCC"\nupload_limit_mb = 5\n'
        '[calendar]\ncutoff = "16:00"\nworking_periods = [["07:30", "11:30"], ["13:30", "17:00"]]\n',
        encoding="utf-8",
    )
    settings = load_settings({"MOTCUA_CONFIG": str(config), "MOTCUA_DATABASE_URL": "sqlite:///env.db"})
    assert settings.database_url == "sqlite:///env.db"
    assert settings.site_name == "Trung tâm HCC" and settings.upload_limit_bytes == 5 * 1024 * 1024
    assert settings.calendar.cutoff == time(16)
    assert settings.calendar.periods[0] == (time(7, 30), time(11, 30))


@pytest.mark.parametrize(
    "body",
    ['[calendar]\ncutoff = "25:00"\n', '[calendar]\nworking_periods = [["12:00", "08:00"]]\n', "not toml ["],
)
def test_bad_file_is_a_clear_error(tmp_path, body):
    config = tmp_path / "bad.toml"
    config.write_text(body, encoding="utf-8")
    with pytest.raises(InvalidInput):
        load_settings({"MOTCUA_CONFIG": str(config)})


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        load_settings({"MOTCUA_CONFIG": str(tmp_path / "absent.toml")})
