"""Who may open or do what: every page and API route × every kind of demo user, one test per cell.

The world: a construction permit of Quận Hoàn Kiếm (H) at the leadership step
(held by the district People's Committee), with a scan, one supplement round
and an extension behind it; a refused permit of Hoàn Kiếm (R); a permit of
Quận Ba Đình (B) at its first step, with a scan. Each applicant has personal
data of their own, so every answer can be searched for data its reader may
not see.

The policy (the table below): anonymous visitors are sent to /login by
pages and get 401 from the API; a role that does not fit the page is 403; a
dossier the user may not see (engine.access.can_view) is 404 with the very
body an unknown code gets; actions on a dossier the user may see but may not
act on are 403; the public lookup answers everyone alike. No refused or
redirected answer carries an applicant's name, ID number, phone, address or
e-mail, and no answer at all carries them to someone who may not see the
dossier. A refused POST changes nothing in the database.

Speed: the world is built once per module in a database of its own (so
other modules' fixtures never wipe it under -n 2), and the read-only cells
and refusals run against it; every cell where a write is allowed gets a
fresh dossier of its own in the same database.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import zlib
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from sqlalchemy import func, make_url, select

from engine import attachments, lifecycle, scratch_databases
from engine.clock import FixedClock
from engine.context import Context
from engine.database import Database
from engine.deployment import deploy_files
from engine.directory import load_organisation, read_organisation_file
from engine.models import (
    Attachment,
    Dossier,
    Event,
    Extension,
    Pause,
    ProcedureVersion,
    Task,
    TaskState,
    User,
)
from engine.receipt import receive
from engine.settings import WORKFLOWS_DIR, Settings
from tests.conftest import vn
from tests.helpers import (
    APPLICANT,
    PERMIT,
    PERMIT_HAPPY,
    clerk_of,
    district,
    do_step,
    open_tasks,
    receive_permit,
)
from tests.web_helpers import PASSWORD, app_for, csrf_token, signed_in

ANON = "anonymous"
USERS = (
    "hk.motcua", "hk.qldt.cv", "hk.qldt.ld", "hk.lanhdao", "hk.thue.ld",
    "bd.motcua", "bd.qldt.cv", "bd.lanhdao",
    "hangbac.motcua", "hangbac.lanhdao", "hangbac.tuphap", "hangbac.diachinh",
    "hn.lanhdao", "hn.thietke", "hn.quantri", ANON,
)

APPLICANT_H = APPLICANT  # H and R
APPLICANT_B = {"name": "Quan Thị Minh Châu", "id_number": "079190054321", "phone": "0987650321",
               "address": "25 Phan Đình Phùng, Ba Đình, Hà Nội", "email": "chau.qtm@example.vn"}
APPLICANT_C = {"name": "Mạc Thị Thanh Xuân", "id_number": "001300112299", "phone": "0933445566",
               "address": "8 Lò Sũ, Hoàn Kiếm, Hà Nội", "email": "xuan.mtt@example.vn"}
APPLICANT_NEW = {"name": "Lò Văn Khiêm", "id_number": "011200998877", "phone": "0901112233",
                 "address": "3 Tràng Tiền, Hoàn Kiếm, Hà Nội", "email": "khiem@example.vn"}
PRIVATE_KEYS = ("name", "id_number", "phone", "address", "email")
# Who may see the dossiers of each applicant (engine.access.can_view): the receiving counter, the
# units that held a step, the People's Committee leaders above, the administrator.
SEES_H = frozenset({"hk.motcua", "hk.qldt.cv", "hk.qldt.ld", "hk.lanhdao", "hn.lanhdao", "hn.quantri"})
SEES_B = frozenset({"bd.motcua", "bd.qldt.cv", "bd.lanhdao", "hn.lanhdao", "hn.quantri"})
# C was received at the city's counter, where the designer's account sits: a unit, not a role, received it.
SEES_C = frozenset({"hk.qldt.cv", "hk.qldt.ld", "hk.lanhdao", "hn.lanhdao", "hn.quantri"})
SEES = {"h": SEES_H, "r": SEES_H, "b": SEES_B, "c": SEES_C}
SECRETS = ((APPLICANT_H, SEES_H), (APPLICANT_B, SEES_B), (APPLICANT_C, SEES_C))
UNKNOWN = "H26.38.01-260302-9999"
PDF = b"%PDF-1.4\n% motcua access matrix\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PERMIT_FILE = WORKFLOWS_DIR / "procedures" / "giay-phep-xay-dung.bpmn"
JURISDICTION_OF = {"hk.motcua": "HK", "bd.motcua": "BD", "hangbac.motcua": "HANGBAC", "hn.quantri": "HN"}

# ------------------------------------------------------------------------------------------------ the table
#
# L = 302 to /login; D = 302 elsewhere after a write that was allowed; numbers are statuses.
# Path placeholders: {h} {b} {r} {c} dossier codes, {h_task} the open leadership step of H, {h_done} H's
# finished appraisal step (Phòng QLĐT), {h_att} {b_att} scans, {q} a search matching H and B.
#
#                                                         hk hk hk hk hk   bd bd bd   hb hb hb hb   hn hn hn
#                                                         mc cv ld lđ thue mc cv lđ   mc lđ tp dc   lđ tk qt  anon
TABLE = """
page  GET  /counter/                                     200 403 403 403 403 200 403 403 200 403 403 403 403 403 200 L
page  GET  /counter/procedures?q=xay                     200 403 403 403 403 200 403 403 200 403 403 403 403 403 200 L
page  GET  /counter/receive/XD-GPXD-01                   200 403 403 403 403 200 403 403 200 403 403 403 403 403 200 L
page  POST /counter/receive/XD-GPXD-01                   D   403 403 403 403 D   403 403 D   403 403 403 403 403 400 L
page  GET  /counter/dossiers/{h}                         200 403 403 403 403 404 403 403 404 403 403 403 403 403 200 L
page  GET  /counter/dossiers/{b}                         404 403 403 403 403 200 403 403 404 403 403 403 403 403 200 L
page  GET  /counter/dossiers/{h}/receipt                 200 403 403 403 403 404 403 403 404 403 403 403 403 403 200 L
page  GET  /counter/dossiers/{h}/supplement-request/print 200 403 403 403 403 404 403 403 404 403 403 403 403 403 200 L
page  GET  /counter/dossiers/{r}/refusal/print           200 403 403 403 403 404 403 403 404 403 403 403 403 403 200 L
page  GET  /counter/dossiers/{h}/extension/print         200 403 403 403 403 404 403 403 404 403 403 403 403 403 200 L
page  POST /counter/dossiers/{h}/supplement-request      D   403 403 403 403 404 403 403 404 403 403 403 403 403 D   L
page  POST /counter/dossiers/{h}/supplement-received     409 403 403 403 403 404 403 403 404 403 403 403 403 403 409 L
page  POST /counter/dossiers/{h}/refuse                  D   403 403 403 403 404 403 403 404 403 403 403 403 403 D   L
page  POST /counter/dossiers/{h}/withdraw                D   403 403 403 403 404 403 403 404 403 403 403 403 403 D   L
page  POST /counter/dossiers/{h}/return                  409 403 403 403 403 404 403 403 404 403 403 403 403 403 409 L
page  POST /counter/dossiers/{h}/extend                  D   403 403 403 403 404 403 403 404 403 403 403 403 403 D   L
page  GET  /inbox/                                       403 200 200 200 200 403 200 200 403 200 200 200 200 403 200 L
page  GET  /inbox/tasks/{h_task}                         403 403 403 200 403 403 403 403 403 403 403 403 403 403 403 L
page  GET  /inbox/tasks/{h_done}                         403 200 200 403 403 403 403 403 403 403 403 403 403 403 403 L
page  POST /inbox/tasks/{h_task}/claim                   403 403 403 D   403 403 403 403 403 403 403 403 403 403 403 L
page  POST /inbox/tasks/{h_task}/release                 403 403 403 D   403 403 403 403 403 403 403 403 403 403 403 L
page  POST /inbox/tasks/{h_task}                         403 403 403 D   403 403 403 403 403 403 403 403 403 403 403 L
page  GET  /dossiers/?q={q}                              200 200 200 200 200 200 200 200 200 200 200 200 200 403 200 L
page  GET  /dossiers/{h}                                 200 200 200 200 404 404 404 404 404 404 404 404 200 403 200 L
page  GET  /dossiers/{b}                                 404 404 404 404 404 200 200 200 404 404 404 404 200 403 200 L
page  GET  /dossiers/{h}/tracking-slip                   200 200 200 200 404 404 404 404 404 404 404 404 200 403 200 L
page  GET  /dossiers/{b}/tracking-slip                   404 404 404 404 404 200 200 200 404 404 404 404 200 403 200 L
page  GET  /dossiers/{h}/attachments/{h_att}             200 200 200 200 404 404 404 404 404 404 404 404 200 403 200 L
page  GET  /dossiers/{b}/attachments/{b_att}             404 404 404 404 404 200 200 200 404 404 404 404 200 403 200 L
page  GET  /dossiers/{c}                                 404 200 200 200 404 404 404 404 404 404 404 404 200 403 200 L
page  GET  /dossiers/{h}/attachments/{b_att}             404 404 404 404 404 404 404 404 404 404 404 404 404 403 404 L
page  GET  /dossiers/{h}/diagram.json                    200 200 200 200 404 404 404 404 404 404 404 404 200 403 200 L
page  GET  /dossiers/{b}/diagram.json                    404 404 404 404 404 200 200 200 404 404 404 404 200 403 200 L
page  GET  /dossiers/{h}/diagram.bpmn                    200 200 200 200 404 404 404 404 404 404 404 404 200 403 200 L
page  GET  /dossiers/{b}/diagram.bpmn                    404 404 404 404 404 200 200 200 404 404 404 404 200 403 200 L
page  GET  /procedures/                                  403 403 200 200 200 403 403 200 403 200 403 403 200 200 200 L
page  GET  /procedures/XD-GPXD-01                        403 403 200 200 200 403 403 200 403 200 403 403 200 200 200 L
page  GET  /procedures/XD-GPXD-01/heatmap.json           403 403 200 200 200 403 403 200 403 200 403 403 200 200 200 L
page  GET  /procedures/XD-GPXD-01/versions/1/diagram.bpmn 403 403 200 200 200 403 403 200 403 200 403 403 200 200 200 L
page  GET  /designer/                                    403 403 403 403 403 403 403 403 403 403 403 403 403 200 200 L
page  GET  /designer/new                                 403 403 403 403 403 403 403 403 403 403 403 403 403 200 200 L
page  GET  /designer/blank.bpmn                          403 403 403 403 403 403 403 403 403 403 403 403 403 200 200 L
page  GET  /designer/versions/1                          403 403 403 403 403 403 403 403 403 403 403 403 403 200 200 L
page  GET  /designer/versions/1/bpmn                     403 403 403 403 403 403 403 403 403 403 403 403 403 200 200 L
page  GET  /designer/drafts/999999                       403 403 403 403 403 403 403 403 403 403 403 403 403 404 404 L
page  GET  /designer/drafts/999999/bpmn                  403 403 403 403 403 403 403 403 403 403 403 403 403 404 404 L
page  POST /designer/drafts/999999/delete                403 403 403 403 403 403 403 403 403 403 403 403 403 404 404 L
page  POST /designer/upload                              403 403 403 403 403 403 403 403 403 403 403 403 403 400 400 L
page  POST /designer/api/drafts                          403 403 403 403 403 403 403 403 403 403 403 403 403 400 400 L
page  POST /designer/api/check                           403 403 403 403 403 403 403 403 403 403 403 403 403 400 400 L
page  POST /designer/api/deploy                          403 403 403 403 403 403 403 403 403 403 403 403 403 400 400 L
page  GET  /reports/                                     D   403 D   D   D   D   403 D   D   D   403 403 D   403 D   L
page  GET  /reports/dashboard                            403 403 200 200 200 403 403 200 403 200 403 403 200 403 200 L
page  GET  /reports/indicators                           403 403 200 200 200 403 403 200 403 200 403 403 200 403 200 L
page  GET  /reports/ledger                               200 403 403 200 403 200 403 200 200 200 403 403 200 403 200 L
page  GET  /reports/ledger.csv                           200 403 403 200 403 200 403 200 200 200 403 403 200 403 200 L
page  GET  /reports/ledger.xlsx                          200 403 403 200 403 200 403 200 200 200 403 403 200 403 200 L
page  GET  /reports/dossiers?category=late               200 403 200 200 200 200 403 200 200 200 403 403 200 403 200 L
page  GET  /notifications/                               200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 L
page  GET  /notifications/unread-count                   200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 401
page  POST /notifications/999999/read                    404 404 404 404 404 404 404 404 404 404 404 404 404 404 404 L
page  POST /notifications/read-all                       D   D   D   D   D   D   D   D   D   D   D   D   D   D   D   L
page  GET  /phan-anh                                     200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
page  POST /phan-anh                                     400 400 400 400 400 400 400 400 400 400 400 400 400 400 400 400
page  GET  /metrics                                      403 403 403 403 403 403 403 403 403 403 403 403 403 403 403 403
page  GET  /tra-cuu?ma={h}&sdt=5678                      200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
api   POST /api/v1/auth/token                            200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 401
api   GET  /api/v1/openapi.json                          200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
api   GET  /api/v1/procedures                            200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 401
api   POST /api/v1/procedures                            403 403 403 403 403 403 403 403 403 403 403 403 403 200 200 401
api   POST /api/v1/dossiers                              201 403 403 403 403 201 403 403 201 403 403 403 403 403 400 401
api   GET  /api/v1/dossiers/{h}                          200 200 200 200 404 404 404 404 404 404 404 404 200 403 200 401
api   GET  /api/v1/dossiers/{b}                          404 404 404 404 404 200 200 200 404 404 404 404 200 403 200 401
api   GET  /api/v1/dossiers/{c}                          404 200 200 200 404 404 404 404 404 404 404 404 200 403 200 401
api   POST /api/v1/dossiers/{h}/supplement-request       200 403 403 200 404 404 404 404 404 404 404 404 403 403 200 401
api   POST /api/v1/dossiers/{h}/supplement-received      409 403 403 403 404 404 404 404 404 404 404 404 403 403 409 401
api   POST /api/v1/dossiers/{h}/extend                   200 403 403 200 404 404 404 404 404 404 404 404 403 403 200 401
api   POST /api/v1/dossiers/{h}/refuse                   200 403 403 200 404 404 404 404 404 404 404 404 403 403 200 401
api   POST /api/v1/dossiers/{h}/withdraw                 200 403 403 403 404 404 404 404 404 404 404 404 403 403 200 401
api   POST /api/v1/dossiers/{h}/return                   409 403 403 403 404 404 404 404 404 404 404 404 403 403 409 401
api   GET  /api/v1/tasks                                 200 200 200 200 200 200 200 200 200 200 200 200 200 403 200 401
api   POST /api/v1/tasks/{h_task}/claim                  403 403 403 200 403 403 403 403 403 403 403 403 403 403 403 401
api   POST /api/v1/tasks/{h_task}/release                403 403 403 200 403 403 403 403 403 403 403 403 403 403 403 401
api   POST /api/v1/tasks/{h_task}/complete               403 403 403 200 403 403 403 403 403 403 403 403 403 403 403 401
api   GET  /api/v1/lookup/{h}?phone4=5678                200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
api   GET  /api/v1/lookup/{h}?phone4=0000                404 404 404 404 404 404 404 404 404 404 404 404 404 404 404 404
"""

# Form fields / JSON bodies of the writes, by path pattern (after the placeholders).
FORMS: dict[str, Any] = {
    "supplement-request": {"reason": "Thiếu bản vẽ", "missing": "Bản vẽ mặt bằng"},
    "supplement-received": {"note": "Đã đủ"},
    "refuse": {"reason": "Không phù hợp quy hoạch"},
    "withdraw": {"reason": "Công dân xin rút"},
    "return": {"rating": "5"},
    "extend": {"reason": "Chờ ý kiến liên ngành", "extra_days": "3"},
}
BODIES: dict[str, Any] = {
    "supplement-request": {"reason": "Thiếu bản vẽ", "missing": ["Bản vẽ mặt bằng"]},
    "supplement-received": {"note": "Đã đủ"},
    "refuse": {"reason": "Không phù hợp quy hoạch"},
    "withdraw": {"reason": "Công dân xin rút"},
    "return": {"rating": 5},
    "extend": {"reason": "Chờ ý kiến liên ngành", "extra_days": 3},
    "claim": None,
    "release": None,
}


@dataclass(frozen=True)
class Cell:
    kind: str  # page or api
    method: str
    template: str
    user: str
    expected: str

    @property
    def writes(self) -> bool:
        return self.method == "POST" and not self.template.endswith("/auth/token")

    @property
    def allowed_write(self) -> bool:
        return self.writes and self.expected in ("D", "200", "201")

    @property
    def own_dossier(self) -> bool:
        """An allowed write on a dossier gets a dossier of its own: the shared world stays as it is."""
        return self.allowed_write and "{" in self.template

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.method}:{self.template}:{self.user}"


def _cells() -> list[Cell]:
    cells = []
    for line in TABLE.strip().splitlines():
        kind, method, template, *expected = line.split()
        assert len(expected) == len(USERS), line
        cells += [Cell(kind, method, template, user, want) for user, want in zip(USERS, expected, strict=True)]
    return cells


CELLS = _cells()

# ------------------------------------------------------------------------------------------------ the world


@dataclass
class World:
    h: str
    h_task: int
    h_done: int
    h_att: int
    b: str = ""
    b_att: int = 0
    r: str = ""
    c: str = ""
    q: str = ""

    def format(self, template: str) -> str:
        return template.format(**self.__dict__)


@dataclass
class Matrix:
    ctx: Context
    app: Any
    world: World | None = None
    tainted: bool = False
    web: dict[str, Any] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)


def _attach(ctx: Context, code: str, name: str) -> int:
    with ctx.db.transaction() as session:
        d = session.scalar(select(Dossier).where(Dossier.code == code))
        clerk = session.get(User, d.received_by_id)
        row = attachments.save(session, ctx.settings.instance_dir, d, clerk, data=PDF, file_name=name,
                                limit=ctx.settings.upload_limit_bytes, now=ctx.clock.now(), component="Bản vẽ")
        session.flush()
        return row.id


def permit_at_leadership(ctx: Context) -> World:
    """A Hoàn Kiếm permit driven to the district leader's signature, with a scan."""
    code = receive_permit(ctx, applicant=APPLICANT_H)
    done = None
    for step in ("Task_ThamDinh", "Task_KiemTraThucDia", "Task_DuThaoGiayPhep"):
        task = do_step(ctx, code, step, PERMIT_HAPPY[step])
        done = done or task.id
    [leadership] = open_tasks(ctx, code)
    assert leadership.step == "Task_PheDuyet"
    return World(h=code, h_task=leadership.id, h_done=done, h_att=_attach(ctx, code, "Bản vẽ H.pdf"))


def build_world(ctx: Context) -> World:
    world = permit_at_leadership(ctx)
    with ctx.db.transaction() as session:  # one supplement round and an extension: forms 02 and 04 exist
        clerk = clerk_of(session, district(session))
        dossier = lifecycle.get_dossier(session, world.h)
        lifecycle.request_supplement(ctx, session, dossier, clerk, reason="Thiếu bản vẽ", missing=["Bản vẽ"])
        lifecycle.receive_supplement(ctx, session, dossier, clerk, note="Đủ")
        lifecycle.extend(ctx, session, dossier, clerk, reason="Chờ ý kiến", extra_days=2)
    world.r = receive_permit(ctx, applicant=APPLICANT_H)
    with ctx.db.transaction() as session:
        lifecycle.refuse(ctx, session, lifecycle.get_dossier(session, world.r), clerk_of(session, district(session)),
                         reason="Không đủ điều kiện")
    world.b = receive_permit(ctx, district_index=1, applicant=APPLICANT_B)
    world.b_att = _attach(ctx, world.b, "Bản vẽ B.pdf")
    with ctx.db.transaction() as session:
        city_clerk = session.scalar(select(User).where(User.username == "hn.motcua"))
        world.c = receive(ctx, session, actor=city_clerk, procedure_code=PERMIT, applicant=APPLICANT_C,
                          jurisdiction_code="HK").code
    world.q = world.h.split("-", 1)[1][:6]  # the day part: H and B (and everything else) match
    return world


def _own_database(pg_url: str) -> str:
    """A PostgreSQL database for this module alone, next to the worker's own."""
    base = make_url(pg_url)
    url = base.set(database=f"{base.database}_matrix").render_as_string(hide_password=False)
    scratch_databases.create_if_missing(url)
    scratch_databases.reset_schema(url)
    return url


@pytest.fixture(scope="module")
def matrix(_template, pg_url, tmp_path_factory):
    folder = tmp_path_factory.mktemp("access-matrix")
    if pg_url:
        url = _own_database(pg_url)
    else:
        shutil.copy(_template, folder / "matrix.db")
        url = f"sqlite:///{folder / 'matrix.db'}"
    ctx = Context(db=Database(url), settings=Settings(database_url=url, instance_dir=folder),
                  clock=FixedClock(vn(2026, 3, 2, 9, 0)))
    with ctx.db.transaction() as session:
        load_organisation(session, read_organisation_file(WORKFLOWS_DIR / "organisation.yaml"))
    with ctx.db.transaction() as session:
        deploy_files(ctx, session, sorted((WORKFLOWS_DIR / "procedures").glob("*.bpmn")))
    state = Matrix(ctx, app_for(ctx))
    state.world = build_world(ctx)
    yield state
    ctx.db.dispose()


# ------------------------------------------------------------------------------------------------ requests


def web_client(m: Matrix, user: str):
    if user not in m.web:
        m.web[user] = m.app.test_client() if user == ANON else signed_in(m.ctx, user, m.app)
        m.csrf[user] = csrf_token(m.web[user], "/login" if user == ANON else "/password")
    return m.web[user]


def api_token(m: Matrix, user: str) -> str | None:
    if user == ANON:
        return None
    if user not in m.tokens:
        response = m.app.test_client().post("/api/v1/auth/token", json={"username": user, "password": PASSWORD})
        assert response.status_code == 200, response.get_data(as_text=True)
        m.tokens[user] = response.json["token"]
    return m.tokens[user]


def _action(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def _version(m: Matrix, code: str) -> int:
    with m.ctx.db.reading() as session:
        return session.scalar(select(Dossier.version).where(Dossier.code == code)) or 0


def _remote(cell: Cell) -> str:
    """A client address of its own for each cell, so the public lookup's rate limit never mixes cells."""
    n = zlib.crc32(cell.id.encode())
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255 or 1}"


def send(m: Matrix, cell: Cell, world: World, path: str):
    environ = {"REMOTE_ADDR": _remote(cell)}
    action = _action(path.split("?")[0])
    if cell.kind == "page":
        client = web_client(m, cell.user)
        if cell.method == "GET":
            headers = {"HX-Request": "true"} if path.startswith("/counter/procedures") else {}
            return client.get(path, headers=headers, environ_base=environ)
        form = {"csrf_token": m.csrf[cell.user]}
        if path.startswith("/counter/receive/"):
            form.update({f"applicant_{k}": v for k, v in APPLICANT_NEW.items()})
            form.update({"jurisdiction": JURISDICTION_OF.get(cell.user, "HK"), "comp_0": "1", "comp_1": "1",
                         "comp_2": "1"})
        elif path.startswith("/inbox/tasks/") and action not in ("claim", "release"):
            form.update({"expected_version": str(_version(m, world.h)), "phe_duyet": "true"})
        else:
            form.update(FORMS.get(action, {}))
        response = client.post(path, data=form, environ_base=environ)
        if response.status_code == 302 and not response.headers["Location"].startswith("/login"):
            client.get(response.headers["Location"])  # takes the flashed message, which belongs to this cell
        return response
    client = m.app.test_client()
    token = api_token(m, cell.user)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if cell.method == "GET":
        return client.get(path, headers=headers, environ_base=environ)
    if path.endswith("/auth/token"):
        credentials = ({"username": "nobody.here", "password": "not-the-password"} if cell.user == ANON
                       else {"username": cell.user, "password": PASSWORD})
        return client.post(path, json=credentials, environ_base=environ)
    if path.endswith("/procedures"):
        upload = {"file": (io.BytesIO(PERMIT_FILE.read_bytes()), "giay-phep-xay-dung.bpmn")}
        return client.post(path, data=upload, headers=headers, content_type="multipart/form-data",
                           environ_base=environ)
    if path.endswith("/dossiers"):
        body = {"procedure_code": PERMIT, "applicant": APPLICANT_NEW}
    elif action == "complete":
        body = {"data": {"phe_duyet": True}, "expected_version": _version(m, world.h)}
    else:
        body = BODIES[action]
    return client.post(path, json=body, headers=headers, environ_base=environ)


# ------------------------------------------------------------------------------------------------ checks


def fingerprint(m: Matrix) -> tuple:
    """Everything a write could change: dossiers (version, status), events, steps, scans, pauses, versions."""
    with m.ctx.db.reading() as session:
        return (
            tuple(session.execute(select(Dossier.code, Dossier.version, Dossier.status, Dossier.due_at)
                                  .order_by(Dossier.id)).all()),
            session.scalar(select(func.count(Event.id))),
            tuple(session.execute(select(Task.id, Task.state, Task.claimed_by_id).order_by(Task.id)).all()),
            session.scalar(select(func.count(Attachment.id))),
            session.scalar(select(func.count(Pause.id))),
            session.scalar(select(func.count(Extension.id))),
            session.scalar(select(func.count(ProcedureVersion.id))),
        )


def body_texts(response) -> list[str]:
    raw = response.get_data().decode("utf-8", "replace")
    texts = [raw]
    if response.is_json:
        texts.append(json.dumps(response.get_json(silent=True), ensure_ascii=False))
    return texts


def hidden_from(cell: Cell, status: int, world: World, path: str) -> list[str]:
    """What must not be in this answer: personal data, and in a refusal even the codes it was not asked about."""
    refused = status in (302, 401, 403, 404, 429)
    public = "/tra-cuu" in cell.template or "/lookup/" in cell.template
    out = []
    for applicant, seers in SECRETS:
        if refused or public or cell.user not in seers:
            out += [applicant[k] for k in PRIVATE_KEYS]
    if refused:
        out += [code for code in (world.h, world.b, world.r, world.c) if code not in path]
    return out


_CSRF = re.compile(r'(name="csrf_token"[^>]*value=")[^"]+"')


def normalised(response, code: str) -> str:
    return _CSRF.sub(r'\1-"', response.get_data(as_text=True).replace(code, "CODE"))


def _dossier_in(template: str) -> str | None:
    for key in SEES:
        if "{" + key + "}" in template:
            return key
    return None


@pytest.mark.parametrize("cell", CELLS, ids=[c.id for c in CELLS])
def test_cell(matrix: Matrix, cell: Cell):
    m = matrix
    if m.tainted:  # an earlier cell changed the shared world: start a new one rather than cascade
        m.world, m.tainted = build_world(m.ctx), False
    world = m.world
    if cell.own_dossier:
        fresh = permit_at_leadership(m.ctx)
        world = replace(m.world, h=fresh.h, h_task=fresh.h_task, h_done=fresh.h_done, h_att=fresh.h_att)
    path = world.format(cell.template)
    before = fingerprint(m) if cell.writes and not cell.allowed_write else None

    response = send(m, cell, world, path)

    status = response.status_code
    location = response.headers.get("Location", "")
    got = "L" if status == 302 and location.startswith("/login") else "D" if status == 302 else str(status)
    if before is not None:
        after = fingerprint(m)
        if after != before:
            m.tainted = True
        assert after == before, f"{cell.id}: answered {got} but the database changed"
    assert got == cell.expected, f"{cell.id}: expected {cell.expected}, got {got} {location}"
    texts = body_texts(response)
    for secret in hidden_from(cell, status, world, path):
        assert not any(secret in t for t in texts), f"{cell.id}: {status} answer shows {secret!r}"
    if cell.kind == "api" and "/lookup/" not in cell.template:
        assert response.is_json, cell.id
    key = _dossier_in(cell.template)
    wrong_file = "/attachments/" in cell.template and cell.user in SEES[key or "h"]  # another dossier's scan
    if status == 404 and key is not None and not wrong_file:  # the answer an unknown code gets: nothing to probe
        code = getattr(world, key)
        stranger = send(m, cell, world, path.replace(code, UNKNOWN))
        assert stranger.status_code == 404
        assert normalised(response, code) == normalised(stranger, UNKNOWN), cell.id
    if status == 200 and cell.template.startswith("/dossiers/?"):
        shown = response.get_data(as_text=True)
        assert (world.h in shown) == (cell.user in SEES_H) and (world.b in shown) == (cell.user in SEES_B)


# ------------------------------------------------------------------------------------------------ coverage

NOT_IN_MATRIX = {  # open to everyone, or only about the signed-in user's own session
    "static", "home.index", "health.healthz", "health.readyz", "health.index", "i18n.switch",
    "auth.login", "auth.logout", "auth.change_password",
}


def test_every_route_is_in_the_matrix(matrix: Matrix):
    adapter = matrix.app.url_map.bind("localhost")
    world = matrix.world
    covered = set()
    for cell in CELLS:
        path = world.format(cell.template).split("?")[0]
        endpoint, _args = adapter.match(path, method=cell.method)
        covered.add((endpoint, cell.method))
    routes = {(rule.endpoint, method) for rule in matrix.app.url_map.iter_rules()
              for method in rule.methods - {"HEAD", "OPTIONS"} if rule.endpoint not in NOT_IN_MATRIX}
    assert routes - covered == set()
    assert len({c.user for c in CELLS}) == len(USERS)


def test_the_world_is_what_the_table_assumes(matrix: Matrix):
    world = matrix.world
    with matrix.ctx.db.reading() as session:
        h = session.scalar(select(Dossier).where(Dossier.code == world.h))
        assert h.status == "processing" and h.original_due_at is not None and h.supplement_requests == 1
        assert session.get(Task, world.h_task).state == TaskState.OPEN
        assert session.get(Task, world.h_task).unit.code == "H26.38.02"
        assert session.get(Task, world.h_done).unit.code == "H26.38.03"
        assert session.scalar(select(Dossier.status).where(Dossier.code == world.r)) == "refused"
        b = session.scalar(select(Dossier).where(Dossier.code == world.b))
        assert b.jurisdiction.code == "BD" and b.applicant_name == APPLICANT_B["name"]
        c = session.scalar(select(Dossier).where(Dossier.code == world.c))
        assert c.receiving_unit.code == "H26.01" and c.jurisdiction.code == "HK"
        assert session.scalar(select(User.unit_id).where(User.username == "hn.thietke")) == c.receiving_unit_id


# ------------------------------------------------------------------------------------------------ routing


def _pakn(responsible_unit: str) -> dict:
    return {"procedure_code": "PAKN-01", "applicant": APPLICANT_NEW, "data": {"responsible_unit": responsible_unit}}


def test_a_counter_routes_a_case_only_to_units_of_its_own_area(matrix: Matrix):
    """PAKN-01 takes its unit from the case: over the API as on the form, only a unit of the counter's area,
    or the counter could hand a citizen's data to any unit of the city."""
    m = matrix
    client = m.app.test_client()
    headers = {"Authorization": f"Bearer {api_token(m, 'hk.motcua')}"}
    before = fingerprint(m)
    outside = client.post("/api/v1/dossiers", json=_pakn("H26.39.03"), headers=headers)  # Ba Đình's office
    assert outside.status_code == 400 and outside.json["details"][0]["element_id"] == "data.responsible_unit"
    assert client.post("/api/v1/dossiers", json=_pakn("H26.02"), headers=headers).status_code == 400  # the city's
    assert fingerprint(m) == before
    web = web_client(m, "hk.motcua")
    form = {"csrf_token": m.csrf["hk.motcua"], "jurisdiction": "HK", "data_responsible_unit": "H26.39.03",
            **{f"applicant_{k}": v for k, v in APPLICANT_NEW.items()}}
    assert web.post("/counter/receive/PAKN-01", data=form).status_code == 400
    assert fingerprint(m) == before
    inside = client.post("/api/v1/dossiers", json=_pakn("H26.38.20.04"), headers=headers)  # a ward of Hoàn Kiếm
    assert inside.status_code == 201, inside.json
    ward = m.app.test_client()
    ward_token = api_token(m, "hangbac.diachinh")
    seen = ward.get(f"/api/v1/dossiers/{inside.json['code']}", headers={"Authorization": f"Bearer {ward_token}"})
    assert seen.status_code == 200


def test_without_a_csrf_token_no_page_action_runs(matrix: Matrix):
    m = matrix
    before = fingerprint(m)
    for cell in CELLS:
        if cell.kind != "page" or cell.method != "POST" or cell.expected not in ("D", "409"):
            continue
        client = web_client(m, cell.user)
        response = client.post(m.world.format(cell.template), data=FORMS.get(_action(cell.template), {}))
        assert response.status_code == 400, cell.id
        assert fingerprint(m) == before, cell.id


def test_a_deactivated_account_is_shut_out_at_once(deployed):
    """A session and a token issued before the account was switched off open nothing afterwards."""
    code = receive_permit(deployed)
    app = app_for(deployed)
    web = signed_in(deployed, "hk.qldt.cv", app)
    api = app.test_client()
    token = api.post("/api/v1/auth/token", json={"username": "hk.qldt.cv", "password": PASSWORD}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert web.get(f"/dossiers/{code}").status_code == 200
    assert api.get(f"/api/v1/dossiers/{code}", headers=headers).status_code == 200
    with deployed.db.transaction() as session:
        session.scalar(select(User).where(User.username == "hk.qldt.cv")).active = False
    page = web.get(f"/dossiers/{code}")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    answer = api.get(f"/api/v1/dossiers/{code}", headers=headers)
    assert answer.status_code == 401 and answer.json["error"] == "invalid_token"
    for response in (page, answer):
        assert APPLICANT["name"] not in response.get_data(as_text=True)
