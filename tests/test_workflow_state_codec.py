"""The state codec's own task conversion gives exactly what SpiffWorkflow's converters give.

``engine.workflow_state`` converts the top workflow's tasks itself instead of
through SpiffWorkflow's registry, for speed. These tests hold it to the
library's output: every state of every shipped procedure (and of the timer
and parallel-loop fixtures) is dumped both ways and compared key for key and
byte for byte, and restored both ways and compared again.
"""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path
from uuid import UUID

import pytest
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

from engine.runtime import new_workflow, ready_human_tasks
from engine.scripting import SCRIPT_ENGINE
from engine.specs import compile_procedure
from engine.workflow_state import _REGISTRY, load_state

ROOT = Path(__file__).resolve().parents[1]
PROCEDURES = sorted((ROOT / "workflows" / "procedures").glob("*.bpmn")) + sorted(
    (ROOT / "tests" / "data" / "timers").glob("*.bpmn"))
PARALLEL_LOOP = ROOT / "tests" / "data" / "flow" / "parallel-loop.bpmn"


class _LibraryConverter(BpmnWorkflowConverter):
    """SpiffWorkflow's own conversion of a workflow without its spec: tasks through the registry."""

    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        workflow = self.target_class(spec, dict(subprocess_specs or {}), deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


LIBRARY = BpmnWorkflowSerializer.configure({**DEFAULT_CONFIG, BpmnWorkflow: _LibraryConverter})


def _assert_same_dump(workflow: BpmnWorkflow) -> dict:
    ours, theirs = _REGISTRY.convert(workflow), LIBRARY.convert(workflow)
    assert ours == theirs
    # Same keys in the same order. (The library leaves a delta's values unconverted, so repr stands in.)
    assert json.dumps(ours, default=repr) == json.dumps(theirs, default=repr)
    return theirs


def _assert_same_restore(state: dict, spec, subprocess_specs) -> BpmnWorkflow:
    text = json.dumps(state)
    ours = _REGISTRY.restore(json.loads(text), spec=spec, subprocess_specs=subprocess_specs)
    theirs = LIBRARY.restore(json.loads(text), spec=spec, subprocess_specs=subprocess_specs)
    assert LIBRARY.convert(ours) == LIBRARY.convert(theirs)
    assert list(ours.tasks) == list(theirs.tasks)
    for tid, task in ours.tasks.items():
        other = theirs.tasks[tid]
        assert (task.task_spec, task.state, task.data, task.internal_data, task._parent, task._children) == (
            other.task_spec, other.state, other.data, other.internal_data, other._parent, other._children)
    assert list(ours.event_manager.tasks) == list(theirs.event_manager.tasks)
    assert ours.script_engine is SCRIPT_ENGINE
    return ours


def _answer(field, rng: random.Random):
    return {
        "boolean": lambda: rng.random() < 0.5,
        "integer": lambda: rng.randint(0, 1000),
        "number": lambda: rng.random() * 100,
        "date": lambda: "2026-03-02",
        "enum": lambda: rng.choice(field.options),
    }.get(field.type, lambda: f"giá trị {rng.randint(0, 9)}")()


@pytest.mark.parametrize("path", PROCEDURES, ids=lambda p: p.name)
@pytest.mark.parametrize("seed", range(4))
def test_every_state_of_a_procedure_converts_as_the_library_does(path, seed):
    rng = random.Random(seed)
    compiled = compile_procedure(path.read_bytes(), file_name=path.name)
    workflow = new_workflow(compiled, {"seed": seed})
    workflow.do_engine_steps()
    for _ in range(40):
        state = _assert_same_dump(workflow)
        workflow = _assert_same_restore(state, compiled.spec, compiled.subprocess_specs)
        ready = ready_human_tasks(workflow)
        if not ready:
            break
        task = rng.choice(ready)
        step = compiled.steps.get(task.task_spec.name)
        task.data.update({f.key: _answer(f, rng) for f in (step.fields if step else ())})
        task.run()
        workflow.refresh_timers()
        workflow.do_engine_steps()
    _assert_same_dump(workflow)


def _parallel_loop():
    """The parallel-loop fixture's spec and a workflow of it started up to its first step."""
    parser = BpmnParser()
    parser.add_bpmn_file(str(PARALLEL_LOOP))
    spec, subs = parser.get_spec("P"), parser.get_subprocess_specs("P")
    workflow = BpmnWorkflow(spec, subs, script_engine=SCRIPT_ENGINE)
    workflow.do_engine_steps()
    return spec, subs, workflow


def test_a_parallel_loop_converts_as_the_library_does():
    spec, subs, workflow = _parallel_loop()
    for round_no in range(6):
        for name, data in (("A", {"k": round_no}), ("B", {"approved": False}), ("C", {"approved": False})):
            [task] = [t for t in ready_human_tasks(workflow) if t.task_spec.name == name]
            task.data.update(data)
            task.run()
            workflow.do_engine_steps()
            workflow = _assert_same_restore(_assert_same_dump(workflow), spec, subs)


def test_values_that_are_not_plain_json_take_the_library_path_both_ways():
    spec, subs, workflow = _parallel_loop()
    [task] = ready_human_tasks(workflow)
    task.data.update(
        when=datetime(2026, 3, 2, 8, 0),
        pair=(1, 2),
        looks_typed={"typename": "UUID", "value": "6f1c1c1e-8c4f-4a53-9a1b-111111111111"},
        nested=[{"a": [1, {"b": datetime(2026, 1, 1)}]}],
        numbered={1: "một"},
    )
    task.internal_data.update(marker=datetime(2026, 3, 2), plain={"x": [1, 2]})
    task.run()
    workflow.do_engine_steps()
    state = _assert_same_dump(workflow)
    restored = load_state(json.loads(json.dumps(state, default=str)), spec, subs)
    assert restored.script_engine is SCRIPT_ENGINE
    library_state = json.loads(json.dumps(LIBRARY.convert(workflow), default=str))
    ours = _REGISTRY.restore(json.loads(json.dumps(library_state)), spec=spec, subprocess_specs=subs)
    theirs = LIBRARY.restore(json.loads(json.dumps(library_state)), spec=spec, subprocess_specs=subs)
    assert LIBRARY.convert(ours) == LIBRARY.convert(theirs)
    kept = next(t for t in ours.tasks.values() if t.task_spec.name == "A")
    assert kept.internal_data["marker"] == datetime(2026, 3, 2)  # restored by the registry, not copied as text
