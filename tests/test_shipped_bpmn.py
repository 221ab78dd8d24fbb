"""Sanity checks of the shipped procedures and demo organisation (no database).

Every file in ``workflows/procedures`` must be a deployable motcua procedure:
valid BPMN, the motcua extension vocabulary used correctly (docs/bpmn-extensions.md),
a complete left-to-right diagram, and a model that bare SpiffWorkflow can drive to
completion. The organisation files must give every lane of every shipped procedure
a unit (docs/organisation.md).

These tests read the files directly and do not import the engine, so that a broken
procedure is reported here with its element id even when the engine's own
validator is being changed.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache
from itertools import combinations, pairwise
from pathlib import Path

import pytest
import yaml
from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser, BpmnValidator
from SpiffWorkflow.util.task import TaskState

ROOT = Path(__file__).resolve().parents[1]
PROCEDURES = ROOT / "workflows" / "procedures"
ORGANISATION = ROOT / "workflows" / "organisation.yaml"
TWO_TIER = ROOT / "tests" / "data" / "org-two-tier.yaml"

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
MOTCUA = "urn:motcua:bpmn:1"
NS = {
    "bpmn": BPMN,
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "motcua": MOTCUA,
}

SHIPPED = {
    "khai-sinh.bpmn": "DangKyKhaiSinh",
    "ho-kinh-doanh.bpmn": "DangKyHoKinhDoanh",
    "giay-phep-xay-dung.bpmn": "CapGiayPhepXayDung",
    "cap-gcn-lan-dau.bpmn": "CapGCNLanDau",
    "phan-anh-kien-nghi.bpmn": "XuLyPhanAnhKienNghi",
}

FLOW_NODES = {
    "startEvent",
    "endEvent",
    "userTask",
    "exclusiveGateway",
    "parallelGateway",
    "boundaryEvent",
    "intermediateCatchEvent",
    "scriptTask",
}
SUPPORTED = FLOW_NODES | {"sequenceFlow", "laneSet", "lane", "textAnnotation", "association"}
FIELD_TYPES = {"string", "text", "integer", "number", "boolean", "date", "enum"}
FUNCTIONS = {"len", "min", "max", "abs", "round", "int", "float", "str", "bool", "lower", "upper", "contains"}
EXPRESSION_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Call,
    ast.List,
    ast.Tuple,
)
FIELD_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
HOURS_PER_DAY = 8


def local(el: etree._Element) -> str:
    return etree.QName(el).localname


def safe_parse(path: Path) -> etree._ElementTree:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return etree.parse(str(path), parser)


@dataclass
class Procedure:
    path: Path
    tree: etree._ElementTree
    process: etree._Element

    def nodes(self, tag: str) -> list[etree._Element]:
        return self.process.findall(f"bpmn:{tag}", NS)

    def by_id(self) -> dict[str, etree._Element]:
        return {el.get("id"): el for el in self.process.iter() if el.get("id")}

    def flow_nodes(self) -> list[etree._Element]:
        return [el for el in self.process if isinstance(el.tag, str) and local(el) in FLOW_NODES]

    def flows(self) -> list[etree._Element]:
        return self.nodes("sequenceFlow")

    def lane_of(self) -> dict[str, etree._Element]:
        return {
            ref.text.strip(): lane
            for lane in self.process.iterfind("bpmn:laneSet/bpmn:lane", NS)
            for ref in lane.iterfind("bpmn:flowNodeRef", NS)
        }

    def field_keys(self) -> set[str]:
        return {f.get("key") for f in self.process.iterfind(".//bpmn:userTask//motcua:field", NS)}


@cache
def load(name: str) -> Procedure:
    path = PROCEDURES / name
    tree = safe_parse(path)
    processes = tree.getroot().findall("bpmn:process", NS)
    assert len(processes) == 1, f"{name}: exactly one process expected"
    return Procedure(path, tree, processes[0])


@cache
def spec_of(name: str):
    proc = load(name)
    parser = BpmnParser(validator=BpmnValidator())
    parser.add_bpmn_xml(safe_parse(proc.path), filename=name)
    return parser.get_spec(SHIPPED[name])


files = pytest.mark.parametrize("name", sorted(SHIPPED))


def test_the_five_procedures_are_shipped():
    assert sorted(p.name for p in PROCEDURES.glob("*.bpmn")) == sorted(SHIPPED)


@files
def test_validates_against_the_xsd_and_parses(name):
    spec = spec_of(name)
    assert spec.name == SHIPPED[name]
    assert load(name).process.get("isExecutable") == "true"
    assert load(name).process.get("id") == SHIPPED[name]


@files
def test_only_supported_elements(name):
    proc = load(name)
    for el in proc.process:
        if not isinstance(el.tag, str) or local(el) in ("documentation", "extensionElements"):
            continue
        assert etree.QName(el).namespace == BPMN, f"{name}: foreign element {el.tag}"
        assert local(el) in SUPPORTED, f"{name}: {el.get('id')} is an unsupported {local(el)}"
        if local(el) in ("startEvent", "endEvent"):
            defs = [c for c in el if isinstance(c.tag, str) and local(c).endswith("EventDefinition")]
            assert not defs, f"{name}: {el.get('id')} must be a none event"
        if local(el) in ("boundaryEvent", "intermediateCatchEvent"):
            assert el.find("bpmn:timerEventDefinition", NS) is not None
        # SpiffWorkflow names its own start/end task specs "Start" and "End".
        assert el.get("id") not in ("Start", "End"), f"{name}: reserved id {el.get('id')}"


@files
def test_procedure_extension(name):
    proc = load(name)
    ext = proc.process.find("bpmn:extensionElements", NS)
    assert ext is not None
    procedures = ext.findall("motcua:procedure", NS)
    assert len(procedures) == 1
    p = procedures[0]
    assert re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9]+)*", p.get("code")), p.get("code")
    assert p.get("timeLimitDays").isdigit()
    assert p.get("field").strip()
    assert proc.process.get("name").strip()
    components = ext.findall("motcua:component", NS)
    assert components, f"{name}: no dossier components"
    assert any(c.get("required", "true") == "true" for c in components)
    for c in components:
        assert c.get("name").strip()
        assert int(c.get("copies", "1")) >= 1
        assert c.get("required", "true") in ("true", "false")
    codes = [load(n).process.find("bpmn:extensionElements/motcua:procedure", NS).get("code") for n in SHIPPED]
    assert len(set(codes)) == len(codes)


@files
def test_every_node_is_in_a_lane_and_every_lane_has_a_unit(name):
    proc = load(name)
    lane_of = proc.lane_of()
    for node in proc.flow_nodes():
        assert node.get("id") in lane_of, f"{name}: {node.get('id')} is in no lane"
        assert (node.get("name") or "").strip(), f"{name}: {node.get('id')} has no name"
    lanes = proc.process.findall("bpmn:laneSet/bpmn:lane", NS)
    names = [lane.get("name") for lane in lanes]
    assert len(set(names)) == len(names), f"{name}: lane names must be unique"
    for lane in lanes:
        ext = lane.find("bpmn:extensionElements", NS)
        assert ext is not None, f"{name}: lane {lane.get('id')} has no motcua:unit"
        units = ext.findall("motcua:unit", NS)
        assert len(units) == 1
        u = units[0]
        if u.get("fromData") is not None:
            assert FIELD_KEY.match(u.get("fromData"))
            assert u.get("type") is None and u.get("level") is None
        else:
            assert u.get("type") and u.get("level"), f"{name}: lane {lane.get('id')} needs type and level"
    assert spec_of(name)  # the lanes SpiffWorkflow sees are the lane names
    for task_spec in spec_of(name).task_specs.values():
        if task_spec.manual:
            assert task_spec.lane in names


@files
def test_steps_and_fields(name):
    proc = load(name)
    for task in proc.nodes("userTask"):
        tid = task.get("id")
        ext = task.find("bpmn:extensionElements", NS)
        assert ext is not None, f"{name}: {tid} has no motcua:step"
        steps = ext.findall("motcua:step", NS)
        assert len(steps) == 1, f"{name}: {tid} needs exactly one motcua:step"
        step = steps[0]
        assert (step.get("days") is None) != (step.get("hours") is None), f"{name}: {tid} days xor hours"
        assert float(step.get("days") or step.get("hours")) >= 0
        assert step.get("clock") in (None, "running", "paused")
        keys = []
        for field in ext.findall("motcua:field", NS):
            key = field.get("key")
            assert FIELD_KEY.match(key) and not keyword.iskeyword(key), f"{name}: {tid} bad key {key!r}"
            assert key not in FUNCTIONS
            assert field.get("type") in FIELD_TYPES, f"{name}: {tid}.{key} type {field.get('type')}"
            assert (field.get("label") or "").strip()
            assert field.get("required", "false") in ("true", "false")
            if field.get("type") == "enum":
                options = [o.strip() for o in field.get("options", "").split(",")]
                assert len(options) >= 2 and all(options)
            else:
                assert field.get("options") is None
            keys.append(key)
        assert len(set(keys)) == len(keys), f"{name}: {tid} repeats a field key"


def _check_expression(text: str, names: set[str], where: str) -> None:
    tree = ast.parse(text.strip(), mode="eval")
    for node in ast.walk(tree):
        assert isinstance(node, EXPRESSION_NODES), f"{where}: {type(node).__name__} not allowed in {text!r}"
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS, f"{where}: {text!r}"
            assert not node.keywords
        if isinstance(node, ast.Name):
            assert not node.id.startswith("_")
            if node.id not in FUNCTIONS:
                assert node.id in names, f"{where}: {node.id!r} is not a form field of this procedure"


@files
def test_gateways_have_conditions_or_a_default(name):
    proc = load(name)
    flows = {f.get("id"): f for f in proc.flows()}
    keys = proc.field_keys()
    for gw in proc.nodes("exclusiveGateway"):
        outgoing = [f for f in flows.values() if f.get("sourceRef") == gw.get("id")]
        if len(outgoing) < 2:
            continue
        default = gw.get("default")
        assert default in flows, f"{name}: {gw.get('id')} needs a default flow"
        for f in outgoing:
            cond = f.find("bpmn:conditionExpression", NS)
            if f.get("id") == default:
                assert cond is None, f"{name}: default flow {default} must not have a condition"
            else:
                assert cond is not None and cond.text.strip(), f"{name}: {f.get('id')} has no condition"
                _check_expression(cond.text, keys, f"{name}:{f.get('id')}")
    for gw in proc.nodes("parallelGateway"):
        for f in flows.values():
            if f.get("sourceRef") == gw.get("id"):
                assert f.find("bpmn:conditionExpression", NS) is None


def _step_hours(task: etree._Element) -> float:
    step = task.find("bpmn:extensionElements/motcua:step", NS)
    if step.get("clock") == "paused":
        return 0.0
    if step.get("hours") is not None:
        return float(step.get("hours"))
    return float(step.get("days")) * HOURS_PER_DAY


def longest_path_hours(proc: Procedure) -> float:
    """Longest start-to-end sum of counted step time, ignoring the back edges of loops."""
    by_id = proc.by_id()
    succ: dict[str, list[str]] = {}
    for f in proc.flows():
        succ.setdefault(f.get("sourceRef"), []).append(f.get("targetRef"))
    weight = {n.get("id"): (_step_hours(n) if local(n) == "userTask" else 0.0) for n in proc.flow_nodes()}
    starts = [n.get("id") for n in proc.nodes("startEvent")]
    # Back edges: edges to a node on the DFS stack.
    back, state = set(), {}

    def dfs(node: str) -> None:
        state[node] = "open"
        for nxt in succ.get(node, []):
            if state.get(nxt) == "open":
                back.add((node, nxt))
            elif nxt not in state:
                dfs(nxt)
        state[node] = "done"

    for s in starts:
        dfs(s)
    assert set(state) == set(weight), "unreachable flow nodes: " + ", ".join(sorted(set(weight) - set(state)))

    @cache
    def longest(node: str) -> float:
        nexts = [n for n in succ.get(node, []) if (node, n) not in back]
        return weight[node] + max((longest(n) for n in nexts), default=0.0)

    assert all(local(by_id[n]) == "endEvent" for n in weight if not succ.get(n))
    return max(longest(s) for s in starts)


@files
def test_longest_path_fits_the_time_limit(name):
    proc = load(name)
    days = int(proc.process.find("bpmn:extensionElements/motcua:procedure", NS).get("timeLimitDays"))
    limit = (days or 1) * HOURS_PER_DAY  # 0 = same working day
    assert longest_path_hours(proc) <= limit


# ---------------------------------------------------------------- diagram


def _bounds(el: etree._Element) -> tuple[float, float, float, float]:
    b = el.find("dc:Bounds", NS)
    x, y, w, h = (float(b.get(k)) for k in ("x", "y", "width", "height"))
    return x, y, x + w, y + h


def _overlap(a, b, margin=0.0) -> bool:
    return a[0] < b[2] + margin and b[0] < a[2] + margin and a[1] < b[3] + margin and b[1] < a[3] + margin


def _segment_hits(p, q, r, margin=0.0) -> bool:
    return (
        min(p[0], q[0]) < r[2] + margin
        and r[0] - margin < max(p[0], q[0])
        and min(p[1], q[1]) < r[3] + margin
        and r[1] - margin < max(p[1], q[1])
    )


@files
def test_diagram_covers_every_element(name):
    proc = load(name)
    root = proc.tree.getroot()
    plane = root.find("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    collab = root.find("bpmn:collaboration", NS)
    participants = collab.findall("bpmn:participant", NS)
    assert [p.get("processRef") for p in participants] == [SHIPPED[name]]
    assert plane.get("bpmnElement") == collab.get("id")
    shapes = {s.get("bpmnElement"): s for s in plane.iterfind("bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): e for e in plane.iterfind("bpmndi:BPMNEdge", NS)}
    assert shapes[participants[0].get("id")].get("isHorizontal") == "true"
    for el in proc.process.iter():
        if not isinstance(el.tag, str) or etree.QName(el).namespace != BPMN:
            continue
        kind = local(el)
        if kind in ("sequenceFlow", "association"):
            assert el.get("id") in edges, f"{name}: no BPMNEdge for {el.get('id')}"
            assert len(edges[el.get("id")].findall("di:waypoint", NS)) >= 2
        elif kind in FLOW_NODES | {"lane", "textAnnotation"}:
            assert el.get("id") in shapes, f"{name}: no BPMNShape for {el.get('id')}"
            if kind == "lane":
                assert shapes[el.get("id")].get("isHorizontal") == "true"
    ids = set(proc.by_id()) | {p.get("id") for p in participants}
    assert set(shapes) <= ids and set(edges) <= ids, f"{name}: diagram refers to unknown elements"


@files
def test_layout_is_clean(name):
    """Lanes stacked in the pool, nodes inside their lane, nothing overlaps, edges orthogonal."""
    proc = load(name)
    root = proc.tree.getroot()
    plane = root.find("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    by_id = proc.by_id()
    pool = None
    lanes, shapes, labels = {}, {}, []
    for s in plane.iterfind("bpmndi:BPMNShape", NS):
        ref = s.get("bpmnElement")
        if ref not in by_id:
            pool = _bounds(s)
            continue
        if local(by_id[ref]) == "lane":
            lanes[ref] = _bounds(s)
            continue
        shapes[ref] = _bounds(s)
        if s.find("bpmndi:BPMNLabel", NS) is not None:
            labels.append((ref, _bounds(s.find("bpmndi:BPMNLabel", NS))))
    # Lanes: same left/right edges, stacked top to bottom without gaps, filling the pool.
    ordered = [lanes[lane.get("id")] for lane in proc.process.iterfind("bpmn:laneSet/bpmn:lane", NS)]
    assert ordered[0][1] == pool[1] and ordered[-1][3] == pool[3]
    for upper, lower in pairwise(ordered):
        assert upper[3] == lower[1]
    assert all(r[0] == ordered[0][0] and r[2] == pool[2] for r in ordered)
    lane_of = proc.lane_of()
    for nid, r in shapes.items():
        if nid in lane_of:
            lr = lanes[lane_of[nid].get("id")]
            assert lr[0] <= r[0] and r[2] <= lr[2] and lr[1] <= r[1] and r[3] <= lr[3], f"{name}: {nid}"
    for (a, ra), (b, rb) in combinations(shapes.items(), 2):
        assert not _overlap(ra, rb, 10), f"{name}: {a} and {b} overlap"
    segments = []
    for e in plane.iterfind("bpmndi:BPMNEdge", NS):
        el = by_id[e.get("bpmnElement")]
        pts = [(float(p.get("x")), float(p.get("y"))) for p in e.iterfind("di:waypoint", NS)]
        ends = {el.get("sourceRef"), el.get("targetRef")}
        for p, q in pairwise(pts):
            assert p[0] == q[0] or p[1] == q[1], f"{name}: {el.get('id')} has a diagonal segment"
            segments.append((el.get("id"), p, q))
            for nid, r in shapes.items():
                if nid in ends:
                    assert not _segment_hits(p, q, (r[0] + 1, r[1] + 1, r[2] - 1, r[3] - 1)), (
                        f"{name}: {el.get('id')} runs through {nid}"
                    )
                else:
                    assert not _segment_hits(p, q, r, 3), f"{name}: {el.get('id')} crosses {nid}"
        if e.find("bpmndi:BPMNLabel", NS) is not None:
            labels.append((el.get("id"), _bounds(e.find("bpmndi:BPMNLabel", NS))))
    for ref, lr in labels:
        for nid, r in shapes.items():
            assert not _overlap(lr, r, 2), f"{name}: label of {ref} covers {nid}"
        for eid, p, q in segments:
            assert not _segment_hits(p, q, lr, 1), f"{name}: label of {ref} covers flow {eid}"
    for (a, ra), (b, rb) in combinations(labels, 2):
        assert not _overlap(ra, rb, 2), f"{name}: labels of {a} and {b} overlap"


# ---------------------------------------------------------------- execution

KHAI_SINH = {
    "Task_KiemTraHoSo": {
        "ho_ten_tre": "Nguyễn Minh An",
        "ngay_sinh": "2026-03-02",
        "gioi_tinh": "Nam",
        "dan_toc": "Kinh",
        "quoc_tich": "Việt Nam",
        "noi_sinh": "Bệnh viện Phụ sản Hà Nội",
        "ho_ten_me": "Trần Thị Hoa",
        "hop_le": True,
    },
    "Task_KyGiayKhaiSinh": {"phe_duyet": True},
    "Task_SoanTuChoi": {"ly_do_tu_choi": "Giấy chứng sinh không hợp lệ"},
}
HO_KINH_DOANH = {
    "Task_ThamDinh": {
        "ten_ho_kinh_doanh": "Hộ kinh doanh Phở Hàng Bạc",
        "chu_ho_kinh_doanh": "Lê Văn Bình",
        "dia_diem_kinh_doanh": "Số 12 phố Hàng Bạc, phường Hàng Bạc, quận Hoàn Kiếm",
        "nganh_nghe": "Dịch vụ ăn uống",
        "von_kinh_doanh": 150_000_000,
        "hop_le": True,
    },
    "Task_CapMaSoThue": {"ma_so_thue": "8765432109"},
    "Task_PheDuyet": {"phe_duyet": True, "ma_so_ho_kinh_doanh": "01A8012345"},
    "Task_ThongBaoTuChoi": {"ly_do_tu_choi": "Tên hộ kinh doanh trùng"},
}
GIAY_PHEP = {
    "Task_ThamDinh": {"hop_le": True, "can_kiem_tra": True, "ghi_chu": ""},
    "Task_KiemTraThucDia": {"ket_qua_kiem_tra": "Phù hợp", "bien_ban": "Hiện trạng đúng hồ sơ"},
    "Task_DuThaoGiayPhep": {"so_giay_phep": "125/GPXD"},
    "Task_PheDuyet": {"phe_duyet": True},
    "Task_DuThaoTuChoi": {"ly_do_tu_choi": "Không phù hợp quy hoạch"},
    "Task_KyTuChoi": {},
}
CAP_GCN = {
    "Task_KiemTraHoSo": {"hop_le": True},
    "Task_DoDac": {"so_to_ban_do": "15", "so_thua": "231", "dien_tich": 84.5},
    "Task_XacMinhNiemYet": {
        "nguon_goc_dat": "Đất ở sử dụng ổn định từ năm 1992",
        "tinh_trang_tranh_chap": "Không tranh chấp",
        "phu_hop_quy_hoach": True,
    },
    "Task_XacDinhNghiaVuTaiChinh": {"so_tien_thue": 12_500_000},
    "Task_ChoNopThue": {"da_nop_thue": True, "ngay_nop_thue": "2026-05-04"},
    "Task_ThamDinh": {"ket_qua_tham_dinh": "Đủ điều kiện cấp Giấy chứng nhận"},
    "Task_KyGiayChungNhan": {"phe_duyet": True},
    "Task_TraLaiHoSo": {"ly_do_tu_choi": "Thửa đất đang có tranh chấp"},
}
PHAN_ANH = {
    "Task_XacMinh": {"ket_qua_xac_minh": "Phản ánh đúng", "de_xuat": "Chấn chỉnh bộ phận một cửa"},
    "Task_TraLoi": {"noi_dung_tra_loi": "UBND quận đã chấn chỉnh và xin lỗi công dân"},
}
HAPPY = {
    "khai-sinh.bpmn": KHAI_SINH,
    "ho-kinh-doanh.bpmn": HO_KINH_DOANH,
    "giay-phep-xay-dung.bpmn": GIAY_PHEP,
    "cap-gcn-lan-dau.bpmn": CAP_GCN,
    "phan-anh-kien-nghi.bpmn": PHAN_ANH,
}


def drive(name: str, answers: dict, overrides: dict | None = None, max_rounds: int = 200):
    """Run the process with bare SpiffWorkflow, answering each ready user task.

    ``overrides`` maps a task id to a list of answers, one per visit (the last one
    repeats), merged over ``answers``. Returns the finished workflow, the visit
    counts per task id and the id of the end event reached.
    """
    overrides = overrides or {}
    wf = BpmnWorkflow(spec_of(name))
    wf.do_engine_steps()
    visits: Counter[str] = Counter()
    for _ in range(max_rounds):
        if wf.is_completed():
            break
        ready = wf.get_tasks(state=TaskState.READY, manual=True)
        assert ready, f"{name}: stuck without a ready user task"
        for task in ready:
            tid = task.task_spec.bpmn_id
            data = dict(answers[tid])
            if tid in overrides:
                seq = overrides[tid]
                data.update(seq[min(visits[tid], len(seq) - 1)])
            visits[tid] += 1
            task.data.update(data)
            task.run()
        wf.do_engine_steps()
    assert wf.is_completed(), f"{name}: not completed after {max_rounds} rounds"
    ends = {e.get("id") for e in load(name).nodes("endEvent")}
    reached = [
        t.task_spec.bpmn_id for t in wf.get_tasks(state=TaskState.COMPLETED) if t.task_spec.bpmn_id in ends
    ]
    assert len(reached) == 1
    return wf, visits, reached[0]


HAPPY_END = {
    "khai-sinh.bpmn": "End_CoKetQua",
    "ho-kinh-doanh.bpmn": "End_CoKetQua",
    "giay-phep-xay-dung.bpmn": "End_CoKetQua",
    "cap-gcn-lan-dau.bpmn": "End_CoKetQua",
    "phan-anh-kien-nghi.bpmn": "End_DaTraLoi",
}


@files
def test_happy_path_runs_to_completion(name):
    wf, visits, end = drive(name, HAPPY[name])
    assert end == HAPPY_END[name]
    assert all(n == 1 for n in visits.values())
    # Every lane that has a task on the happy path was visited.
    lanes = {t.task_spec.lane for t in wf.get_tasks(state=TaskState.COMPLETED) if t.task_spec.manual}
    assert None not in lanes


def test_construction_permit_rework_loop_three_times_then_approve():
    wf, visits, end = drive(
        "giay-phep-xay-dung.bpmn",
        GIAY_PHEP,
        {"Task_PheDuyet": [{"phe_duyet": False}] * 3 + [{"phe_duyet": True}]},
    )
    assert end == "End_CoKetQua"
    assert visits["Task_ThamDinh"] == 4
    assert visits["Task_PheDuyet"] == 4
    assert wf.data["phe_duyet"] is True


def test_construction_permit_without_site_check():
    _, visits, end = drive(
        "giay-phep-xay-dung.bpmn", GIAY_PHEP, {"Task_ThamDinh": [{"hop_le": True, "can_kiem_tra": False}]}
    )
    assert end == "End_CoKetQua"
    assert "Task_KiemTraThucDia" not in visits


@pytest.mark.parametrize(
    ("name", "overrides", "end", "last_task"),
    [
        ("khai-sinh.bpmn", {"Task_KiemTraHoSo": [{"hop_le": False}]}, "End_TuChoi", "Task_SoanTuChoi"),
        ("ho-kinh-doanh.bpmn", {"Task_ThamDinh": [{"hop_le": False}]}, "End_TuChoi", "Task_ThongBaoTuChoi"),
        ("giay-phep-xay-dung.bpmn", {"Task_ThamDinh": [{"hop_le": False}]}, "End_TuChoi", "Task_KyTuChoi"),
        (
            "giay-phep-xay-dung.bpmn",
            {"Task_KiemTraThucDia": [{"ket_qua_kiem_tra": "Không phù hợp"}]},
            "End_TuChoi",
            "Task_KyTuChoi",
        ),
        ("cap-gcn-lan-dau.bpmn", {"Task_KiemTraHoSo": [{"hop_le": False}]}, "End_TraLai", "Task_TraLaiHoSo"),
    ],
)
def test_refusal_paths(name, overrides, end, last_task):
    _, visits, reached = drive(name, HAPPY[name], overrides)
    assert reached == end
    assert visits[last_task] == 1


@pytest.mark.parametrize(
    ("name", "task", "back_to"),
    [
        ("khai-sinh.bpmn", "Task_KyGiayKhaiSinh", "Task_KiemTraHoSo"),
        ("ho-kinh-doanh.bpmn", "Task_PheDuyet", "Task_ThamDinh"),
        ("cap-gcn-lan-dau.bpmn", "Task_KyGiayChungNhan", "Task_ThamDinh"),
    ],
)
def test_leader_sends_back_once(name, task, back_to):
    _, visits, end = drive(name, HAPPY[name], {task: [{"phe_duyet": False}, {"phe_duyet": True}]})
    assert end == HAPPY_END[name]
    assert visits[back_to] == 2


def test_land_certificate_parallel_branches_and_tax_wait():
    wf = BpmnWorkflow(spec_of("cap-gcn-lan-dau.bpmn"))
    wf.do_engine_steps()
    first = wf.get_tasks(state=TaskState.READY, manual=True)
    assert [t.task_spec.bpmn_id for t in first] == ["Task_KiemTraHoSo"]
    first[0].data.update(CAP_GCN["Task_KiemTraHoSo"])
    first[0].run()
    wf.do_engine_steps()
    ready = {t.task_spec.bpmn_id: t for t in wf.get_tasks(state=TaskState.READY, manual=True)}
    assert set(ready) == {"Task_DoDac", "Task_XacMinhNiemYet"}
    assert ready["Task_DoDac"].task_spec.lane != ready["Task_XacMinhNiemYet"].task_spec.lane
    # The citizen has not paid yet once, then pays: the data of both branches survive the join.
    _, visits, end = drive(
        "cap-gcn-lan-dau.bpmn", CAP_GCN, {"Task_ChoNopThue": [{"da_nop_thue": False}, {"da_nop_thue": True}]}
    )
    assert end == "End_CoKetQua"
    assert visits["Task_ChoNopThue"] == 2
    wf, _, _ = drive("cap-gcn-lan-dau.bpmn", CAP_GCN)
    assert {"so_thua", "nguon_goc_dat", "so_tien_thue"} <= set(wf.data)


# ---------------------------------------------------------------- organisation

UNIT_CODE = re.compile(r"^[A-Za-z0-9]+(\.[A-Za-z0-9]+)*$")
USERNAME = re.compile(r"^[a-z0-9]+(\.[a-z0-9]+)*$")
ROLES = {"clerk", "specialist", "leader", "designer", "admin"}
ORG_FILES = pytest.mark.parametrize("org_path", [ORGANISATION, TWO_TIER], ids=["demo", "two-tier"])


def walk(jurisdictions, parent=None):
    for j in jurisdictions:
        yield j, parent
        yield from walk(j.get("children") or [], j)


@cache
def load_org(path: Path) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@ORG_FILES
def test_organisation_file_is_consistent(org_path):
    org = load_org(org_path)
    juris = list(walk(org["jurisdictions"]))
    codes = [j["code"] for j, _ in juris]
    assert len(set(codes)) == len(codes)
    units = {}
    for j, _ in juris:
        assert j["name"].strip() and j["level"].strip()
        types = [u["type"] for u in j["units"]]
        assert len(set(types)) == len(types), f"{j['code']}: two units of one type"
        assert {"mot_cua", "lanh_dao"} <= set(types), f"{j['code']}: needs a counter and a leadership"
        for u in j["units"]:
            assert UNIT_CODE.match(u["code"]), u["code"]
            assert u["code"] not in units, f"duplicate unit code {u['code']}"
            assert u["name"].strip()
            units[u["code"]] = u
    users = org["users"]
    names = [u["username"] for u in users]
    assert len(set(names)) == len(names)
    roles_by_unit: dict[str, set[str]] = {}
    for u in users:
        assert USERNAME.match(u["username"]), u["username"]
        assert u["unit"] in units, f"{u['username']}: unknown unit {u['unit']}"
        assert u["roles"] and set(u["roles"]) <= ROLES
        assert u["password"] == "motcua2026"
        assert len(u["full_name"].split()) >= 3
        roles_by_unit.setdefault(u["unit"], set()).update(u["roles"])
    for code, unit in units.items():
        roles = roles_by_unit.get(code, set())
        assert roles, f"unit {code} has no user"
        if unit["type"] == "mot_cua":
            assert "clerk" in roles
        elif unit["type"] == "lanh_dao":
            assert "leader" in roles


def test_demo_organisation_shape():
    org = load_org(ORGANISATION)
    (city,) = org["jurisdictions"]
    assert city["name"] == "Thành phố Hà Nội" and city["level"] == "province"
    assert [d["name"] for d in city["children"]] == ["Quận Hoàn Kiếm", "Quận Ba Đình", "Quận Cầu Giấy"]
    assert all(d["level"] == "district" and len(d["children"]) == 2 for d in city["children"])
    assert all(w["level"] == "commune" for d in city["children"] for w in d["children"])
    centre = next(u for u in city["units"] if u["type"] == "mot_cua")
    assert centre["name"] == "Trung tâm Phục vụ hành chính công thành phố Hà Nội"
    roles = {r: u["unit"] for u in org["users"] for r in u["roles"]}
    assert roles["designer"] == centre["code"] and roles["admin"] == centre["code"]
    offices = {"qldt", "tckh", "vpdk", "thue", "tnmt"}
    for j, _ in walk(org["jurisdictions"]):
        for unit in j["units"]:
            if unit["type"] in offices:
                got = {r for u in org["users"] if u["unit"] == unit["code"] for r in u["roles"]}
                assert {"specialist", "leader"} <= got, unit["code"]


def resolve(org: dict, jurisdiction_code: str, unit_type: str, level: str) -> str | None:
    """The lane rule of docs/organisation.md: the unit of ``unit_type`` in the dossier's
    jurisdiction if its level is ``level``, else in its nearest ancestor of that level."""
    parents = {j["code"]: (j, p) for j, p in walk(org["jurisdictions"])}
    j, parent = parents[jurisdiction_code]
    while j is not None and j["level"] != level:
        j = parent
        parent = parents[j["code"]][1] if j is not None else None
    if j is None:
        return None
    return next((u["code"] for u in j["units"] if u["type"] == unit_type), None)


def lane_units(name: str) -> list[tuple[str, str]]:
    return [
        (u.get("type"), u.get("level"))
        for u in load(name).process.iterfind("bpmn:laneSet/bpmn:lane/bpmn:extensionElements/motcua:unit", NS)
        if u.get("fromData") is None
    ]


DOSSIER_LEVEL = {
    "khai-sinh.bpmn": "commune",
    "ho-kinh-doanh.bpmn": "district",
    "giay-phep-xay-dung.bpmn": "district",
    "cap-gcn-lan-dau.bpmn": "commune",
}


@pytest.mark.parametrize("name", sorted(DOSSIER_LEVEL))
def test_every_lane_resolves_in_the_demo_organisation(name):
    org = load_org(ORGANISATION)
    targets = [j["code"] for j, _ in walk(org["jurisdictions"]) if j["level"] == DOSSIER_LEVEL[name]]
    assert targets
    for code in targets:
        for unit_type, level in lane_units(name):
            assert resolve(org, code, unit_type, level), f"{name}: no {unit_type}/{level} for {code}"


def test_birth_registration_resolves_in_the_two_tier_model():
    org = load_org(TWO_TIER)
    (province,) = org["jurisdictions"]
    assert province["level"] == "province"
    assert province["children"] and all(
        c["level"] == "commune" and not c.get("children") for c in province["children"]
    )
    for commune in province["children"]:
        for unit_type, level in lane_units("khai-sinh.bpmn"):
            assert resolve(org, commune["code"], unit_type, level), (commune["code"], unit_type)
        # District-level procedures have no district to resolve to in the two-tier model.
        assert resolve(org, commune["code"], "qldt", "district") is None
