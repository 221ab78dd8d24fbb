"""Compact workflow state: no spec inside, finished history pruned, behaviour unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

from engine.runtime import is_finished, ready_human_tasks
from engine.scripting import SCRIPT_ENGINE
from engine.workflow_state import dump_state, load_state

FLOW = Path(__file__).parent / "data" / "flow" / "parallel-loop.bpmn"


def _spec():
    parser = BpmnParser()
    parser.add_bpmn_xml(etree.parse(str(FLOW)), str(FLOW))
    return parser.get_spec("P"), parser.get_subprocess_specs("P")


def _round_trip(workflow, spec, subs):
    return load_state(json.loads(json.dumps(dump_state(workflow))), spec, subs)


def _run(workflow, name, **data):
    [task] = [t for t in ready_human_tasks(workflow) if t.task_spec.name == name]
    task.data.update(data)
    task.run()
    workflow.do_engine_steps()


def test_state_holds_no_spec_and_restores_with_the_cached_one():
    spec, subs = _spec()
    workflow = BpmnWorkflow(spec, subs, script_engine=SCRIPT_ENGINE)
    workflow.do_engine_steps()
    state = dump_state(workflow)
    assert "spec" not in state and "subprocess_specs" not in state
    restored = load_state(state, spec, subs)
    assert [t.task_spec.name for t in ready_human_tasks(restored)] == ["A"]
    assert restored.script_engine is SCRIPT_ENGINE


def test_parallel_branches_survive_pruning_and_join_correctly():
    spec, subs = _spec()
    workflow = BpmnWorkflow(spec, subs, script_engine=SCRIPT_ENGINE)
    workflow.do_engine_steps()
    for round_no in range(3):
        _run(workflow, "A", k=round_no)
        workflow = _round_trip(workflow, spec, subs)
        assert sorted(t.task_spec.name for t in ready_human_tasks(workflow)) == ["B", "C"]
        _run(workflow, "B", approved=False)
        workflow = _round_trip(workflow, spec, subs)
        assert [t.task_spec.name for t in ready_human_tasks(workflow)] == ["C"]  # the join waits for C
        _run(workflow, "C", approved=round_no == 2)
        workflow = _round_trip(workflow, spec, subs)
    assert is_finished(workflow)
    assert workflow.data["k"] == 2 and workflow.data["approved"] is True


def test_history_is_pruned_so_size_stays_flat_and_data_is_kept():
    spec, subs = _spec()
    workflow = BpmnWorkflow(spec, subs, script_engine=SCRIPT_ENGINE)
    workflow.do_engine_steps()
    sizes = []
    for round_no in range(400):
        _run(workflow, "A", **{f"k{round_no % 3}": round_no})
        _run(workflow, "B", approved=False)
        _run(workflow, "C", approved=False)
        workflow = _round_trip(workflow, spec, subs)
        sizes.append(len(json.dumps(dump_state(workflow))))
        assert [t.task_spec.name for t in ready_human_tasks(workflow)] == ["A"], round_no
        assert not is_finished(workflow)
    assert sizes[-1] <= sizes[1] * 1.1, (sizes[1], sizes[-1])
    [ready] = ready_human_tasks(workflow)
    assert (ready.data["k0"], ready.data["k1"], ready.data["k2"]) == (399, 397, 398)
