"""Tests for engine.forms: step field declarations and the checking of submissions."""

from __future__ import annotations

import json

import pytest

from engine.errors import FormError
from engine.forms import (
    FIELD_TYPES,
    FieldDef,
    check_field_def,
    check_field_defs,
    validate_submission,
)

NAME = FieldDef("applicant_name", "string", "Họ và tên", required=True)
NOTE = FieldDef("note", "text", "Ghi chú")
COPIES = FieldDef("copies", "integer", "Số bản", required=True)
FEE = FieldDef("fee", "number", "Lệ phí")
URGENT = FieldDef("urgent", "boolean", "Khẩn")
BIRTH = FieldDef("birth_date", "date", "Ngày sinh")
KIND = FieldDef("kind", "enum", "Loại hồ sơ", required=True, options=("new", "renew"))
ALL = (NAME, NOTE, COPIES, FEE, URGENT, BIRTH, KIND)


def problems_of(
    fields: tuple[FieldDef, ...], data: dict[str, object], *, from_form: bool = False
) -> dict[str, str]:
    """Field key -> message of every problem the submission has."""
    with pytest.raises(FormError) as caught:
        validate_submission(fields, data, from_form=from_form)
    problems = caught.value.problems
    assert len({p.element_id for p in problems}) == len(problems), "one problem per field"
    return {p.element_id: p.message for p in problems}


# ------------------------------------------------------------------ declarations


def test_field_types_are_the_documented_ones() -> None:
    assert FIELD_TYPES == ("string", "text", "integer", "number", "boolean", "date", "enum")


@pytest.mark.parametrize("field", ALL)
def test_good_declarations_have_no_problems(field: FieldDef) -> None:
    assert check_field_def(field) == []


@pytest.mark.parametrize(
    ("field", "fragment"),
    [
        (FieldDef("", "string", "Name"), "must be a name"),
        (FieldDef("full name", "string", "Name"), "must be a name"),
        (FieldDef("1st", "string", "Name"), "must be a name"),
        (FieldDef("a.b", "string", "Name"), "must be a name"),
        (FieldDef("class", "string", "Name"), "must be a name"),
        (FieldDef("_secret", "string", "Name"), "must not start with '_'"),
        (FieldDef("__class__", "string", "Name"), "must not start with '_'"),
        (FieldDef("name", "file", "Name"), "unknown type 'file'"),
        (FieldDef("name", "string", ""), "needs a label"),
        (FieldDef("name", "string", "   "), "needs a label"),
        (FieldDef("kind", "enum", "Kind"), "needs at least one option"),
        (FieldDef("kind", "enum", "Kind", options=("a", "")), "non-empty text"),
        (FieldDef("kind", "enum", "Kind", options=("a", "a")), "must not repeat"),
        (FieldDef("name", "string", "Name", options=("a",)), "cannot have options"),
    ],
)
def test_bad_declarations_are_explained(field: FieldDef, fragment: str) -> None:
    problems = check_field_def(field)
    assert len(problems) == 1
    assert fragment in problems[0]


def test_several_problems_in_one_declaration_are_all_listed() -> None:
    assert len(check_field_def(FieldDef("_x", "colour", "", options=("a",)))) == 4


def test_duplicate_keys_are_reported_for_a_whole_step() -> None:
    problems = check_field_defs((NAME, FieldDef("applicant_name", "text", "Again")))
    assert problems == ["Field key 'applicant_name' is used more than once"]
    assert check_field_defs(ALL) == []


def test_describe_is_json_friendly() -> None:
    assert json.loads(json.dumps(KIND.describe())) == {
        "key": "kind",
        "type": "enum",
        "label": "Loại hồ sơ",
        "required": True,
        "options": ["new", "renew"],
    }
    assert NAME.describe()["max_length"] == 10_000
    assert NOTE.describe()["max_length"] == 100_000
    assert "max_length" not in COPIES.describe()


def test_field_def_is_immutable() -> None:
    with pytest.raises(AttributeError):
        NAME.key = "other"


# ------------------------------------------------------------------ JSON submissions


def test_valid_json_submission_is_cleaned_to_declared_keys() -> None:
    data = {
        "applicant_name": "Trần Thị Bình",
        "note": "line 1\nline 2",
        "copies": 2,
        "fee": 50_000.5,
        "urgent": False,
        "birth_date": "1990-02-28",
        "kind": "renew",
    }
    cleaned = validate_submission(ALL, data)
    assert cleaned == data
    assert json.loads(json.dumps(cleaned)) == cleaned


def test_optional_fields_absent_stay_absent_and_empty_become_none() -> None:
    base = {"applicant_name": "An", "copies": 1, "kind": "new"}
    assert validate_submission(ALL, base) == base
    cleaned = validate_submission(ALL, {**base, "note": "", "fee": None, "birth_date": "  "})
    assert cleaned == {**base, "note": None, "fee": None, "birth_date": None}


def test_all_problems_are_reported_at_once() -> None:
    problems = problems_of(
        ALL,
        {
            "applicant_name": "",
            "copies": "3",
            "fee": "12",
            "urgent": "yes",
            "birth_date": "28/02/1990",
            "kind": "other",
            "extra": 1,
        },
    )
    assert problems == {
        "applicant_name": "'Họ và tên' is required",
        "copies": "'Số bản' must be a whole number",
        "fee": "'Lệ phí' must be a number",
        "urgent": "'Khẩn' must be true or false",
        "birth_date": "'Ngày sinh' must be a date written YYYY-MM-DD",
        "kind": "'Loại hồ sơ' must be one of: new, renew",
        "extra": "Field 'extra' is not part of this step",
    }


def test_form_error_message_counts_problems() -> None:
    with pytest.raises(FormError) as caught:
        validate_submission(ALL, {})
    assert caught.value.message == "The form has 3 problems"
    assert caught.value.code == "invalid_form"
    assert {p.element_id for p in caught.value.problems} == {"applicant_name", "copies", "kind"}


@pytest.mark.parametrize("value", [None, "", "   "])
def test_required_field_empty_counts_as_missing(value: object) -> None:
    assert problems_of((NAME,), {"applicant_name": value}) == {"applicant_name": "'Họ và tên' is required"}


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        (COPIES, 1.5, "whole number"),
        (COPIES, 2.0, "whole number"),
        (COPIES, True, "whole number"),
        (COPIES, "abc", "whole number"),
        (COPIES, 2**60, "too large"),
        (FEE, True, "must be a number"),
        (FEE, float("inf"), "finite"),
        (FEE, float("nan"), "finite"),
        (FEE, [1], "must be a number"),
        (URGENT, 1, "true or false"),
        (URGENT, "true", "true or false"),
        (NAME, 12, "must be text"),
        (NAME, "x" * 10_001, "too long (10,001 characters; the limit is 10,000)"),
        (NAME, "a\x00b", "not allowed"),
        (NOTE, "x" * 100_001, "the limit is 100,000"),
        (BIRTH, "2023-02-29", "not a real date"),
        (BIRTH, "2024-13-01", "not a real date"),
        (BIRTH, "20240101", "YYYY-MM-DD"),
        (BIRTH, "2024-1-1", "YYYY-MM-DD"),
        (BIRTH, "2024-01-01T10:00", "YYYY-MM-DD"),
        (BIRTH, 20240101, "YYYY-MM-DD"),
        (KIND, "NEW", "one of: new, renew"),
        (KIND, 1, "one of: new, renew"),
    ],
)
def test_json_mode_is_strict_about_types(field: FieldDef, value: object, fragment: str) -> None:
    message = problems_of((field,), {field.key: value})[field.key]
    assert fragment in message
    assert f"'{field.label}'" in message


def test_long_text_within_limits_is_accepted() -> None:
    assert validate_submission((NOTE,), {"note": "x" * 100_000})["note"] == "x" * 100_000
    assert validate_submission((NAME,), {"applicant_name": "x" * 10_000})["applicant_name"] == "x" * 10_000


def test_leap_day_and_integers_stay_as_given() -> None:
    cleaned = validate_submission((BIRTH, COPIES, FEE), {"birth_date": "2024-02-29", "copies": -3, "fee": 7})
    assert cleaned == {"birth_date": "2024-02-29", "copies": -3, "fee": 7}
    assert type(cleaned["fee"]) is int


def test_required_boolean_false_is_a_value_in_json_mode() -> None:
    agree = FieldDef("agree", "boolean", "Đồng ý", required=True)
    assert validate_submission((agree,), {"agree": False}) == {"agree": False}
    assert problems_of((agree,), {}) == {"agree": "'Đồng ý' is required"}


# ------------------------------------------------------------------ HTML form submissions


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        (COPIES, "123", 123),
        (COPIES, " -4 ", -4),
        (FEE, "1.5", 1.5),
        (FEE, "1,5", 1.5),
        (FEE, "12", 12),
        (FEE, ",5", 0.5),
        (URGENT, "on", True),
        (URGENT, "TRUE", True),
        (URGENT, "1", True),
        (URGENT, "yes", True),
        (URGENT, "false", False),
        (URGENT, "0", False),
        (URGENT, "", False),
        (BIRTH, "28/02/1990", "1990-02-28"),
        (BIRTH, "1/2/2024", "2024-02-01"),
        (BIRTH, "1990-02-28", "1990-02-28"),
        (KIND, "new", "new"),
        (NAME, "Lê Văn C", "Lê Văn C"),
    ],
)
def test_form_mode_converts_text(field: FieldDef, raw: str, expected: object) -> None:
    cleaned = validate_submission((field,), {field.key: raw}, from_form=True)
    assert cleaned == {field.key: expected}
    assert type(cleaned[field.key]) is type(expected)


def test_absent_checkbox_means_false_in_a_form() -> None:
    assert validate_submission((URGENT,), {}, from_form=True) == {"urgent": False}
    agree = FieldDef("agree", "boolean", "Đồng ý", required=True)
    assert validate_submission((agree,), {}, from_form=True) == {"agree": False}


def test_empty_optional_inputs_in_a_form_become_none() -> None:
    cleaned = validate_submission(
        (COPIES, FEE, BIRTH), {"copies": "2", "fee": "", "birth_date": ""}, from_form=True
    )
    assert cleaned == {"copies": 2, "fee": None, "birth_date": None}


@pytest.mark.parametrize(
    ("field", "raw", "fragment"),
    [
        (COPIES, "1.5", "whole number"),
        (COPIES, "1e3", "whole number"),
        (COPIES, "12abc", "whole number"),
        (COPIES, "9" * 30, "whole number"),
        (COPIES, "99999999999999999", "too large"),
        (FEE, "1,000.5", "must be a number"),
        (FEE, "inf", "must be a number"),
        (FEE, "nan", "must be a number"),
        (FEE, "1e999", "must be a number"),
        (URGENT, "maybe", "ticked or not"),
        (BIRTH, "31/02/2024", "not a real date"),
        (BIRTH, "2024/02/01", "dd/mm/yyyy"),
        (BIRTH, "02-01-2024", "dd/mm/yyyy"),
        (KIND, "old", "one of"),
    ],
)
def test_form_mode_refuses_bad_text(field: FieldDef, raw: str, fragment: str) -> None:
    message = problems_of((field,), {field.key: raw}, from_form=True)[field.key]
    assert fragment in message


def test_form_mode_still_refuses_undeclared_keys_and_missing_required() -> None:
    problems = problems_of((NAME, COPIES), {"copies": "", "csrf_token": "abc"}, from_form=True)
    assert problems == {
        "applicant_name": "'Họ và tên' is required",
        "copies": "'Số bản' is required",
        "csrf_token": "Field 'csrf_token' is not part of this step",
    }


def test_form_mode_accepts_native_values_with_json_rules() -> None:
    assert validate_submission((COPIES, URGENT), {"copies": 3, "urgent": True}, from_form=True) == {
        "copies": 3,
        "urgent": True,
    }
    assert "whole number" in problems_of((COPIES,), {"copies": 1.5}, from_form=True)["copies"]
