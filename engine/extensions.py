"""The motcua BPMN vocabulary (namespace ``urn:motcua:bpmn:1``).

A procedure file says, inside standard ``extensionElements``, what the law
says about the procedure: its code, its legal time limit, the documents the
citizen hands in (on the process); which unit does the work (on each lane);
how long each step may take and what it records (on each human task).

Reading never raises on a bad value: every fault comes back as a
:class:`~engine.errors.Problem` with the element id and source line, so that
validation can report everything wrong with a file in one answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from lxml import etree

from engine.errors import Problem
from engine.forms import FieldDef, check_field_def

MOTCUA_NS = "urn:motcua:bpmn:1"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"

MINUTES_PER_DAY = 480  # one working day of eight hours
MINUTES_PER_HOUR = 60


def bpmn(local: str) -> str:
    """Clark notation of a BPMN model element (``{ns}local``)."""
    return f"{{{BPMN_NS}}}{local}"


def motcua(local: str) -> str:
    """Clark notation of a motcua extension element."""
    return f"{{{MOTCUA_NS}}}{local}"


HUMAN_TASKS = frozenset(bpmn(t) for t in ("userTask", "manualTask", "task"))

_NUMBER = re.compile(r"^\d+(\.\d+)?$")
_INTEGER = re.compile(r"^\d+$")
_BOOLEANS = {"true": True, "false": False}

# Attributes each motcua element understands; anything else is probably a typo.
_KNOWN_ATTRIBUTES = {
    "procedure": {"code", "timeLimitDays", "field"},
    "component": {"name", "copies", "required"},
    "unit": {"type", "level", "fromData"},
    "step": {"days", "hours", "clock"},
    "field": {"key", "type", "label", "required", "options"},
}


@dataclass(frozen=True)
class Component:
    """One document of the dossier the citizen must hand in."""

    name: str
    copies: int = 1
    required: bool = True


@dataclass(frozen=True)
class ProcedureInfo:
    """What the legal text says about the procedure as a whole."""

    code: str
    name: str
    time_limit_days: float
    field: str
    components: tuple[Component, ...] = ()


@dataclass(frozen=True)
class LaneInfo:
    """Which unit does the work of a lane: a fixed kind of unit, or one named in the dossier."""

    name: str
    element_id: str
    unit_type: str | None = None
    level: str | None = None
    from_data: str | None = None

    @property
    def has_unit(self) -> bool:
        return bool(self.unit_type or self.level or self.from_data)


@dataclass(frozen=True)
class StepInfo:
    """A human step: how long it may take, whether the legal clock runs, what it records."""

    element_id: str
    name: str
    lane: str | None
    minutes: int
    clock_paused: bool = False
    fields: tuple[FieldDef, ...] = ()


@dataclass(frozen=True)
class ProcessExtensions:
    """Everything motcua-specific read from one process, with the faults found."""

    procedure: ProcedureInfo | None
    lanes: tuple[LaneInfo, ...]
    lane_of: Mapping[str, str]  # flow node id -> id of the lane it sits in
    steps: Mapping[str, StepInfo]  # human task id -> its step (tasks declaring motcua:step)
    problems: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()

    def lane(self, lane_id: str | None) -> LaneInfo | None:
        return next((lane for lane in self.lanes if lane.element_id == lane_id), None)


class _Collector:
    """Accumulates problems and warnings while reading."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, message: str, owner: etree._Element, at: etree._Element | None = None) -> None:
        self.problems.append(_problem(message, owner, at))

    def warn(self, message: str, owner: etree._Element, at: etree._Element | None = None) -> None:
        self.warnings.append(_problem(message, owner, at))


def _problem(message: str, owner: etree._Element, at: etree._Element | None) -> Problem:
    line = (at if at is not None else owner).sourceline
    return Problem(message, element_id=owner.get("id"), line=line)


# ---------------------------------------------------------------- process


def read_process(process: etree._Element) -> ProcessExtensions:
    """Read the whole motcua vocabulary of ``process`` (a ``bpmn:process`` element)."""
    out = _Collector()
    procedure = _read_procedure(process, out)
    lanes = tuple(_read_lane(lane, out) for lane in process.iter(bpmn("lane")))
    lane_of = _lane_membership(process)
    names = {lane.element_id: lane.name for lane in lanes}
    steps: dict[str, StepInfo] = {}
    for task in human_tasks(process):
        step = _read_step(task, names.get(lane_of.get(task.get("id", ""), "")), out)
        if step is not None:
            steps[step.element_id] = step
    _check_placement(process, out)
    return ProcessExtensions(
        procedure=procedure,
        lanes=lanes,
        lane_of=MappingProxyType(lane_of),
        steps=MappingProxyType(steps),
        problems=tuple(out.problems),
        warnings=tuple(out.warnings),
    )


def human_tasks(process: etree._Element) -> list[etree._Element]:
    """The process's user, manual and plain tasks: the steps people perform."""
    return [child for child in process if child.tag in HUMAN_TASKS]


def extension_children(owner: etree._Element, local: str) -> list[etree._Element]:
    """The ``motcua:<local>`` children of ``owner``'s ``extensionElements``."""
    found: list[etree._Element] = []
    for ext in owner.iterchildren(bpmn("extensionElements")):
        found.extend(ext.iterchildren(motcua(local)))
    return found


def _single(owner: etree._Element, local: str, out: _Collector) -> etree._Element | None:
    """The one ``motcua:<local>`` of ``owner``; a second one is a fault (which one would win?)."""
    elements = extension_children(owner, local)
    for extra in elements[1:]:
        out.error(f"motcua:{local} appears more than once on '{owner.get('id')}'", owner, extra)
    if elements:
        _check_attributes(elements[0], owner, out)
    return elements[0] if elements else None


def _check_attributes(element: etree._Element, owner: etree._Element, out: _Collector) -> None:
    local = etree.QName(element).localname
    known = _KNOWN_ATTRIBUTES.get(local, set())
    for name in element.attrib:
        if name not in known:
            expected = ", ".join(sorted(known))
            out.warn(
                f"motcua:{local} has an unknown attribute '{name}' (expected: {expected})", owner, element
            )


def _read_procedure(process: etree._Element, out: _Collector) -> ProcedureInfo | None:
    element = _single(process, "procedure", out)
    if element is None:
        return None
    code = (element.get("code") or "").strip()
    days = _number(element, "timeLimitDays", process, out, required=True)
    components = _read_components(process, out)
    return ProcedureInfo(
        code=code,
        name=(process.get("name") or "").strip() or code,
        time_limit_days=days if days is not None else 0.0,
        field=(element.get("field") or "").strip(),
        components=components,
    )


def _read_components(process: etree._Element, out: _Collector) -> tuple[Component, ...]:
    """The dossier's documents; names must be unique since the counter ticks them off by name."""
    components: list[Component] = []
    for element in extension_children(process, "component"):
        component = _read_component(element, process, out)
        if component.name and any(c.name == component.name for c in components):
            out.error(f"Component '{component.name}' is listed twice", process, element)
        components.append(component)
    return tuple(components)


def _read_component(element: etree._Element, process: etree._Element, out: _Collector) -> Component:
    _check_attributes(element, process, out)
    name = (element.get("name") or "").strip()
    if not name:
        out.error("A motcua:component has no name", process, element)
    copies = _integer(element, "copies", process, out, default=1, minimum=1)
    required = _boolean(element, "required", process, out, default=True)
    return Component(name=name, copies=copies, required=required)


# ---------------------------------------------------------------- lanes


def _read_lane(lane: etree._Element, out: _Collector) -> LaneInfo:
    # Kept exactly as written: SpiffWorkflow puts the raw name on task_spec.lane.
    name = lane.get("name") or ""
    element_id = lane.get("id") or ""
    unit = _single(lane, "unit", out)
    if unit is None:
        return LaneInfo(name=name, element_id=element_id)
    unit_type, level, from_data = (
        (unit.get(attr) or "").strip() or None for attr in ("type", "level", "fromData")
    )
    if from_data and (unit_type or level):
        out.error(
            f"motcua:unit on lane '{name or element_id}' gives both fromData and type/level; "
            "use either fromData or type with level",
            lane,
            unit,
        )
    elif not from_data and not (unit_type and level):
        out.error(
            f"motcua:unit on lane '{name or element_id}' needs both type and level (or fromData)",
            lane,
            unit,
        )
    return LaneInfo(name, element_id, unit_type, level, from_data)


def _lane_membership(process: etree._Element) -> dict[str, str]:
    """Flow node id -> lane id, resolved the way SpiffWorkflow does (last lane listing it wins)."""
    lane_of: dict[str, str] = {}
    for ref in process.iter(bpmn("flowNodeRef")):
        if ref.text and ref.text.strip():
            lane_of[ref.text.strip()] = ref.getparent().get("id", "")
    return lane_of


# ---------------------------------------------------------------- steps


def _read_step(task: etree._Element, lane_name: str | None, out: _Collector) -> StepInfo | None:
    element = _single(task, "step", out)
    fields = _read_fields(task, element, out)
    if element is None:
        return None
    return StepInfo(
        element_id=task.get("id", ""),
        name=(task.get("name") or "").strip() or task.get("id", ""),
        lane=lane_name,
        minutes=_step_minutes(element, task, out),
        clock_paused=_clock_paused(element, task, out),
        fields=fields,
    )


def _step_minutes(element: etree._Element, task: etree._Element, out: _Collector) -> int:
    has_days, has_hours = element.get("days") is not None, element.get("hours") is not None
    if has_days == has_hours:
        out.error(f"motcua:step on '{task.get('id')}' needs exactly one of days or hours", task, element)
        return 0
    attr, factor = ("days", MINUTES_PER_DAY) if has_days else ("hours", MINUTES_PER_HOUR)
    value = _number(element, attr, task, out, required=True)
    return round(value * factor) if value is not None else 0


def _clock_paused(element: etree._Element, task: etree._Element, out: _Collector) -> bool:
    clock = (element.get("clock") or "running").strip()
    if clock not in ("running", "paused"):
        out.error(f"motcua:step clock must be 'running' or 'paused', not '{clock}'", task, element)
    return clock == "paused"


def _read_fields(task: etree._Element, step: etree._Element | None, out: _Collector) -> tuple[FieldDef, ...]:
    """Fields sit in the task's extensionElements (or, tolerated, inside motcua:step).

    Each field must pass the forms module's own check, and keys must be unique
    within the task: the submitted data is a dict keyed by them.
    """
    elements = extension_children(task, "field")
    if step is not None:
        elements.extend(step.iterchildren(motcua("field")))
    fields: list[FieldDef] = []
    seen: set[str] = set()
    for element in elements:
        field_def = _read_field(element, task, out)
        if field_def.key and field_def.type:
            for message in check_field_def(field_def):
                out.error(f"Field '{field_def.key}' on '{task.get('id')}': {message}", task, element)
        if field_def.key in seen:
            out.error(f"Field key '{field_def.key}' is used twice on '{task.get('id')}'", task, element)
        seen.add(field_def.key)
        fields.append(field_def)
    return tuple(fields)


def _read_field(element: etree._Element, task: etree._Element, out: _Collector) -> FieldDef:
    _check_attributes(element, task, out)
    key = (element.get("key") or "").strip()
    kind = (element.get("type") or "").strip()
    if not key:
        out.error(f"A motcua:field on '{task.get('id')}' has no key", task, element)
    if not kind:
        out.error(f"Field '{key}' on '{task.get('id')}' has no type", task, element)
    options = tuple(o.strip() for o in (element.get("options") or "").split(",") if o.strip())
    return FieldDef(
        key=key,
        type=kind,
        label=(element.get("label") or "").strip() or key,
        required=_boolean(element, "required", task, out, default=False),
        options=options,
    )


# ---------------------------------------------------------------- placement


_PLACES = {
    "procedure": "the process",
    "component": "the process",
    "unit": "a lane",
    "step": "a user, manual or plain task",
    "field": "a user, manual or plain task",
}


def _check_placement(process: etree._Element, out: _Collector) -> None:
    """motcua elements in the wrong place are silently useless: say so."""
    for element in process.iter(motcua("*")):
        local = etree.QName(element).localname
        owner = _owner(element)
        if local not in _PLACES:
            known = ", ".join(f"motcua:{name}" for name in _PLACES)
            out.error(f"Unknown motcua element 'motcua:{local}' (known: {known})", owner, element)
        elif not _placed_well(local, element, owner, process):
            out.error(f"motcua:{local} belongs on {_PLACES[local]}, not here", owner, element)


def _owner(element: etree._Element) -> etree._Element:
    """The nearest ancestor that has an id (the BPMN element the extension belongs to)."""
    current = element.getparent()
    while current is not None and current.get("id") is None:
        current = current.getparent()
    return current if current is not None else element


def _placed_well(local: str, element: etree._Element, owner: etree._Element, process: etree._Element) -> bool:
    parent = element.getparent()
    if local == "field" and parent is not None and parent.tag == motcua("step"):
        return owner.tag in HUMAN_TASKS and owner.getparent() is process
    if parent is None or parent.tag != bpmn("extensionElements") or parent.getparent() is not owner:
        return False
    if local in ("procedure", "component"):
        return owner is process
    if local == "unit":
        return owner.tag == bpmn("lane")
    return owner.tag in HUMAN_TASKS and owner.getparent() is process


# ---------------------------------------------------------------- values


def _number(
    element: etree._Element, attr: str, owner: etree._Element, out: _Collector, *, required: bool
) -> float | None:
    raw = element.get(attr)
    local = etree.QName(element).localname
    if raw is None:
        if required:
            out.error(f"motcua:{local} on '{owner.get('id')}' has no {attr}", owner, element)
        return None
    if not _NUMBER.match(raw.strip()):
        out.error(
            f"motcua:{local} {attr} must be a non-negative number such as 15 or 0.5, not '{raw}'",
            owner,
            element,
        )
        return None
    return float(raw.strip())


def _integer(
    element: etree._Element, attr: str, owner: etree._Element, out: _Collector, *, default: int, minimum: int
) -> int:
    raw = element.get(attr)
    if raw is None:
        return default
    if not _INTEGER.match(raw.strip()) or int(raw) < minimum:
        local = etree.QName(element).localname
        out.error(
            f"motcua:{local} {attr} must be a whole number of at least {minimum}, not '{raw}'", owner, element
        )
        return default
    return int(raw)


def _boolean(
    element: etree._Element, attr: str, owner: etree._Element, out: _Collector, *, default: bool
) -> bool:
    raw = element.get(attr)
    if raw is None:
        return default
    value = _BOOLEANS.get(raw.strip().lower())
    if value is None:
        local = etree.QName(element).localname
        out.error(f"motcua:{local} {attr} must be true or false, not '{raw}'", owner, element)
        return default
    return value
