"""Tests for engine.scripting: SpiffWorkflow running designer text through the safe evaluator."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.util.task import TaskState

from engine.errors import ExpressionError, InvalidProcedure
from engine.scripting import SCRIPT_ENGINE, SafeEnvironment, expression_error_in, make_script_engine

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def gateway_process(condition_big: str, condition_small: str, script: str = "total = a + b") -> str:
    """start -> script -> exclusive gateway -> (big | small) user task -> end."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="{BPMN}" xmlns:xsi="{XSI}" id="defs" targetNamespace="test">
  <process id="proc" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="sum"/>
    <scriptTask id="sum" name="Add up"><script>{_xml(script)}</script></scriptTask>
    <sequenceFlow id="f2" sourceRef="sum" targetRef="gw"/>
    <exclusiveGateway id="gw"/>
    <sequenceFlow id="to_big" sourceRef="gw" targetRef="big">
      <conditionExpression xsi:type="tFormalExpression">{_xml(condition_big)}</conditionExpression>
    </sequenceFlow>
    <sequenceFlow id="to_small" sourceRef="gw" targetRef="small">
      <conditionExpression xsi:type="tFormalExpression">{_xml(condition_small)}</conditionExpression>
    </sequenceFlow>
    <userTask id="big" name="Big"/>
    <userTask id="small" name="Small"/>
    <sequenceFlow id="f3" sourceRef="big" targetRef="end"/>
    <sequenceFlow id="f4" sourceRef="small" targetRef="end"/>
    <endEvent id="end"/>
  </process>
</definitions>"""


def timer_process(duration: str) -> str:
    """start -> timer -> user task -> end."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="{BPMN}" xmlns:xsi="{XSI}" id="defs" targetNamespace="test">
  <process id="proc" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <intermediateCatchEvent id="wait">
      <timerEventDefinition><timeDuration xsi:type="tFormalExpression">{_xml(duration)}</timeDuration></timerEventDefinition>
    </intermediateCatchEvent>
    <sequenceFlow id="f2" sourceRef="wait" targetRef="work"/>
    <userTask id="work" name="Work"/>
    <sequenceFlow id="f3" sourceRef="work" targetRef="end"/>
    <endEvent id="end"/>
  </process>
</definitions>"""


def multi_instance_process(cardinality: str) -> str:
    """start -> a user task repeated ``cardinality`` times, one after another -> end."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="{BPMN}" xmlns:xsi="{XSI}" id="defs" targetNamespace="test">
  <process id="proc" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <userTask id="review" name="Review">
      <multiInstanceLoopCharacteristics isSequential="true">
        <loopCardinality>{_xml(cardinality)}</loopCardinality>
      </multiInstanceLoopCharacteristics>
    </userTask>
    <sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
    <endEvent id="end"/>
  </process>
</definitions>"""


def start(
    xml: str, data: dict[str, object] | None = None, engine: PythonScriptEngine | None = None
) -> BpmnWorkflow:
    parser = BpmnParser()
    parser.add_bpmn_xml(etree.fromstring(xml.encode()), filename="test.bpmn")
    workflow = BpmnWorkflow(
        parser.get_spec("proc"),
        parser.get_subprocess_specs("proc"),
        script_engine=engine or make_script_engine(),
    )
    first = workflow.get_tasks(state=TaskState.READY)[0]
    first.data.update(data or {})
    workflow.do_engine_steps()
    return workflow


def ready_names(workflow: BpmnWorkflow) -> list[str]:
    return [task.task_spec.bpmn_id for task in workflow.get_tasks(state=TaskState.READY, manual=True)]


def run_expecting_failure(xml: str, data: dict[str, object]) -> WorkflowTaskException:
    with pytest.raises(WorkflowTaskException) as caught:
        start(xml, data)
    return caught.value


# ------------------------------------------------------------------ end to end


@pytest.mark.parametrize(("a", "b", "route"), [(7, 8, "big"), (2, 3, "small")])
def test_gateway_routes_by_data_and_script_result_lands_in_task_data(a: int, b: int, route: str) -> None:
    workflow = start(gateway_process("total > 10", "total <= 10"), {"a": a, "b": b})
    assert ready_names(workflow) == [route]
    task = workflow.get_tasks(state=TaskState.READY, manual=True)[0]
    assert task.data["total"] == a + b
    task.run()
    workflow.do_engine_steps()
    assert workflow.is_completed()
    assert workflow.data["total"] == a + b


def test_functions_work_inside_conditions_and_scripts() -> None:
    xml = gateway_process(
        "contains(lower(kind), 'house') and len(files) >= 2",
        "not (contains(lower(kind), 'house') and len(files) >= 2)",
        script="total = a + b\ndue = working_days(3)\nlabel = upper(kind)",
    )
    workflow = start(xml, {"a": 1, "b": 2, "kind": "Household", "files": ["cccd", "form"]})
    assert ready_names(workflow) == ["big"]
    data = workflow.get_tasks(state=TaskState.READY, manual=True)[0].data
    assert (data["due"], data["label"]) == ("motcua:wd:3", "HOUSEHOLD")


def test_shared_engine_runs_workflows_too() -> None:
    workflow = start(gateway_process("total > 10", "total <= 10"), {"a": 1, "b": 1}, engine=SCRIPT_ENGINE)
    assert ready_names(workflow) == ["small"]
    assert isinstance(SCRIPT_ENGINE.environment, SafeEnvironment)


def test_plain_string_timer_duration_works() -> None:
    workflow = start(timer_process('"PT0S"'))
    time.sleep(0.01)
    workflow.refresh_timers()
    workflow.do_engine_steps()
    assert ready_names(workflow) == ["work"]


def test_duration_function_works_as_timer_expression() -> None:
    workflow = start(timer_process("hours(1)"))
    workflow.refresh_timers()
    workflow.do_engine_steps()
    assert ready_names(workflow) == []
    waiting = [t for t in workflow.get_tasks(state=TaskState.WAITING) if t.task_spec.bpmn_id == "wait"]
    assert waiting, "the timer should wait an hour"


def test_multi_instance_cardinality_is_evaluated_safely() -> None:
    workflow = start(multi_instance_process("len(reviewers)"), {"reviewers": ["an", "binh"]})
    runs = 0
    while ready := workflow.get_tasks(state=TaskState.READY, manual=True):
        ready[0].run()
        workflow.do_engine_steps()
        runs += 1
    assert runs == 2
    assert workflow.is_completed()


# ------------------------------------------------------------------ errors surface with plain messages


def test_runtime_error_in_condition_carries_the_expression_error() -> None:
    failure = run_expecting_failure(gateway_process("missing > 10", "total <= 10"), {"a": 1, "b": 2})
    cause = expression_error_in(failure)
    assert isinstance(cause, ExpressionError)
    assert failure.__cause__ is cause
    assert cause.message == "Unknown name 'missing'"
    assert "Unknown name 'missing'" in str(failure)
    assert failure.task.task_spec.bpmn_id == "gw"


def test_runtime_error_in_script_carries_the_line_and_leaves_data_alone() -> None:
    failure = run_expecting_failure(
        gateway_process("True", "False", script="total = a + b\nratio = a / 0"), {"a": 1, "b": 2}
    )
    cause = expression_error_in(failure)
    assert cause is not None and cause.message == "Line 2: Division by zero"
    assert failure.line_number == 2
    assert failure.error_line == "ratio = a / 0"
    assert "total" not in failure.task.data


def test_expression_error_in_finds_nothing_in_unrelated_errors() -> None:
    assert expression_error_in(ValueError("x")) is None
    inner = ExpressionError("inner")
    try:
        try:
            raise inner
        except ExpressionError:
            raise RuntimeError("outer") from None
    except RuntimeError as err:
        assert expression_error_in(err) is None
    try:
        try:
            raise inner
        except ExpressionError:
            raise RuntimeError("outer")  # noqa: B904
    except RuntimeError as err:
        assert expression_error_in(err) is inner


# ------------------------------------------------------------------ hostile text never runs


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A file that hostile text would create if it ever ran."""
    return tmp_path / "pwned"


def hostile_texts(canary: Path) -> list[str]:
    return [
        f"__import__('os').system('touch {canary}')",
        f"().__class__.__base__.__subclasses__()[0] or open('{canary}', 'w')",
        f"open('{canary}', 'w').write('x')",
        f"eval(\"__import__('os').system('touch {canary}')\")",
        f"exec(\"open('{canary}', 'w')\")",
        "getattr(a, '__class__')",
        "[c for c in ().__class__.__base__.__subclasses__()]",
        "(lambda: 1)()",
        "a.__class__",
    ]


def test_the_canary_detects_execution_under_spiffworkflows_default_engine(canary: Path) -> None:
    """Proves the hostile tests below could fail: the stock environment runs the same text."""
    text = f"open('{canary}', 'w').write('x') > 0"
    start(gateway_process(text, "False"), {"a": 1, "b": 2}, engine=PythonScriptEngine())
    assert canary.exists()


def test_hostile_condition_fails_at_compile_and_in_a_running_workflow(canary: Path) -> None:
    environment = SafeEnvironment()
    for text in hostile_texts(canary):
        with pytest.raises(ExpressionError):
            environment.evaluate(text, {"a": 1})
        failure = run_expecting_failure(gateway_process(text, "True"), {"a": 1, "b": 2})
        assert isinstance(expression_error_in(failure), ExpressionError), text
    assert not canary.exists()


def test_hostile_script_fails_and_runs_nothing(canary: Path) -> None:
    scripts = [
        f"import os\nos.system('touch {canary}')",
        f"x = __import__('os').system('touch {canary}')",
        "for c in ().__class__.__base__.__subclasses__():\n    x = c",
        f"def f():\n    open('{canary}', 'w')\nx = f()",
        "while True:\n    pass",
        f"x = open('{canary}', 'w')",
    ]
    for script in scripts:
        failure = run_expecting_failure(gateway_process("True", "False", script=script), {"a": 1, "b": 2})
        cause = expression_error_in(failure)
        assert cause is not None and cause.problems and cause.problems[0].line, script
    assert not canary.exists()


def test_hostile_values_in_task_data_are_not_reachable(canary: Path) -> None:
    calls: list[object] = []
    data = {"__builtins__": {"open": open}, "system": lambda *a: calls.append(a), "a": 1, "b": 2}
    environment = SafeEnvironment()
    with pytest.raises(ExpressionError, match="Names starting with '_'"):
        environment.evaluate("__builtins__['open']", data)
    with pytest.raises(ExpressionError, match="Calling 'system' is not allowed"):
        environment.evaluate(f"system('touch {canary}')", data)
    assert calls == []
    assert not canary.exists()


def test_service_tasks_are_refused() -> None:
    with pytest.raises(InvalidProcedure, match="Service tasks are not supported"):
        SafeEnvironment().call_service({}, operation_name="x")


def test_engine_validate_uses_the_safe_compiler() -> None:
    make_script_engine().validate("a > 1")
    with pytest.raises(ExpressionError, match="Attribute access"):
        make_script_engine().validate("a.b")


# ------------------------------------------------------------------ environment details


def test_external_context_is_readable_but_task_data_wins() -> None:
    environment = SafeEnvironment()
    assert environment.evaluate("x + y", {"x": 1}, {"y": 10}) == 11
    assert environment.evaluate("x", {"x": 1}, {"x": 99}) == 1


def test_script_writes_task_data_never_the_external_context() -> None:
    environment = SafeEnvironment()
    data: dict[str, object] = {"x": 1}
    external = {"shared": 5}
    assert environment.execute("shared = shared + x\ny = shared", data, external) is True
    assert data == {"x": 1, "shared": 6, "y": 6}
    assert external == {"shared": 5}


def test_empty_script_task_body_is_a_no_op() -> None:
    data: dict[str, object] = {"x": 1}
    SafeEnvironment().execute(None, data)
    assert data == {"x": 1}
