"""The hostile input corpus: every attack the entry points must refuse, in one list.

tests/test_hostile.py sends each case through every entry point that takes
it (engine, CLI, JSON API, web forms) and checks a clear refusal with a
specific message, a quick answer and an unchanged database. The unit tests
of the parts (test_safexml, test_expressions, test_validation, test_forms,
test_text_hardening) test each mechanism in depth; this module is the one
place that enumerates the attacks.

Small cases are files in this folder (``xml/``, ``uploads/``) or the parser's
own fixtures in tests/data/bpmn; big ones (a 5.5 MB document, 100,000 levels
of nesting, a 600-node chain, 10 MB strings) are generated on demand so the
repository stays small.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

HERE = Path(__file__).parent
PARSER_FIXTURES = HERE.parent / "data" / "bpmn"
GOOD_BPMN = PARSER_FIXTURES / "good_minimal.bpmn"
PASSWD_MARKER = "root:x:0:0"  # a line of /etc/passwd: must never appear in any answer
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
TEN_MB = 10 * 1024 * 1024

DTD_REFUSED = "DTDs and entity declarations are not accepted"


@dataclass(frozen=True)
class Case:
    """One hostile input and the words its refusal must contain."""

    name: str
    make: Callable[[], Any]
    message: str
    file_name: str = "procedure.bpmn"

    def __str__(self) -> str:
        return self.name

    @property
    def data(self) -> Any:
        return self.make()


def _file(path: Path) -> Callable[[], bytes]:
    return path.read_bytes


def quadratic_blowup() -> bytes:
    """One 50 KB entity referenced 20,000 times: a gigabyte if expanded."""
    return (b'<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "' + b"a" * 50_000 + b'">]>\n<r>'
            + b"&a;" * 20_000 + b"</r>")


def chain(length: int) -> bytes:
    """A motcua-valid procedure of ``length`` nodes in a row (start, user tasks, end)."""
    tasks = [f"T{i}" for i in range(length - 2)]
    refs = "".join(f"<bpmn:flowNodeRef>{t}</bpmn:flowNodeRef>" for t in tasks)
    nodes = "".join(f'<bpmn:userTask id="{t}"><bpmn:extensionElements><motcua:step hours="1"/>'
                    "</bpmn:extensionElements></bpmn:userTask>" for t in tasks)
    flows = "".join(f'<bpmn:sequenceFlow id="F{i}" sourceRef="{a}" targetRef="{b}"/>'
                    for i, (a, b) in enumerate(itertools.pairwise(["S", *tasks, "E"])))
    return f"""<bpmn:definitions xmlns:bpmn="{BPMN_NS}" xmlns:motcua="urn:motcua:bpmn:1" id="D" targetNamespace="urn:t">
<bpmn:process id="Chain" isExecutable="true">
<bpmn:extensionElements><motcua:procedure code="CHAIN" timeLimitDays="1000"/></bpmn:extensionElements>
<bpmn:laneSet id="LS"><bpmn:lane id="L" name="Lane"><bpmn:extensionElements>
<motcua:unit type="qldt" level="district"/></bpmn:extensionElements>{refs}</bpmn:lane></bpmn:laneSet>
<bpmn:startEvent id="S"/>{nodes}<bpmn:endEvent id="E"/>{flows}
</bpmn:process></bpmn:definitions>""".encode()


def with_condition(expression: str, code: str = "1.009994") -> bytes:
    """The parser's good minimal procedure with ``expression`` as its gateway condition."""
    text = GOOD_BPMN.read_text(encoding="utf-8").replace('result == "supplement"', escape(expression))
    return text.replace('code="1.009994"', f'code="{code}"').encode()


# ------------------------------------------------------------------ documents (BPMN uploads)

XML_CASES = [
    Case("xxe-file", _file(PARSER_FIXTURES / "xxe.bpmn"), DTD_REFUSED),
    Case("xxe-http", _file(HERE / "xml" / "xxe_http.bpmn"), DTD_REFUSED),
    Case("xxe-parameter-entity", _file(PARSER_FIXTURES / "parameter_entity.bpmn"), DTD_REFUSED),
    Case("external-dtd", _file(PARSER_FIXTURES / "external_dtd.bpmn"), DTD_REFUSED),
    Case("internal-dtd", _file(HERE / "xml" / "dtd_internal.bpmn"), DTD_REFUSED),
    Case("billion-laughs", _file(PARSER_FIXTURES / "billion_laughs.bpmn"), DTD_REFUSED),
    Case("quadratic-blowup", quadratic_blowup, DTD_REFUSED),
    # XInclude is never processed: the element is just an unknown one, and the file is refused.
    Case("xinclude", _file(HERE / "xml" / "xinclude.bpmn"), "has no motcua:procedure"),
    Case("over-the-size-limit", lambda: b"<r>" + b"a" * 5_500_000 + b"</r>", "the limit is 5,000,000 bytes"),
    Case("nested-100k-levels", lambda: b"<a>" * 100_000 + b"</a>" * 100_000, "nested more than 100 levels deep"),
    Case("chain-of-600-nodes", lambda: chain(600), "too many elements (600; the maximum is 300)"),
    Case("binary-named-bpmn", _file(HERE / "uploads" / "program.bpmn"), "not well-formed XML",
         file_name="program.bpmn"),
]

# Too big for the API's multipart limit: refused by size before anything reads it.
OVERSIZED_BODY = Case("over-the-request-limit", lambda: b"<r>" + b"a" * 7_000_000 + b"</r>", "")

# ------------------------------------------------------------------ expressions

# Refused when the procedure is checked (so never deployed).
STATIC_EXPRESSIONS = [
    Case("import", lambda: "__import__('os').system('id')", "is not allowed"),
    Case("import-statement", lambda: "import os", "not allowed"),
    Case("dunder-attribute", lambda: "result.__class__", "Attribute access ('.__class__') is not allowed"),
    Case("dunder-name", lambda: "__builtins__", "Names starting with '_' are not allowed"),
    Case("subclasses", lambda: "().__class__.__bases__[0].__subclasses__()", "'.__subclasses__()') is not allowed"),
    Case("open-file", lambda: "open('/etc/passwd').read()", "is not allowed"),
    Case("lambda", lambda: "(lambda: 1)()", "Only named functions can be called"),
    Case("huge-comprehension", lambda: "[x for x in range(10**9)]", "Comprehensions are not allowed"),
    Case("long-loop-via-range", lambda: "sum(range(10**12))", "Calling 'range' is not allowed"),
    Case("star-unpacking", lambda: "max(*range(10**9))", "Unpacking with '*' is not allowed"),
    Case("too-long", lambda: "1+" * 5_000 + "1", "too long"),
    # Parts that read no data give the same answer for every dossier: one that fails is refused at once.
    Case("constant-huge-exponent", lambda: "9**9**9 > 0", "Exponent too large"),
    Case("constant-big-string", lambda: "len('a' * 10**9) > 0", "The result would be too large"),
    Case("constant-big-list", lambda: "len([0] * 10**9) > 0", "The result would be too large"),
    Case("constant-huge-number", lambda: "10**99 * 10**99 * 10**99 > 0", "Number too large"),
]

# Well-formed, so a procedure may carry them; refused when evaluated, at once, changing nothing.
RUNTIME_EXPRESSIONS = [
    Case("huge-exponent", lambda: "9**9**len(result) > 0", "Exponent too large"),
    Case("big-string-multiplication", lambda: "len(result * 10**9) > 0", "The result would be too large"),
    Case("big-list-multiplication", lambda: "len([result] * 10**9) > 0", "The result would be too large"),
    Case("huge-number", lambda: "10**99 * 10**(90 + len(result)) > 0", "Number too large"),
]

SCRIPTS = [
    Case("script-import", lambda: "import os", "import is not allowed"),
    Case("script-while-loop", lambda: "x = 1\nwhile True: pass", "Loops (for, while) are not allowed"),
    Case("script-for-loop", lambda: "for i in range(10**9): pass", "Loops (for, while) are not allowed"),
    Case("script-def", lambda: "def f(): pass", "Defining functions is not allowed"),
]

# ------------------------------------------------------------------ step forms (Task_ThamDinh of XD-GPXD-01)

GOOD_STEP = {"hop_le": True, "can_kiem_tra": True}
STEP_DATA = [
    Case("boolean-as-text", lambda: {**GOOD_STEP, "hop_le": "maybe"}, "hop_le"),
    Case("boolean-as-list", lambda: {**GOOD_STEP, "hop_le": [True]}, "hop_le"),
    Case("integer-as-float", lambda: {**GOOD_STEP, "so_tang": 2.5}, "so_tang"),
    Case("integer-as-object", lambda: {**GOOD_STEP, "so_tang": {"$gt": 1}}, "so_tang"),
    Case("number-as-text", lambda: {**GOOD_STEP, "dien_tich_xay_dung": "1e400"}, "dien_tich_xay_dung"),
    Case("string-as-number", lambda: {**GOOD_STEP, "dia_diem_xay_dung": 12}, "dia_diem_xay_dung"),
    Case("extra-key", lambda: {**GOOD_STEP, "is_admin": True}, "is_admin"),
    Case("dunder-key", lambda: {**GOOD_STEP, "__class__": "x"}, "__class__"),
    Case("string-over-its-limit", lambda: {**GOOD_STEP, "dia_diem_xay_dung": "a" * 10_001}, "dia_diem_xay_dung"),
    Case("10-mb-string", lambda: {**GOOD_STEP, "ghi_chu": "a" * TEN_MB}, "ghi_chu"),
]

# ------------------------------------------------------------------ receipts (POST /api/v1/dossiers bodies)

APPLICANT = {"name": "Trần Văn Bình", "id_number": "001085012345", "phone": "0912345678"}
RECEIPTS = [
    Case("applicant-as-text", lambda: {"procedure_code": "XD-GPXD-01", "applicant": "Trần Văn Bình"}, "applicant"),
    Case("name-as-number", lambda: {"procedure_code": "XD-GPXD-01", "applicant": {**APPLICANT, "name": 42}},
         "applicant.name"),
    Case("extra-applicant-key", lambda: {"procedure_code": "XD-GPXD-01",
                                         "applicant": {**APPLICANT, "role": "admin"}}, "applicant.role"),
    Case("extra-top-key", lambda: {"procedure_code": "XD-GPXD-01", "applicant": APPLICANT, "status": "returned"},
         "status"),
    Case("components-as-text", lambda: {"procedure_code": "XD-GPXD-01", "applicant": APPLICANT,
                                        "components": "all"}, "components"),
    Case("procedure-as-list", lambda: {"procedure_code": ["XD-GPXD-01"], "applicant": APPLICANT}, "procedure_code"),
    Case("data-nan", lambda: {"procedure_code": "XD-GPXD-01", "applicant": APPLICANT, "data": {"x": float("nan")}},
         "NaN is not valid JSON"),
]
TEN_MB_RECEIPT = Case("10-mb-name", lambda: {"procedure_code": "XD-GPXD-01",
                                              "applicant": {**APPLICANT, "name": "a" * TEN_MB}}, "")

# ------------------------------------------------------------------ scans with a lying extension (counter form)

UPLOADS = [
    Case("elf-named-pdf", _file(HERE / "uploads" / "program.pdf"), "không phải PDF, JPEG hoặc PNG",
         file_name="program.pdf"),
    Case("pe-named-pdf", _file(HERE / "uploads" / "setup.pdf"), "không phải PDF, JPEG hoặc PNG",
         file_name="setup.pdf"),
    Case("html-named-pdf", _file(HERE / "uploads" / "page.pdf"), "không phải PDF, JPEG hoặc PNG",
         file_name="page.pdf"),
    Case("svg-script-named-png", _file(HERE / "uploads" / "image.png"), "không phải PDF, JPEG hoặc PNG",
         file_name="image.png"),
]
