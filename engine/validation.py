"""Decide whether an uploaded BPMN file can be deployed as a motcua procedure.

Designers draw procedures in tools we do not control, so an upload may be
hostile, huge, written for another engine, or simply unfinished. The answer is
always a :class:`Verdict` listing every problem found, each with the element id
and line a designer needs to fix it: never an exception, never a crash inside
SpiffWorkflow (whose parser recurses and runs designer text through ``eval``).

The checks run in an order that keeps the library safe: our own parser first,
then the XSD, then our rules (element whitelist, size cap, expressions through
the engine's whitelisting compiler, motcua vocabulary), and only when nothing
structural is wrong does SpiffWorkflow see the document.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TypeVar

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec

from engine.errors import ExpressionError, InvalidInput, Problem
from engine.expressions import compile_expression, compile_script
from engine.extensions import (
    BPMN_NS,
    MINUTES_PER_DAY,
    MOTCUA_NS,
    ProcessExtensions,
    bpmn,
    human_tasks,
    read_process,
)
from engine.safexml import parse_xml

log = logging.getLogger(__name__)
_T = TypeVar("_T")

MAX_FLOW_NODES = 300  # SpiffWorkflow's parser recurses ~2 frames per node along a path
MAX_SEQUENCE_FLOWS = 3 * MAX_FLOW_NODES  # bounds the graph checks and condition compiling
MAX_XSD_PROBLEMS = 50
_CODE = re.compile(r"^[A-Za-z0-9._-]{1,40}$")
_DI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"

# Every BPMN flow node: what the size guard counts.
_FLOW_NODE_NAMES = frozenset(
    {
        "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
        "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
        "businessRuleTask", "callActivity", "subProcess", "transaction", "adHocSubProcess",
        "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway",
        "callChoreography", "choreographyTask", "subChoreography", "implicitThrowEvent",
    }
)  # fmt: skip
_FLOW_NODES = frozenset(bpmn(name) for name in _FLOW_NODE_NAMES)

_SUPPORTED_NODES = frozenset(
    bpmn(name)
    for name in (
        "startEvent", "endEvent", "userTask", "manualTask", "task", "scriptTask",
        "exclusiveGateway", "parallelGateway", "inclusiveGateway", "boundaryEvent", "intermediateCatchEvent",
    )
)  # fmt: skip

# Structure, annotation and data elements that are either understood or harmless.
_SUPPORTED_PARTS = frozenset(
    bpmn(name)
    for name in (
        "sequenceFlow", "conditionExpression", "incoming", "outgoing", "script",
        "laneSet", "lane", "childLaneSet", "flowNodeRef", "partitionElement",
        "textAnnotation", "text", "association", "group", "documentation",
        "dataObject", "dataObjectReference", "dataStoreReference", "dataState",
        "dataInputAssociation", "dataOutputAssociation", "sourceRef", "targetRef",
        "assignment", "from", "to", "transformation", "property",
        "auditing", "monitoring", "rendering", "supports",
        "timeDuration", "timeDate", "timeCycle",
    )
)  # fmt: skip

_GATEWAYS_WITH_CONDITIONS = frozenset({bpmn("exclusiveGateway"), bpmn("inclusiveGateway")})
_SPLITTERS = frozenset(
    {bpmn("exclusiveGateway"), bpmn("inclusiveGateway"), bpmn("parallelGateway"), bpmn("startEvent")}
)
_PERFORMERS = frozenset(
    bpmn(name) for name in ("performer", "humanPerformer", "potentialOwner", "resourceRole")
)
_DATA_ASSOCIATIONS = frozenset({bpmn("dataInputAssociation"), bpmn("dataOutputAssociation")})
_FOREIGN_SCRIPTS = frozenset({"script", "preScript", "postScript", "executionListener", "taskListener"})

_FRIENDLY = {
    "serviceTask": "Service task",
    "sendTask": "Send task",
    "receiveTask": "Receive task",
    "businessRuleTask": "Business rule task",
    "callActivity": "Call activity",
    "subProcess": "Sub-process",
    "transaction": "Transaction",
    "adHocSubProcess": "Ad-hoc sub-process",
    "eventBasedGateway": "Event-based gateway",
    "complexGateway": "Complex gateway",
    "exclusiveGateway": "Exclusive gateway",
    "inclusiveGateway": "Inclusive gateway",
    "parallelGateway": "Parallel gateway",
    "intermediateThrowEvent": "Intermediate throw event",
    "multiInstanceLoopCharacteristics": "Multi-instance loop",
    "standardLoopCharacteristics": "Standard loop",
    "ioSpecification": "Data input/output specification",
    "startEvent": "Start event",
    "endEvent": "End event",
    "boundaryEvent": "Boundary event",
    "intermediateCatchEvent": "Intermediate catch event",
    "userTask": "User task",
    "manualTask": "Manual task",
    "task": "Task",
    "scriptTask": "Script task",
}


# ================================================================ results


@dataclass
class Verdict:
    """The answer to an upload: deployable or not, and everything to fix."""

    executable: bool
    process_id: str | None
    problems: list[Problem]
    warnings: list[Problem]

    def as_dict(self) -> dict:
        return {
            "executable": self.executable,
            "process_id": self.process_id,
            "problems": [p.as_dict() for p in self.problems],
            "warnings": [w.as_dict() for w in self.warnings],
        }


@dataclass
class Analysis:
    """A verdict plus what was built on the way, so compiling does not parse twice."""

    verdict: Verdict
    extensions: ProcessExtensions | None = None
    spec: BpmnProcessSpec | None = None
    subprocess_specs: dict[str, BpmnProcessSpec] = field(default_factory=dict)


class _Report:
    """Collects problems; ``blocked`` means SpiffWorkflow must not see the file."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.blocked = False

    def problem(
        self,
        message: str,
        at: etree._Element | None = None,
        *,
        blocking: bool = False,
        element_id: str | None = None,
        line: int | None = None,
    ) -> None:
        self.problems.append(_located(message, at, element_id, line))
        self.blocked = self.blocked or blocking

    def warn(self, message: str, at: etree._Element | None = None) -> None:
        warning = _located(message, at, None, None)
        if warning not in self.warnings:
            self.warnings.append(warning)


def _located(message: str, at: etree._Element | None, element_id: str | None, line: int | None) -> Problem:
    if at is not None:
        element_id = element_id or _id_of(at)
        line = line or at.sourceline
    return Problem(message, element_id=element_id, line=line)


def _id_of(element: etree._Element) -> str | None:
    """The id of ``element`` or of its nearest ancestor that has one."""
    current: etree._Element | None = element
    while current is not None:
        if isinstance(current.tag, str) and current.get("id"):
            return current.get("id")
        current = current.getparent()
    return None


def _named(element: etree._Element) -> str:
    """`` 'Name'`` to put after an element's kind in a message, or nothing when it has no name."""
    name = " ".join((element.get("name") or "").split())
    return f" '{name}'" if name else ""


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _label(element: etree._Element) -> str:
    """How a designer recognises an element: its name (on one line), else its id."""
    return " ".join((element.get("name") or "").split()) or element.get("id") or _local(element)


# ================================================================ entry points


def validate_bpmn(
    data: bytes | str,
    *,
    file_name: str = "procedure.bpmn",
    unit_types: Collection[str] | None = None,
    levels: Collection[str] | None = None,
) -> Verdict:
    """Check an uploaded BPMN document; never raises for bad input."""
    try:
        return analyse(data, file_name=file_name, unit_types=unit_types, levels=levels).verdict
    except Exception as err:  # the promise is a verdict, even if a check has a bug
        log.exception("BPMN validation of %s failed unexpectedly", file_name)
        problem = Problem(
            f"The file could not be checked because of an internal error ({type(err).__name__})"
        )
        return Verdict(False, None, [problem], [])


def analyse(
    data: bytes | str,
    *,
    file_name: str = "procedure.bpmn",
    unit_types: Collection[str] | None = None,
    levels: Collection[str] | None = None,
) -> Analysis:
    """Run every check once and keep the parsed results (used by :mod:`engine.specs`)."""
    report = _Report()
    try:
        tree = parse_xml(data)
    except InvalidInput as err:
        return Analysis(Verdict(False, None, _xml_problems(err), []))
    root = tree.getroot()
    if root.tag != bpmn("definitions"):
        report.problem(
            f"The root element is <{root.tag}>, not a BPMN 2.0 <definitions> element in the {BPMN_NS} namespace",
            root,
        )
        return Analysis(_verdict(report, None))
    _check_xsd(tree, report)
    process = _select_process(root, report)
    if process is None:
        return Analysis(_verdict(report, None))
    extensions = _check_process(process, report, unit_types, levels)
    analysis = Analysis(_verdict(report, process.get("id")), extensions)
    if not report.problems:
        _load_with_spiff(tree, process, file_name, report, analysis)
        analysis.verdict = _verdict(report, process.get("id"))
    return analysis


def _xml_problems(err: InvalidInput) -> list[Problem]:
    """The parser's problems, each saying what kind of refusal it is."""
    if not err.problems:
        return [Problem(err.message)]
    return [
        p if p.message == err.message else Problem(f"{err.message}: {p.message}", p.element_id, p.line)
        for p in err.problems
    ]


def _verdict(report: _Report, process_id: str | None) -> Verdict:
    executable = process_id is not None and not report.problems
    return Verdict(executable, process_id, list(report.problems), list(report.warnings))


def _check_process(
    process: etree._Element,
    report: _Report,
    unit_types: Collection[str] | None,
    levels: Collection[str] | None,
) -> ProcessExtensions | None:
    """Every check on the chosen process; each reports into ``report``.

    An oversized process gets only the size problem: it must be restructured
    anyway, and checking thousands of elements in detail would let one upload
    keep a worker busy for seconds.
    """
    if not _check_size(process, report):
        return None
    _check_reserved_ids(process, report)
    _check_elements(process, report)
    graph = _Graph.of(process)
    _check_flows(process, graph, report)
    _check_timers(process, report)
    _check_scripts(process, report)
    extensions = read_process(process)
    report.problems.extend(extensions.problems)
    report.warnings.extend(extensions.warnings)
    _check_motcua(process, extensions, graph, report, unit_types, levels)
    return extensions


# ================================================================ 2. XSD


_local_validators = threading.local()


def _validator() -> BpmnValidator:
    """One compiled schema per thread: an XMLSchema keeps its error log on itself."""
    validator = getattr(_local_validators, "validator", None)
    if validator is None:
        validator = _local_validators.validator = BpmnValidator()
    return validator


def _check_xsd(tree: etree._ElementTree, report: _Report) -> None:
    """Validate against the BPMN 2.0 XSD and report every error, not just the last one.

    SpiffWorkflow's own ``BpmnValidator.validate`` raises with the last error's
    line only; we use its schema (and its preprocessing) but read the whole log.
    """
    validator = _validator()
    validator.preprocess(tree)
    schema = validator.validator
    if schema.validate(tree):
        return
    errors = list(schema.error_log)
    for error in errors[:MAX_XSD_PROBLEMS]:
        at = _element_at(tree, error.path, error.line)
        report.problem(
            f"Not valid BPMN 2.0: {_tidy_xsd_message(error.message)}",
            at,
            blocking=True,
            line=error.line or None,
        )
    if len(errors) > MAX_XSD_PROBLEMS:
        report.problem(f"... and {len(errors) - MAX_XSD_PROBLEMS} more schema errors", blocking=True)


def _element_at(tree: etree._ElementTree, path: str | None, line: int) -> etree._Element | None:
    """The element an XSD error is about: by libxml2's path, else the first element on its line."""
    if path:
        namespaces = {prefix: uri for prefix, uri in tree.getroot().nsmap.items() if prefix}
        try:
            found = tree.xpath(path, namespaces=namespaces)
        except etree.XPathError:
            found = []
        if found and isinstance(found[0], etree._Element):
            return found[0]
    return next((e for e in tree.iter() if isinstance(e.tag, str) and e.sourceline == line), None)


def _tidy_xsd_message(message: str) -> str:
    """Turn libxml2's Clark names into prefixes a designer recognises, and cut long lists."""
    message = message.replace(f"{{{BPMN_NS}}}", "bpmn:")
    match = re.search(r"Expected is one of \((.*)\)", message)
    if match:
        options = [o.strip() for o in match.group(1).split(",")]
        shown = ", ".join(options[:6]) + (", ..." if len(options) > 6 else "")
        message = message[: match.start()] + f"Expected one of: {shown}" + message[match.end() :]
    return message


# ================================================================ 3. which process


def _select_process(root: etree._Element, report: _Report) -> etree._Element | None:
    """The one executable process; other pools are only mentioned.

    With no executable process and a single process in the file, that process
    is still checked, so that the designer sees every fault in one answer.
    """
    processes = root.findall(bpmn("process"))
    executable = [p for p in processes if (p.get("isExecutable") or "").strip() == "true"]
    if not processes:
        report.problem("The file contains no process", root)
        return None
    if len(executable) > 1:
        names = ", ".join(f"'{p.get('id')}'" for p in executable)
        report.problem(
            f"The file has {len(executable)} executable processes ({names}); motcua deploys one procedure "
            'per file: set isExecutable="true" on one process only',
            executable[1],
        )
        return None
    if not executable:
        for process in processes:
            report.problem(
                f"Process '{_label(process)}' is not executable: motcua deploys the one process marked "
                'isExecutable="true", and this file has none',
                process,
            )
        return processes[0] if len(processes) == 1 else None
    _warn_other_pools(root, executable[0], processes, report)
    return executable[0]


def _warn_other_pools(
    root: etree._Element, chosen: etree._Element, processes: list[etree._Element], report: _Report
) -> None:
    chosen_id = chosen.get("id")
    in_pools: set[str | None] = {chosen_id}
    for participant in root.iter(bpmn("participant")):
        ref = participant.get("processRef")
        in_pools.add(ref)
        if ref != chosen_id:
            report.warn(
                f"Pool '{_label(participant)}' is not executed: only process '{chosen_id}' is deployed",
                participant,
            )
    for process in processes:
        if process.get("id") not in in_pools:
            report.warn(
                f"Process '{_label(process)}' is ignored: only process '{chosen_id}' is deployed", process
            )
    message_flows = list(root.iter(bpmn("messageFlow")))
    if message_flows:
        report.warn(
            f"{len(message_flows)} message flow(s) are ignored: motcua procedures do not exchange messages",
            message_flows[0],
        )


# ================================================================ 4. size


def _check_size(process: etree._Element, report: _Report) -> bool:
    """Refuse before SpiffWorkflow's recursive parser can hit the recursion limit; False when too big."""
    nodes = flows = 0
    for element in process.iter():
        if element.tag in _FLOW_NODES:
            nodes += 1
        elif element.tag == bpmn("sequenceFlow"):
            flows += 1
    if nodes > MAX_FLOW_NODES:
        report.problem(
            f"The process has too many elements ({nodes}; the maximum is {MAX_FLOW_NODES})",
            process,
            blocking=True,
        )
    if flows > MAX_SEQUENCE_FLOWS:
        report.problem(
            f"The process has too many sequence flows ({flows}; the maximum is {MAX_SEQUENCE_FLOWS})",
            process,
            blocking=True,
        )
    return nodes <= MAX_FLOW_NODES and flows <= MAX_SEQUENCE_FLOWS


# SpiffWorkflow names its own task specs with these; an element id equal to one
# is silently merged with the library's task (a start event with id "Start" makes
# the whole process collapse to start -> end).
_RESERVED_IDS = frozenset({"Start", "End", "Root", "StartEventSplit", "StartEventJoin"})
_RESERVED_SUFFIXES = (".EndJoin", ".BoundaryEventSplit", ".BoundaryEventJoin", " [child]")


def _check_reserved_ids(process: etree._Element, report: _Report) -> None:
    for element in process.iter():
        element_id = element.get("id") if isinstance(element.tag, str) else None
        if element_id and (element_id in _RESERVED_IDS or element_id.endswith(_RESERVED_SUFFIXES)):
            report.problem(
                f"The id '{element_id}' is reserved by the workflow engine; rename the element "
                f"(for example '{element_id.replace(' ', '_').replace('.', '_')}_1')",
                element,
                blocking=True,
            )


# ================================================================ 5. supported elements


def _check_elements(process: etree._Element, report: _Report) -> None:
    """Walk the process (iteratively) and refuse every element motcua cannot run."""
    foreign: dict[str, tuple[int, etree._Element]] = {}
    stack = list(reversed(process))
    while stack:
        element = stack.pop()
        if not isinstance(element.tag, str) or not element.tag.startswith(f"{{{BPMN_NS}}}"):
            continue  # comments, and foreign elements outside extensionElements (the XSD's business)
        if element.tag == bpmn("extensionElements"):
            _check_extension_elements(element, report, foreign)
            continue
        if element.tag in (bpmn("documentation"), bpmn("text")):
            continue
        refusal = _refusal(element)
        if refusal:
            owner = _owner(element)
            report.problem(refusal, owner, blocking=True)
            continue  # one problem per unsupported construct, not one per child
        if element.tag in _PERFORMERS or element.tag in _DATA_ASSOCIATIONS:
            _warn_ignored(element, report)
            continue
        stack.extend(reversed(element))
    for tag, (count, first) in foreign.items():
        report.warn(
            f"Extension element {tag} is ignored by motcua ({count} in the process, first on "
            f"'{_id_of(first)}')",
            first,
        )


def _owner(element: etree._Element) -> etree._Element:
    """The element a designer sees for a refused part: the event of an event definition, the task of a loop."""
    local = _local(element)
    if local.endswith(("EventDefinition", "LoopCharacteristics")) or local == "eventDefinitionRef":
        return element.getparent()
    return element


def _warn_ignored(element: etree._Element, report: _Report) -> None:
    owner = element.getparent()
    if element.tag in _PERFORMERS:
        message = f"bpmn:{_local(element)} on '{_label(owner)}' is ignored: motcua assigns work by lane"
    else:
        message = f"Data associations of '{_label(owner)}' are ignored: dossier data lives in the step forms"
    report.warn(message, owner)


def _refusal(element: etree._Element) -> str | None:
    """Why ``element`` cannot be run, or None when motcua supports it."""
    tag, local = element.tag, _local(element)
    if local.endswith("EventDefinition") or local == "eventDefinitionRef":
        return _event_definition_refusal(element)
    if tag in (bpmn("boundaryEvent"), bpmn("intermediateCatchEvent")):
        if not any(isinstance(c.tag, str) and _local(c).endswith("EventDefinition") for c in element):
            return (
                f"{_FRIENDLY[local]}{_named(element)} without a timer is not supported by motcua "
                f"(element id '{element.get('id')}'); only timer events are"
            )
        return None
    if tag in _SUPPORTED_NODES or tag in _SUPPORTED_PARTS or tag in _PERFORMERS:
        return None
    name = "Event sub-process" if element.get("triggeredByEvent") == "true" else _FRIENDLY.get(local)
    if local.endswith("LoopCharacteristics"):
        return (
            f"{name} on '{_label(element.getparent())}' is not supported by motcua (element id "
            f"'{_id_of(element.getparent())}')"
        )
    what = f"{name} (bpmn:{local})" if name else f"bpmn:{local}"
    return f"{what} is not supported by motcua (element id '{_id_of(element)}')"


def _event_definition_refusal(definition: etree._Element) -> str | None:
    event = definition.getparent()
    local, event_local = _local(definition), _local(event)
    if local == "timerEventDefinition" and event_local in ("boundaryEvent", "intermediateCatchEvent"):
        return None
    if local == "terminateEventDefinition" and event_local == "endEvent":
        return None
    trigger = (
        "Referenced" if local == "eventDefinitionRef" else local.removesuffix("EventDefinition").capitalize()
    )
    kind = _FRIENDLY.get(event_local, f"bpmn:{event_local}").lower()
    hint = _EVENT_HINTS.get(event_local, "")
    return (
        f"{trigger} {kind}{_named(event)} is not supported by motcua (element id '{event.get('id')}'){hint}"
    )


_EVENT_HINTS = {
    "startEvent": "; a procedure starts with a plain start event when a dossier is received",
    "endEvent": "; use a plain or terminate end event",
    "boundaryEvent": "; only timer boundary events are",
    "intermediateCatchEvent": "; only timer catch events are",
}


def _check_extension_elements(
    extension: etree._Element, report: _Report, foreign: dict[str, tuple[int, etree._Element]]
) -> None:
    """Refuse other engines' scripts; note other foreign extensions as ignored."""
    for child in extension:
        if not isinstance(child.tag, str) or child.tag.startswith(f"{{{MOTCUA_NS}}}"):
            continue
        name = _prefixed(child)
        count, first = foreign.get(name, (0, child))
        foreign[name] = (count + 1, first)
        for element in child.iter():
            if isinstance(element.tag, str) and _local(element) in _FOREIGN_SCRIPTS:
                report.problem(
                    f"Extension script {_prefixed(element)} on '{_id_of(extension)}' is refused: motcua does not "
                    "run scripts from other tools' extensions",
                    element,
                )


def _prefixed(element: etree._Element) -> str:
    return f"{element.prefix}:{_local(element)}" if element.prefix else element.tag


# ================================================================ graph and flows


@dataclass
class _Graph:
    """The process's top-level flow nodes and sequence flows, indexed."""

    nodes: dict[str, etree._Element]
    flows: list[etree._Element]
    outgoing: dict[str, list[etree._Element]]
    boundaries: dict[str, list[str]]  # activity id -> ids of boundary events attached to it

    @classmethod
    def of(cls, process: etree._Element) -> _Graph:
        nodes = {child.get("id"): child for child in process if child.tag in _FLOW_NODES and child.get("id")}
        flows = [child for child in process if child.tag == bpmn("sequenceFlow")]
        outgoing: dict[str, list[etree._Element]] = {}
        for flow in flows:
            outgoing.setdefault(flow.get("sourceRef") or "", []).append(flow)
        boundaries: dict[str, list[str]] = {}
        for node_id, node in nodes.items():
            if node.tag == bpmn("boundaryEvent"):
                boundaries.setdefault(node.get("attachedToRef") or "", []).append(node_id)
        return cls(nodes, flows, outgoing, boundaries)

    def successors(self, node_id: str) -> list[str]:
        targets = [flow.get("targetRef") or "" for flow in self.outgoing.get(node_id, [])]
        return [t for t in targets if t in self.nodes] + self.boundaries.get(node_id, [])

    def starts(self) -> list[str]:
        return [node_id for node_id, node in self.nodes.items() if node.tag == bpmn("startEvent")]


def _check_flows(process: etree._Element, graph: _Graph, report: _Report) -> None:
    _check_flow_references(graph, report)
    _check_start(process, graph, report)
    for node_id, node in graph.nodes.items():
        outgoing = graph.outgoing.get(node_id, [])
        if len(outgoing) > 1 and node.tag in _SUPPORTED_NODES and node.tag not in _SPLITTERS:
            report.problem(
                f"{_FRIENDLY.get(_local(node), 'Element')} '{_label(node)}' has {len(outgoing)} outgoing sequence "
                "flows; split the path with a gateway",
                node,
                blocking=True,
            )
        if node.tag in _GATEWAYS_WITH_CONDITIONS:
            _check_gateway(node, outgoing, report)
    for flow in graph.flows:
        _check_condition(flow, graph, report)
    _warn_unreachable(graph, report)


def _check_flow_references(graph: _Graph, report: _Report) -> None:
    for flow in graph.flows:
        for attr in ("sourceRef", "targetRef"):
            ref = flow.get(attr)
            if ref is None:
                report.problem(f"Sequence flow '{flow.get('id')}' has no {attr}", flow, blocking=True)
            elif ref not in graph.nodes:
                report.problem(
                    f"Sequence flow '{flow.get('id')}' has {attr} '{ref}', which is not a flow element of this process",
                    flow,
                    blocking=True,
                )


def _check_start(process: etree._Element, graph: _Graph, report: _Report) -> None:
    starts = graph.starts()
    if not starts:
        report.problem("The process has no start event", process, blocking=True)
    elif len(starts) > 1:
        report.problem(
            f"The process has {len(starts)} start events; a motcua procedure starts in exactly one place",
            graph.nodes[starts[1]],
        )


def _check_gateway(gateway: etree._Element, outgoing: list[etree._Element], report: _Report) -> None:
    """A branch without a condition that is not the default would never, or always, be taken."""
    default = gateway.get("default")
    kind = _FRIENDLY.get(_local(gateway), "Gateway").lower()
    if default and default not in {flow.get("id") for flow in outgoing}:
        report.problem(
            f"Gateway '{gateway.get('id')}' names '{default}' as its default flow, but that flow does not leave it",
            gateway,
        )
    if len(outgoing) < 2:
        return
    for flow in outgoing:
        if flow.get("id") != default and _condition_text(flow) is None:
            report.problem(
                f"Sequence flow '{flow.get('id')}' leaving {kind} '{gateway.get('id')}' has no condition "
                "and is not the default flow",
                flow,
            )


def _condition_text(flow: etree._Element) -> str | None:
    condition = flow.find(bpmn("conditionExpression"))
    if condition is None or not (condition.text or "").strip():
        return None
    return condition.text


def _check_condition(flow: etree._Element, graph: _Graph, report: _Report) -> None:
    text = _condition_text(flow)
    if text is None:
        return
    source = graph.nodes.get(flow.get("sourceRef") or "")
    if source is not None and source.tag not in _GATEWAYS_WITH_CONDITIONS:
        report.warn(
            f"The condition on sequence flow '{flow.get('id')}' is ignored: only exclusive and "
            "inclusive gateways evaluate conditions",
            flow,
        )
    elif source is not None and source.get("default") == flow.get("id"):
        report.warn(f"The condition on default flow '{flow.get('id')}' is ignored", flow)
    condition = flow.find(bpmn("conditionExpression"))
    refusals = _compile_error(compile_expression, text)
    if refusals:
        message = f"The condition on sequence flow '{flow.get('id')}' is refused: {refusals[0].message}"
        report.problem(
            message + _foreign_language_hint(condition, text), condition, element_id=flow.get("id")
        )


def _foreign_language_hint(condition: etree._Element, text: str) -> str:
    """Conditions copied from Camunda (JUEL ``${...}``) or Zeebe/DMN (FEEL) fail for a reason worth naming."""
    stripped = text.strip()
    language = (condition.get("language") or "").lower()
    if stripped.startswith(("${", "#{")):
        return " (this is a JUEL expression from another engine; write e.g. approved == True)"
    if stripped.startswith("=") or "feel" in language:
        return ' (this is a FEEL expression from another engine; write e.g. risk_level == "red")'
    return ""


def _compile_error(compiler: Callable[[str], object], text: str) -> list[Problem]:
    """Run one of the engine's compilers; the refusals (line = line within the text), or []."""
    try:
        compiler(text)
    except ExpressionError as err:
        return err.problems or [Problem(err.message)]
    except (RecursionError, MemoryError, ValueError, SyntaxError) as err:
        return [Problem(f"it cannot be compiled ({type(err).__name__})")]
    return []


def _reachable(graph: _Graph) -> set[str]:
    seen = set(graph.starts())
    stack = list(seen)
    while stack:
        for target in graph.successors(stack.pop()):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def _warn_unreachable(graph: _Graph, report: _Report) -> None:
    """SpiffWorkflow silently drops what the start cannot reach; the designer should know."""
    seen = _reachable(graph)
    if not seen:
        return
    for node_id, node in graph.nodes.items():
        if node_id not in seen and node.tag in _SUPPORTED_NODES:
            report.warn(f"'{_label(node)}' cannot be reached from the start event and will never run", node)


# ================================================================ 6. timers and scripts


def _check_timers(process: etree._Element, report: _Report) -> None:
    for definition in process.iter(bpmn("timerEventDefinition")):
        event = definition.getparent()
        parts = [
            child
            for child in definition
            if child.tag in (bpmn("timeDuration"), bpmn("timeDate"), bpmn("timeCycle"))
        ]
        if len(parts) != 1 or not (parts[0].text or "").strip():
            report.problem(
                f"The timer of '{_label(event)}' needs exactly one of timeDuration, timeDate or timeCycle, "
                'with an expression such as days(3) or "P3D"',
                definition,
                element_id=event.get("id"),
            )
            continue
        refusals = _compile_error(compile_expression, parts[0].text or "")
        if refusals:
            report.problem(
                f"The timer expression of '{_label(event)}' is refused: {refusals[0].message}",
                parts[0],
                element_id=event.get("id"),
            )


def _check_scripts(process: etree._Element, report: _Report) -> None:
    """Script tasks run through the engine's whitelisting compiler, never through exec."""
    for task in process.iterchildren(bpmn("scriptTask")):
        scripts = task.findall(bpmn("script"))
        if len(scripts) != 1 or not (scripts[0].text or "").strip():
            report.problem(f"Script task '{_label(task)}' has no script", task)
            continue
        for refusal in _compile_error(compile_script, scripts[0].text or ""):
            # The script's line 1 is the line of <script> itself: its text starts right after the tag.
            line = (scripts[0].sourceline or 0) + (refusal.line or 1) - 1 or None
            report.problem(f"The script of '{_label(task)}' is refused: {refusal.message}", task, line=line)


# ================================================================ 7. motcua rules


def _check_motcua(
    process: etree._Element,
    extensions: ProcessExtensions,
    graph: _Graph,
    report: _Report,
    unit_types: Collection[str] | None,
    levels: Collection[str] | None,
) -> None:
    _check_procedure(process, extensions, report)
    _check_lanes(process, extensions, report, unit_types, levels)
    _check_human_tasks(process, extensions, report)
    if extensions.procedure is not None and not report.blocked:
        _check_time_limit(process, extensions, graph, report)


def _check_procedure(process: etree._Element, extensions: ProcessExtensions, report: _Report) -> None:
    info = extensions.procedure
    if info is None:
        report.problem(
            f"Process '{_label(process)}' has no motcua:procedure: its code and timeLimitDays are required",
            process,
        )
        return
    if not info.code:
        report.problem(
            "motcua:procedure has no code (the procedure's code in the national catalogue)", process
        )
    elif not _CODE.match(info.code):
        report.problem(
            f"Procedure code '{info.code}' is not valid: use 1 to 40 letters, digits, '-', '_' or '.'",
            process,
        )


def _check_lanes(
    process: etree._Element,
    extensions: ProcessExtensions,
    report: _Report,
    unit_types: Collection[str] | None,
    levels: Collection[str] | None,
) -> None:
    """Lanes are how work reaches a unit: each staffed lane must say which unit, in known terms."""
    elements = {lane.get("id"): lane for lane in process.iter(bpmn("lane"))}
    staffed = {extensions.lane_of.get(task.get("id", "")) for task in human_tasks(process)}
    seen: set[str] = set()
    for lane in extensions.lanes:
        at = elements.get(lane.element_id)
        title = lane.name.strip() or lane.element_id
        if not lane.name.strip():
            report.problem(f"Lane '{lane.element_id}' has no name", at)
        elif lane.name.strip() in seen:
            report.problem(f"Lane name '{lane.name.strip()}' is used by more than one lane", at)
        seen.add(lane.name.strip())
        if lane.element_id in staffed and not lane.has_unit:
            report.problem(
                f"Lane '{title}' holds human steps but has no motcua:unit saying which unit does them", at
            )
        _check_vocabulary(title, "unit type", lane.unit_type, unit_types, at, report)
        _check_vocabulary(title, "level", lane.level, levels, at, report)


def _check_vocabulary(
    lane: str,
    what: str,
    value: str | None,
    known: Collection[str] | None,
    at: etree._Element | None,
    report: _Report,
) -> None:
    if known is None or value is None or value in known:
        return
    listed = ", ".join(sorted(known)) or "none"
    report.problem(f"Lane '{lane}' has {what} '{value}', which is not a known {what} (known: {listed})", at)


def _check_human_tasks(process: etree._Element, extensions: ProcessExtensions, report: _Report) -> None:
    """Every human step needs a unit to do it (its lane) and a legal duration (motcua:step)."""
    for task in human_tasks(process):
        kind = _FRIENDLY.get(_local(task), "Task")
        task_id = task.get("id", "")
        if task_id not in extensions.lane_of:
            report.problem(
                f"{kind} '{_label(task)}' is not in any lane: put every human step in a lane", task
            )
        if task_id not in extensions.steps:
            report.problem(
                f"{kind} '{_label(task)}' has no motcua:step giving its duration (days or hours)", task
            )


def _check_time_limit(
    process: etree._Element, extensions: ProcessExtensions, graph: _Graph, report: _Report
) -> None:
    """The slowest way through the process must fit in the legal time limit.

    Loops (rework) are ignored: their back edges are dropped, so each step on a
    path counts once. Steps whose clock is paused (waiting for the citizen) do
    not count.
    """
    info = extensions.procedure
    assert info is not None
    limit = round(info.time_limit_days * MINUTES_PER_DAY) or MINUTES_PER_DAY
    weights = {
        node_id: (0 if step.clock_paused else step.minutes) for node_id, step in extensions.steps.items()
    }
    total, path = _longest_path(graph, weights)
    if total <= limit:
        return
    steps = [_label(graph.nodes[node_id]) for node_id in path if weights.get(node_id)]
    shown = " → ".join(steps[:12]) + (" → ..." if len(steps) > 12 else "")
    report.problem(
        f"The longest path through the process takes {_duration(total)} of running steps ({shown}), "
        f"more than the procedure's time limit of {_duration(limit)}",
        process,
    )


def _duration(minutes: int) -> str:
    days = minutes / MINUTES_PER_DAY
    return f"{minutes} working minutes ({days:g} working day{'s' if days != 1 else ''})"


def _longest_path(graph: _Graph, weights: dict[str, int]) -> tuple[int, list[str]]:
    """Heaviest path from the start, over the graph without its back edges (all iterative)."""
    order, back_edges = _dfs_order(graph)
    best: dict[str, int] = {}
    came_from: dict[str, str] = {}
    for start in graph.starts():
        best[start] = weights.get(start, 0)
    for node_id in order:
        if node_id not in best:
            continue
        for target in graph.successors(node_id):
            if (node_id, target) in back_edges:
                continue
            candidate = best[node_id] + weights.get(target, 0)
            if candidate > best.get(target, -1):
                best[target] = candidate
                came_from[target] = node_id
    if not best:
        return 0, []
    end = max(best, key=lambda node_id: best[node_id])
    path = [end]
    while path[-1] in came_from:
        path.append(came_from[path[-1]])
    return best[end], path[::-1]


def _dfs_order(graph: _Graph) -> tuple[list[str], set[tuple[str, str]]]:
    """Reverse post-order from the start(s) and the back edges met (iterative DFS)."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = finished
    post: list[str] = []
    back: set[tuple[str, str]] = set()
    for start in graph.starts():
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(graph.successors(start)))]
        while stack:
            node_id, targets = stack[-1]
            target = next(targets, None)
            if target is None:
                stack.pop()
                state[node_id] = 2
                post.append(node_id)
            elif state.get(target) == 1:
                back.add((node_id, target))
            elif target not in state:
                state[target] = 1
                stack.append((target, iter(graph.successors(target))))
    return post[::-1], back


# ================================================================ 8. SpiffWorkflow


def _load_with_spiff(
    tree: etree._ElementTree, process: etree._Element, file_name: str, report: _Report, analysis: Analysis
) -> None:
    """Let SpiffWorkflow build the spec from the document we checked.

    The schema was already validated (with all errors reported) on the untouched
    document, so the parser gets no validator of its own. It gets a trimmed
    tree: the chosen process and its diagram only, without data associations
    (ignored by motcua, but SpiffWorkflow would fail at run time on data objects
    nobody writes) or other pools' definitions it might trip on.
    """
    process_id = process.get("id") or ""
    _trim_for_spiff(tree.getroot(), process)
    parser = BpmnParser()

    def parse() -> tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]:
        parser.add_bpmn_xml(tree, file_name)
        return parser.get_spec(process_id), dict(parser.get_subprocess_specs(process_id))

    try:
        analysis.spec, analysis.subprocess_specs = _on_fresh_stack(parse)
        _check_spec_matches(process, analysis.spec, report)
    except RecursionError:
        report.problem(_TOO_DEEP, process)
    except ValidationException as err:
        report.problem(*_from_spiff(err, process))
    except Exception as err:  # the library raises whatever its parsers hit
        report.problem(f"SpiffWorkflow cannot load the process: {type(err).__name__}: {err}", process)


def _on_fresh_stack(function: Callable[[], _T]) -> _T:
    """Run ``function`` in a new thread, whose recursion depth starts at zero.

    SpiffWorkflow's parser recurses about twice per element along a path; in
    a thread of its own, the element cap leaves it the same headroom whether
    the caller is a shallow CLI or a deep web and test stack.
    """
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as err:  # handed back to the caller's thread as is
            outcome["error"] = err

    worker = threading.Thread(target=run, name="motcua-bpmn-parse", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _check_spec_matches(process: etree._Element, spec: BpmnProcessSpec, report: _Report) -> None:
    """Every reachable human task we checked must be a task of the parsed spec, as the runtime expects."""
    graph = _Graph.of(process)
    reachable = _reachable(graph)
    for task in human_tasks(process):
        task_id = task.get("id", "")
        if task_id in reachable and task_id not in spec.task_specs:
            report.problem(f"SpiffWorkflow did not load '{_label(task)}' as a task of the process", task)


_TOO_DEEP = (
    "The process is too long for the BPMN parser (it recurses once per element along a path); "
    "shorten the longest chain of elements"
)


def _from_spiff(err: ValidationException, process: etree._Element) -> tuple[str, etree._Element | None]:
    message = str(err.args[0]) if err.args else str(err)
    if "RecursionError" in message or "recursion depth" in message:
        return _TOO_DEEP, process
    element = next((e for e in process.iter() if err.id and e.get("id") == err.id), None)
    return f"SpiffWorkflow cannot load the process: {message}", element if element is not None else process


def _trim_for_spiff(root: etree._Element, process: etree._Element) -> None:
    for child in list(root):
        if child is not process and child.tag != f"{{{_DI_NS}}}BPMNDiagram":
            root.remove(child)
    for tag in (bpmn("dataInputAssociation"), bpmn("dataOutputAssociation")):
        for element in list(process.iter(tag)):
            element.getparent().remove(element)
