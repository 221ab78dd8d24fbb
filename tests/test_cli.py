"""The ``motcua`` command line, driven through click's test runner."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from cli.main import main
from engine.database import Database
from engine.models import Dossier, Procedure, ProcedureVersion, Task
from tests.lifecycle_helpers import ORG_FILE, PROCEDURE_FILES, WORKFLOWS_DIR, empty_database

PERMIT_FILE = WORKFLOWS_DIR / "procedures" / "giay-phep-xay-dung.bpmn"
LAND_FILE = WORKFLOWS_DIR / "procedures" / "cap-gcn-lan-dau.bpmn"
CODE_RE = re.compile(r"^(H26\.38\.01-\d{6}-\d{4})\s", re.M)


@pytest.fixture
def cli(db_url, monkeypatch, tmp_path):
    """Run ``motcua ARGS`` against the test database; returns the click Result."""
    monkeypatch.setenv("MOTCUA_DATABASE_URL", db_url)
    monkeypatch.setenv("MOTCUA_INSTANCE_DIR", str(tmp_path))
    monkeypatch.delenv("MOTCUA_CONFIG", raising=False)
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)

    run.db_url = db_url
    run.tmp_path = tmp_path
    return run


@pytest.fixture
def ready(cli):
    """The demo organisation and the permit procedure, loaded through the CLI."""
    assert cli("load-org", ORG_FILE).exit_code == 0
    assert cli("deploy", PERMIT_FILE).exit_code == 0
    return cli


def rows(url: str, model) -> list:
    db = Database(url)
    try:
        with db.reading() as session:
            return list(session.scalars(select(model)))
    finally:
        db.dispose()


def receive_one(cli) -> str:
    result = cli("receive", "--as", "hk.motcua", "--procedure", "XD-GPXD-01", "--name", "Trần Văn Bình",
                 "--id-number", "001085012345", "--phone", "0912345678")  # fmt: skip
    assert result.exit_code == 0, result.output
    return CODE_RE.search(result.stdout).group(1)


def open_task_id(url: str, code: str) -> int:
    db = Database(url)
    try:
        with db.reading() as session:
            return session.scalar(
                select(Task.id).join(Dossier).where(Dossier.code == code, Task.state == "open")
            )
    finally:
        db.dispose()


def test_init_db_creates_the_schema_on_an_empty_database(monkeypatch, tmp_path):
    from engine import schema

    with empty_database() as url:
        monkeypatch.setenv("MOTCUA_DATABASE_URL", url)
        monkeypatch.setenv("MOTCUA_INSTANCE_DIR", str(tmp_path))
        runner = CliRunner()
        result = runner.invoke(main, ["init-db"])
        assert result.exit_code == 0, result.output
        db = Database(url)
        try:
            head = schema.head_revision(db)
            assert f"revision {head}" in result.stdout
            assert schema.is_current(db)
        finally:
            db.dispose()
        again = runner.invoke(main, ["init-db"])
        assert again.exit_code == 0 and f"revision {head}" in again.stdout
        current = runner.invoke(main, ["db", "current"])
        assert current.exit_code == 0 and f"current: {head}  head: {head}" in current.stdout


def test_load_org_reports_what_it_created_then_nothing(cli):
    first = cli("load-org", ORG_FILE)
    assert first.exit_code == 0, first.output
    assert "jurisdictions: 10 created" in first.stdout and "users: 66 created" in first.stdout
    second = cli("load-org", ORG_FILE)
    assert second.exit_code == 0
    assert second.stdout.strip() == (
        "jurisdictions: 0 created, 0 updated; units: 0 created, 0 updated; users: 0 created, 0 updated"
    )


def test_load_org_with_an_unknown_unit_fails_with_the_problem(cli, tmp_path):
    bad = tmp_path / "org.yaml"
    bad.write_text(
        ORG_FILE.read_text(encoding="utf-8").replace('unit: "H26.38.03"', 'unit: "H26.38.99"'),
        encoding="utf-8",
    )
    result = cli("load-org", bad)
    assert result.exit_code == 1
    assert "H26.38.99" in result.stderr and "nothing was changed" in result.stderr
    assert result.stdout == ""
    assert rows(cli.db_url, Procedure) == [] and len(rows(cli.db_url, Dossier)) == 0


def test_deploy_prints_versions_and_is_idempotent(cli):
    assert cli("load-org", ORG_FILE).exit_code == 0
    result = cli("deploy", *PROCEDURE_FILES)
    assert result.exit_code == 0, result.output
    assert "giay-phep-xay-dung.bpmn: XD-GPXD-01 deployed as version 1" in result.stdout
    assert result.stdout.count("deployed as version 1") == len(PROCEDURE_FILES)
    again = cli("deploy", PERMIT_FILE)
    assert "XD-GPXD-01 unchanged, still version 1" in again.stdout


def test_deploy_of_a_broken_file_deploys_nothing_of_the_batch(cli, tmp_path):
    assert cli("load-org", ORG_FILE).exit_code == 0
    broken = tmp_path / "hong.bpmn"
    broken.write_text(
        PERMIT_FILE.read_text(encoding="utf-8").replace(
            'targetRef="Task_KiemTraThucDia"', 'targetRef="Task_KhongCo"', 1
        ),
        encoding="utf-8",
    )
    result = cli("deploy", LAND_FILE, broken)
    assert result.exit_code == 1
    assert "Flow_CanKiemTra" in result.stderr and "hong.bpmn" in result.stderr
    assert rows(cli.db_url, ProcedureVersion) == []


def test_validate_passes_good_files_and_fails_a_broken_one(cli, tmp_path):
    good = cli("validate", *PROCEDURE_FILES)
    assert good.exit_code == 0, good.output
    assert good.stdout.count(": executable (") == len(PROCEDURE_FILES)
    broken = tmp_path / "hong.bpmn"
    broken.write_text(
        PERMIT_FILE.read_text(encoding="utf-8").replace(
            'targetRef="Task_KiemTraThucDia"', 'targetRef="Task_KhongCo"', 1
        ),
        encoding="utf-8",
    )
    result = cli("validate", PERMIT_FILE, broken)
    assert result.exit_code == 1
    assert "hong.bpmn: NOT executable" in result.stdout
    assert "Flow_CanKiemTra" in result.stdout and "line" in result.stdout


def test_a_dossier_from_receipt_to_the_next_step(ready):
    cli = ready
    code = receive_one(cli)
    tasks = cli("tasks", "--as", "hk.qldt.cv")
    assert tasks.exit_code == 0, tasks.output
    assert "1 open task(s) for Phòng Quản lý đô thị quận Hoàn Kiếm" in tasks.stdout
    assert code in tasks.stdout and "Thẩm định hồ sơ" in tasks.stdout and "[-]" in tasks.stdout
    task_id = open_task_id(cli.db_url, code)
    assert f"#{task_id}" in tasks.stdout

    claimed = cli("claim", task_id, "--as", "hk.qldt.cv")
    assert claimed.exit_code == 0, claimed.output
    assert f"#{task_id} Thẩm định hồ sơ taken by hk.qldt.cv" in claimed.stdout
    assert "[hk.qldt.cv]" in cli("tasks", "--as", "hk.qldt.ld").stdout

    done = cli("complete", task_id, "--as", "hk.qldt.cv", "--data", "hop_le=true", "--data", "can_kiem_tra=true",
               "--data", "so_tang=4", "--data", "dia_diem_xay_dung=12 Hàng Bạc")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert f"#{task_id} done. {code}: processing. Next: #" in done.stdout
    assert "Kiểm tra thực địa (Phòng Quản lý đô thị quận Hoàn Kiếm)" in done.stdout

    shown = cli("show", code)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.startswith(f"{code}  Cấp giấy phép xây dựng nhà ở riêng lẻ (v1)")
    assert "applicant: Trần Văn Bình   status: processing" in shown.stdout
    assert "open: #" in shown.stdout and "Kiểm tra thực địa" in shown.stdout
    assert "1. Bộ phận Một cửa quận Hoàn Kiếm -> Phòng Quản lý đô thị quận Hoàn Kiếm" in shown.stdout


def test_text_fields_that_look_like_numbers_stay_text(ready):
    """--data so_giay_phep=123 must reach a text field as "123", not as the number 123."""
    cli = ready
    code = receive_one(cli)
    task_id = open_task_id(cli.db_url, code)
    assert cli("complete", task_id, "--as", "hk.qldt.cv", "--data", "hop_le=true",
               "--data", "can_kiem_tra=false").exit_code == 0  # fmt: skip
    draft = open_task_id(cli.db_url, code)
    result = cli("complete", draft, "--as", "hk.qldt.cv", "--data", "so_giay_phep=123")
    assert result.exit_code == 0, result.output
    [d] = [d for d in rows(cli.db_url, Dossier) if d.code == code]
    assert d.data["so_giay_phep"] == "123"


def test_unknown_user_is_a_usage_error(ready):
    result = ready("receive", "--as", "khong.co", "--procedure", "XD-GPXD-01", "--name", "A")
    assert result.exit_code == 2
    assert "khong.co" in result.stderr
    assert rows(ready.db_url, Dossier) == []
    assert ready("tasks", "--as", "khong.co").exit_code == 2


def test_unknown_procedure_fails_with_a_message(ready):
    result = ready("receive", "--as", "hk.motcua", "--procedure", "KHONG-CO", "--name", "A")
    assert result.exit_code == 1
    assert "Procedure KHONG-CO does not exist" in result.stderr
    assert result.stdout == ""


def test_bad_form_data_fails_and_lists_the_field(ready):
    code = receive_one(ready)
    task_id = open_task_id(ready.db_url, code)
    result = ready("complete", task_id, "--as", "hk.qldt.cv", "--data", "hop_le=maybe", "--data", "la=1")
    assert result.exit_code == 1
    assert "hop_le" in result.stderr and "can_kiem_tra" in result.stderr and "la" in result.stderr
    assert open_task_id(ready.db_url, code) == task_id  # still open
    malformed = ready("complete", task_id, "--as", "hk.qldt.cv", "--data", "hop_le")
    assert malformed.exit_code == 2 and "KEY=VALUE" in malformed.stderr


def test_other_errors_exit_1(ready):
    code = receive_one(ready)
    task_id = open_task_id(ready.db_url, code)
    forbidden = ready("claim", task_id, "--as", "bd.qldt.cv")
    assert forbidden.exit_code == 1 and "another unit" in forbidden.stderr
    missing = ready("show", "H26.38.01-000000-9999")
    assert missing.exit_code == 1 and "does not exist" in missing.stderr
    no_task = ready("claim", 999999, "--as", "hk.qldt.cv")
    assert no_task.exit_code == 1 and "999999" in no_task.stderr
    outside = ready(
        "receive", "--as", "hk.motcua", "--procedure", "XD-GPXD-01", "--name", "A", "--jurisdiction", "KIMMA"
    )
    assert outside.exit_code == 1 and "outside" in outside.stderr


def test_demo_builds_a_working_database(cli):
    pytest.importorskip("engine.demo")
    result = cli("demo", "--dossiers", "3")
    assert result.exit_code == 0, result.output
    assert len(rows(cli.db_url, Dossier)) == 3


def test_deploy_with_an_effective_date(cli):
    assert cli("load-org", ORG_FILE).exit_code == 0
    assert cli("deploy", PERMIT_FILE).exit_code == 0
    changed = PERMIT_FILE.read_text(encoding="utf-8").replace(
        '<motcua:step days="8" />', '<motcua:step days="6" />'
    )
    path = cli.tmp_path / "giay-phep-xay-dung.bpmn"
    path.write_text(changed, encoding="utf-8")
    result = cli("deploy", "--effective-from", "01/07/2030", path)
    assert result.exit_code == 0 and "XD-GPXD-01 deployed as version 2" in result.stdout
    again = cli("deploy", "--effective-from", "01/07/2030", path)
    assert "unchanged, still version 2" in again.stdout
    [v2] = [v for v in rows(cli.db_url, ProcedureVersion) if v.version == 2]
    assert v2.effective_from.isoformat() == "2030-06-30T17:00:00+00:00"  # midnight in Hà Nội
    bad = cli("deploy", "--effective-from", "2030-07-01", path)
    assert bad.exit_code == 2 and "dd/mm/yyyy" in bad.stderr


def test_a_missing_configuration_file_is_an_error_not_a_crash(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("MOTCUA_CONFIG", str(tmp_path / "none.toml"))
    result = cli("tasks", "--as", "hk.motcua")
    assert result.exit_code == 1
    assert "none.toml" in result.stderr and "does not exist" in result.stderr


def test_commands_on_a_database_without_schema_point_to_init_db(monkeypatch, tmp_path):
    with empty_database() as url:
        monkeypatch.setenv("MOTCUA_DATABASE_URL", url)
        monkeypatch.setenv("MOTCUA_INSTANCE_DIR", str(tmp_path))
        result = CliRunner().invoke(main, ["tasks", "--as", "hk.motcua"], catch_exceptions=False)
    assert result.exit_code == 1
    assert "init-db" in result.stderr
