"""Compiled procedures and the per-version spec cache."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn.specs.defaults import ManualTask, UserTask

from engine import validation
from engine.errors import InvalidProcedure
from engine.specs import CompiledProcedure, SpecCache, compile_procedure

DATA = Path(__file__).parent / "data" / "bpmn"
GOOD = (DATA / "good_minimal.bpmn").read_bytes()


@pytest.fixture(scope="module")
def compiled() -> CompiledProcedure:
    return compile_procedure(GOOD, file_name="good_minimal.bpmn")


def test_the_procedure_info(compiled: CompiledProcedure) -> None:
    assert compiled.process_id == "cap_phep_xay_dung"
    assert compiled.info.code == "1.009994"
    assert compiled.info.name == "Cấp giấy phép xây dựng nhà ở riêng lẻ"
    assert compiled.info.field == "Xây dựng"
    assert compiled.info.time_limit_days == 15
    assert [c.name for c in compiled.info.components] == [
        "Đơn đề nghị cấp giấy phép xây dựng",
        "Bản vẽ thiết kế",
    ]
    assert compiled.sha256 == hashlib.sha256(GOOD).hexdigest()


def test_lanes_are_keyed_by_the_name_spiffworkflow_puts_on_tasks(compiled: CompiledProcedure) -> None:
    assert set(compiled.lanes) == {"Bộ phận một cửa", "Phòng Quản lý đô thị"}
    office = compiled.lanes["Phòng Quản lý đô thị"]
    assert (office.element_id, office.unit_type, office.level, office.from_data) == (
        "Lane_office",
        "qldt",
        "district",
        None,
    )
    for step_id, step in compiled.steps.items():
        assert compiled.spec.task_specs[step_id].lane == step.lane
        assert step.lane in compiled.lanes


def test_steps_are_keyed_by_task_spec_name(compiled: CompiledProcedure) -> None:
    assert set(compiled.steps) == {"Receive", "Review", "Supplement", "Return"}
    assert isinstance(compiled.spec.task_specs["Review"], UserTask)
    assert isinstance(compiled.spec.task_specs["Return"], ManualTask)
    review = compiled.steps["Review"]
    assert (review.name, review.minutes, review.clock_paused) == ("Thẩm định hồ sơ", 8 * 480, False)
    assert compiled.steps["Supplement"].clock_paused
    assert compiled.steps["Receive"].minutes == 4 * 60
    assert [f.key for f in compiled.steps["Receive"].fields] == ["applicant_name", "plot_area"]


def test_the_spec_has_the_whole_process(compiled: CompiledProcedure) -> None:
    names = set(compiled.spec.task_specs)
    assert {
        "StartEvent_1",
        "Receive",
        "Review",
        "Reminder",
        "Decide",
        "Supplement",
        "Return",
        "EndEvent_1",
    } <= names
    assert compiled.subprocess_specs == {}


def test_the_compiled_procedure_is_read_only(compiled: CompiledProcedure) -> None:
    with pytest.raises(TypeError):
        compiled.steps["X"] = compiled.steps["Review"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        compiled.sha256 = "x"  # type: ignore[misc]


def test_text_source_hashes_its_utf8_bytes() -> None:
    assert compile_procedure(GOOD.decode("utf-8")).sha256 == hashlib.sha256(GOOD).hexdigest()


def test_an_invalid_procedure_raises_with_every_problem() -> None:
    broken = GOOD.replace(b'<motcua:step hours="4"/>', b"").replace(b' default="Flow_ok"', b"")
    with pytest.raises(InvalidProcedure) as caught:
        compile_procedure(broken, file_name="broken.bpmn")
    assert caught.value.message == "broken.bpmn cannot be deployed: 2 problems"
    assert {p.element_id for p in caught.value.problems} == {"Receive", "Flow_ok"}


def test_hostile_xml_raises_invalid_procedure() -> None:
    with pytest.raises(InvalidProcedure) as caught:
        compile_procedure((DATA / "xxe.bpmn").read_bytes())
    assert "DTDs and entity declarations" in caught.value.problems[0].message


def test_unit_vocabulary_is_checked_at_compile_time() -> None:
    with pytest.raises(InvalidProcedure):
        compile_procedure(GOOD, unit_types={"mot_cua"})


def test_compiling_parses_the_xml_once(monkeypatch) -> None:
    calls = []
    real = validation.parse_xml
    monkeypatch.setattr(validation, "parse_xml", lambda data: calls.append(1) or real(data))
    compile_procedure(GOOD)
    assert calls == [1]


def test_ignored_data_associations_do_not_reach_the_spec() -> None:
    source = GOOD.replace(
        b"      </bpmn:extensionElements>\n    </bpmn:userTask>\n    <bpmn:boundaryEvent",
        b"      </bpmn:extensionElements>\n"
        b'      <bpmn:dataOutputAssociation id="DOA"><bpmn:targetRef>DOR</bpmn:targetRef>'
        b"</bpmn:dataOutputAssociation>\n    </bpmn:userTask>\n"
        b'    <bpmn:dataObject id="DO"/><bpmn:dataObjectReference id="DOR" dataObjectRef="DO"/>\n'
        b"    <bpmn:boundaryEvent",
    )
    review = compile_procedure(source).spec.task_specs["Review"]
    assert review.data_output_associations == []


# ================================================================ SpecCache


class Loader:
    """A load_source callable that counts its calls."""

    def __init__(self, source: bytes = GOOD, delay: float = 0.0) -> None:
        self.source, self.delay, self.calls = source, delay, 0

    def __call__(self) -> bytes:
        self.calls += 1
        time.sleep(self.delay)
        return self.source


def test_a_hit_returns_the_same_object_and_loads_once() -> None:
    cache, loader = SpecCache(), Loader()
    first = cache.get(7, loader)
    assert cache.get(7, loader) is first
    assert loader.calls == 1 and len(cache) == 1 and 7 in cache


def test_the_cache_is_bounded_least_recently_used_out() -> None:
    cache = SpecCache(max_entries=2)
    loaders = {key: Loader() for key in "abc"}
    cache.get("a", loaders["a"])
    cache.get("b", loaders["b"])
    cache.get("a", loaders["a"])  # "a" is now the most recently used
    cache.get("c", loaders["c"])  # evicts "b"
    assert len(cache) == 2 and "b" not in cache and "a" in cache
    cache.get("b", loaders["b"])
    assert (loaders["a"].calls, loaders["b"].calls, loaders["c"].calls) == (1, 2, 1)


def test_put_primes_and_clear_empties(compiled: CompiledProcedure) -> None:
    cache, loader = SpecCache(), Loader()
    cache.put(1, compiled)
    assert cache.get(1, loader) is compiled and loader.calls == 0
    cache.clear()
    assert len(cache) == 0
    assert cache.get(1, loader) is not compiled and loader.calls == 1


def test_version_vocabulary_is_not_rechecked_on_load() -> None:
    """A deployed version stays loadable even if unit types were renamed since."""
    assert SpecCache().get(1, Loader()).lanes["Phòng Quản lý đô thị"].unit_type == "qldt"


def test_an_invalid_stored_source_raises_and_is_not_cached() -> None:
    cache = SpecCache()
    with pytest.raises(InvalidProcedure):
        cache.get(1, Loader(b"<not-bpmn/>"))
    assert len(cache) == 0


def test_concurrent_misses_on_one_key_compile_once() -> None:
    cache, loader = SpecCache(), Loader(delay=0.05)
    results: list[CompiledProcedure] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", loader))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loader.calls == 1
    assert len(results) == 8 and all(r is results[0] for r in results)


def test_a_cache_needs_room() -> None:
    with pytest.raises(ValueError):
        SpecCache(max_entries=0)
