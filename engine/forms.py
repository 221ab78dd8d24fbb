"""The fields a user task asks for, and the checking of what people submit.

A step's fields are the contract between the officer filling in a form (or
an API client) and the rest of the process: gateway conditions and scripts
read the submitted values by key. So submissions are checked against the
declaration before they reach the workflow, every problem is reported at
once (a form should show all its red fields together), and the values
stored are plain JSON (dates as ``YYYY-MM-DD`` text) because workflow data
is serialised as JSON.

Two input modes exist. The API sends JSON and is held to exact types. An
HTML form sends text for everything, so ``from_form=True`` converts: numbers
written with a decimal comma, dates written ``dd/mm/yyyy`` as Vietnamese
users do, and checkboxes that are simply absent when unticked.
"""

from __future__ import annotations

import keyword
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from engine.errors import FormError, Problem

FIELD_TYPES = ("string", "text", "integer", "number", "boolean", "date", "enum")
MAX_LENGTH = {"string": 10_000, "text": 100_000}
# Integers beyond this lose precision in JavaScript clients.
MAX_SAFE_INTEGER = 2**53 - 1

_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)")
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_VN_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_TRUE = frozenset({"on", "true", "1", "yes"})
_FALSE = frozenset({"off", "false", "0", "no", ""})
_MISSING = object()


@dataclass(frozen=True)
class FieldDef:
    """One field of a step's form, as the process designer declared it."""

    key: str
    type: str
    label: str
    required: bool = False
    options: tuple[str, ...] = ()

    def describe(self) -> dict[str, object]:
        """A JSON-friendly description for rendering the form and for API clients."""
        description: dict[str, object] = {
            "key": self.key,
            "type": self.type,
            "label": self.label,
            "required": self.required,
            "options": list(self.options),
        }
        if self.type in MAX_LENGTH:
            description["max_length"] = MAX_LENGTH[self.type]
        return description


def check_field_def(field: FieldDef) -> list[str]:
    """Problems with one declaration, in plain words; empty when it is fine.

    The key must be usable as a name in expressions, because conditions and
    scripts read submitted values by key.
    """
    problems = []
    key = field.key
    if not isinstance(key, str) or not key.isidentifier() or keyword.iskeyword(key):
        problems.append(f"Field key {key!r} must be a name made of letters, digits and '_'")
    elif key.startswith("_"):
        problems.append(f"Field key '{key}' must not start with '_'")
    if field.type not in FIELD_TYPES:
        problems.append(f"Field '{key}' has unknown type {field.type!r}; use one of {', '.join(FIELD_TYPES)}")
    if not isinstance(field.label, str) or not field.label.strip():
        problems.append(f"Field '{key}' needs a label")
    problems.extend(_option_problems(field))
    return problems


def _option_problems(field: FieldDef) -> list[str]:
    if field.type != "enum":
        return [f"Field '{field.key}' is not a choice, so it cannot have options"] if field.options else []
    if not field.options:
        return [f"Choice field '{field.key}' needs at least one option"]
    problems = []
    if any(not isinstance(option, str) or not option for option in field.options):
        problems.append(f"Options of field '{field.key}' must be non-empty text")
    elif len(set(field.options)) != len(field.options):
        problems.append(f"Options of field '{field.key}' must not repeat")
    return problems


def check_field_defs(fields: Sequence[FieldDef]) -> list[str]:
    """Problems with a step's whole declaration: each field's, plus keys used twice."""
    problems = [problem for field in fields for problem in check_field_def(field)]
    seen: set[str] = set()
    for field in fields:
        if field.key in seen:
            problems.append(f"Field key '{field.key}' is used more than once")
        seen.add(field.key)
    return problems


def validate_submission(
    fields: Sequence[FieldDef], data: Mapping[str, object], *, from_form: bool = False
) -> dict[str, object]:
    """The cleaned values of the declared fields, or a FormError listing every problem.

    Optional fields absent from ``data`` are absent from the result; sent
    empty (None or blank text) they are stored as None. In form mode an
    unticked checkbox is absent from the submission and means False.
    """
    cleaned: dict[str, object] = {}
    problems: list[Problem] = []
    for field in fields:
        try:
            value = _clean_field(field, data.get(field.key, _MISSING), from_form)
        except ValueError as err:
            problems.append(Problem(str(err), element_id=field.key))
            continue
        if value is not _MISSING:
            cleaned[field.key] = value
    declared = {field.key for field in fields}
    for key in sorted(str(k) for k in data if k not in declared):
        problems.append(Problem(f"Field '{key}' is not part of this step", element_id=key))
    if problems:
        count = len(problems)
        raise FormError(f"The form has {count} problem{'s' if count > 1 else ''}", problems)
    return cleaned


def _clean_field(field: FieldDef, value: object, from_form: bool) -> object:
    """The stored value of one field, ``_MISSING`` to leave it out, or ValueError.

    An optional field sent empty is stored as None rather than left out, so
    clearing a field on a rework pass replaces the value from the last pass.
    """
    if field.type == "boolean" and from_form and (value is _MISSING or _blank(value)):
        return False
    if value is _MISSING or value is None or _blank(value):
        if field.required:
            raise ValueError(f"'{field.label}' is required")
        return _MISSING if value is _MISSING else None
    converters = _FORM_CONVERTERS if from_form and isinstance(value, str) else _JSON_CONVERTERS
    convert = converters.get(field.type)
    if convert is None:
        raise ValueError(f"'{field.label}' has an unknown type {field.type!r}")
    return convert(field, value)


def _blank(value: object) -> bool:
    return isinstance(value, str) and not value.strip()


def _text(field: FieldDef, value: object) -> str:
    if type(value) is not str:
        raise ValueError(f"'{field.label}' must be text")
    limit = MAX_LENGTH[field.type]
    if len(value) > limit:
        raise ValueError(f"'{field.label}' is too long ({len(value):,} characters; the limit is {limit:,})")
    if "\x00" in value:
        raise ValueError(f"'{field.label}' contains a character that is not allowed")
    return value


def _integer(field: FieldDef, value: object) -> int:
    if type(value) is not int:
        raise ValueError(f"'{field.label}' must be a whole number")
    if abs(value) > MAX_SAFE_INTEGER:
        raise ValueError(f"'{field.label}' is too large")
    return value


def _number(field: FieldDef, value: object) -> int | float:
    if type(value) not in (int, float):
        raise ValueError(f"'{field.label}' must be a number")
    if not math.isfinite(value) or abs(value) > MAX_SAFE_INTEGER:
        raise ValueError(f"'{field.label}' must be a finite number no larger than {MAX_SAFE_INTEGER:,}")
    return value


def _boolean(field: FieldDef, value: object) -> bool:
    if type(value) is not bool:
        raise ValueError(f"'{field.label}' must be true or false")
    return value


def _iso_date(field: FieldDef, value: object) -> str:
    match = _ISO_DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"'{field.label}' must be a date written YYYY-MM-DD")
    year, month, day = (int(part) for part in match.groups())
    return _real_date(field, year, month, day)


def _real_date(field: FieldDef, year: int, month: int, day: int) -> str:
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        raise ValueError(f"'{field.label}' is not a real date") from None


def _enum(field: FieldDef, value: object) -> str:
    if not isinstance(value, str) or value not in field.options:
        raise ValueError(f"'{field.label}' must be one of: {', '.join(field.options)}")
    return value


def _form_integer(field: FieldDef, value: str) -> int:
    text = value.strip()
    if not _INTEGER.fullmatch(text) or len(text) > 20:
        raise ValueError(f"'{field.label}' must be a whole number")
    return _integer(field, int(text))


def _form_number(field: FieldDef, value: str) -> int | float:
    text = value.strip()
    if not _DECIMAL.fullmatch(text) or len(text) > 40:
        raise ValueError(f"'{field.label}' must be a number")
    if _INTEGER.fullmatch(text):
        return _number(field, int(text))
    return _number(field, float(text.replace(",", ".")))


def _form_boolean(field: FieldDef, value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"'{field.label}' must be ticked or not")


def _form_date(field: FieldDef, value: str) -> str:
    text = value.strip()
    match = _VN_DATE.fullmatch(text)
    if match is None:
        try:
            return _iso_date(field, text)
        except ValueError:
            raise ValueError(f"'{field.label}' must be a date written dd/mm/yyyy") from None
    day, month, year = (int(part) for part in match.groups())
    return _real_date(field, year, month, day)


_JSON_CONVERTERS = {
    "string": _text,
    "text": _text,
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "date": _iso_date,
    "enum": _enum,
}
_FORM_CONVERTERS = {
    **_JSON_CONVERTERS,
    "integer": _form_integer,
    "number": _form_number,
    "boolean": _form_boolean,
    "date": _form_date,
}
