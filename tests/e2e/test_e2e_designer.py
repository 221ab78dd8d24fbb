"""The process designer in a real browser: bpmn-js modeler, motcua properties, deploy, errors on the diagram, MIWG.

A designer opens the shipped construction permit, maps a lane to another
unit type and shortens a step in the properties panel, and deploys it as a
new version from today: a dossier received afterwards runs on the new
version (its first step goes to the newly mapped unit) while one received
before finishes on the old one. A broken upload shows its problems on the
elements themselves. Every MIWG reference file imports, renders and exports
with the same process and diagram elements.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import select

from engine.deployment import version_in_effect
from engine.models import Dossier, DossierStatus, ProcedureVersion, Unit
from engine.settings import WORKFLOWS_DIR
from tests.e2e.conftest import shot, sign_in
from tests.helpers import PERMIT, PERMIT_HAPPY, drive, open_tasks, receive_permit

PERMIT_FILE = WORKFLOWS_DIR / "procedures" / "giay-phep-xay-dung.bpmn"
MIWG = Path(__file__).resolve().parents[3] / "shared" / "conformance" / "miwg"
MIWG_FILES = sorted(MIWG.glob("*.bpmn")) if MIWG.is_dir() else []
# MIWG files with a defect bpmn-js warns about at import (a BPMNEdge without bpmnElement; a
# reference to another tool's type): the test still requires every element back on export.
KNOWN_DEFECTS = {"C.7.0.bpmn": "no bpmnElement referenced", "C.8.1.bpmn": "unresolved reference <triso:"}
MODEL = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DI = "http://www.omg.org/spec/BPMN/20100524/DI"


def open_modeler(page, url: str) -> list[str]:
    """Go to a modeler page and wait until the diagram is imported; return the page's console errors."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(url)
    page.wait_for_function("document.body.dataset.modelerReady")
    assert page.evaluate("document.body.dataset.modelerReady") in ("yes", "warnings")
    return errors


def click_element(page, element_id: str, *, dx: float | None = None) -> None:
    """Click a diagram element where a designer would (a lane on its name strip)."""
    box = page.locator(f'.djs-element[data-element-id="{element_id}"] .djs-hit').first.bounding_box()
    assert box, element_id
    x = box["x"] + (dx if dx is not None else box["width"] / 2)
    page.mouse.click(x, box["y"] + box["height"] / 2)
    page.wait_for_selector(f'.djs-element.selected[data-element-id="{element_id}"]')


def open_group(page, label: str) -> None:
    header = page.locator(".bio-properties-panel-group-header", has_text=label).first
    if "open" not in (header.get_attribute("class") or ""):
        header.click()


def test_designer_changes_a_lane_and_a_step_and_deploys_a_new_version(live_server, deployed, page):
    old = receive_permit(deployed)  # received under version 1
    with deployed.db.reading() as session:
        v1 = version_in_effect(session, PERMIT, deployed.clock.now())
    sign_in(page, live_server, "hn.thietke")
    page.goto(f"{live_server}/designer/")
    assert page.locator('tr[data-code="XD-GPXD-01"][data-version="1"]').count() == 1
    shot(page, "designer-01-list")

    errors = open_modeler(page, f"{live_server}/designer/versions/{v1.id}")
    # Vietnamese labels from the translate module: palette and the properties panel.
    assert page.locator('.djs-palette [data-action="create.task"]').get_attribute("aria-label") == "Thêm bước xử lý"
    click_element(page, "Lane_QLDT", dx=12)
    open_group(page, "Đơn vị xử lý")
    unit_type = page.locator("#bio-properties-panel-motcua-unit-type")
    assert unit_type.input_value() == "qldt"
    unit_type.select_option("tnmt")
    shot(page, "designer-02-lane-unit", full_page=False)

    click_element(page, "Task_ThamDinh")
    open_group(page, "Thời hạn của bước")
    days = page.locator("#bio-properties-panel-motcua-step-days")
    assert days.input_value() == "8"
    days.fill("7")
    days.press("Tab")
    page.wait_for_timeout(400)  # the panel's debounce
    shot(page, "designer-03-step-days", full_page=False)
    xml = page.evaluate("mcDesigner.currentXml()")
    assert '<motcua:step days="7" />' in xml and '<motcua:unit type="tnmt" level="district" />' in xml

    page.click("#mc-check")
    page.wait_for_selector("#mc-problems.mc-ok")
    assert page.locator("#mc-effective").input_value() == "02/03/2026"
    page.click("#mc-deploy")
    page.wait_for_function("document.getElementById('mc-problems-head').textContent.includes('phiên bản 2')")
    assert page.locator("#mc-problems-head a").get_attribute("href").startswith("/designer/versions/")
    shot(page, "designer-04-deployed", full_page=False)
    assert not [e for e in errors if "favicon" not in e], errors

    with deployed.db.reading() as session:
        v2 = version_in_effect(session, PERMIT, deployed.clock.now())
        assert v2.version == 2
        assert b'<motcua:step days="7" />' in v2.source
    new = receive_permit(deployed)
    with deployed.db.reading() as session:
        def version_of(code):
            return session.scalar(select(ProcedureVersion.version).join(Dossier).where(Dossier.code == code))

        assert (version_of(old), version_of(new)) == (1, 2)
        assert session.get(Unit, open_tasks(deployed, new)[0].unit_id).type == "tnmt"
        assert session.get(Unit, open_tasks(deployed, old)[0].unit_id).type == "qldt"
    assert drive(deployed, old, PERMIT_HAPPY) == list(PERMIT_HAPPY)  # the old one finishes on version 1
    with deployed.db.reading() as session:
        finished = session.scalar(select(Dossier).where(Dossier.code == old))
        assert finished.status == DossierStatus.AWAITING_RETURN
        assert not open_tasks(deployed, old)


def test_a_broken_upload_points_at_the_elements(live_server, deployed, page, tmp_path):
    text = PERMIT_FILE.read_text(encoding="utf-8")
    text = text.replace('<motcua:step days="8" />', "", 1)  # Task_ThamDinh without its time share
    text = text.replace('<motcua:unit type="qldt" level="district" />', '<motcua:unit type="khong_co" level="district" />')
    broken = tmp_path / "giay-phep-hong.bpmn"
    broken.write_text(text, encoding="utf-8")

    sign_in(page, live_server, "hn.thietke")
    page.goto(f"{live_server}/designer/")
    page.set_input_files("input[name=file]", str(broken))
    page.click("form[action$='/designer/upload'] button[type=submit]")
    page.wait_for_url("**/designer/drafts/*")
    open_modeler(page, page.url)
    page.wait_for_selector("#mc-problems:not([hidden])")
    for element_id in ("Task_ThamDinh", "Lane_QLDT"):
        assert page.locator(f'.djs-element.mc-error[data-element-id="{element_id}"]').count() == 1, element_id
        assert page.locator(f'.mc-error-wrap[data-element-id="{element_id}"]').count() == 1, element_id
        assert page.locator(f'#mc-problems-list li[data-element-id="{element_id}"]').count() >= 1
    # The browser linter agrees: the step without a time share is flagged on the diagram too.
    page.wait_for_selector('.djs-overlay-linting')
    assert page.locator('.bjsl-button').inner_text().strip().startswith(tuple("123456789"))
    shot(page, "designer-05-broken-upload", full_page=False)
    page.evaluate("(() => { const c = mcModeler.get('canvas'); c.zoom(1); "
                  "c.scrollToElement(mcModeler.get('elementRegistry').get('Task_ThamDinh')); })()")
    shot(page, "designer-05b-broken-upload-zoomed", full_page=False)

    # Clicking a problem selects its element; fixing it in the panel clears it at the next check.
    page.locator('#mc-problems-list li[data-element-id="Task_ThamDinh"] a').first.click()
    page.wait_for_selector('.djs-element.selected[data-element-id="Task_ThamDinh"]')
    open_group(page, "Thời hạn của bước")
    page.fill("#bio-properties-panel-motcua-step-days", "8")
    page.press("#bio-properties-panel-motcua-step-days", "Tab")
    page.wait_for_timeout(400)
    page.click("#mc-check")
    page.wait_for_function("!document.querySelector('#mc-problems-list li[data-element-id=\"Task_ThamDinh\"]')")
    assert page.locator('#mc-problems-list li[data-element-id="Lane_QLDT"]').count() >= 1
    page.click("#mc-deploy")
    page.wait_for_function("document.getElementById('mc-problems-head').textContent.includes('Chưa triển khai')")
    with deployed.db.reading() as session:
        assert version_in_effect(session, PERMIT, deployed.clock.now()).version == 1


def test_a_new_procedure_starts_from_three_lanes(live_server, deployed, page):
    sign_in(page, live_server, "hn.thietke")
    errors = open_modeler(page, f"{live_server}/designer/new")
    assert page.locator(".djs-element.djs-shape[data-element-id^='Lane_']").count() == 3
    click_element(page, "Participant_ThuTucMoi", dx=12)
    open_group(page, "Thủ tục")
    assert page.locator("#bio-properties-panel-motcua-procedure-code").input_value() == "MOI-01"
    open_group(page, "Thành phần hồ sơ")
    shot(page, "designer-06-new-procedure", full_page=False)
    page.click("#mc-save")
    page.wait_for_function("document.getElementById('mc-status').textContent.startsWith('Đã lưu')")
    assert "/designer/drafts/" in page.url
    assert not errors, errors


def _model_ids(root: etree._Element) -> set[str]:
    return {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.tag.startswith(f"{{{MODEL}}}")
            and el.get("id") and etree.QName(el).localname != "definitions"}


def _diagram_refs(root: etree._Element, kind: str) -> set[str]:
    return {el.get("bpmnElement") for el in root.iter(f"{{{DI}}}{kind}")}


@pytest.mark.skipif(not MIWG_FILES, reason="the MIWG corpus is not present next to the repository")
def test_every_miwg_file_round_trips_through_the_modeler(live_server, deployed, page):
    sign_in(page, live_server, "hn.thietke")
    errors = open_modeler(page, f"{live_server}/designer/new")
    for path in MIWG_FILES:
        source = path.read_bytes()
        result = page.evaluate(
            """async (xml) => {
                 const { warnings } = await mcDesigner.load(xml);
                 const shapes = mcModeler.get('elementRegistry').getAll().length;
                 return { warnings: warnings.map((w) => w.message), xml: await mcDesigner.currentXml(), shapes };
               }""",
            source.decode(etree.fromstring(source).getroottree().docinfo.encoding or "utf-8"),
        )
        assert result["shapes"] > 1, path.name
        before, after = etree.fromstring(source), etree.fromstring(result["xml"].encode("utf-8"))
        assert _model_ids(after) == _model_ids(before), path.name
        for kind in ("BPMNShape", "BPMNEdge"):
            assert _diagram_refs(after, kind) == _diagram_refs(before, kind), (path.name, kind)
        # Warnings only for the files' own defects; the element they concern is kept all the same.
        allowed = KNOWN_DEFECTS.get(path.name)
        assert all(allowed and allowed in w for w in result["warnings"]), (path.name, result["warnings"])
        if path.name in ("A.4.1.bpmn", "C.4.0.bpmn"):
            shot(page, f"designer-miwg-{path.stem}", full_page=False)
    assert not errors, errors


def test_foreign_extensions_and_diagram_data_survive_an_edit(live_server, deployed, page):
    foreign = (
        '<bpmn:extensionElements>\n'
        '        <camunda:properties xmlns:camunda="http://camunda.org/schema/1.0/bpmn">'
        '<camunda:property name="owner" value="so-xay-dung"/></camunda:properties>\n'
        '        <motcua:step days="8" />'
    )
    text = PERMIT_FILE.read_text(encoding="utf-8").replace(
        '<bpmn:extensionElements>\n        <motcua:step days="8" />', foreign, 1).replace(
        '<bpmn:userTask id="Task_PheDuyet"', '<bpmn:userTask xmlns:tool="urn:other:tool" tool:color="#ff0000" id="Task_PheDuyet"', 1)
    assert "camunda:properties" in text and "tool:color" in text
    sign_in(page, live_server, "hn.thietke")
    open_modeler(page, f"{live_server}/designer/new")
    xml = page.evaluate(
        """async (xml) => {
             await mcDesigner.load(xml);
             const registry = mcModeler.get('elementRegistry');
             const task = registry.get('Task_ThamDinh');
             mcModeler.get('modeling').updateProperties(task, { name: 'Thẩm định hồ sơ (sửa)' });
             return mcDesigner.currentXml();
           }""", text)
    after = etree.fromstring(xml.encode("utf-8"))
    before = etree.fromstring(text.encode("utf-8"))
    camunda = "http://camunda.org/schema/1.0/bpmn"
    props = after.findall(f".//{{{camunda}}}property")
    assert [(p.get("name"), p.get("value")) for p in props] == [("owner", "so-xay-dung")]
    task = after.find(f".//{{{MODEL}}}userTask[@id='Task_PheDuyet']")
    assert task.get("{urn:other:tool}color") == "#ff0000"
    assert after.find(f".//{{{MODEL}}}userTask[@id='Task_ThamDinh']").get("name") == "Thẩm định hồ sơ (sửa)"
    motcua = "urn:motcua:bpmn:1"
    assert len(after.findall(f".//{{{motcua}}}field")) == len(before.findall(f".//{{{motcua}}}field"))
    assert len(after.findall(f".//{{{motcua}}}step")) == len(before.findall(f".//{{{motcua}}}step"))

    def bounds(root):
        dc = "http://www.omg.org/spec/DD/20100524/DC"
        return {s.get("bpmnElement"): tuple(s.find(f"{{{dc}}}Bounds").attrib.items())
                for s in root.iter(f"{{{DI}}}BPMNShape")}

    assert bounds(after) == bounds(before)
    assert _model_ids(after) == _model_ids(before)


def test_in_english_the_modeler_speaks_english(live_server, deployed, page):
    sign_in(page, live_server, "hn.thietke")
    page.goto(f"{live_server}/lang/en?next=/designer/")
    open_modeler(page, f"{live_server}/designer/new")
    assert page.locator('.djs-palette [data-action="create.task"]').get_attribute("aria-label") == "Create task"
    click_element(page, "Lane_ChuyenMon", dx=12)
    open_group(page, "Processing unit")
    assert page.locator("#bio-properties-panel-motcua-unit-type").input_value() == "tckh"
    shot(page, "designer-07-english", full_page=False)


BLANK = Path(__file__).resolve().parents[2] / "web" / "templates" / "designer" / "blank.bpmn"


def test_each_browser_lint_rule_flags_its_element_and_the_server_agrees(live_server, deployed, page):
    text = BLANK.read_text(encoding="utf-8")
    for old, new in (
        ('<motcua:unit type="thue" level="district" />', ""),  # lane with a step, no unit
        ("<bpmn:flowNodeRef>Task_ThamDinh</bpmn:flowNodeRef>", ""),  # step outside every lane
        ('<motcua:step days="2" />', '<motcua:step days="9" />'),  # 9 + 1 days > 5
        ('<motcua:step days="1" />\n        <motcua:field key="y_kien_phoi_hop"',
         '<motcua:field key="y_kien_phoi_hop"'),  # step without a time share
        (' default="Flow_TuChoi"', ""),  # branch with neither condition nor default
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    sign_in(page, live_server, "hn.thietke")
    open_modeler(page, f"{live_server}/designer/new")
    issues = page.evaluate(
        """async (xml) => {
             await mcDesigner.load(xml);
             const found = await mcModeler.get('linting').lint();
             return Object.fromEntries(Object.entries(found).map(([rule, list]) => [rule, list.map((i) => i.id)]));
           }""", text)
    assert issues == {
        "motcua/lane-has-unit": ["Lane_PhoiHop"],
        "motcua/user-task-in-lane": ["Task_ThamDinh"],
        "motcua/task-has-step": ["Task_PhoiHop"],
        "motcua/steps-within-time-limit": ["ThuTucMoi", "Task_ThamDinh", "Task_PheDuyet"],
        "motcua/gateway-branch-condition": ["Flow_TuChoi"],
    }
    page.wait_for_selector(".bjsl-button-error")
    shot(page, "designer-08-lint", full_page=False)
    with deployed.db.reading() as session:
        from engine import drafts

        verdict = drafts.check(session, text)
    server = {p.element_id for p in verdict.problems}
    assert {"Lane_PhoiHop", "Task_ThamDinh", "Task_PhoiHop", "ThuTucMoi", "Flow_TuChoi"} <= server, verdict.problems
