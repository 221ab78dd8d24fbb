"""The one hardened XML parser of the product.

Every XML document (an uploaded BPMN file, a file on disk, a string from a test)
goes through :func:`parse_xml`. SpiffWorkflow parses with lxml's default parser,
which expands internal entities; so we parse ourselves, refuse anything that can
make the parser read files, reach the network or blow up in memory, and only
then hand the tree over.

Hostile or oversized documents raise :class:`~engine.errors.UnsafeXml`;
documents that are simply not well-formed XML raise
:class:`~engine.errors.InvalidInput` with the line of the syntax error.
"""

from __future__ import annotations

import re

from lxml import etree

from engine.errors import InvalidInput, Problem, UnsafeXml

DEFAULT_MAX_BYTES = 5_000_000
DEFAULT_MAX_DEPTH = 100

DTD_REFUSED = "DTDs and entity declarations are not accepted"

# How much of the document the cheap prolog scan looks at. A prolog longer than
# this (a huge leading comment) is still caught by the check after parsing.
_PROLOG_SCAN_BYTES = 65_536
_ELEMENT_START = re.compile(r"<[A-Za-z_:\u00c0-\uffff]")
_DTD_MARKERS = ("<!DOCTYPE", "<!ENTITY")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_LXML_POSITION = re.compile(r", line (\d+), column (\d+)$")

# libxml2 messages that mean "the document tried to exhaust the parser" rather
# than "the author made a typo": they are reported as hostile.
_HOSTILE_SYNTAX_MARKERS = (
    "huge input lookup",
    "huge text node",
    "entity reference loop",
    "entity amplification",
    "maximum entity",
    "entitydecl",
    "doctype",
)


def parse_xml(
    data: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> etree._ElementTree:
    """Parse ``data`` safely and return the document tree (with source lines).

    Raises ``UnsafeXml`` for a DTD, an entity declaration, a document larger
    than ``max_bytes`` or nested deeper than ``max_depth``; raises
    ``InvalidInput`` for empty input and syntax errors.
    """
    _check_size(data, max_bytes)
    if isinstance(data, str):
        data = _prepare_text(data)
    if not data.strip():
        raise InvalidInput("The document is empty", [Problem("The document is empty")])
    _scan_prolog(data)
    tree = _parse(data, max_depth)
    _check_no_dtd(tree)
    _check_depth(tree, max_depth)
    return tree


def _check_size(data: bytes | str, max_bytes: int) -> None:
    """Refuse oversized input before spending any parsing effort on it."""
    size = len(data) if isinstance(data, bytes) else _utf8_length(data, max_bytes)
    if size > max_bytes:
        message = f"The document is {size:,} bytes; the limit is {max_bytes:,} bytes"
        raise UnsafeXml(message, [Problem(message)])


def _utf8_length(text: str, max_bytes: int) -> int:
    """UTF-8 size of ``text``; skips the encoding when the text is clearly too big."""
    if len(text) > max_bytes:
        return len(text)  # every character is at least one byte
    return len(text.encode("utf-8", errors="surrogatepass"))


def _prepare_text(text: str) -> str:
    """Make a ``str`` acceptable to lxml without changing its line numbers.

    lxml refuses Unicode strings that carry an encoding declaration; the
    declaration means nothing for text that is already decoded, so it goes
    (it sits on the first line, so no line moves).
    """
    text = text.removeprefix("\ufeff")
    return _XML_DECLARATION.sub("", text, count=1)


def _scan_prolog(data: bytes | str) -> None:
    """Cheap refusal of DTDs before the parser sees them."""
    head = data[:_PROLOG_SCAN_BYTES]
    text = head if isinstance(head, str) else _decode_for_scan(head)
    match = _ELEMENT_START.search(text)
    prolog = text[: match.start()] if match else text
    if any(marker in prolog for marker in _DTD_MARKERS):
        raise UnsafeXml(DTD_REFUSED, [Problem(DTD_REFUSED, line=_line_of_marker(prolog))])


def _decode_for_scan(head: bytes) -> str:
    """Decode enough of the document to find ASCII markers, whatever its encoding."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return head.decode("utf-32", errors="replace")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", errors="replace")
    if head[:4] in (b"<\x00?\x00", b"<\x00!\x00"):
        return head.decode("utf-16-le", errors="replace")
    if head[:4] in (b"\x00<\x00?", b"\x00<\x00!"):
        return head.decode("utf-16-be", errors="replace")
    # Every other encoding a parser accepts is ASCII-compatible for markup.
    return head.decode("latin-1")


def _line_of_marker(prolog: str) -> int:
    positions = [prolog.find(m) for m in _DTD_MARKERS if m in prolog]
    return prolog.count("\n", 0, min(positions)) + 1


def _make_parser() -> etree.XMLParser:
    """A fresh parser per document: lxml parsers keep state and are not shared."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
        remove_comments=False,
    )


def _parse(data: bytes | str, max_depth: int) -> etree._ElementTree:
    try:
        return etree.fromstring(data, _make_parser()).getroottree()
    except etree.XMLSyntaxError as err:
        raise _syntax_error(err, max_depth) from None
    except ValueError as err:
        raise _not_well_formed(str(err), None) from None


def _syntax_error(err: etree.XMLSyntaxError, max_depth: int) -> InvalidInput:
    message = _LXML_POSITION.sub(r" (column \2)", (err.msg or str(err)).strip())
    line = err.lineno or None
    lowered = message.lower()
    if "excessive depth" in lowered:  # libxml2's own limit, below ours only if max_depth > 256
        return _too_deep(max_depth, line)
    if any(marker in lowered for marker in _HOSTILE_SYNTAX_MARKERS):
        refusal = f"The document is refused as unsafe: {message}"
        return UnsafeXml(refusal, [Problem(refusal, line=line)])
    return _not_well_formed(message, line)


def _not_well_formed(detail: str, line: int | None) -> InvalidInput:
    return InvalidInput("The file is not well-formed XML", [Problem(detail, line=line)])


def _check_no_dtd(tree: etree._ElementTree) -> None:
    """Second line of defence: whatever the prolog scan missed, the parse shows."""
    docinfo = tree.docinfo
    has_dtd = docinfo.internalDTD is not None or docinfo.externalDTD is not None or bool(docinfo.doctype)
    if has_dtd or _first_entity(tree) is not None:
        entity = _first_entity(tree)
        line = entity.sourceline if entity is not None else None
        raise UnsafeXml(DTD_REFUSED, [Problem(DTD_REFUSED, line=line)])


def _first_entity(tree: etree._ElementTree) -> etree._Entity | None:
    return next(tree.getroot().iter(etree.Entity), None)


def _check_depth(tree: etree._ElementTree, max_depth: int) -> None:
    """Refuse deep nesting with an iterative walk (no recursion to exhaust)."""
    depth = 0
    for event, element in etree.iterwalk(tree.getroot(), events=("start", "end")):
        if event == "end":
            depth -= 1
            continue
        depth += 1
        if depth > max_depth:
            raise _too_deep(max_depth, element.sourceline)


def _too_deep(max_depth: int, line: int | None) -> UnsafeXml:
    message = f"The document is nested more than {max_depth} levels deep"
    return UnsafeXml(message, [Problem(message, line=line)])
