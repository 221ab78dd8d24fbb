"""The procedure heat map: passes, median working time and late share per step, hand-computed.

Three construction-permit dossiers received on Monday 02/03/2026 at 09:00; the
appraisal (Task_ThamDinh) has a share of 8 working days (3,840 minutes), so
it is due on Thursday 12/03 at 09:00:

- A: appraised on Wed 04/03 09:00 (960 minutes, in time); drafted by 13:00
  (180 minutes); the leader's signature, due Fri 06/03 13:00, still open;
- B: appraised on Mon 16/03 09:00 (4,800 minutes, late); drafting open since then;
- C: appraisal still open on Mon 16/03 09:00, past its due moment.

The map is read on Mon 16/03 09:00.
"""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from engine.errors import Forbidden, NotFound
from engine.heatmap import dossier_scope, heat_map
from engine.models import Task
from tests.conftest import vn
from tests.helpers import do_step, receive_permit
from tests.lifecycle_helpers import fast_deployed, person

PERMIT = "XD-GPXD-01"


@pytest.fixture
def three(ctx, clock):
    fast_deployed(ctx)
    a, b, c = (receive_permit(ctx) for _ in range(3))
    clock.set(vn(2026, 3, 4, 9, 0))
    do_step(ctx, a, "Task_ThamDinh", {"hop_le": True, "can_kiem_tra": False})
    clock.set(vn(2026, 3, 4, 13, 0))
    do_step(ctx, a, "Task_DuThaoGiayPhep", {"so_giay_phep": "1/GPXD"})
    clock.set(vn(2026, 3, 16, 9, 0))
    do_step(ctx, b, "Task_ThamDinh", {"hop_le": True, "can_kiem_tra": False})
    return ctx, (a, b, c)


def heat(ctx, **kwargs):
    with ctx.db.reading() as session:
        return heat_map(ctx, session, PERMIT, **kwargs)


def by_step(result):
    return {s.step: s for s in result.steps}


def test_numbers_per_step(three):
    ctx, _codes = three
    result = heat(ctx)
    assert result.dossiers == 3 and result.diagram_version == 1 and result.versions == (1,)
    steps = by_step(result)

    appraisal = steps["Task_ThamDinh"]
    assert (appraisal.passes, appraisal.finished, appraisal.late) == (3, 2, 2)
    assert appraisal.median_minutes == (960 + 4800) / 2
    assert appraisal.share_minutes == 8 * 480
    assert appraisal.ratio == 0.75
    assert appraisal.late_share == pytest.approx(2 / 3)
    assert appraisal.score == 1.0  # two late passes out of three outweigh a median within the share

    draft = steps["Task_DuThaoGiayPhep"]
    assert (draft.passes, draft.finished, draft.late, draft.median_minutes) == (2, 1, 0, 180)
    assert draft.score == 0.0  # 180 of 960 minutes, nobody late

    signature = steps["Task_PheDuyet"]
    assert (signature.passes, signature.finished, signature.late, signature.median_minutes) == (1, 0, 1, None)
    assert signature.score == 1.0

    site = steps["Task_KiemTraThucDia"]
    assert (site.passes, site.median_minutes, site.score) == (0, None, None)


def test_a_pass_finished_exactly_at_its_due_moment_is_not_late(ctx, clock):
    fast_deployed(ctx)
    code = receive_permit(ctx)
    clock.set(vn(2026, 3, 12, 9, 0))  # 8 working days after Mon 02/03 09:00
    do_step(ctx, code, "Task_ThamDinh", {"hop_le": True, "can_kiem_tra": False})
    appraisal = by_step(heat(ctx))["Task_ThamDinh"]
    assert (appraisal.passes, appraisal.late, appraisal.median_minutes) == (1, 0, 3840)
    assert appraisal.score == 1.0 - 0.5  # ratio 1.0 sits halfway between cool (0.5) and hot (1.5)


def test_odd_number_of_passes_takes_the_middle_one(three, clock):
    ctx, (_a, _b, c) = three
    clock.set(vn(2026, 3, 16, 10, 0))
    do_step(ctx, c, "Task_ThamDinh", {"hop_le": True, "can_kiem_tra": False})  # 4,860 minutes
    appraisal = by_step(heat(ctx))["Task_ThamDinh"]
    assert (appraisal.passes, appraisal.finished, appraisal.median_minutes) == (3, 3, 4800)


def test_a_version_or_every_version(three):
    ctx, _codes = three
    assert heat(ctx, version=1).steps == heat(ctx).steps
    with pytest.raises(NotFound):
        heat(ctx, version=7)
    with ctx.db.reading() as session, pytest.raises(NotFound):
        heat_map(ctx, session, "NO-SUCH-01")


def test_scope_follows_who_may_see_the_dossiers(three):
    ctx, _codes = three
    with ctx.db.reading() as session:
        for username, expected in (("hk.lanhdao", 3), ("bd.lanhdao", 0), ("hk.qldt.ld", 3), ("bd.qldt.ld", 0),
                                   ("hn.lanhdao", 3), ("hn.thietke", 3), ("hn.quantri", 3)):
            scope = dossier_scope(session, person(session, username))
            result = heat_map(ctx, session, PERMIT, scope=scope)
            assert result.dossiers == expected, username
            assert sum(s.passes for s in result.steps) == (6 if expected else 0), username
        with pytest.raises(Forbidden):
            dossier_scope(session, person(session, "hk.motcua"))


def test_the_map_is_a_fixed_number_of_queries(three):
    """No loop over dossiers: the same statements whatever the number of rows."""
    ctx, _codes = three
    heat(ctx)  # warm the spec cache and the calendar
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(ctx.db.engine, "before_cursor_execute", count)
    try:
        heat(ctx)
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", count)
    task_queries = [s for s in statements if "FROM task" in s]
    assert len(task_queries) == 1, statements
    assert len(statements) <= 6, statements
    with ctx.db.reading() as session:
        assert session.scalar(select(Task.id).limit(1)) is not None


def test_every_version_pools_steps_on_the_newest_diagram(three, clock):
    from engine.deployment import deploy
    from engine.settings import WORKFLOWS_DIR

    ctx, _codes = three
    source = (WORKFLOWS_DIR / "procedures" / "giay-phep-xay-dung.bpmn").read_bytes()
    changed = source.replace(b'<motcua:step days="8" />', b'<motcua:step days="7" />', 1)
    assert changed != source
    with ctx.db.transaction() as session:
        version, new = deploy(ctx, session, changed, file_name="giay-phep-xay-dung.bpmn")
        assert new and version.version == 2
    later = receive_permit(ctx)  # on version 2, appraisal still open and not yet due
    assert later

    every = heat(ctx)
    assert every.versions == (1, 2) and every.diagram_version == 2 and every.dossiers == 4
    assert by_step(every)["Task_ThamDinh"].passes == 4
    assert by_step(every)["Task_ThamDinh"].share_minutes == 7 * 480  # the newest diagram's share

    second = heat(ctx, version=2)
    assert second.dossiers == 1 and by_step(second)["Task_ThamDinh"].passes == 1
    assert by_step(second)["Task_ThamDinh"].late == 0
    first = heat(ctx, version=1)
    assert first.dossiers == 3 and first.diagram_version == 1
    assert by_step(first)["Task_ThamDinh"].share_minutes == 8 * 480
