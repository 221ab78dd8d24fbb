"""The process designer's pages and JSON endpoints (web/designer.py, engine/drafts.py, engine/procedure_catalog.py).

Who may open them, drafts that keep every byte they were given (foreign
extensions and diagram data included), checking and deploying with an
effective date, uploads good, bad and hostile, downloads; and the catalogue
counting dossiers per version.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from engine import drafts
from engine.deployment import version_in_effect
from engine.models import Dossier, ProcedureDraft, ProcedureVersion
from engine.procedure_catalog import catalog, unit_vocabulary
from engine.settings import WORKFLOWS_DIR
from tests.conftest import vn
from tests.helpers import PERMIT, open_tasks, receive_permit
from tests.web_helpers import app_for, csrf_token, signed_in

PERMIT_FILE = WORKFLOWS_DIR / "procedures" / "giay-phep-xay-dung.bpmn"
BLANK = Path(__file__).resolve().parents[1] / "web" / "templates" / "designer" / "blank.bpmn"
MIWG = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "miwg"
DESIGNER = "hn.thietke"
ADMIN = "hn.quantri"

FOREIGN = (
    '<bpmn:extensionElements>\n'
    '      <camunda:properties xmlns:camunda="http://camunda.org/schema/1.0/bpmn">'
    '<camunda:property name="owner" value="so-xay-dung"/></camunda:properties>\n'
    '      <motcua:step days="8" />'
)


def permit_text() -> str:
    return PERMIT_FILE.read_text(encoding="utf-8")


def changed_permit(days: str = "7", unit_type: str = "qldt") -> str:
    """The construction permit with Task_ThamDinh's share and Lane_QLDT's unit type changed."""
    text = permit_text()
    text = text.replace('<motcua:step days="8" />', f'<motcua:step days="{days}" />', 1)
    return text.replace('<motcua:unit type="qldt" level="district" />',
                        f'<motcua:unit type="{unit_type}" level="district" />', 1)


def post_json(client, path: str, body: dict, token: str):
    return client.post(path, data=json.dumps(body), content_type="application/json",
                       headers={"X-CSRFToken": token, "Accept": "application/json"})


@pytest.fixture
def app(deployed):
    return app_for(deployed)


@pytest.fixture
def designer(deployed, app):
    client = signed_in(deployed, DESIGNER, app)
    return client, csrf_token(client, "/designer/")


# ---------------------------------------------------------------- access


@pytest.mark.parametrize("username", ["hk.motcua", "hk.qldt.cv", "hk.lanhdao"])
def test_other_roles_are_refused_every_designer_page(deployed, app, username):
    client = signed_in(deployed, username, app)
    for path in ("/designer/", "/designer/new", "/designer/blank.bpmn", "/designer/versions/1",
                 "/designer/versions/1/bpmn"):
        assert client.get(path).status_code == 403, path
    token = csrf_token(client, "/designer/")  # the 403 page has the sign-out form
    assert post_json(client, "/designer/api/drafts", {"xml": BLANK.read_text()}, token).status_code == 403
    assert post_json(client, "/designer/api/deploy", {"xml": changed_permit()}, token).status_code == 403
    with deployed.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(ProcedureDraft)) == 0
        assert session.scalar(select(func.count()).select_from(ProcedureVersion)) == 5


def test_anonymous_visitors_are_sent_to_sign_in(app):
    response = app.test_client().get("/designer/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("username", [DESIGNER, ADMIN])
def test_designers_and_admins_see_procedures_versions_and_dossier_counts(deployed, app, username):
    receive_permit(deployed)
    receive_permit(deployed)
    client = signed_in(deployed, username, app)
    page = client.get("/designer/").get_data(as_text=True)
    assert "Thiết kế quy trình" in page
    row = re.search(r'<tr data-code="XD-GPXD-01" data-version="1".*?</tr>', page, re.S).group(0)
    assert ">2</td>" in row  # two dossiers on version 1
    assert "02/03/2026" in row  # its effective date, dd/mm/yyyy
    assert "đang áp dụng" in row
    assert 'href="/designer/new"' in page
    assert 'href="/designer/"' in page  # the menu entry


def test_the_designer_menu_entry_shows_for_designers_only(deployed, app):
    assert 'href="/designer/"' in signed_in(deployed, DESIGNER, app).get("/designer/").get_data(as_text=True)
    clerk_home = signed_in(deployed, "hk.motcua", app).get("/counter/").get_data(as_text=True)
    assert 'href="/designer/"' not in clerk_home


# ---------------------------------------------------------------- catalogue


def test_catalog_counts_dossiers_per_version_and_marks_the_one_in_effect(deployed, clock):
    old = receive_permit(deployed)
    with deployed.db.transaction() as session:
        user = session.scalar(select(ProcedureVersion.deployed_by_id))  # None: deployed from files
        assert user is None
        from engine.directory import get_user

        drafts.deploy_source(deployed, session, changed_permit().encode(), actor=get_user(session, DESIGNER),
                             effective_on=vn(2026, 3, 10, 0, 0).date())
    new_code = receive_permit(deployed)
    with deployed.db.reading() as session:
        rows = {row.code: row for row in catalog(session, clock.now())}
        versions = rows[PERMIT].versions
        assert [v.version for v in versions] == [2, 1]
        assert versions[0].upcoming and not versions[0].in_effect
        assert versions[1].in_effect and versions[1].dossiers == 2
        assert versions[0].deployed_by == "Phạm Quang Vinh"
        assert {old, new_code} <= set(session.scalars(select(Dossier.code)))


def test_unit_vocabulary_lists_types_with_an_example_and_levels_top_down(deployed):
    with deployed.db.reading() as session:
        vocabulary = unit_vocabulary(session)
    types = {t["type"]: t for t in vocabulary["types"]}
    assert {"qldt", "lanh_dao", "tu_phap", "thue"} <= set(types)
    assert types["qldt"]["example"].startswith("Phòng Quản lý đô thị")
    assert "district" in types["qldt"]["levels"]
    assert vocabulary["levels"][:3] == ["province", "district", "commune"]


# ---------------------------------------------------------------- modeler pages and downloads


def test_the_modeler_page_carries_its_configuration(designer):
    client, _ = designer
    page = client.get("/designer/versions/3").get_data(as_text=True)
    config = json.loads(re.search(r'<script type="application/json" id="mc-config">(.*?)</script>', page, re.S).group(1))
    assert config["sourceUrl"] == "/designer/versions/3/bpmn"
    assert config["baseVersionId"] == 3
    assert any(t["type"] == "qldt" for t in config["vocabulary"]["types"])
    assert "bundles/modeler.js" in page and "bundles/modeler.css" in page
    assert 'name="csrf_token"' in page


def test_a_version_downloads_byte_for_byte(deployed, designer):
    client, _ = designer
    with deployed.db.reading() as session:
        version = version_in_effect(session, PERMIT, deployed.clock.now())
        version_id, source = version.id, version.source
    response = client.get(f"/designer/versions/{version_id}/bpmn?download=1")
    assert response.status_code == 200
    assert response.data == source
    assert response.headers["Content-Disposition"] == 'attachment; filename="XD-GPXD-01-v1.bpmn"'
    assert client.get(f"/designer/versions/{version_id}/bpmn").headers.get("Content-Disposition") is None
    assert client.get("/designer/versions/999/bpmn").status_code == 404


def test_the_blank_procedure_has_three_lanes_with_units_and_is_deployable(deployed, designer):
    client, _ = designer
    text = client.get("/designer/blank.bpmn").data
    root = etree.fromstring(text)
    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "motcua": "urn:motcua:bpmn:1",
          "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}
    lanes = root.findall(".//bpmn:lane", ns)
    assert len(lanes) == 3
    assert all(lane.find("bpmn:extensionElements/motcua:unit", ns) is not None for lane in lanes)
    shapes = {s.get("bpmnElement") for s in root.findall(".//bpmndi:BPMNShape", ns)}
    assert {lane.get("id") for lane in lanes} <= shapes
    with deployed.db.reading() as session:
        assert drafts.check(session, text).executable


# ---------------------------------------------------------------- drafts


def test_a_draft_keeps_foreign_extensions_and_diagram_data_byte_for_byte(deployed, designer):
    client, token = designer
    text = permit_text().replace('<bpmn:extensionElements>\n        <motcua:step days="8" />', FOREIGN, 1)
    assert "camunda:properties" in text
    response = post_json(client, "/designer/api/drafts", {"xml": text, "base_version_id": 3,
                                                           "file_name": "../../etc/gpxd.bpmn"}, token)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["revision"] == 1 and body["url"] == f"/designer/drafts/{body['draft_id']}"
    downloaded = client.get(f"/designer/drafts/{body['draft_id']}/bpmn?download=1")
    assert downloaded.data == text.encode("utf-8")
    assert downloaded.headers["Content-Disposition"] == 'attachment; filename="gpxd.bpmn"'
    with deployed.db.reading() as session:
        draft = session.get(ProcedureDraft, body["draft_id"])
        assert (draft.procedure_code, draft.name, draft.base_version_id) == (
            PERMIT, "Cấp giấy phép xây dựng nhà ở riêng lẻ", 3)
    listing = client.get("/designer/").get_data(as_text=True)
    assert f'href="/designer/drafts/{body["draft_id"]}"' in listing


def test_saving_over_a_newer_save_is_refused(designer):
    client, token = designer
    first = post_json(client, "/designer/api/drafts", {"xml": permit_text()}, token).get_json()
    again = post_json(client, "/designer/api/drafts",
                      {"xml": changed_permit(), "draft_id": first["draft_id"], "revision": 1}, token)
    assert again.status_code == 200 and again.get_json()["revision"] == 2
    stale = post_json(client, "/designer/api/drafts",
                      {"xml": permit_text(), "draft_id": first["draft_id"], "revision": 1}, token)
    assert stale.status_code == 409
    assert "reload" in stale.get_json()["message"]


def test_a_draft_page_shows_the_servers_verdict(designer):
    client, token = designer
    broken = permit_text().replace('<motcua:step days="8" />', "", 1)
    draft_id = post_json(client, "/designer/api/drafts", {"xml": broken}, token).get_json()["draft_id"]
    page = client.get(f"/designer/drafts/{draft_id}").get_data(as_text=True)
    config = json.loads(re.search(r'id="mc-config">(.*?)</script>', page, re.S).group(1))
    assert config["draftId"] == draft_id and config["revision"] == 1
    assert config["verdict"]["executable"] is False
    assert any(p["element_id"] == "Task_ThamDinh" for p in config["verdict"]["problems"])


def test_deleting_a_draft(deployed, designer):
    client, token = designer
    draft_id = post_json(client, "/designer/api/drafts", {"xml": permit_text()}, token).get_json()["draft_id"]
    response = client.post(f"/designer/drafts/{draft_id}/delete", data={"csrf_token": token})
    assert response.status_code == 302
    assert client.get(f"/designer/drafts/{draft_id}").status_code == 404


def test_json_endpoints_need_the_csrf_token(designer):
    client, _ = designer
    response = client.post("/designer/api/drafts", data=json.dumps({"xml": permit_text()}),
                           content_type="application/json")
    assert response.status_code == 400


# ---------------------------------------------------------------- check and deploy


def test_check_answers_with_located_problems(designer):
    client, token = designer
    broken = changed_permit(days="30", unit_type="khong_co")
    verdict = post_json(client, "/designer/api/check", {"xml": broken}, token).get_json()
    assert verdict["executable"] is False
    located = {p["element_id"] for p in verdict["problems"]}
    assert "Lane_QLDT" in located  # unknown unit type
    lane = next(p for p in verdict["problems"] if p["element_id"] == "Lane_QLDT")
    assert lane["message"].startswith("Làn «Phòng Quản lý đô thị» gắn loại đơn vị «khong_co»")
    assert all(p["line"] for p in verdict["problems"] if p["element_id"])
    assert post_json(client, "/designer/api/check", {"xml": permit_text()}, token).get_json()["executable"]


def test_deploy_refuses_an_invalid_diagram_and_writes_nothing(deployed, designer):
    client, token = designer
    response = post_json(client, "/designer/api/deploy",
                         {"xml": changed_permit(days="30"), "effective_from": "02/03/2026"}, token)
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_procedure"
    assert any("vượt thời hạn giải quyết 15 ngày" in p["message"] for p in body["problems"])
    assert all(set(p) == {"element_id", "line", "message"} for p in body["problems"])
    with deployed.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(ProcedureVersion)) == 5


@pytest.mark.parametrize(("day", "message"), [("01/03/2026", "in the past"), ("31/02/2026", "không hợp lệ"),
                                               ("tomorrow", "không hợp lệ")])
def test_deploy_refuses_a_bad_effective_date(deployed, designer, day, message):
    client, token = designer
    response = post_json(client, "/designer/api/deploy", {"xml": changed_permit(), "effective_from": day}, token)
    assert response.status_code == 400
    assert message in response.get_json()["message"]


def test_deploy_makes_a_new_version_from_the_date_and_dossiers_keep_theirs(deployed, designer):
    client, token = designer
    old = receive_permit(deployed)
    draft_id = post_json(client, "/designer/api/drafts", {"xml": changed_permit(unit_type="tnmt")}, token
                         ).get_json()["draft_id"]
    response = post_json(client, "/designer/api/deploy", {"xml": changed_permit(unit_type="tnmt"),
                                                          "effective_from": "02/03/2026", "draft_id": draft_id,
                                                          "file_name": "gpxd.bpmn"}, token)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["code"], body["version"], body["new"]) == (PERMIT, 2, True)
    assert "02/03/2026" in body["message"]
    new = receive_permit(deployed)
    with deployed.db.reading() as session:
        version = version_in_effect(session, PERMIT, deployed.clock.now())
        assert version.version == 2 and version.effective_from == vn(2026, 3, 2, 0, 0)
        assert session.get(ProcedureDraft, draft_id) is None  # the draft became the version
        versions = {code: session.scalar(select(ProcedureVersion.version).join(Dossier).where(Dossier.code == code))
                    for code in (old, new)}
    assert versions == {old: 1, new: 2}
    assert [t.step for t in open_tasks(deployed, new)] == ["Task_ThamDinh"]
    with deployed.db.reading() as session:
        from engine.models import Unit

        assert session.get(Unit, open_tasks(deployed, new)[0].unit_id).type == "tnmt"
        assert session.get(Unit, open_tasks(deployed, old)[0].unit_id).type == "qldt"
    same = post_json(client, "/designer/api/deploy", {"xml": changed_permit(unit_type="tnmt")}, token)
    assert same.status_code == 200 and same.get_json()["new"] is False


def test_a_future_effective_date_leaves_the_current_version_in_effect(deployed, designer):
    client, token = designer
    response = post_json(client, "/designer/api/deploy", {"xml": changed_permit(), "effective_from": "2026-03-16"},
                         token)
    assert response.status_code == 201
    with deployed.db.reading() as session:
        assert version_in_effect(session, PERMIT, deployed.clock.now()).version == 1
        assert version_in_effect(session, PERMIT, vn(2026, 3, 16, 8, 0)).version == 2


# ---------------------------------------------------------------- uploads


def upload(client, token, data: bytes, name: str = "quy-trinh.bpmn"):
    return client.post("/designer/upload", data={"csrf_token": token, "file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_uploading_a_good_file_opens_it_as_a_draft(deployed, designer):
    client, token = designer
    response = upload(client, token, PERMIT_FILE.read_bytes(), "giay-phep.bpmn")
    assert response.status_code == 302
    assert re.fullmatch(r"/designer/drafts/\d+", response.headers["Location"])
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Cấp giấy phép xây dựng" in page


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "empty"),
        (b"<not-xml", "BPMN"),
        (b"<html><body>hi</body></html>", "not a BPMN 2.0"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
         b'<x>&b;</x>', "an toàn"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>', "an toàn"),
        (b"<a>" * 200 + b"</a>" * 200, "an toàn"),
        (b"<x>" + b" " * 5_100_000 + b"</x>", "5 MB"),
    ],
    ids=["empty", "broken", "html", "billion-laughs", "xxe", "deep", "too-large"],
)
def test_bad_and_hostile_uploads_get_a_clear_message_and_store_nothing(deployed, designer, data, fragment):
    client, token = designer
    response = upload(client, token, data)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="upload-errors"' in page
    assert fragment in page
    assert "passwd" not in page.split('id="upload-errors"')[1].split("</div>")[0] or fragment != "an toàn"
    with deployed.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(ProcedureDraft)) == 0


def test_an_upload_without_a_file_is_refused_clearly(designer):
    client, token = designer
    response = client.post("/designer/upload", data={"csrf_token": token}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert 'id="upload-errors"' in response.get_data(as_text=True)


MIWG_FILES = sorted(MIWG.glob("*.bpmn")) if MIWG.is_dir() else []


@pytest.mark.skipif(not MIWG_FILES, reason="the MIWG corpus is not present next to the repository")
def test_every_miwg_file_uploads_to_a_draft_with_a_verdict_and_no_500(designer):
    client, token = designer
    for path in MIWG_FILES:
        response = upload(client, token, path.read_bytes(), path.name)
        assert response.status_code == 302, (path.name, response.get_data(as_text=True)[:300])
        page = client.get(response.headers["Location"])
        assert page.status_code == 200, path.name
        config = json.loads(re.search(r'id="mc-config">(.*?)</script>', page.get_data(as_text=True), re.S).group(1))
        verdict = config["verdict"]
        assert verdict["executable"] is False and verdict["problems"], path.name
        assert all(p["element_id"] for p in verdict["problems"]), path.name
