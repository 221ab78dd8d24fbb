"""Compiled procedures: a validated BPMN file turned into what the runtime needs.

Parsing a procedure costs milliseconds and its spec is the same for every
dossier of that version, so a compiled procedure is built once per version,
kept in process memory (:class:`SpecCache`) and never stored inside a
dossier's state.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec

from engine.errors import InvalidProcedure
from engine.extensions import LaneInfo, ProcedureInfo, StepInfo
from engine.timers import make_timers_deterministic
from engine.validation import analyse

DEFAULT_CACHE_SIZE = 256


@dataclass(frozen=True)
class CompiledProcedure:
    """One deployable procedure version, ready to start dossiers.

    ``lanes`` is keyed by lane *name* because that is what SpiffWorkflow puts
    on ``task_spec.lane``; ``steps`` by element id, which is ``task_spec.name``.
    """

    process_id: str
    info: ProcedureInfo
    lanes: Mapping[str, LaneInfo]
    steps: Mapping[str, StepInfo]
    spec: BpmnProcessSpec
    subprocess_specs: Mapping[str, BpmnProcessSpec]
    sha256: str
    has_timers: bool = False  # worth planning timer due work for (see engine.timers)


def compile_procedure(
    data: bytes | str,
    *,
    file_name: str = "procedure.bpmn",
    unit_types: Collection[str] | None = None,
    levels: Collection[str] | None = None,
) -> CompiledProcedure:
    """Validate and compile in one pass over one parsed tree.

    Raises ``InvalidProcedure`` carrying every problem of the verdict.
    """
    source = data.encode("utf-8") if isinstance(data, str) else data
    analysis = analyse(source, file_name=file_name, unit_types=unit_types, levels=levels)
    verdict = analysis.verdict
    if not verdict.executable or analysis.spec is None or analysis.extensions is None:
        count = len(verdict.problems)
        raise InvalidProcedure(
            f"{file_name} cannot be deployed: {count} problem{'s' if count != 1 else ''}", verdict.problems
        )
    extensions = analysis.extensions
    assert (
        extensions.procedure is not None and verdict.process_id is not None
    )  # guaranteed by an executable verdict
    return CompiledProcedure(
        process_id=verdict.process_id,
        info=extensions.procedure,
        lanes=MappingProxyType({lane.name: lane for lane in extensions.lanes}),
        steps=MappingProxyType(dict(extensions.steps)),
        spec=analysis.spec,
        subprocess_specs=MappingProxyType(dict(analysis.subprocess_specs)),
        sha256=hashlib.sha256(source).hexdigest(),
        has_timers=make_timers_deterministic(analysis.spec, analysis.subprocess_specs),
    )


class SpecCache:
    """Compiled procedure versions in process memory: thread-safe, bounded, least recently used out.

    A version's source never changes once deployed, so an entry never goes
    stale; the bound only limits memory. Unit vocabularies are not checked on
    load: the version was checked against them when it was deployed, and the
    vocabulary may have grown since without making old versions invalid.
    Concurrent misses on the same key compile once; other keys are not blocked.
    """

    def __init__(self, max_entries: int = DEFAULT_CACHE_SIZE) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._entries: OrderedDict[Hashable, CompiledProcedure] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, load_source: Callable[[], bytes]) -> CompiledProcedure:
        """The compiled procedure for ``key``; ``load_source`` is called only on a miss."""
        found = self._lookup(key)
        if found is not None:
            return found
        with self._key_lock(key):
            found = self._lookup(key)  # another thread may have compiled it meanwhile
            if found is None:
                found = compile_procedure(load_source(), file_name=f"procedure version {key}")
                self._store(key, found)
        with self._lock:
            self._loading.pop(key, None)
        return found

    def put(self, key: Hashable, compiled: CompiledProcedure) -> None:
        """Prime the cache with a version just compiled at deployment (saves compiling it again)."""
        self._store(key, compiled)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def _lookup(self, key: Hashable) -> CompiledProcedure | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def _store(self, key: Hashable, compiled: CompiledProcedure) -> None:
        with self._lock:
            self._entries[key] = compiled
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def _key_lock(self, key: Hashable) -> threading.Lock:
        with self._lock:
            return self._loading.setdefault(key, threading.Lock())
