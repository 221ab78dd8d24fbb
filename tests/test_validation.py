"""validate_bpmn: one verdict per upload, every fault located by element id and line.

Each rule is tested with a broken variant of one good procedure
(tests/data/bpmn/good_minimal.bpmn), so a failure names the rule that moved.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException

from engine.errors import Problem
from engine.extensions import read_process
from engine.safexml import parse_xml
from engine.validation import MAX_FLOW_NODES, Verdict, validate_bpmn

DATA = Path(__file__).parent / "data" / "bpmn"
GOOD = (DATA / "good_minimal.bpmn").read_text(encoding="utf-8")
MIWG = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "miwg"
PROCESS_ID = "cap_phep_xay_dung"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"


def variant(old: str, new: str, text: str = GOOD) -> str:
    """``text`` with one exact fragment replaced (the fragment must be there)."""
    assert text.count(old) == 1, f"fragment not unique in the fixture: {old!r}"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    return text.count("\n", 0, text.index(needle)) + 1


def problem(verdict: Verdict, fragment: str) -> Problem:
    """The one problem whose message contains ``fragment``."""
    found = [p for p in verdict.problems if fragment in p.message]
    assert found, f"no problem mentioning {fragment!r} in {[str(p) for p in verdict.problems]}"
    return found[0]


def assert_refused(text: str, fragment: str, element_id: str, needle: str, **kwargs) -> Problem:
    """Validate ``text``: not executable, with a problem at ``element_id`` on the line of ``needle``."""
    verdict = validate_bpmn(text, **kwargs)
    assert not verdict.executable
    found = problem(verdict, fragment)
    assert found.element_id == element_id, found
    assert found.line == line_of(text, needle), found
    return found


def chain(length: int) -> str:
    """A motcua-valid procedure: start, ``length`` - 2 user tasks in a row, end."""
    tasks = [f"T{i}" for i in range(length - 2)]
    refs = "".join(f"<bpmn:flowNodeRef>{t}</bpmn:flowNodeRef>" for t in tasks)
    nodes = "".join(
        f'<bpmn:userTask id="{t}"><bpmn:extensionElements><motcua:step hours="1"/>'
        "</bpmn:extensionElements></bpmn:userTask>"
        for t in tasks
    )
    order = ["S", *tasks, "E"]
    flows = "".join(
        f'<bpmn:sequenceFlow id="F{i}" sourceRef="{a}" targetRef="{b}"/>'
        for i, (a, b) in enumerate(itertools.pairwise(order))
    )
    return f"""<bpmn:definitions xmlns:bpmn="{BPMN}" xmlns:motcua="urn:motcua:bpmn:1" id="D" targetNamespace="urn:t">
<bpmn:process id="Chain" isExecutable="true">
<bpmn:extensionElements><motcua:procedure code="CHAIN" timeLimitDays="1000"/></bpmn:extensionElements>
<bpmn:laneSet id="LS"><bpmn:lane id="L" name="Lane"><bpmn:extensionElements>
<motcua:unit type="qldt" level="district"/></bpmn:extensionElements>{refs}</bpmn:lane></bpmn:laneSet>
<bpmn:startEvent id="S"/>{nodes}<bpmn:endEvent id="E"/>{flows}
</bpmn:process></bpmn:definitions>"""


# ================================================================ the good file


def test_the_good_procedure_is_executable() -> None:
    verdict = validate_bpmn(GOOD.encode())
    assert verdict == Verdict(True, PROCESS_ID, [], [])


def test_text_input_works_like_bytes() -> None:
    assert validate_bpmn(GOOD).executable


def test_verdict_as_dict_is_plain_json() -> None:
    text = variant('<motcua:step hours="4"/>', "")
    data = validate_bpmn(text).as_dict()
    assert data["executable"] is False and data["process_id"] == PROCESS_ID
    assert data["problems"][0] == {
        "element_id": "Receive",
        "line": line_of(text, 'id="Receive"'),
        "message": "User task 'Tiếp nhận hồ sơ' has no motcua:step giving its duration (days or hours)",
    }
    assert data["warnings"] == []


def test_the_unit_vocabulary_is_accepted_when_known() -> None:
    verdict = validate_bpmn(GOOD, unit_types={"mot_cua", "qldt"}, levels={"district", "province"})
    assert verdict.executable


# ================================================================ 1. safe XML, BPMN root


@pytest.mark.parametrize(
    "name", ["xxe.bpmn", "billion_laughs.bpmn", "external_dtd.bpmn", "parameter_entity.bpmn"]
)
def test_hostile_xml_gets_a_verdict_not_an_exception(name: str) -> None:
    verdict = validate_bpmn((DATA / name).read_bytes())
    assert not verdict.executable and verdict.process_id is None
    assert "DTDs and entity declarations are not accepted" in verdict.problems[0].message
    assert "root:" not in str(verdict.as_dict())


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\x01\x02garbage", bytes(range(256)), "<<<", b"<a>" * 5_000, b"<r>" + b"x" * 5_000_001],
)
def test_garbage_gets_a_verdict(data: bytes | str) -> None:
    verdict = validate_bpmn(data)
    assert not verdict.executable and verdict.problems


def test_malformed_xml_reports_the_line() -> None:
    verdict = validate_bpmn((DATA / "not_well_formed.bpmn").read_bytes())
    assert verdict.problems[0].line == 5
    assert verdict.problems[0].message.startswith("The file is not well-formed XML: ")


def test_the_root_must_be_bpmn_definitions() -> None:
    verdict = validate_bpmn(b'<definitions xmlns="urn:not-bpmn" id="D"/>')
    assert "not a BPMN 2.0 <definitions> element" in verdict.problems[0].message
    assert verdict.problems[0].element_id == "D"


# ================================================================ 2. XSD


def test_schema_errors_carry_element_id_and_line() -> None:
    text = variant(
        '<bpmn:sequenceFlow id="Flow_end" sourceRef="Return" targetRef="EndEvent_1"/>',
        '<bpmn:sequenceFlow id="Flow_end" sourceRef="Return"/>',
    )
    found = assert_refused(text, "Not valid BPMN 2.0", "Flow_end", 'id="Flow_end"')
    assert "'targetRef' is required" in found.message


def test_an_unknown_bpmn_element_is_a_schema_error_located_at_its_owner() -> None:
    text = variant(
        'label="Diện tích lô đất"/>\n      </bpmn:extensionElements>',
        'label="Diện tích lô đất"/>\n      </bpmn:extensionElements>\n      <bpmn:bogus/>',
    )
    found = assert_refused(text, "Not valid BPMN 2.0", "Receive", "<bpmn:bogus/>")
    assert "bpmn:bogus" in found.message and "{" not in found.message


# ================================================================ 3. one executable process


def test_a_file_without_executable_process_says_so_and_is_still_checked() -> None:
    text = variant('isExecutable="true"', 'isExecutable="false"')
    found = assert_refused(text, "is not executable", PROCESS_ID, f'id="{PROCESS_ID}"')
    assert "Cấp giấy phép xây dựng" in found.message
    assert validate_bpmn(text).process_id == PROCESS_ID


def test_several_executable_processes_are_refused() -> None:
    second = '<bpmn:process id="Other" isExecutable="true"><bpmn:startEvent id="S2"/></bpmn:process>\n'
    text = variant("</bpmn:definitions>", second + "</bpmn:definitions>")
    verdict = validate_bpmn(text)
    found = problem(verdict, "2 executable processes")
    assert f"'{PROCESS_ID}', 'Other'" in found.message
    assert found.element_id == "Other" and verdict.process_id is None


def test_a_file_without_process_is_refused() -> None:
    verdict = validate_bpmn(f'<definitions xmlns="{BPMN}" id="D" targetNamespace="urn:t"/>')
    assert problem(verdict, "contains no process").element_id == "D"


def test_other_pools_of_a_collaboration_are_warnings() -> None:
    collaboration = (
        '<bpmn:collaboration id="Collab">\n'
        f'    <bpmn:participant id="Pool_main" name="UBND" processRef="{PROCESS_ID}"/>\n'
        '    <bpmn:participant id="Pool_citizen" name="Công dân" processRef="Citizen"/>\n'
        '    <bpmn:messageFlow id="Msg_1" sourceRef="Pool_citizen" targetRef="Receive"/>\n'
        "  </bpmn:collaboration>\n"
        '  <bpmn:process id="Citizen" isExecutable="false"><bpmn:serviceTask id="Pay"/></bpmn:process>\n  '
    )
    text = variant("<bpmn:process id=", collaboration + "<bpmn:process id=")
    verdict = validate_bpmn(text)
    assert verdict.executable, verdict.problems
    messages = [w.message for w in verdict.warnings]
    assert "Pool 'Công dân' is not executed: only process 'cap_phep_xay_dung' is deployed" in messages
    assert any("1 message flow(s) are ignored" in m for m in messages)


# ================================================================ 4. size


def test_a_600_node_chain_is_refused_for_its_size_without_recursion_error() -> None:
    verdict = validate_bpmn(chain(600))
    assert not verdict.executable
    assert [p.message for p in verdict.problems] == [
        f"The process has too many elements (600; the maximum is {MAX_FLOW_NODES})"
    ]
    assert verdict.problems[0].element_id == "Chain"


def test_a_250_node_chain_is_fine() -> None:
    verdict = validate_bpmn(chain(250))
    assert verdict.executable, verdict.problems[:3]


def test_a_chain_at_the_limit_parses_even_from_a_deep_call_stack() -> None:
    """SpiffWorkflow recurses ~2 frames per node; it runs on a fresh stack."""

    def nested(depth: int) -> Verdict:
        return nested(depth - 1) if depth else validate_bpmn(chain(MAX_FLOW_NODES))

    assert nested(500).executable


def test_a_recursion_error_inside_spiffworkflow_becomes_a_problem(monkeypatch) -> None:
    def explode(self, process_id, required=True):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(BpmnParser, "get_spec", explode)
    verdict = validate_bpmn(GOOD)
    assert problem(verdict, "too long for the BPMN parser").element_id == PROCESS_ID


# ================================================================ 5. supported elements


def test_a_service_task_is_refused_with_its_id() -> None:
    text = GOOD.replace("bpmn:manualTask", "bpmn:serviceTask")
    found = assert_refused(text, "Service task (bpmn:serviceTask) is not supported", "Return", 'id="Return"')
    assert "(element id 'Return')" in found.message


@pytest.mark.parametrize("tag", ["sendTask", "receiveTask", "businessRuleTask", "callActivity", "subProcess"])
def test_other_activities_are_refused(tag: str) -> None:
    text = GOOD.replace("bpmn:manualTask", f"bpmn:{tag}")
    assert_refused(
        text, f"(bpmn:{tag}) is not supported by motcua (element id 'Return')", "Return", 'id="Return"'
    )


@pytest.mark.parametrize("tag", ["eventBasedGateway", "complexGateway"])
def test_other_gateways_are_refused(tag: str) -> None:
    text = variant(
        '<bpmn:exclusiveGateway id="Decide" name="Hồ sơ đủ?" default="Flow_ok"/>',
        f'<bpmn:{tag} id="Decide" name="Hồ sơ đủ?" default="Flow_ok"/>',
    )
    assert_refused(text, f"(bpmn:{tag}) is not supported", "Decide", 'id="Decide"')


@pytest.mark.parametrize(
    ("definition", "expected"),
    [
        ('<bpmn:messageEventDefinition id="M"/>', "Message start event 'Nhận hồ sơ' is not supported"),
        (
            '<bpmn:timerEventDefinition id="T"><bpmn:timeDuration>"P1D"</bpmn:timeDuration>'
            "</bpmn:timerEventDefinition>",
            "Timer start event",
        ),
        ('<bpmn:signalEventDefinition id="Sig"/>', "Signal start event"),
        ('<bpmn:conditionalEventDefinition id="C"/>', "Conditional start event"),
    ],
)
def test_only_a_plain_start_event_is_supported(definition: str, expected: str) -> None:
    text = variant(
        '<bpmn:startEvent id="StartEvent_1" name="Nhận hồ sơ"/>',
        f'<bpmn:startEvent id="StartEvent_1" name="Nhận hồ sơ">{definition}</bpmn:startEvent>',
    )
    assert_refused(text, expected, "StartEvent_1", 'id="StartEvent_1"')


def test_end_events_may_terminate_but_not_raise_errors() -> None:
    end = '<bpmn:endEvent id="EndEvent_1" name="Hoàn thành"/>'
    terminate = variant(end, end.replace("/>", "><bpmn:terminateEventDefinition/></bpmn:endEvent>"))
    assert validate_bpmn(terminate).executable
    error = variant(end, end.replace("/>", '><bpmn:errorEventDefinition id="Err"/></bpmn:endEvent>'))
    assert_refused(error, "Error end event 'Hoàn thành' is not supported", "EndEvent_1", 'id="EndEvent_1"')


def test_boundary_events_must_be_timers() -> None:
    text = GOOD.replace('<bpmn:timeDuration>"P6D"</bpmn:timeDuration>', "").replace(
        "bpmn:timerEventDefinition", "bpmn:messageEventDefinition"
    )
    assert_refused(text, "Message boundary event 'Nhắc hạn' is not supported", "Reminder", 'id="Reminder"')


def test_an_intermediate_timer_is_supported_and_a_throw_event_is_not() -> None:
    timer = (
        '<bpmn:intermediateCatchEvent id="Wait"><bpmn:timerEventDefinition id="TW">'
        "<bpmn:timeDuration>days(2)</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    )
    flows = (
        '<bpmn:sequenceFlow id="Flow_2" sourceRef="Receive" targetRef="Wait"/>'
        '<bpmn:sequenceFlow id="Flow_2b" sourceRef="Wait" targetRef="Review"/>'
    )
    text = variant('<bpmn:sequenceFlow id="Flow_2" sourceRef="Receive" targetRef="Review"/>', timer + flows)
    assert validate_bpmn(text).executable
    throw = text.replace("intermediateCatchEvent", "intermediateThrowEvent")
    assert_refused(throw, "Intermediate throw event (bpmn:intermediateThrowEvent)", "Wait", 'id="Wait"')


@pytest.mark.parametrize(
    ("loop", "expected"),
    [
        ('<bpmn:multiInstanceLoopCharacteristics isSequential="true"/>', "Multi-instance loop on 'Thẩm định"),
        ('<bpmn:standardLoopCharacteristics loopMaximum="3"/>', "Standard loop on 'Thẩm định hồ sơ'"),
    ],
)
def test_loops_on_tasks_are_refused(loop: str, expected: str) -> None:
    text = variant(
        "      </bpmn:extensionElements>\n    </bpmn:userTask>\n    <bpmn:boundaryEvent",
        f"      </bpmn:extensionElements>\n      {loop}\n    </bpmn:userTask>\n    <bpmn:boundaryEvent",
    )
    assert_refused(text, expected, "Review", 'id="Review"')


def test_a_task_with_two_outgoing_flows_must_use_a_gateway() -> None:
    text = variant(
        "</bpmn:process>",
        '<bpmn:sequenceFlow id="Flow_extra" sourceRef="Receive" targetRef="Return"/>\n</bpmn:process>',
    )
    assert_refused(
        text, "has 2 outgoing sequence flows; split the path with a gateway", "Receive", 'id="Receive"'
    )


def test_ids_reserved_by_spiffworkflow_are_refused() -> None:
    text = GOOD.replace("StartEvent_1", "Start")
    assert_refused(text, "The id 'Start' is reserved", "Start", '<bpmn:startEvent id="Start"')


def test_a_process_needs_exactly_one_start_event() -> None:
    text = variant(
        '<bpmn:startEvent id="StartEvent_1" name="Nhận hồ sơ"/>',
        '<bpmn:startEvent id="StartEvent_1" name="Nhận hồ sơ"/><bpmn:startEvent id="S2"/>',
    )
    assert_refused(text, "2 start events", "S2", 'id="S2"')
    no_start = GOOD.replace('<bpmn:startEvent id="StartEvent_1" name="Nhận hồ sơ"/>', "")
    assert problem(validate_bpmn(no_start), "no start event").element_id == PROCESS_ID


def test_unreachable_steps_are_warned_about() -> None:
    text = variant('<bpmn:sequenceFlow id="Flow_back" sourceRef="Supplement" targetRef="Review"/>', "")
    text = variant(
        '<bpmn:sequenceFlow id="Flow_more" sourceRef="Decide" targetRef="Supplement">',
        '<bpmn:sequenceFlow id="Flow_more" sourceRef="Decide" targetRef="EndEvent_1">',
        text,
    )
    verdict = validate_bpmn(text)
    assert verdict.executable
    assert [w.element_id for w in verdict.warnings] == ["Supplement"]


def test_data_objects_and_foreign_extensions_are_ignored_with_warnings() -> None:
    association = (
        '      <bpmn:dataOutputAssociation id="DOA"><bpmn:targetRef>DOR</bpmn:targetRef>'
        "</bpmn:dataOutputAssociation>\n"
    )
    data = '<bpmn:dataObject id="DO"/><bpmn:dataObjectReference id="DOR" dataObjectRef="DO"/>\n'
    note = (
        '<bpmn:textAnnotation id="Note"><bpmn:text>ghi chú</bpmn:text></bpmn:textAnnotation>'
        '<bpmn:association id="A1" sourceRef="Note" targetRef="Review"/>\n'
    )
    text = variant(
        "      </bpmn:extensionElements>\n    </bpmn:userTask>\n    <bpmn:boundaryEvent",
        f"      </bpmn:extensionElements>\n{association}    </bpmn:userTask>\n    {data}"
        "    <bpmn:boundaryEvent",
    )
    text = variant("  </bpmn:process>", note + "  </bpmn:process>", text)
    text = variant(
        '<motcua:step days="8"/>',
        '<motcua:step days="8"/><camunda:formData xmlns:camunda="http://camunda.org/schema/1.0/bpmn"/>',
        text,
    )
    verdict = validate_bpmn(text)
    assert verdict.executable, verdict.problems
    messages = [w.message for w in verdict.warnings]
    assert (
        "Data associations of 'Thẩm định hồ sơ' are ignored: dossier data lives in the step forms" in messages
    )
    assert any(m.startswith("Extension element camunda:formData is ignored") for m in messages)


# ================================================================ 6. expressions and scripts


@pytest.mark.parametrize("condition", ["__import__('os')", "x.__class__", "result.__class__.__base__"])
def test_hostile_conditions_are_refused_with_the_flow_id(condition: str) -> None:
    text = variant('result == "supplement"', condition)
    found = assert_refused(
        text,
        "The condition on sequence flow 'Flow_more' is refused: ",
        "Flow_more",
        "<bpmn:conditionExpression>",
    )
    assert "not allowed" in found.message  # the expression compiler's own reason follows


def test_a_condition_with_a_syntax_error_is_refused() -> None:
    text = variant('result == "supplement"', "result ==")
    assert_refused(text, "is refused", "Flow_more", "<bpmn:conditionExpression>")


def test_a_hostile_timer_expression_is_refused_with_the_event_id() -> None:
    text = variant('"P6D"', "__import__('os').system('id')")
    assert_refused(text, "The timer expression of 'Nhắc hạn' is refused", "Reminder", "<bpmn:timeDuration>")


def test_a_timer_needs_an_expression() -> None:
    text = variant('<bpmn:timeDuration>"P6D"</bpmn:timeDuration>', "")
    assert_refused(
        text,
        "needs exactly one of timeDuration, timeDate or timeCycle",
        "Reminder",
        '<bpmn:timerEventDefinition id="Timer_1">',
    )


@pytest.mark.parametrize(
    ("extension", "name"),
    [
        (
            '<spiffworkflow:preScript xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core">'
            "import os</spiffworkflow:preScript>",
            "spiffworkflow:preScript",
        ),
        (
            '<camunda:executionListener xmlns:camunda="http://camunda.org/schema/1.0/bpmn" event="start">'
            '<camunda:script scriptFormat="python">import os</camunda:script></camunda:executionListener>',
            "camunda:executionListener",
        ),
    ],
)
def test_other_engines_extension_scripts_are_refused(extension: str, name: str) -> None:
    text = variant('<motcua:step hours="4"/>', f'<motcua:step hours="4"/>\n        {extension}')
    assert_refused(text, f"Extension script {name} on 'Receive' is refused", "Receive", extension[:30])


def script_task(body: str) -> str:
    task = (
        '<bpmn:scriptTask id="Compute" name="Tính phí" scriptFormat="python">\n'
        f"      <bpmn:script>{body}</bpmn:script>\n    </bpmn:scriptTask>\n"
        '    <bpmn:sequenceFlow id="Flow_2" sourceRef="Receive" targetRef="Compute"/>\n'
        '    <bpmn:sequenceFlow id="Flow_2b" sourceRef="Compute" targetRef="Review"/>'
    )
    return variant('<bpmn:sequenceFlow id="Flow_2" sourceRef="Receive" targetRef="Review"/>', task)


def test_a_safe_script_task_is_accepted() -> None:
    assert validate_bpmn(script_task("fee = 100000\nfee += 5000")).executable


def test_a_script_importing_os_is_refused_at_its_line() -> None:
    text = script_task("fee = 100000\nimport os\nos.system('id')")
    verdict = validate_bpmn(text)
    refused = [p for p in verdict.problems if p.element_id == "Compute"]
    assert refused, verdict.problems
    assert refused[0].line == line_of(text, "import os")
    assert "The script of 'Tính phí' is refused" in refused[0].message


def test_a_script_task_needs_a_script() -> None:
    text = script_task("")
    assert_refused(text, "Script task 'Tính phí' has no script", "Compute", 'id="Compute"')


# ================================================================ 7. motcua rules


def test_the_process_needs_motcua_procedure() -> None:
    text = variant('<motcua:procedure code="1.009994" timeLimitDays="15" field="Xây dựng"/>', "")
    assert_refused(text, "has no motcua:procedure", PROCESS_ID, f'id="{PROCESS_ID}"')


@pytest.mark.parametrize("code", ["1.009 994", "mã/1", "x" * 41])
def test_the_procedure_code_is_restricted(code: str) -> None:
    text = variant('code="1.009994"', f'code="{code}"')
    assert_refused(text, "is not valid: use 1 to 40 letters, digits", PROCESS_ID, f'id="{PROCESS_ID}"')


def test_the_procedure_code_is_required() -> None:
    text = variant('code="1.009994" ', "")
    assert_refused(text, "motcua:procedure has no code", PROCESS_ID, f'id="{PROCESS_ID}"')


@pytest.mark.parametrize("value", ["-1", "abc", "1e3", "nan", ""])
def test_time_limit_must_be_a_non_negative_number(value: str) -> None:
    text = variant('timeLimitDays="15"', f'timeLimitDays="{value}"')
    assert_refused(text, "timeLimitDays must be a non-negative number", PROCESS_ID, "<motcua:procedure")


def test_time_limit_is_required() -> None:
    text = variant('timeLimitDays="15" ', "")
    assert_refused(text, "has no timeLimitDays", PROCESS_ID, "<motcua:procedure")


def test_components_are_checked() -> None:
    text = variant(
        '<motcua:component name="Bản vẽ thiết kế" copies="2"/>',
        '<motcua:component name="Bản vẽ thiết kế" copies="0"/>'
        '<motcua:component name="Bản vẽ thiết kế" required="maybe"/>',
    )
    verdict = validate_bpmn(text)
    assert problem(verdict, "copies must be a whole number of at least 1").element_id == PROCESS_ID
    assert problem(verdict, "required must be true or false").line == line_of(text, 'required="maybe"')
    assert problem(verdict, "Component 'Bản vẽ thiết kế' is listed twice")


def test_a_human_task_must_be_in_a_lane() -> None:
    text = variant("<bpmn:flowNodeRef>Receive</bpmn:flowNodeRef>", "")
    assert_refused(text, "User task 'Tiếp nhận hồ sơ' is not in any lane", "Receive", 'id="Receive"')


def test_a_lane_with_human_steps_needs_a_unit() -> None:
    text = variant('<motcua:unit type="qldt" level="district"/>', "")
    assert_refused(
        text,
        "Lane 'Phòng Quản lý đô thị' holds human steps but has no motcua:unit",
        "Lane_office",
        'id="Lane_office"',
    )


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ('<motcua:unit type="qldt" fromData="unit"/>', "gives both fromData and type/level"),
        ('<motcua:unit type="qldt"/>', "needs both type and level (or fromData)"),
        ("<motcua:unit/>", "needs both type and level (or fromData)"),
    ],
)
def test_a_unit_is_either_type_and_level_or_from_data(unit: str, expected: str) -> None:
    text = variant('<motcua:unit type="qldt" level="district"/>', unit)
    assert_refused(text, expected, "Lane_office", unit)


def test_a_unit_taken_from_the_dossier_data_is_accepted() -> None:
    text = variant(
        '<motcua:unit type="qldt" level="district"/>', '<motcua:unit fromData="responsible_unit"/>'
    )
    assert validate_bpmn(text, unit_types={"mot_cua"}, levels={"district"}).executable


def test_lane_names_are_required_and_unique() -> None:
    duplicate = variant('name="Phòng Quản lý đô thị"', 'name="Bộ phận một cửa"')
    assert_refused(
        duplicate,
        "Lane name 'Bộ phận một cửa' is used by more than one lane",
        "Lane_office",
        'id="Lane_office"',
    )
    empty = variant('name="Phòng Quản lý đô thị"', 'name=" "')
    assert_refused(empty, "Lane 'Lane_office' has no name", "Lane_office", 'id="Lane_office"')


def test_unit_types_and_levels_must_be_known_when_given() -> None:
    verdict = validate_bpmn(GOOD, unit_types={"mot_cua", "tnmt"}, levels={"province"})
    found = problem(verdict, "unit type 'qldt'")
    assert found.message == (
        "Lane 'Phòng Quản lý đô thị' has unit type 'qldt', which is not a known unit type (known: mot_cua, tnmt)"
    )
    assert (found.element_id, found.line) == ("Lane_office", line_of(GOOD, 'id="Lane_office"'))
    assert len([p for p in verdict.problems if "level 'district'" in p.message]) == 2


def test_a_human_task_needs_a_step() -> None:
    text = variant('<motcua:step days="0.5"/>', "")
    assert_refused(text, "Manual task 'Trả kết quả' has no motcua:step", "Return", 'id="Return"')


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ('<motcua:step days="8" hours="2"/>', "needs exactly one of days or hours"),
        ("<motcua:step/>", "needs exactly one of days or hours"),
        ('<motcua:step days="-8"/>', "days must be a non-negative number"),
        ('<motcua:step days="8" clock="stopped"/>', "clock must be 'running' or 'paused', not 'stopped'"),
    ],
)
def test_step_values_are_checked(step: str, expected: str) -> None:
    text = variant('<motcua:step days="8"/>', step)
    assert_refused(text, expected, "Review", "<motcua:step" + step[12:20])


def test_field_definitions_are_checked_by_the_forms_module() -> None:
    text = variant('type="enum" label="Kết quả"', 'type="select" label="Kết quả"')
    found = assert_refused(text, "Field 'result' on 'Review'", "Review", 'key="result"')
    assert "unknown type 'select'" in found.message


def test_field_keys_are_unique_per_task() -> None:
    text = variant('key="plot_area"', 'key="applicant_name"')
    assert_refused(
        text, "Field key 'applicant_name' is used twice on 'Receive'", "Receive", 'label="Diện tích'
    )


def test_misplaced_or_unknown_motcua_elements_are_refused() -> None:
    misplaced = variant(
        'default="Flow_ok"/>',
        'default="Flow_ok"><bpmn:extensionElements><motcua:step days="1"/>'
        "</bpmn:extensionElements></bpmn:exclusiveGateway>",
    )
    assert_refused(misplaced, "motcua:step belongs on a user, manual or plain task", "Decide", 'id="Decide"')
    unknown = variant('<motcua:step hours="4"/>', '<motcua:step hours="4"/><motcua:deadline days="1"/>')
    assert_refused(unknown, "Unknown motcua element 'motcua:deadline'", "Receive", "<motcua:deadline")


def test_unknown_motcua_attributes_are_warnings() -> None:
    verdict = validate_bpmn(variant('<motcua:step hours="4"/>', '<motcua:step hours="4" dayz="1"/>'))
    assert verdict.executable
    assert (
        verdict.warnings[0].message
        == "motcua:step has an unknown attribute 'dayz' (expected: clock, days, hours)"
    )


def test_a_plain_task_counts_as_a_human_step() -> None:
    text = GOOD.replace("bpmn:manualTask", "bpmn:task")
    assert validate_bpmn(text).executable
    assert_refused(
        variant('<motcua:step days="0.5"/>', "", text),
        "Task 'Trả kết quả' has no motcua:step",
        "Return",
        'id="Return"',
    )


def test_every_branch_of_a_gateway_needs_a_condition_or_the_default() -> None:
    text = variant(' default="Flow_ok"', "")
    found = assert_refused(
        text,
        "Sequence flow 'Flow_ok' leaving exclusive gateway 'Decide' has no condition",
        "Flow_ok",
        'id="Flow_ok"',
    )
    assert found.message.endswith("and is not the default flow")


def test_the_default_flow_must_leave_the_gateway() -> None:
    text = variant('default="Flow_ok"', 'default="Flow_1"')
    assert_refused(
        text, "names 'Flow_1' as its default flow, but that flow does not leave it", "Decide", 'id="Decide"'
    )


def test_an_inclusive_gateway_follows_the_same_rule() -> None:
    text = GOOD.replace("bpmn:exclusiveGateway", "bpmn:inclusiveGateway").replace(' default="Flow_ok"', "")
    assert_refused(text, "leaving inclusive gateway 'Decide' has no condition", "Flow_ok", 'id="Flow_ok"')


def test_the_longest_path_must_fit_the_time_limit() -> None:
    # Receive 4 h + Review 8 d + Return 0.5 d = 4,320 minutes = 9 working days.
    assert validate_bpmn(variant('timeLimitDays="15"', 'timeLimitDays="9"')).executable
    text = variant('timeLimitDays="15"', 'timeLimitDays="8.5"')
    found = assert_refused(
        text,
        "The longest path through the process takes 4320 working minutes (9 working days)",
        PROCESS_ID,
        f'id="{PROCESS_ID}"',
    )
    assert "Tiếp nhận hồ sơ → Thẩm định hồ sơ → Trả kết quả" in found.message
    assert found.message.endswith("time limit of 4080 working minutes (8.5 working days)")


def test_paused_steps_do_not_count_and_loops_count_once() -> None:
    # With its clock running, waiting 5 days for the citizen makes the slowest path
    # 4 h + 8 d + 5 d (the loop back to Review is not followed again).
    text = variant('timeLimitDays="15"', 'timeLimitDays="9"')
    running = variant('<motcua:step days="5" clock="paused"/>', '<motcua:step days="5"/>', text)
    found = problem(validate_bpmn(running), "The longest path")
    assert "6480 working minutes (13.5 working days)" in found.message
    assert "Thẩm định hồ sơ → Chờ bổ sung hồ sơ" in found.message


def test_a_time_limit_of_zero_means_the_same_working_day() -> None:
    text = variant('timeLimitDays="15"', 'timeLimitDays="0"')
    found = problem(validate_bpmn(text), "The longest path")
    assert found.message.endswith("time limit of 480 working minutes (1 working day)")
    same_day = chain(5).replace('timeLimitDays="1000"', 'timeLimitDays="0"')  # 3 steps of 1 hour
    assert validate_bpmn(same_day).executable


def test_all_problems_are_reported_together() -> None:
    text = variant('<motcua:step hours="4"/>', "")
    text = variant(' default="Flow_ok"', "", text)
    text = variant('result == "supplement"', "x.__class__", text)
    verdict = validate_bpmn(text, unit_types={"mot_cua"})
    assert {p.element_id for p in verdict.problems} >= {"Receive", "Flow_ok", "Flow_more", "Lane_office"}


# ================================================================ 8. SpiffWorkflow


def test_a_spiffworkflow_validation_error_keeps_its_element_and_line(monkeypatch) -> None:
    def refuse(self, process_id, required=True):
        raise ValidationException("Something the library dislikes", id="Review")

    monkeypatch.setattr(BpmnParser, "get_spec", refuse)
    assert_refused(
        GOOD, "SpiffWorkflow cannot load the process: Something the library dislikes", "Review", 'id="Review"'
    )


def test_an_unexpected_library_exception_is_a_problem(monkeypatch) -> None:
    def crash(self, process_id, required=True):
        raise KeyError("x")

    monkeypatch.setattr(BpmnParser, "get_spec", crash)
    assert (
        problem(validate_bpmn(GOOD), "SpiffWorkflow cannot load the process: KeyError").element_id
        == PROCESS_ID
    )


# ================================================================ extensions read directly


def test_reading_the_vocabulary() -> None:
    process = parse_xml(GOOD).getroot().find(f"{{{BPMN}}}process")
    extensions = read_process(process)
    assert extensions.problems == () and extensions.warnings == ()
    assert extensions.procedure is not None
    assert extensions.procedure.time_limit_days == 15.0
    assert [(c.name, c.copies, c.required) for c in extensions.procedure.components] == [
        ("Đơn đề nghị cấp giấy phép xây dựng", 1, True),
        ("Bản vẽ thiết kế", 2, True),
    ]
    minutes = {step_id: (step.minutes, step.clock_paused) for step_id, step in extensions.steps.items()}
    assert minutes == {
        "Receive": (240, False),
        "Review": (3840, False),
        "Supplement": (2400, True),
        "Return": (240, False),
    }
    review = extensions.steps["Review"]
    assert review.lane == "Phòng Quản lý đô thị"
    assert review.fields[0].options == ("approve", "supplement") and review.fields[0].required
    assert extensions.lane("Lane_reception").unit_type == "mot_cua"


# ================================================================ the MIWG interchange corpus


MIWG_FILES = sorted(MIWG.glob("*.bpmn")) if MIWG.is_dir() else []


@pytest.mark.skipif(not MIWG_FILES, reason="the MIWG corpus is not present next to the repository")
@pytest.mark.parametrize("path", MIWG_FILES, ids=lambda p: p.name)
def test_every_miwg_file_gets_a_located_verdict(path: Path) -> None:
    verdict = validate_bpmn(path.read_bytes(), file_name=path.name)
    assert isinstance(verdict, Verdict)
    assert not verdict.executable  # none of them carries the motcua vocabulary
    assert verdict.problems
    for found in verdict.problems + verdict.warnings:
        assert found.element_id and found.line, found


@pytest.mark.parametrize(
    ("condition", "language"),
    [("${approved}", "JUEL"), ("= not(approved)", "FEEL")],
)
def test_conditions_from_other_engines_get_a_hint(condition: str, language: str) -> None:
    text = variant('result == "supplement"', condition)
    assert (
        f"this is a {language} expression from another engine"
        in problem(validate_bpmn(text), "Flow_more").message
    )
