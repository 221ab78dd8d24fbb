"""A dossier's SpiffWorkflow state as compact JSON, without the process spec.

SpiffWorkflow's serializer embeds the whole process spec in every blob and
never prunes its task tree: a dossier sent back for rework hundreds of times
grows without bound, and past a depth of 1000 the library's task iterator
stops looking, so ready tasks vanish and the workflow reports itself complete.
This module fixes both at the storage boundary:

* the spec is never stored with the state; it comes from the per-version
  cache when the state is loaded;
* before storing, the finished history above the live part of the tree is
  cut away. History lives in the engine's own tables (events, handoffs,
  tasks), so the tree only needs what can still run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine.scripting import SCRIPT_ENGINE

STATE_FORMAT = 1
_LIVE = int(TaskState.NOT_FINISHED_MASK)


class _SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Workflow converter that leaves the spec out and takes it back on restore."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct: dict[str, Any], spec=None, subprocess_specs=None) -> BpmnWorkflow:
        workflow = self.target_class(spec, dict(subprocess_specs or {}), deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_registry():
    from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG

    config = dict(DEFAULT_CONFIG)
    config[BpmnWorkflow] = _SpeclessWorkflowConverter
    return BpmnWorkflowSerializer.configure(config)


_REGISTRY = _make_registry()


def dump_state(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The workflow's state as a JSON-ready dict, pruned, spec left out."""
    dct = _REGISTRY.convert(workflow)
    prune(dct, lambda tid: workflow.tasks[UUID(tid)].data)
    dct["format"] = STATE_FORMAT
    return dct


def load_state(state: Mapping[str, Any], spec, subprocess_specs) -> BpmnWorkflow:
    """Rebuild a workflow from ``dump_state`` output and its cached spec."""
    dct = {k: v for k, v in state.items() if k != "format"}
    workflow = _REGISTRY.restore(dct, spec=spec, subprocess_specs=subprocess_specs)
    workflow.script_engine = SCRIPT_ENGINE
    return workflow


def prune(dct: dict[str, Any], full_data: Callable[[str], dict[str, Any]]) -> int:
    """Cut finished history out of a serialized task tree; return tasks removed.

    The deepest task that is an ancestor of every unfinished task is re-hung
    directly under the root. Everything it and the live tasks do not reach
    is finished history: completed branches of earlier rework rounds and
    joins already passed. Joins and gateways below that point keep all the
    siblings they look at, so the workflow runs exactly as before.

    SpiffWorkflow stores a task's data as a delta against its parent, so the
    re-hung task gets its full data (``full_data``) written out instead.
    """
    tasks: dict[str, dict[str, Any]] = dct["tasks"]
    root_id: str = dct["root"]
    live = [tid for tid, t in tasks.items() if t["state"] & _LIVE]
    if not live:
        return _keep_only(dct, {root_id})
    anchor = _common_ancestor(tasks, live)
    if anchor is None or anchor == root_id:
        return 0
    root = tasks[root_id]
    if tasks[anchor]["parent"] != root_id:
        root["children"] = [anchor]
        tasks[anchor]["parent"] = root_id
        tasks[anchor]["data"] = _REGISTRY.convert(_REGISTRY.clean(full_data(anchor)))
        tasks[anchor]["delta"] = {}
    keep = _subtree(tasks, root_id)
    return _keep_only(dct, keep)


def _ancestry(tasks: Mapping[str, dict[str, Any]], tid: str) -> list[str]:
    chain = [tid]
    parent = tasks[tid]["parent"]
    while parent is not None:
        chain.append(parent)
        parent = tasks[parent]["parent"]
    chain.reverse()
    return chain


def _common_ancestor(tasks: Mapping[str, dict[str, Any]], ids: list[str]) -> str | None:
    """Deepest task that is an ancestor (or self) of all ``ids``."""
    common = _ancestry(tasks, ids[0])
    for tid in ids[1:]:
        other = _ancestry(tasks, tid)
        n = 0
        while n < len(common) and n < len(other) and common[n] == other[n]:
            n += 1
        common = common[:n]
    if not common:
        return None
    # The anchor itself must stay: if it is live, keep it; otherwise it is the
    # finished fork whose children are live, and joins below need it as parent.
    return common[-1]


def _subtree(tasks: Mapping[str, dict[str, Any]], top: str) -> set[str]:
    seen = {top}
    stack = [top]
    while stack:
        for child in tasks[stack.pop()]["children"]:
            if child in tasks and child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def _keep_only(dct: dict[str, Any], keep: set[str]) -> int:
    tasks = dct["tasks"]
    dropped = [tid for tid in tasks if tid not in keep]
    for tid in dropped:
        del tasks[tid]
    for task in tasks.values():
        task["children"] = [c for c in task["children"] if c in keep]
    if dct.get("last_task") not in keep:
        dct["last_task"] = None
    for tid in list(dct.get("subprocesses", {})):
        if tid not in keep:
            del dct["subprocesses"][tid]
    return len(dropped)
