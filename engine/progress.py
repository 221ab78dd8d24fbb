"""Where one dossier stands on its diagram: steps done, steps open, the path it took.

SpiffWorkflow's state is pruned to the live part of the task tree
(engine.workflow_state), so the history cannot come from it. It comes from
motcua's own ``task`` rows (one per pass through a human step, with unit,
times and working minutes) read against the sequence flows of the version's
BPMN: for each pass, a backward walk over the flows from its step, through
gateways and events, finds the pass that led to it. Where branches merge the
walk picks the latest finished pass (an exclusive merge is entered by the last
step done); a parallel join takes every incoming branch. The walk is graph
work over a handful of rows, never a replay of the workflow.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.calendar import WorkCalendar
from engine.extensions import BPMN_NS
from engine.models import Dossier, DossierStatus, ProcedureVersion, Task, TaskState, Unit
from engine.safexml import parse_xml

HUMAN_TAGS = frozenset({"userTask", "manualTask", "task"})
FLOW_NODE_TAGS = HUMAN_TAGS | frozenset({
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway",
    "scriptTask", "serviceTask", "sendTask", "receiveTask", "businessRuleTask", "callActivity", "subProcess",
})
JOIN_ALL_TAGS = frozenset({"parallelGateway", "inclusiveGateway"})
FINISHED_STATUSES = frozenset({DossierStatus.AWAITING_RETURN, DossierStatus.RETURNED})
GRAPH_CACHE_SIZE = 64


# ----------------------------------------------------------------- the diagram as a graph


@dataclass(frozen=True)
class FlowGraph:
    """The sequence flows of one executable process: what connects to what, and by which flow."""

    kinds: dict[str, str]  # flow node id -> BPMN tag without namespace
    names: dict[str, str]  # flow node id -> its name
    flows: dict[str, tuple[str, str]]  # flow id -> (source id, target id)
    incoming: dict[str, tuple[str, ...]]  # node id -> ids of flows ending there
    outgoing: dict[str, tuple[str, ...]]  # node id -> ids of flows leaving it

    def is_human(self, node: str) -> bool:
        return self.kinds.get(node) in HUMAN_TAGS


def build_graph(source: bytes, process_id: str) -> FlowGraph:
    """Read the flows of process ``process_id`` (a deployed, already validated source)."""
    root = parse_xml(source).getroot()
    process = next((p for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("id") == process_id), None)
    kinds: dict[str, str] = {}
    names: dict[str, str] = {}
    flows: dict[str, tuple[str, str]] = {}
    if process is not None:
        for element in process.iter():
            if not isinstance(element.tag, str) or not element.tag.startswith(f"{{{BPMN_NS}}}"):
                continue
            tag = element.tag.split("}", 1)[1]
            ident = element.get("id")
            if not ident:
                continue
            if tag == "sequenceFlow":
                flows[ident] = (element.get("sourceRef", ""), element.get("targetRef", ""))
            elif tag in FLOW_NODE_TAGS:
                kinds[ident] = tag
                names[ident] = element.get("name") or ident
    incoming: dict[str, list[str]] = {}
    outgoing: dict[str, list[str]] = {}
    for flow_id, (source_id, target_id) in flows.items():
        outgoing.setdefault(source_id, []).append(flow_id)
        incoming.setdefault(target_id, []).append(flow_id)
    return FlowGraph(kinds, names, flows, {k: tuple(v) for k, v in incoming.items()},
                     {k: tuple(v) for k, v in outgoing.items()})


class _GraphCache:
    """Graphs by source digest: a version's source never changes, so an entry never goes stale."""

    def __init__(self, size: int = GRAPH_CACHE_SIZE) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[str, str], FlowGraph] = OrderedDict()

    def get(self, session: Session, version_id: int) -> FlowGraph:
        sha256, process_id = session.execute(
            select(ProcedureVersion.sha256, ProcedureVersion.process_id).where(ProcedureVersion.id == version_id)
        ).one()
        key = (sha256, process_id)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        source = session.scalar(select(ProcedureVersion.source).where(ProcedureVersion.id == version_id))
        graph = build_graph(source, process_id)
        with self._lock:
            self._entries[key] = graph
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return graph


GRAPHS = _GraphCache()


def graph_of(session: Session, version_id: int) -> FlowGraph:
    return GRAPHS.get(session, version_id)


# ----------------------------------------------------------------- one dossier's progress


@dataclass(frozen=True)
class StepProgress:
    """One step of the diagram as this dossier lived it; passes of a rework loop are summed."""

    step: str
    name: str
    units: tuple[str, ...]
    passes: int
    working_minutes: int
    done: bool  # finished at least once
    current: bool  # a pass is open now


@dataclass(frozen=True)
class Segment:
    """The flows walked from one step (or the start) to the next pass."""

    source: str
    target: str
    flows: tuple[str, ...]


@dataclass(frozen=True)
class Progress:
    version_id: int
    completed: tuple[str, ...]  # steps finished at least once, in order of first completion
    current: tuple[str, ...]  # steps with an open pass
    passed: tuple[str, ...]  # gateways and events on the path
    path: tuple[str, ...]  # sequence flow ids in the order first walked
    segments: tuple[Segment, ...]
    steps: tuple[StepProgress, ...]
    minutes_per_day: int
    finished: bool


@dataclass(frozen=True)
class _Pass:
    id: int
    step: str
    state: str
    created_at: datetime
    completed_at: datetime | None

    @property
    def order(self) -> tuple[datetime, int]:
        assert self.completed_at is not None
        return (self.completed_at, self.id)


_START = object()  # the process start: the receipt at the counter


def dossier_progress(ctx, session: Session, dossier: Dossier) -> Progress:
    """What the dossier page draws on the diagram, as of the context's clock."""
    graph = graph_of(session, dossier.procedure_version_id)
    rows = session.execute(
        select(Task.id, Task.step, Task.step_name, Task.state, Task.created_at, Task.completed_at,
               Task.working_minutes, Unit.name)
        .join(Unit, Task.unit_id == Unit.id)
        .where(Task.dossier_id == dossier.id).order_by(Task.id)
    ).all()
    calendar = ctx.calendar(session)
    now = ctx.clock.now()
    passes = [_Pass(r.id, r.step, r.state, r.created_at, r.completed_at) for r in rows
              if r.state != TaskState.CANCELLED]
    segments, passed, used = _walk(graph, passes)
    finished = dossier.status in FINISHED_STATUSES
    if finished:
        ends, end_nodes = _paths_to_end(graph, passes, used)
        segments += ends
        passed |= end_nodes
    return Progress(
        version_id=dossier.procedure_version_id,
        completed=_first_completed(passes),
        current=tuple(dict.fromkeys(p.step for p in passes if p.state == TaskState.OPEN)),
        passed=tuple(sorted(passed)),
        path=tuple(dict.fromkeys(f for s in segments for f in s.flows)),
        segments=tuple(segments),
        steps=_step_summaries(rows, calendar, now),
        minutes_per_day=calendar.minutes_per_day,
        finished=finished,
    )


def _first_completed(passes: list[_Pass]) -> tuple[str, ...]:
    done = sorted((p for p in passes if p.state == TaskState.DONE), key=lambda p: p.order)
    return tuple(dict.fromkeys(p.step for p in done))


def _step_summaries(rows, calendar: WorkCalendar, now: datetime) -> tuple[StepProgress, ...]:
    """Per step: its units, passes and working time (an open pass counts up to now)."""
    summary: dict[str, dict] = {}
    for r in rows:
        if r.state == TaskState.CANCELLED:
            continue
        item = summary.setdefault(r.step, {"name": r.step_name, "units": [], "passes": 0, "minutes": 0,
                                           "done": False, "current": False})
        if r.name not in item["units"]:
            item["units"].append(r.name)
        item["passes"] += 1
        if r.state == TaskState.DONE:
            item["done"] = True
            minutes = r.working_minutes
            if minutes is None and r.completed_at is not None:
                minutes = calendar.working_minutes_between(r.created_at, r.completed_at)
        else:
            item["current"] = True
            minutes = calendar.working_minutes_between(r.created_at, now) if now > r.created_at else 0
        item["minutes"] += minutes or 0
    return tuple(StepProgress(step, v["name"], tuple(v["units"]), v["passes"], v["minutes"], v["done"],
                              v["current"]) for step, v in summary.items())


def _walk(graph: FlowGraph, passes: list[_Pass]) -> tuple[list[Segment], set[str], set[int]]:
    """For every pass, the flows from the pass (or the start) that led to it.

    Also returns the gateways and events walked through, and the ids of the
    passes that led somewhere (the others are where the dossier left the diagram).
    Finished passes are fed in completion order as the targets come in creation
    order, so a dossier with hundreds of rework rounds costs a walk per pass,
    not a scan of every earlier pass.
    """
    finished = sorted((p for p in passes if p.state == TaskState.DONE and p.completed_at is not None),
                      key=lambda p: p.order)
    by_step: dict[str, list[_Pass]] = {}
    fed = 0
    found_for: dict[int, list[tuple[str, list[str], int | None]]] = {}
    for target in sorted(passes, key=lambda p: (p.created_at, p.id)):
        while fed < len(finished) and finished[fed].completed_at <= target.created_at:  # type: ignore[operator]
            by_step.setdefault(finished[fed].step, []).append(finished[fed])
            fed += 1
        latest = _Latest(by_step, target.id)
        found = _Search(graph, latest).into(target.step)
        found_for[target.id] = found[1] if found else []
    segments: list[Segment] = []
    passed: set[str] = set()
    used: set[int] = set()
    for target in passes:
        for source, flows, pass_id in found_for[target.id]:
            segments.append(Segment(source, target.step, tuple(flows)))
            passed.update(graph.flows[f][0] for f in flows if not graph.is_human(graph.flows[f][0]))
            if pass_id is not None:
                used.add(pass_id)
    return segments, passed, used


class _Latest:
    """The latest finished pass of a step among those that existed before the target pass."""

    def __init__(self, by_step: dict[str, list[_Pass]], before_id: int) -> None:
        self._by_step = by_step
        self._before_id = before_id

    def get(self, step: str) -> _Pass | None:
        for candidate in reversed(self._by_step.get(step, ())):
            if candidate.id < self._before_id:
                return candidate
        return None


_Branch = tuple[tuple, list[tuple[str, list[str], int | None]]]  # (order key, [(source, flows, pass id)])


class _Search:
    """One backward walk from a pass's step over the flows, remembered per node (no path explosion).

    A step reached through an exclusive merge was entered by the latest
    finished of its candidates; a parallel (or inclusive) join by all of them.
    """

    def __init__(self, graph: FlowGraph, latest: _Latest) -> None:
        self.graph = graph
        self.latest = latest
        self.memo: dict[str, _Branch | None] = {}
        self.open: set[str] = set()

    def into(self, step: str) -> _Branch | None:
        return self._merge(step, first=True)

    def _node(self, node: str) -> _Branch | None:
        if node in self.memo:
            return self.memo[node]
        graph = self.graph
        if graph.is_human(node):  # a step ends the walk, even the target's own step (a loop back to itself)
            hit = self.latest.get(node)
            result = ((1, *hit.order), [(node, [], hit.id)]) if hit else None
        elif node in self.open:  # a loop of gateways with no step in it
            return None
        elif not graph.incoming.get(node):
            result = ((0,), [(node, [], None)]) if graph.kinds.get(node) == "startEvent" else None
        else:
            self.open.add(node)
            result = self._merge(node, first=False)
            self.open.discard(node)
        self.memo[node] = result
        return result

    def _merge(self, node: str, *, first: bool) -> _Branch | None:
        alternatives: list[_Branch] = []
        for flow in self.graph.incoming.get(node, ()):
            found = self._node(self.graph.flows[flow][0])
            if found is not None:
                alternatives.append((found[0], [(src, [*flows, flow], pid) for src, flows, pid in found[1]]))
        if not alternatives:
            return None
        if self.graph.kinds.get(node) in JOIN_ALL_TAGS and not first:
            return (max(a[0] for a in alternatives), [item for a in alternatives for item in a[1]])
        return max(alternatives, key=lambda a: a[0])


def _paths_to_end(graph: FlowGraph, passes: list[_Pass], used: set[int]) -> tuple[list[Segment], set[str]]:
    """For a finished dossier: from each finished pass that led nowhere, the shortest way to an end event."""
    ends: list[Segment] = []
    nodes: set[str] = set()
    for p in passes:
        if p.state != TaskState.DONE or p.id in used:
            continue
        flows = _forward_to_end(graph, p.step)
        if flows:
            ends.append(Segment(p.step, graph.flows[flows[-1]][1], tuple(flows)))
            nodes.update(graph.flows[f][1] for f in flows)
    return ends, nodes


def _forward_to_end(graph: FlowGraph, step: str) -> list[str]:
    """Shortest run of flows from ``step`` to an end event through no other human step."""
    frontier: list[tuple[str, list[str]]] = [(step, [])]
    seen = {step}
    while frontier:
        following: list[tuple[str, list[str]]] = []
        for node, flows in frontier:
            for flow in graph.outgoing.get(node, ()):
                target = graph.flows[flow][1]
                if target in seen:
                    continue
                seen.add(target)
                if graph.kinds.get(target) == "endEvent":
                    return [*flows, flow]
                if not graph.is_human(target):
                    following.append((target, [*flows, flow]))
        frontier = following
    return []
