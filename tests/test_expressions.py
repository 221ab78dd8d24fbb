"""Tests for engine.expressions: the whitelisted language designers write conditions and scripts in."""

from __future__ import annotations

import threading
from datetime import date, datetime

import pytest

from engine.errors import ExpressionError
from engine.expressions import (
    FUNCTIONS,
    Expression,
    Script,
    compile_expression,
    compile_script,
    evaluate,
    set_today_provider,
    working_days_in,
)

DATA = {
    "amount": 1500,
    "rate": 0.1,
    "name": "Nguyễn Văn An",
    "kind": "household",
    "items": [3, 1, 2],
    "applicant": {"name": "An", "age": 34, "tags": ["urgent"]},
    "note": None,
    "approved": True,
}


def refused(text: str, context: dict | None = None) -> str:
    """The plain message of the ExpressionError that ``text`` raises."""
    with pytest.raises(ExpressionError) as caught:
        evaluate(text, DATA if context is None else context)
    return caught.value.message


# ------------------------------------------------------------------ what is allowed


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", 1),
        ("'abc'", "abc"),
        ("2.5", 2.5),
        ("True", True),
        ("None", None),
        ("amount > 1000", True),
        ("amount > 1000 and kind == 'household'", True),
        ("amount < 10 or approved", True),
        ("not approved", False),
        ("-amount", -1500),
        ("+rate", 0.1),
        ("amount + 1", 1501),
        ("amount - 500", 1000),
        ("amount * rate", 150.0),
        ("amount / 4", 375.0),
        ("amount // 7", 214),
        ("amount % 7", 2),
        ("2 ** 10", 1024),
        ("10 ** 100", 10**100),
        ("2 ** -1", 0.5),
        ("1 < 2 < 3", True),
        ("3 < 2 < 4", False),
        ("'hou' in kind", True),
        ("4 not in items", True),
        ("note is None", True),
        ("name is not None", True),
        ("applicant['name']", "An"),
        ("applicant['tags'][0]", "urgent"),
        ("items[-1]", 2),
        ("items[0:2]", [3, 1]),
        ("name[::-1][0]", "n"),
        ("(1, 2)", (1, 2)),
        ("[1, 'a']", [1, "a"]),
        ("{'a': 1}['a']", 1),
        ("{1, 2} == {2, 1}", True),
        ("'yes' if approved else 'no'", "yes"),
        ("'a' + 'b'", "ab"),
        ("'ab' * 3", "ababab"),
        ("[0] * 3", [0, 0, 0]),
        ("len(items)", 3),
        ("min(items)", 1),
        ("max(4, 9, 2)", 9),
        ("max([], default=0)", 0),
        ("abs(-3)", 3),
        ("round(2.675, 2)", 2.67),
        ("round(2.5)", 2),
        ("int('42')", 42),
        ("int('ff', base=16)", 255),
        ("int(3.9)", 3),
        ("float('1.5')", 1.5),
        ("str(12)", "12"),
        ("bool('')", False),
        ("sum(items)", 6),
        ("any([0, 1])", True),
        ("all([1, 0])", False),
        ("sorted(items)", [1, 2, 3]),
        ("sorted(items, reverse=True)", [3, 2, 1]),
        ("lower('ABC')", "abc"),
        ("upper(kind)", "HOUSEHOLD"),
        ("contains(name, 'Văn')", True),
        ("contains(items, 2)", True),
        ("startswith(name, 'Nguyễn')", True),
        ("days(3)", "P3D"),
        ("hours(2)", "PT2H"),
        ("working_days(15)", "motcua:wd:15"),
        ("  amount > 1000\n", True),
        ("\n    (amount\n      > 1000)\n", True),
    ],
)
def test_allowed_expressions_evaluate_like_python(text: str, expected: object) -> None:
    assert evaluate(text, DATA) == expected


def test_boolean_operators_short_circuit_and_return_operands() -> None:
    assert evaluate("note or 'default'", DATA) == "default"
    assert evaluate("note and missing_name", DATA) is None
    assert evaluate("approved or missing_name", DATA) is True


def test_conditional_evaluates_only_the_chosen_branch() -> None:
    assert evaluate("1 if approved else 1 / 0", DATA) == 1


def test_compiled_expression_reports_the_names_it_reads() -> None:
    compiled = compile_expression("amount > limit and contains(kind, 'h') and len(items) > 0")
    assert isinstance(compiled, Expression)
    assert compiled.names == frozenset({"amount", "limit", "kind", "items"})
    assert compiled.source == "amount > limit and contains(kind, 'h') and len(items) > 0"


def test_compile_is_cached_and_reusable_across_contexts() -> None:
    compiled = compile_expression("x * 2")
    assert compile_expression("x * 2") is compiled
    assert compiled.evaluate({"x": 2}) == 4
    assert compiled.evaluate({"x": "ab"}) == "abab"


def test_compiled_expression_is_safe_to_share_between_threads() -> None:
    compiled = compile_expression("sum(values) + offset")
    results: dict[int, object] = {}

    def work(n: int) -> None:
        for _ in range(200):
            results[n] = compiled.evaluate({"values": list(range(n)), "offset": n})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: sum(range(n)) + n for n in range(8)}


def test_every_documented_function_is_available() -> None:
    documented = {
        "len", "min", "max", "abs", "round", "int", "float", "str", "bool", "sum", "any", "all",
        "sorted", "lower", "upper", "contains", "startswith", "today", "days", "working_days", "hours",
    }  # fmt: skip
    assert set(FUNCTIONS) == documented


# ------------------------------------------------------------------ today() and durations


def test_today_uses_the_installed_provider_and_can_be_restored() -> None:
    previous = set_today_provider(lambda: date(2026, 2, 13))
    try:
        assert evaluate("today()", {}) == "2026-02-13"
        assert evaluate("due < today()", {"due": "2026-02-12"}) is True
        set_today_provider(lambda: datetime(2026, 3, 1, 23, 30))
        assert evaluate("today()", {}) == "2026-03-01"
    finally:
        set_today_provider(previous)
    assert evaluate("today()", {}) == date.fromisoformat(evaluate("today()", {})).isoformat()


def test_working_days_marker_round_trips() -> None:
    assert working_days_in(evaluate("working_days(20)", {})) == 20
    assert working_days_in("P3D") is None
    assert working_days_in("motcua:wd:abc") is None
    assert working_days_in(None) is None


@pytest.mark.parametrize("text", ["days(-1)", "days(1.5)", "days(True)", "hours('2')", "working_days(10**6)"])
def test_durations_need_a_reasonable_whole_number(text: str) -> None:
    assert "whole number" in refused(text)


# ------------------------------------------------------------------ refused at compile time


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("().__class__", "Attribute access ('.__class__')"),
        ("().__class__.__base__.__subclasses__()", "not allowed"),
        ("applicant.name", "Attribute access ('.name')"),
        ("name.upper()", "Calling methods ('.upper()')"),
        ("'{0.__class__}'.format(name)", "Calling methods ('.format()')"),
        ("__import__('os').system('id')", "not allowed"),
        ("__import__('os')", "Names starting with '_' are not allowed ('__import__')"),
        ("__builtins__", "Names starting with '_'"),
        ("_private", "Names starting with '_'"),
        ("getattr(name, 'upper')", "Calling 'getattr' is not allowed"),
        ("open('/etc/passwd')", "Calling 'open' is not allowed"),
        ("eval('1')", "Calling 'eval' is not allowed"),
        ("exec('x = 1')", "Calling 'exec' is not allowed"),
        ("type(name)", "Calling 'type' is not allowed"),
        ("globals()", "Calling 'globals' is not allowed"),
        ("(lambda: 1)()", "Only named functions can be called"),
        ("lambda: 1", "lambda functions are not allowed"),
        ("[x for x in items]", "Comprehensions are not allowed"),
        ("{x: 1 for x in items}", "Comprehensions are not allowed"),
        ("sum(x for x in items)", "Generator expressions are not allowed"),
        ("(y := 1)", "':='"),
        ("f'{name}'", "f-strings are not allowed"),
        ("f'{name!r:>10}'", "f-strings are not allowed"),
        ("[*items]", "Unpacking with '*'"),
        ("max(*items)", "Unpacking with '*'"),
        ("{**applicant}", "Unpacking with '**'"),
        ("len(**applicant)", "Unpacking with '**'"),
        ("b'bytes'", "constants"),
        ("1j", "constants"),
        ("...", "constants"),
        ("~amount", "'~'"),
        ("amount | 1", "Bitwise"),
        ("amount << 2", "Bitwise"),
        ("name is 'x'", "'is' is only allowed as 'is None'"),
        ("len(items, 2)", "Wrong arguments for len()"),
        ("sorted(items, key=len)", "Wrong arguments for sorted()"),
        ("today(1)", "Wrong arguments for today()"),
        ("x = 1", "Assignments are not allowed"),
        ("import os", "Statements"),
        ("def f(): pass", "Statements"),
        ("for x in items: pass", "Statements"),
        ("amount >", "Syntax error"),
        ("'a\x00'", "Syntax error"),
        ("", "Syntax error"),
        ("1" + "0" * 101, "Number too large"),
    ],
)
def test_forbidden_constructs_are_refused_when_compiling(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text)
    assert fragment in caught.value.message
    assert caught.value.problems == []


def test_refusal_names_the_column() -> None:
    with pytest.raises(ExpressionError, match=r"column 16"):
        compile_expression("amount > 1 and x.y")


def test_expression_must_be_text() -> None:
    with pytest.raises(ExpressionError, match="must be text"):
        compile_expression(None)


# ------------------------------------------------------------------ resource limits


def test_long_text_is_refused() -> None:
    with pytest.raises(ExpressionError, match="too long"):
        compile_expression("1 + " * 600 + "1")


def test_deeply_nested_parentheses_give_an_expression_error() -> None:
    with pytest.raises(ExpressionError):
        compile_expression("(" * 500 + "1" + ")" * 500)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1" + "+1" * 999, "too long (more than 200 parts)"),
        ("-" * 1999 + "1", "too long (more than 200 parts)"),
        ("not " * 450 + "x", "too long (more than 200 parts)"),
        ("f(" * 190 + ")" * 190, "too long (more than 200 parts)"),
        ("x" + "[0]" * 600, "too long (more than 200 parts)"),
        ("1" + " if 1 else 1" * 150, "too long (more than 200 parts)"),
        ("[" * 150 + "]" * 150, "nested too deeply (more than 100 levels)"),
        ("-" * 150 + "1", "nested too deeply (more than 100 levels)"),
    ],
)
def test_huge_or_deep_trees_are_refused_without_recursion_error(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text)
    assert message in caught.value.message


def test_nesting_just_under_the_limit_compiles_and_runs() -> None:
    expected: list[object] = []
    for _ in range(98):
        expected = [expected]
    assert evaluate("[" * 99 + "]" * 99, {}) == expected


def test_largest_allowed_chain_still_works() -> None:
    assert evaluate("1" + "+1" * 99, {}) == 100


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("9**9**9", "Exponent too large"),
        ("2 ** 101", "Exponent too large"),
        ("99 ** 100", "Number too large"),
        ("10 ** 100 * 10", "Number too large"),
        ("10 ** 100 + 10 ** 100", "Number too large"),
        ("2.0 ** 100 ** 1 * 1e300 * 1e300", "not a finite number"),
        ("10.0 ** 100 ** 1 / 1e-300", "finite"),
        ("'a' * 10**9", "too large"),
        ("'a' * 100001", "too large"),
        ("[0] * 10**9", "too large"),
        ("10**9 * [0]", "too large"),
        ("['a' * 99999] * 2", "too large"),
        ("['a' * 60000, 'b' * 60000]", "too large"),
        ("'a' * 60000 + 'b' * 60000", "too large"),
        ("str(['a' * 99999, 'b' * 99999])", "too large"),
        ("round(1e300)", "Number too large"),
        ("int(1e300)", "Number too large"),
        ("int('9' * 150)", "Number too large"),
        ("int('9' * 5000)", "longer than 200"),
        ("float('inf')", "not a finite number"),
        ("float('nan')", "not a finite number"),
        ("round(1.5, 10**9)", "digits"),
        ("(-8) ** 0.5", "not a real number"),
        ("1e999", "finite"),
    ],
)
def test_runtime_limits_refuse_huge_results(text: str, fragment: str) -> None:
    assert fragment in refused(text)


def test_functions_iterating_over_huge_lists_are_refused() -> None:
    big = {"big": list(range(10_001))}
    for text in ("sum(big)", "sorted(big)", "max(big)", "any(big)"):
        assert "limited to lists of 10,000 items" in refused(text, big)
    assert evaluate("len(big)", big) == 10_001


def test_work_budget_stops_repeated_walks_of_big_data() -> None:
    context = {"big": list(range(99_000))}
    assert evaluate(" + ".join(["len([big])"] * 10), context) == 10
    with pytest.raises(ExpressionError, match="too much work"):
        evaluate(" + ".join(["len([big])"] * 11), context)


def test_repeated_references_count_at_full_size() -> None:
    text = "'a' * 50000"
    compiled = compile_script(f"x = {text}\ny = [x]\nz = [y, y]\n")
    with pytest.raises(ExpressionError, match="too large"):
        compiled.execute({})


# ------------------------------------------------------------------ runtime errors are plain


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("missing > 1", "Unknown name 'missing'"),
        ("len > 1", "'len' is a function; call it as len(...)"),
        ("'a' < 1", "Cannot compare text and integer with '<'"),
        ("[1, 'a'] < [1, 2]", "Cannot compare these values with '<': their items differ in kind"),
        ("1 / 0", "Division by zero"),
        ("1 // 0", "Division by zero"),
        ("1 % 0", "Division by zero"),
        ("0 ** -1", "Division by zero"),
        ("'a' + 1", "Cannot use '+' with text and integer"),
        ("'%s' % name", "Cannot use '%' with text and text"),
        ("-name", "Cannot use unary '-' with text"),
        ("applicant['missing']", "Key 'missing' is not in the dict"),
        ("items[10]", "Index 10 is out of range (length 3)"),
        ("items['a']", "A list index must be a whole number, not text"),
        ("amount[0]", "Cannot use [...] on integer"),
        ("items[::0]", "A slice step cannot be zero"),
        ("1 in amount", "'in' needs text, a list or a dict on its right, not integer"),
        ("1 in name", "Cannot look for integer in text with 'in'"),
        ("[1] in {1}", "A list cannot be looked up in a set"),
        ("{[1]: 2}", "Lists and dicts cannot be dict keys"),
        ("{[1]}", "Lists and dicts cannot be members of a set"),
        ("int('abc')", "Cannot convert 'abc' to an integer"),
        ("float('x')", "Cannot convert 'x' to a number"),
        ("min([])", "min() of an empty list"),
        ("sorted([1, 'a'])", "sorted() cannot compare items of different kinds"),
        ("sum(['a'])", "sum() needs a list of numbers"),
        ("len(5)", "len() needs text, a list or a dict, not integer"),
        ("lower(5)", "lower() needs text, not integer"),
        ("abs('a')", "abs() needs a number, not text"),
    ],
)
def test_runtime_errors_are_expression_errors_with_plain_messages(text: str, message: str) -> None:
    # A part that reads no data is refused when compiled already, with the same plain message first.
    assert refused(text).split("; this part reads no data")[0] == message


@pytest.mark.parametrize("text", ["x > 9**9**9", "len('a' * 10**9) > n", "[0] * 10**9 == x"])
def test_a_part_that_reads_no_data_and_fails_is_refused_at_compile_time(text: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression(text)
    assert "reads no data, so it fails for every dossier" in caught.value.message


def test_a_failing_constant_in_a_branch_that_may_be_skipped_is_left_to_run_time() -> None:
    assert compile_expression("x if x else 1 / 0").names == frozenset({"x"})
    assert compile_expression("x or 1 / 0").names == frozenset({"x"})


def test_unsupported_values_in_data_are_not_operated_on() -> None:
    class Sneaky:
        def __add__(self, other: object) -> object:
            raise AssertionError("custom code must not run")

        def __lt__(self, other: object) -> bool:
            raise AssertionError("custom code must not run")

    context = {"thing": Sneaky()}
    assert refused("thing + 1", context) == "Cannot use '+' with an unsupported value and integer"
    assert "Cannot compare" in refused("thing < 1", context)
    assert "cannot be applied" in refused("str(thing)", context)


def test_callables_in_data_cannot_be_called() -> None:
    calls = []
    context = {"run": lambda *a: calls.append(a), "system": lambda *a: calls.append(a)}
    assert "Calling 'run' is not allowed" in refused("run('id')", context)
    assert "Calling 'system' is not allowed" in refused("system('id')", context)
    assert calls == []


def test_data_cannot_shadow_a_function() -> None:
    assert evaluate("len(items)", {"len": 99, "items": [1]}) == 1


# ------------------------------------------------------------------ scripts


def test_script_assigns_in_order_and_reports_targets_and_reads() -> None:
    script = compile_script("total = a + b\n# a comment\n\npass\ntotal += 1\nlabel = 'n=' + str(total)\n")
    assert isinstance(script, Script)
    assert script.targets == ("total", "label")
    assert script.names == frozenset({"a", "b"})
    data: dict[str, object] = {"a": 2, "b": 3}
    script.execute(data)
    assert data == {"a": 2, "b": 3, "total": 6, "label": "n=6"}


def test_script_augmented_assignment_reads_existing_data() -> None:
    data: dict[str, object] = {"count": 4}
    compile_script("count *= 2\ncount -= 1").execute(data)
    assert data["count"] == 7
    assert compile_script("count += 1").names == frozenset({"count"})


def test_indented_script_from_bpmn_xml_is_accepted() -> None:
    data: dict[str, object] = {}
    compile_script("\n        x = 1\n        y = x + 1\n    ").execute(data)
    assert data == {"x": 1, "y": 2}


def test_empty_script_does_nothing() -> None:
    data: dict[str, object] = {"a": 1}
    compile_script("").execute(data)
    compile_script("pass\n# nothing\n").execute(data)
    assert data == {"a": 1}


def test_failing_script_changes_nothing_and_names_the_line() -> None:
    data: dict[str, object] = {"a": 1}
    with pytest.raises(ExpressionError) as caught:
        compile_script("b = a + 1\nc = a / 0\n").execute(data)
    assert data == {"a": 1}
    assert caught.value.message == "Line 2: Division by zero"
    assert [(p.line, p.message, p.element_id) for p in caught.value.problems] == [
        (2, "Division by zero", None)
    ]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("import os", 1, "import is not allowed"),
        ("x = 1\nfrom os import system", 2, "import is not allowed"),
        ("for i in items:\n    x = i", 1, "Loops"),
        ("while True:\n    pass", 1, "Loops"),
        ("def f():\n    return 1", 1, "Defining functions"),
        ("class A:\n    pass", 1, "Defining classes"),
        ("with open('f') as f:\n    pass", 1, "'With' statements are not allowed"),
        ("try:\n    x = 1\nexcept Exception:\n    pass", 1, "'Try' statements are not allowed"),
        ("if a:\n    x = 1", 1, "'if' statements are not allowed"),
        ("x = 1\ndel x", 2, "'Delete' statements are not allowed"),
        ("global x", 1, "'Global' statements are not allowed"),
        ("raise ValueError()", 1, "'Raise' statements are not allowed"),
        ("print('hi')", 1, "Each line must assign a value"),
        ("x: int = 1", 1, "Type annotations"),
        ("a.b = 1", 1, "Only simple assignments"),
        ("a['k'] = 1", 1, "Only simple assignments"),
        ("a, b = 1, 2", 1, "Only simple assignments"),
        ("a = b = 1", 1, "Only simple assignments"),
        ("a.b += 1", 1, "Only simple assignments"),
        ("x |= 1", 1, "Bitwise"),
        ("_x = 1", 1, "Names starting with '_'"),
        ("len = 3", 1, "'len' is the name of a function"),
        ("x = 1\ny = ().__class__", 2, "Attribute access"),
        ("x = 1\ny = __import__('os')", 2, "Names starting with '_'"),
        ("x = 1\ny = (", 2, "Syntax error"),
    ],
)
def test_scripts_refuse_anything_but_assignments_with_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_script(text)
    problems = caught.value.problems
    assert problems, "a script refusal must carry a problem with its line"
    assert problems[0].line == line
    assert problems[0].element_id is None
    assert fragment in problems[0].message
    assert caught.value.message.startswith(f"Line {line}")


def test_script_reports_every_refused_line_at_once() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_script("import os\nx = 1\nwhile x:\n    pass\ny = x.real")
    assert [p.line for p in caught.value.problems] == [1, 3, 5]


def test_script_size_limits() -> None:
    with pytest.raises(ExpressionError, match="more than 50 statements"):
        compile_script("\n".join(f"x{i} = {i}" for i in range(51)))
    with pytest.raises(ExpressionError, match="more than 5,000 characters"):
        compile_script("x = '" + "a" * 5000 + "'")
    assert compile_script("\n".join(f"x{i} = {i}" for i in range(50))).targets[-1] == "x49"


def test_script_statement_with_a_huge_tree_is_refused() -> None:
    with pytest.raises(ExpressionError, match="too long") as caught:
        compile_script("x = 1\ny = " + "1+" * 400 + "1")
    assert caught.value.problems[0].line == 2
