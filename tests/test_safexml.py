"""The hardened parser refuses hostile documents before they can hurt, and says why."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from lxml import etree

from engine import safexml
from engine.errors import InvalidInput, UnsafeXml
from engine.safexml import DTD_REFUSED, parse_xml

DATA = Path(__file__).parent / "data" / "bpmn"
PASSWD_MARKER = "root:"  # first field of /etc/passwd: must never show up anywhere


def fixture(name: str) -> bytes:
    return (DATA / name).read_bytes()


def refusal(data: bytes | str, expected: type[InvalidInput], **limits: int) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_xml(data, **limits)
    assert type(caught.value) is expected, f"{type(caught.value).__name__}: {caught.value}"
    assert PASSWD_MARKER not in str(caught.value)
    return caught.value


# ---------------------------------------------------------------- hostile constructs


@pytest.mark.parametrize(
    "name", ["xxe.bpmn", "billion_laughs.bpmn", "external_dtd.bpmn", "parameter_entity.bpmn"]
)
def test_dtd_and_entity_declarations_are_refused(name: str) -> None:
    err = refusal(fixture(name), UnsafeXml)
    assert err.message == DTD_REFUSED
    assert err.problems[0].line == 2  # where the DOCTYPE starts


def test_dtd_hidden_behind_a_long_prolog_is_still_refused_after_parsing() -> None:
    """The cheap prolog scan reads 64 KB; the check on the parsed tree catches the rest."""
    comment = b"<!--" + b"x" * 70_000 + b"-->\n"
    data = comment + fixture("xxe.bpmn").split(b"\n", 1)[1]  # drop the XML declaration
    err = refusal(data, UnsafeXml)
    assert err.message == DTD_REFUSED


def test_internal_entity_hidden_behind_a_long_prolog_is_refused() -> None:
    data = b"<!--" + b"x" * 70_000 + b'-->\n<!DOCTYPE r [<!ENTITY e "expanded">]>\n<r>&e;</r>'
    err = refusal(data, UnsafeXml)
    assert "expanded" not in str(err)


def test_the_parser_itself_never_reads_the_external_entity() -> None:
    """Below the refusals: the parser settings alone leave the entity unresolved."""
    tree = safexml._parse(fixture("xxe.bpmn"), 100)
    assert PASSWD_MARKER not in etree.tostring(tree, encoding="unicode")


def test_an_external_dtd_is_never_fetched() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.setblocking(False)
        port = server.getsockname()[1]
        doctype = f'<!DOCTYPE r SYSTEM "http://127.0.0.1:{port}/evil.dtd">\n'.encode()
        for data in (doctype + b"<r/>", b"<!--" + b"x" * 70_000 + b"-->\n" + doctype + b"<r/>"):
            refusal(data, UnsafeXml)
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected


def test_an_oversized_document_is_refused_with_its_size_and_the_limit() -> None:
    data = b"<r>" + b"a" * 6_000_000 + b"</r>"
    err = refusal(data, UnsafeXml)
    assert "6,000,007 bytes" in err.message
    assert "5,000,000 bytes" in err.message


def test_the_size_limit_applies_to_text_too() -> None:
    err = refusal("<r>" + "ư" * 60 + "</r>", UnsafeXml, max_bytes=100)
    assert "the limit is 100 bytes" in err.message


def test_deep_nesting_is_refused() -> None:
    data = b"<a>" * 10_000 + b"</a>" * 10_000
    err = refusal(data, UnsafeXml)
    assert "nested more than 100 levels" in err.message


def test_nesting_just_over_the_limit_is_refused_and_at_the_limit_accepted() -> None:
    assert parse_xml(b"<a>" * 100 + b"</a>" * 100).getroot().tag == "a"
    err = refusal(b"<a>\n" * 101 + b"</a>" * 101, UnsafeXml)
    assert err.problems[0].line == 101


# ---------------------------------------------------------------- broken input


def test_syntax_errors_are_invalid_input_with_the_line() -> None:
    err = refusal(fixture("not_well_formed.bpmn"), InvalidInput)
    assert err.message == "The file is not well-formed XML"
    assert err.problems[0].line == 5
    assert "mismatch" in err.problems[0].message


def test_binary_garbage_is_not_well_formed() -> None:
    err = refusal(bytes(range(128, 256)) * 20, InvalidInput)
    assert err.message == "The file is not well-formed XML"


@pytest.mark.parametrize("data", [b"", b"   \n", ""])
def test_empty_input_is_refused(data: bytes | str) -> None:
    err = refusal(data, InvalidInput)
    assert "empty" in err.message


def test_an_undeclared_entity_is_a_syntax_error() -> None:
    err = refusal(b"<r>\n&secret;</r>", InvalidInput)
    assert err.problems[0].line == 2


# ---------------------------------------------------------------- good input


def test_a_plain_bpmn_file_parses_with_source_lines() -> None:
    tree = parse_xml(fixture("good_minimal.bpmn"))
    root = tree.getroot()
    assert root.tag == "{http://www.omg.org/spec/BPMN/20100524/MODEL}definitions"
    task = root.find(".//{*}userTask")
    assert task is not None and task.sourceline == 32


def test_a_utf8_bom_is_accepted() -> None:
    tree = parse_xml(b"\xef\xbb\xbf" + fixture("good_minimal.bpmn"))
    assert tree.getroot().find(".//{*}process").get("name").startswith("Cấp giấy phép")


def test_text_input_with_an_encoding_declaration_is_accepted() -> None:
    text = '\ufeff<?xml version="1.0" encoding="ISO-8859-1"?>\n<r>\n<a>Hồ sơ</a></r>'
    root = parse_xml(text).getroot()
    assert root[0].text == "Hồ sơ"
    assert root[0].sourceline == 3


def test_a_declared_latin1_file_is_decoded() -> None:
    data = '<?xml version="1.0" encoding="ISO-8859-1"?><r>café</r>'.encode("latin-1")
    assert parse_xml(data).getroot().text == "café"


def test_comments_are_kept() -> None:
    root = parse_xml(b"<r><!-- note --><a/></r>").getroot()
    assert isinstance(root[0], etree._Comment)
