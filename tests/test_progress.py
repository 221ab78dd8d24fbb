"""A dossier on its diagram: steps done, steps open, the path taken and the working time per step."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.models import Dossier
from engine.progress import build_graph, dossier_progress
from engine.settings import WORKFLOWS_DIR
from tests.helpers import do_step, receive_permit
from tests.lifecycle_helpers import LAND, LAND_TO_TAX, fast_deployed

PERMIT_FILE = WORKFLOWS_DIR / "procedures" / "giay-phep-xay-dung.bpmn"


@pytest.fixture
def demo(ctx):
    return fast_deployed(ctx)


def progress_of(ctx, code: str):
    with ctx.db.reading() as session:
        dossier = session.scalar(select(Dossier).where(Dossier.code == code))
        return dossier_progress(ctx, session, dossier)


def step_of(progress, step: str):
    return next(s for s in progress.steps if s.step == step)


def test_graph_reads_flows_of_the_process():
    graph = build_graph(PERMIT_FILE.read_bytes(), "CapGiayPhepXayDung")
    assert graph.flows["Flow_KhongDongY"] == ("Gateway_PheDuyet", "Task_ThamDinh")
    assert set(graph.incoming["Task_ThamDinh"]) == {"Flow_BatDau", "Flow_KhongDongY"}
    assert graph.is_human("Task_PheDuyet") and not graph.is_human("Gateway_PheDuyet")
    assert graph.kinds["End_CoKetQua"] == "endEvent"


def test_new_dossier_is_at_its_first_step(demo):
    code = receive_permit(demo)
    progress = progress_of(demo, code)
    assert progress.completed == ()
    assert progress.current == ("Task_ThamDinh",)
    assert progress.path == ("Flow_BatDau",)
    assert "Start_NhanHoSo" in progress.passed
    assert not progress.finished


def test_rework_loop_path_and_time_per_pass(demo, clock):
    """Site check, a refusal by the leader, the rework without site check, then approval."""
    code = receive_permit(demo)  # Monday 02/03/2026 09:00
    clock.advance(hours=2)  # 120 working minutes
    do_step(demo, code, "Task_ThamDinh", {"hop_le": True, "can_kiem_tra": True})
    clock.advance(days=1)  # Tuesday 11:00: a whole working day
    do_step(demo, code, "Task_KiemTraThucDia", {"ket_qua_kiem_tra": "Phù hợp"})
    clock.advance(hours=1)
    do_step(demo, code, "Task_DuThaoGiayPhep", {"so_giay_phep": "1/GPXD"})

    middle = progress_of(demo, code)
    assert middle.current == ("Task_PheDuyet",)
    assert middle.completed == ("Task_ThamDinh", "Task_KiemTraThucDia", "Task_DuThaoGiayPhep")
    assert middle.path == ("Flow_BatDau", "Flow_ThamDinhXong", "Flow_HopLe", "Flow_CanKiemTra",
                           "Flow_KiemTraXong", "Flow_PhuHop", "Flow_DuThao", "Flow_TrinhKy")

    clock.advance(hours=1)  # Tuesday 13:00 (the lunch hour is not working time)
    do_step(demo, code, "Task_PheDuyet", {"phe_duyet": False})
    clock.advance(hours=3)  # 16:00
    do_step(demo, code, "Task_ThamDinh", {"hop_le": True, "can_kiem_tra": False})
    clock.advance(hours=1)
    do_step(demo, code, "Task_DuThaoGiayPhep", {"so_giay_phep": "2/GPXD"})
    clock.advance(days=1)
    do_step(demo, code, "Task_PheDuyet", {"phe_duyet": True})

    progress = progress_of(demo, code)
    assert progress.finished and progress.current == ()
    segments = [(s.source, s.target, s.flows) for s in progress.segments]
    assert segments == [
        ("Start_NhanHoSo", "Task_ThamDinh", ("Flow_BatDau",)),
        ("Task_ThamDinh", "Task_KiemTraThucDia", ("Flow_ThamDinhXong", "Flow_HopLe", "Flow_CanKiemTra")),
        ("Task_KiemTraThucDia", "Task_DuThaoGiayPhep", ("Flow_KiemTraXong", "Flow_PhuHop", "Flow_DuThao")),
        ("Task_DuThaoGiayPhep", "Task_PheDuyet", ("Flow_TrinhKy",)),
        ("Task_PheDuyet", "Task_ThamDinh", ("Flow_PheDuyetXong", "Flow_KhongDongY")),
        ("Task_ThamDinh", "Task_DuThaoGiayPhep",
         ("Flow_ThamDinhXong", "Flow_HopLe", "Flow_KhongKiemTra", "Flow_DuThao")),
        ("Task_DuThaoGiayPhep", "Task_PheDuyet", ("Flow_TrinhKy",)),
        ("Task_PheDuyet", "End_CoKetQua", ("Flow_PheDuyetXong", "Flow_DongY")),
    ]
    assert "Flow_KhongHopLe" not in progress.path and "Flow_TuChoi" not in progress.path
    assert {"Gateway_PheDuyet", "Gateway_HopNhanh", "End_CoKetQua"} <= set(progress.passed)
    assert "Gateway_KetQuaKiemTra" in progress.passed

    appraisal = step_of(progress, "Task_ThamDinh")
    assert appraisal.passes == 2
    assert appraisal.working_minutes == 120 + 180  # 09:00-11:00 on Monday, then 13:00-16:00 on Tuesday
    assert len(appraisal.units) == 1 and "Quản lý đô thị" in appraisal.units[0]
    assert step_of(progress, "Task_KiemTraThucDia").working_minutes == 480
    assert step_of(progress, "Task_PheDuyet").passes == 2
    # First pass 12:00-13:00 on Tuesday is the lunch hour (0 minutes); second pass a whole day.
    assert step_of(progress, "Task_PheDuyet").working_minutes == 0 + 480


def test_open_pass_counts_up_to_now(demo, clock):
    code = receive_permit(demo)
    clock.advance(hours=3)  # 09:00 -> 12:00
    progress = progress_of(demo, code)
    assert step_of(progress, "Task_ThamDinh").working_minutes == 180
    assert step_of(progress, "Task_ThamDinh").current


def test_parallel_branches_join(demo, clock):
    """DD-GCN-01: survey and verification run side by side and both lead into the tax step."""
    code = receive_permit(demo, procedure_code=LAND, jurisdiction_code="HANGBAC")
    do_step(demo, code, "Task_KiemTraHoSo", LAND_TO_TAX["Task_KiemTraHoSo"])
    after_split = progress_of(demo, code)
    assert set(after_split.current) == {"Task_DoDac", "Task_XacMinhNiemYet"}
    assert {"Flow_DenDoDac", "Flow_DenXacMinh", "Flow_HopLe"} <= set(after_split.path)

    clock.advance(hours=1)
    do_step(demo, code, "Task_XacMinhNiemYet", LAND_TO_TAX["Task_XacMinhNiemYet"])
    one_branch = progress_of(demo, code)
    assert one_branch.current == ("Task_DoDac",)
    assert "Flow_ChuyenThue" not in one_branch.path

    clock.advance(hours=1)
    do_step(demo, code, "Task_DoDac", LAND_TO_TAX["Task_DoDac"])
    joined = progress_of(demo, code)
    assert joined.current == ("Task_XacDinhNghiaVuTaiChinh",)
    into_tax = [(s.source, s.flows) for s in joined.segments if s.target == "Task_XacDinhNghiaVuTaiChinh"]
    assert sorted(into_tax) == [("Task_DoDac", ("Flow_DoDacXong", "Flow_ChuyenThue")),
                                ("Task_XacMinhNiemYet", ("Flow_XacMinhXong", "Flow_ChuyenThue"))]
    assert "Gateway_HopNhanh" in joined.passed and "Gateway_TachNhanh" in joined.passed
    assert joined.completed == ("Task_KiemTraHoSo", "Task_XacMinhNiemYet", "Task_DoDac")


def test_a_step_that_loops_back_to_itself(demo, clock):
    """DD-GCN-01: "not paid yet" sends the tax wait back to itself; each pass follows the one before."""
    code = receive_permit(demo, procedure_code=LAND, jurisdiction_code="HANGBAC")
    for step, answers in LAND_TO_TAX.items():
        clock.advance(hours=1)
        do_step(demo, code, step, answers)
    clock.advance(hours=1)
    do_step(demo, code, "Task_ChoNopThue", {"da_nop_thue": False})
    progress = progress_of(demo, code)
    assert progress.current == ("Task_ChoNopThue",)
    into_wait = [(s.source, s.flows) for s in progress.segments if s.target == "Task_ChoNopThue"]
    assert into_wait == [("Task_XacDinhNghiaVuTaiChinh", ("Flow_ThongBaoThue",)),
                         ("Task_ChoNopThue", ("Flow_GhiNhanNop", "Flow_ChuaNopThue"))]
    assert step_of(progress, "Task_ChoNopThue").passes == 2


def test_hundreds_of_rework_rounds_cost_a_walk_per_pass():
    """400 rounds of appraisal, draft and refused signature: 1,200 passes, each found its way in."""
    from datetime import UTC, datetime, timedelta

    from engine.progress import _Pass, _walk

    graph = build_graph(PERMIT_FILE.read_bytes(), "CapGiayPhepXayDung")
    start = datetime(2026, 3, 2, 2, tzinfo=UTC)
    passes = []
    steps = ("Task_ThamDinh", "Task_DuThaoGiayPhep", "Task_PheDuyet")
    for n in range(1200):
        at = start + timedelta(minutes=n)
        passes.append(_Pass(n + 1, steps[n % 3], "done", at, at + timedelta(minutes=1)))
    segments, passed, used = _walk(graph, passes)
    assert len(segments) == 1200
    assert segments[3].flows == ("Flow_PheDuyetXong", "Flow_KhongDongY")
    assert segments[4].flows == ("Flow_ThamDinhXong", "Flow_HopLe", "Flow_KhongKiemTra", "Flow_DuThao")
    assert len(used) == 1199 and "Gateway_PheDuyet" in passed


def test_a_refused_dossier_keeps_its_history_and_has_no_open_step(demo, clock):
    from engine import lifecycle
    from tests.lifecycle_helpers import person

    code = receive_permit(demo)
    clock.advance(hours=2)
    do_step(demo, code, "Task_ThamDinh", {"hop_le": True, "can_kiem_tra": False})
    with demo.db.transaction() as session:
        dossier = session.scalar(select(Dossier).where(Dossier.code == code))
        lifecycle.refuse(demo, session, dossier, person(session, "hk.motcua"), reason="Sai thẩm quyền")
    progress = progress_of(demo, code)
    assert progress.completed == ("Task_ThamDinh",) and progress.current == ()
    assert not progress.finished and "Task_DuThaoGiayPhep" not in {s.step for s in progress.steps}
    assert progress.path == ("Flow_BatDau",)  # the cancelled draft step is not part of the path
