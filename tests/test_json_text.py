"""JSON columns read back exactly what was written, whichever coder wrote the text."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from engine import json_text


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, None, True, "Việt Nam"], "b": {"c": []}},
        2**64 + 1,
        -(2**63) - 1,
        [10**30, 9_999_999_999_999_999_999],
        {"x": 1e300, "y": -0.0, "z": 0.1 + 0.2},
        "số 1234567890123456789 trong chữ",
    ],
)
def test_values_read_back_exactly(value):
    text = json_text.dumps(value)
    assert json.loads(text) == value
    for given in (text, text.encode(), memoryview(text.encode())):
        back = json_text.loads(given)
        assert back == value and type(back) is type(value)


def test_integers_beyond_64_bits_stay_integers():
    assert json_text.loads("[18446744073709551616]") == [18446744073709551616]
    assert isinstance(json_text.loads("[18446744073709551616]")[0], int)


def test_non_string_keys_become_strings_as_in_the_standard_library():
    assert json_text.loads(json_text.dumps({1: "một", 2.5: "x"})) == json.loads(json.dumps({1: "một", 2.5: "x"}))


def test_values_that_are_not_json_are_refused_as_before():
    for value in ({"s": {1, 2}}, {"at": datetime(2026, 3, 2, 8, 0)}, {"day": date(2026, 3, 2)}):
        with pytest.raises(TypeError):
            json_text.dumps(value)


def test_text_written_by_the_standard_library_reads_the_same():
    value = {"state": {"tasks": {"id": {"data": {"k": [1, "hai", None]}}}}, "big": 2**70}
    assert json_text.loads(json.dumps(value)) == value
