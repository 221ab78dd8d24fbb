"""Safe evaluation of the conditions and scripts that process designers write.

A BPMN upload carries gateway conditions, timer durations and script task
bodies. They are written in Python syntax, but they are never handed to
``eval`` or ``exec``: SpiffWorkflow's default environment does exactly that
and lets an upload run arbitrary code on the server. Instead the text is
parsed with :mod:`ast`, every node is checked against a whitelist, and the
tree is turned into plain closures that only know how to do the whitelisted
operations on plain data.

The expression language
-----------------------
- constants: text, integers, numbers, ``True``, ``False``, ``None``;
- names, read from the dossier's data (a name that is not there is an error);
- tuple, list, dict and set literals; ``x["key"]``, ``x[0]`` and ``x[1:3]``
  on dicts, lists, tuples and text;
- ``not``, unary ``-`` and ``+``; ``+ - * / // % **``; ``and``, ``or``;
  comparisons including chains, ``in``, ``not in``, ``is None`` and
  ``is not None``; ``a if condition else b``;
- calls, by plain name only, to these functions:

  ``len(x)``, ``min(...)``, ``max(...)`` (with ``default=``), ``abs(x)``,
  ``round(x, ndigits=None)``, ``int(x, base=None)``, ``float(x)``,
  ``str(x)``, ``bool(x)``, ``sum(items)``, ``any(items)``, ``all(items)``,
  ``sorted(items, reverse=False)``,
  ``lower(s)`` and ``upper(s)``: the text in lower or upper case;
  ``contains(s, part)``: whether the text ``s`` contains ``part`` (or the
  list ``s`` contains the item ``part``);
  ``startswith(s, prefix)``;
  ``today()``: today's date as ``YYYY-MM-DD``, in Vietnam's time zone unless
  :func:`set_today_provider` installed another clock;
  ``days(n)`` and ``hours(n)``: ISO 8601 durations ``"P{n}D"`` and
  ``"PT{n}H"``, for timer events;
  ``working_days(n)``: a duration measured in working days (weekends and
  public holidays excluded). The engine cannot express it in ISO 8601, so it
  is the marker text ``"motcua:wd:{n}"``; the timer worker recognises it
  with :func:`working_days_in` and computes the due date on the calendar.

Everything else is refused when the text is compiled, with a message naming
the construct: attribute access, names starting with ``_``, lambda,
comprehensions, ``:=``, f-strings, ``*`` unpacking, ``await``/``yield`` and
calls to anything else.

Scripts
-------
A script task body is a sequence of assignments, one per line:
``name = expression`` or ``name += expression`` (any arithmetic operator),
plus ``pass``, blank lines and comments. Either all assignments of a script
take effect or, when one fails, none does.

Limits
------
Designers are trusted to draw processes, not to run the server out of
memory or time, so: an expression has at most 2,000 characters, 200 nodes and
100 levels of nesting; a script at most 5,000 characters and 50 statements.
At run time integers beyond 10**100, exponents beyond 100, text or lists
built with more than 100,000 characters or items, and functions iterating
over more than 10,000 items are refused, and one evaluation may do at most
1,000,000 steps of work walking data.

Every failure, at compile or run time, is an :class:`ExpressionError` with a
plain message such as ``Unknown name 'x'``.
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
import operator
import textwrap
from collections import ChainMap
from collections.abc import Callable, Mapping, MutableMapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

from engine.errors import ExpressionError, Problem

MAX_EXPRESSION_CHARS = 2_000
MAX_NODES = 200
MAX_DEPTH = 100
MAX_SCRIPT_CHARS = 5_000
MAX_STATEMENTS = 50
MAX_INT = 10**100
MAX_EXPONENT = 100
MAX_SIZE = 100_000
MAX_ITEMS = 10_000
MAX_WORK = 1_000_000
MAX_DURATION = 100_000

WORKING_DAYS_PREFIX = "motcua:wd:"
LOCAL_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")

_NUMBERS = frozenset({int, float, bool})
_SEQUENCES = frozenset({str, list, tuple})
_CONTAINERS = frozenset({list, tuple, set, frozenset, dict})
_SIZED = _CONTAINERS | {str}
_KIND_NAMES = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "boolean",
    type(None): "None",
    list: "list",
    tuple: "tuple",
    dict: "dict",
    set: "set",
    frozenset: "set",
}


# ---------------------------------------------------------------- run state


class _Run:
    """The state of one evaluation: where names come from and the work done so far.

    Work is counted only where the cost depends on the data (walking lists
    and dicts); the number of nodes is already bounded at compile time.
    """

    __slots__ = ("data", "work")

    def __init__(self, data: Mapping[str, object]) -> None:
        self.data = data
        self.work = 0

    def spend(self, steps: int) -> None:
        self.work += steps
        if self.work > MAX_WORK:
            raise ExpressionError("The expression needs too much work to evaluate")

    def lookup(self, name: str) -> object:
        try:
            return self.data[name]
        except KeyError:
            if name in FUNCTIONS:
                raise ExpressionError(f"'{name}' is a function; call it as {name}(...)") from None
            raise ExpressionError(f"Unknown name '{name}'") from None


Evaluator = Callable[[_Run], object]


def _kind(value: object) -> str:
    return _KIND_NAMES.get(type(value), "an unsupported value")


def _show(value: object, limit: int = 40) -> str:
    """A short repr for messages, so a huge value never ends up in one."""
    if type(value) in _SIZED and len(value) > limit:
        return f"<{_kind(value)} of length {len(value)}>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_number(value: object) -> bool:
    return type(value) in _NUMBERS


def _check_number(value: object) -> object:
    """Refuse numbers that are too large to be meaningful or cannot be stored as JSON."""
    if type(value) is int and abs(value) > MAX_INT:
        raise ExpressionError("Number too large (the limit is 10**100)")
    if type(value) is float and not math.isfinite(value):
        raise ExpressionError("The result is not a finite number")
    if type(value) is complex:
        raise ExpressionError("The result is not a real number")
    return value


def _measure(value: object, run: _Run) -> int:
    """Characters of text plus items of containers, counting shared references each time.

    Counting references repeatedly is deliberate: ``[x] * 1000`` costs little
    memory but becomes 1000 copies of ``x`` once stored as JSON.
    """
    total = 0
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is str:
            total += len(item)
        elif kind is dict:
            total += len(item)
            run.spend(len(item))
            pending.extend(item.keys())
            pending.extend(item.values())
        elif kind in _CONTAINERS:
            total += len(item)
            run.spend(len(item))
            pending.extend(item)
        if total > MAX_SIZE:
            raise ExpressionError("The value is too large (more than 100,000 characters or items)")
    return total


def _check_built(value: object, run: _Run) -> object:
    """Check a text, list or dict an expression has just built."""
    if type(value) is str:
        if len(value) > MAX_SIZE:
            raise ExpressionError("The text is too long (more than 100,000 characters)")
    elif type(value) in _CONTAINERS:
        _measure(value, run)
    return value


# ---------------------------------------------------------------- operators


def _operand_error(symbol: str, left: object, right: object) -> ExpressionError:
    return ExpressionError(f"Cannot use '{symbol}' with {_kind(left)} and {_kind(right)}")


def _arithmetic(symbol: str, func: Callable[[object, object], object]) -> Callable[..., object]:
    """An operator that only works on numbers and turns Python's errors into plain ones."""

    def apply(left: object, right: object, run: _Run) -> object:
        if not (_is_number(left) and _is_number(right)):
            raise _operand_error(symbol, left, right)
        try:
            return _check_number(func(left, right))
        except ZeroDivisionError:
            raise ExpressionError("Division by zero") from None
        except OverflowError:
            raise ExpressionError("Number too large") from None

    return apply


def _add(left: object, right: object, run: _Run) -> object:
    if _is_number(left) and _is_number(right):
        return _check_number(left + right)
    if type(left) is type(right) and type(left) in _SEQUENCES:
        if len(left) + len(right) > MAX_SIZE:
            raise ExpressionError("The result would be too large (more than 100,000 characters or items)")
        return _check_built(left + right, run)
    raise _operand_error("+", left, right)


def _multiply(left: object, right: object, run: _Run) -> object:
    if _is_number(left) and _is_number(right):
        return _check_number(left * right)
    if type(left) is int and type(right) in _SEQUENCES:
        left, right = right, left
    if type(left) in _SEQUENCES and type(right) is int:
        if len(left) * max(right, 0) > MAX_SIZE:
            raise ExpressionError("The result would be too large (more than 100,000 characters or items)")
        return _check_built(left * right, run)
    raise _operand_error("*", left, right)


def _power(left: object, right: object, run: _Run) -> object:
    if not (_is_number(left) and _is_number(right)):
        raise _operand_error("**", left, right)
    if abs(right) > MAX_EXPONENT:
        raise ExpressionError("Exponent too large (the limit is 100)")
    if type(left) is int and type(right) is int and right > 0 and (left.bit_length() - 1) * right > 340:
        raise ExpressionError("Number too large (the limit is 10**100)")
    try:
        return _check_number(left**right)
    except ZeroDivisionError:
        raise ExpressionError("Division by zero") from None
    except OverflowError:
        raise ExpressionError("Number too large") from None


_BINARY: dict[type[ast.operator], tuple[str, Callable[..., object]]] = {
    ast.Add: ("+", _add),
    ast.Sub: ("-", _arithmetic("-", operator.sub)),
    ast.Mult: ("*", _multiply),
    ast.Div: ("/", _arithmetic("/", operator.truediv)),
    ast.FloorDiv: ("//", _arithmetic("//", operator.floordiv)),
    ast.Mod: ("%", _arithmetic("%", operator.mod)),
    ast.Pow: ("**", _power),
}


def _ordering(symbol: str, func: Callable[[object, object], bool]) -> Callable[[object, object], bool]:
    def compare(left: object, right: object) -> bool:
        comparable = (_is_number(left) and _is_number(right)) or (
            type(left) is type(right) and type(left) in _SEQUENCES
        )
        if not comparable:
            raise ExpressionError(f"Cannot compare {_kind(left)} and {_kind(right)} with '{symbol}'")
        try:
            return func(left, right)
        except TypeError:
            raise ExpressionError(
                f"Cannot compare these values with '{symbol}': their items differ in kind"
            ) from None

    return compare


def _membership(negate: bool) -> Callable[[object, object], bool]:
    symbol = "not in" if negate else "in"

    def compare(item: object, container: object) -> bool:
        if type(container) is str:
            if type(item) is not str:
                raise ExpressionError(f"Cannot look for {_kind(item)} in text with '{symbol}'")
        elif type(container) not in _CONTAINERS:
            raise ExpressionError(
                f"'{symbol}' needs text, a list or a dict on its right, not {_kind(container)}"
            )
        try:
            found = item in container
        except TypeError:
            raise ExpressionError(f"A {_kind(item)} cannot be looked up in a {_kind(container)}") from None
        return not found if negate else found

    return compare


_COMPARE: dict[type[ast.cmpop], tuple[str, Callable[[object, object], bool]]] = {
    ast.Eq: ("==", operator.eq),
    ast.NotEq: ("!=", operator.ne),
    ast.Lt: ("<", _ordering("<", operator.lt)),
    ast.LtE: ("<=", _ordering("<=", operator.le)),
    ast.Gt: (">", _ordering(">", operator.gt)),
    ast.GtE: (">=", _ordering(">=", operator.ge)),
    ast.In: ("in", _membership(negate=False)),
    ast.NotIn: ("not in", _membership(negate=True)),
    ast.Is: ("is", operator.is_),
    ast.IsNot: ("is not", operator.is_not),
}


def _negate(value: object) -> object:
    if not _is_number(value):
        raise ExpressionError(f"Cannot use unary '-' with {_kind(value)}")
    return -value


def _positive(value: object) -> object:
    if not _is_number(value):
        raise ExpressionError(f"Cannot use unary '+' with {_kind(value)}")
    return +value


_UNARY: dict[type[ast.unaryop], Callable[[object], object]] = {
    ast.Not: operator.not_,
    ast.USub: _negate,
    ast.UAdd: _positive,
}


# ---------------------------------------------------------------- functions

_today_provider: Callable[[], date] | None = None
_NO_DEFAULT = object()


def set_today_provider(provider: Callable[[], date] | None) -> Callable[[], date] | None:
    """Install the clock ``today()`` reads (tests, replays); ``None`` restores the real one.

    Returns the previous provider so a caller can put it back.
    """
    global _today_provider
    previous, _today_provider = _today_provider, provider
    return previous


def _items(name: str, value: object) -> list[object] | tuple[object, ...] | set[object] | str:
    if type(value) is dict:
        return list(value)
    if type(value) not in _SIZED:
        raise ExpressionError(f"{name}() needs a list, not {_kind(value)}")
    return value


def _fn_len(value: object) -> int:
    if type(value) not in _SIZED:
        raise ExpressionError(f"len() needs text, a list or a dict, not {_kind(value)}")
    return len(value)


def _extreme(name: str, pick: Callable[..., object]) -> Callable[..., object]:
    def extreme(*values: object, default: object = _NO_DEFAULT) -> object:
        items = _items(name, values[0]) if len(values) == 1 else values
        if not items:
            if default is _NO_DEFAULT:
                raise ExpressionError(f"{name}() of an empty list")
            return default
        try:
            return pick(items)
        except TypeError:
            raise ExpressionError(f"{name}() cannot compare items of different kinds") from None

    extreme.__name__ = name
    return extreme


def _fn_abs(number: object) -> object:
    if not _is_number(number):
        raise ExpressionError(f"abs() needs a number, not {_kind(number)}")
    return abs(number)


def _fn_round(number: object, ndigits: object = None) -> object:
    if not _is_number(number):
        raise ExpressionError(f"round() needs a number, not {_kind(number)}")
    if ndigits is None:
        return round(number)
    if type(ndigits) is not int or abs(ndigits) > MAX_EXPONENT:
        raise ExpressionError("round() needs a whole number of digits between -100 and 100")
    return round(number, ndigits)


def _fn_int(value: object, base: object = None) -> int:
    if base is not None and (type(value) is not str or type(base) is not int):
        raise ExpressionError(
            "int() accepts a base only to convert text, and the base must be a whole number"
        )
    if type(value) is str and len(value) > 200:
        raise ExpressionError("int() cannot convert text longer than 200 characters")
    if not (_is_number(value) or type(value) is str):
        raise ExpressionError(f"int() cannot convert {_kind(value)}")
    try:
        return int(value) if base is None else int(value, base)
    except (ValueError, OverflowError):
        raise ExpressionError(f"Cannot convert {_show(value)} to an integer") from None


def _fn_float(value: object) -> float:
    if type(value) is str and len(value) > 200:
        raise ExpressionError("float() cannot convert text longer than 200 characters")
    if not (_is_number(value) or type(value) is str):
        raise ExpressionError(f"float() cannot convert {_kind(value)}")
    try:
        return float(value)
    except (ValueError, OverflowError):
        raise ExpressionError(f"Cannot convert {_show(value)} to a number") from None


def _fn_sum(items: object) -> object:
    values = _items("sum", items)
    if not all(_is_number(value) for value in values):
        raise ExpressionError("sum() needs a list of numbers")
    return sum(values)


def _fn_any(items: object) -> bool:
    return any(_items("any", items))


def _fn_all(items: object) -> bool:
    return all(_items("all", items))


def _fn_sorted(items: object, reverse: object = False) -> list[object]:
    if type(reverse) is not bool:
        raise ExpressionError("sorted() needs True or False for reverse")
    try:
        return sorted(_items("sorted", items), reverse=reverse)
    except TypeError:
        raise ExpressionError("sorted() cannot compare items of different kinds") from None


def _text(name: str, value: object) -> str:
    if type(value) is not str:
        raise ExpressionError(f"{name}() needs text, not {_kind(value)}")
    return value


def _fn_lower(text: object) -> str:
    return _text("lower", text).lower()


def _fn_upper(text: object) -> str:
    return _text("upper", text).upper()


def _fn_contains(container: object, part: object) -> bool:
    if type(container) is str:
        return _text("contains", part) in container
    return _membership(negate=False)(part, container)


def _fn_startswith(text: object, prefix: object) -> bool:
    return _text("startswith", text).startswith(_text("startswith", prefix))


def _fn_today() -> str:
    current = _today_provider() if _today_provider else datetime.now(LOCAL_ZONE).date()
    if isinstance(current, datetime):
        current = current.date()
    return current.isoformat()


def _count(name: str, value: object) -> int:
    if type(value) is not int or not 0 <= value <= MAX_DURATION:
        raise ExpressionError(f"{name}() needs a whole number from 0 to {MAX_DURATION}")
    return value


def _fn_days(n: object) -> str:
    return f"P{_count('days', n)}D"


def _fn_hours(n: object) -> str:
    return f"PT{_count('hours', n)}H"


def _fn_working_days(n: object) -> str:
    return f"{WORKING_DAYS_PREFIX}{_count('working_days', n)}"


def working_days_in(value: object) -> int | None:
    """The number of working days in a ``working_days(n)`` marker, or ``None`` if it is not one."""
    if not isinstance(value, str) or not value.startswith(WORKING_DAYS_PREFIX):
        return None
    digits = value[len(WORKING_DAYS_PREFIX) :]
    return int(digits) if digits.isascii() and digits.isdigit() and len(digits) <= 6 else None


FUNCTIONS: dict[str, Callable[..., object]] = {
    "len": _fn_len,
    "min": _extreme("min", min),
    "max": _extreme("max", max),
    "abs": _fn_abs,
    "round": _fn_round,
    "int": _fn_int,
    "float": _fn_float,
    "str": str,
    "bool": bool,
    "sum": _fn_sum,
    "any": _fn_any,
    "all": _fn_all,
    "sorted": _fn_sorted,
    "lower": _fn_lower,
    "upper": _fn_upper,
    "contains": _fn_contains,
    "startswith": _fn_startswith,
    "today": _fn_today,
    "days": _fn_days,
    "hours": _fn_hours,
    "working_days": _fn_working_days,
}
_ITERATING = frozenset({"min", "max", "sum", "any", "all", "sorted"})
_SIGNATURES = {
    "str": inspect.Signature([inspect.Parameter("value", inspect.Parameter.POSITIONAL_ONLY)]),
    "bool": inspect.Signature([inspect.Parameter("value", inspect.Parameter.POSITIONAL_ONLY)]),
}


def _signature(name: str) -> inspect.Signature:
    return _SIGNATURES.get(name) or inspect.signature(FUNCTIONS[name])


def _call(name: str, args: list[object], kwargs: dict[str, object], run: _Run) -> object:
    """Call a whitelisted function with guarded arguments and a checked result."""
    for value in (*args, *kwargs.values()):
        if type(value) not in _KIND_NAMES:
            raise ExpressionError(f"{name}() cannot be applied to {_kind(value)}")
        if name in _ITERATING and type(value) in _SIZED:
            if len(value) > MAX_ITEMS:
                raise ExpressionError(f"{name}() is limited to lists of {MAX_ITEMS:,} items")
            run.spend(len(value))
    if name == "str" and args:
        _measure(args[0], run)
    result = FUNCTIONS[name](*args, **kwargs)
    return _check_built(_check_number(result), run)


# ---------------------------------------------------------------- compiler

_REFUSED: dict[type[ast.AST], str] = {
    ast.Lambda: "lambda functions are not allowed",
    ast.ListComp: "Comprehensions are not allowed",
    ast.SetComp: "Comprehensions are not allowed",
    ast.DictComp: "Comprehensions are not allowed",
    ast.GeneratorExp: "Generator expressions are not allowed",
    ast.NamedExpr: "The ':=' operator is not allowed",
    ast.JoinedStr: "f-strings are not allowed; join text with + and str()",
    ast.FormattedValue: "f-strings are not allowed; join text with + and str()",
    ast.Starred: "Unpacking with '*' is not allowed",
    ast.Await: "'await' is not allowed",
    ast.Yield: "'yield' is not allowed",
    ast.YieldFrom: "'yield' is not allowed",
    ast.Slice: "Slices are only allowed inside [...]",
}
_STRUCTURAL = (ast.expr_context, ast.operator, ast.boolop, ast.cmpop, ast.unaryop)


def _where(node: ast.AST) -> str:
    column = getattr(node, "col_offset", None)
    return "" if column is None else f" (column {column + 1})"


def _refuse(node: ast.AST, message: str) -> ExpressionError:
    return ExpressionError(message + _where(node))


def _check_shape(root: ast.AST) -> None:
    """Bound the size, then the depth, of a tree before anything recurses over it."""
    count = 0
    for node in ast.walk(root):
        if not isinstance(node, _STRUCTURAL):
            count += 1
            if count > MAX_NODES:
                raise ExpressionError(f"The expression is too long (more than {MAX_NODES} parts)")
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ExpressionError(f"The expression is nested too deeply (more than {MAX_DEPTH} levels)")
        stack.extend(
            (child, depth + 1) for child in ast.iter_child_nodes(node) if not isinstance(child, _STRUCTURAL)
        )


class _Compiler:
    """Turns a checked expression tree into closures, refusing anything not whitelisted."""

    def __init__(self) -> None:
        self.names: set[str] = set()
        self._handlers: dict[type[ast.AST], Callable[[ast.AST], Evaluator]] = {
            ast.Constant: self._constant,
            ast.Name: self._name,
            ast.Tuple: self._sequence,
            ast.List: self._sequence,
            ast.Set: self._sequence,
            ast.Dict: self._dict,
            ast.Subscript: self._subscript,
            ast.UnaryOp: self._unary,
            ast.BinOp: self._binary,
            ast.BoolOp: self._boolean,
            ast.Compare: self._compare,
            ast.IfExp: self._conditional,
            ast.Call: self._call,
            ast.Attribute: self._attribute,
        }

    def compile(self, node: ast.AST) -> Evaluator:
        handler = self._handlers.get(type(node))
        if handler is None:
            message = _REFUSED.get(type(node), f"'{type(node).__name__}' is not allowed in an expression")
            raise _refuse(node, message)
        return handler(node)

    def _constant(self, node: ast.Constant) -> Evaluator:
        value = node.value
        if type(value) not in (str, int, float, bool, type(None)):
            raise _refuse(node, "Only text, numbers, True, False and None are allowed as constants")
        _check_number(value)
        return lambda run: value

    def _check_name(self, node: ast.AST, name: str) -> None:
        if name.startswith("_"):
            raise _refuse(node, f"Names starting with '_' are not allowed ('{name}')")

    def _name(self, node: ast.Name) -> Evaluator:
        name = node.id
        self._check_name(node, name)
        self.names.add(name)
        return lambda run: run.lookup(name)

    def _attribute(self, node: ast.Attribute) -> Evaluator:
        raise _refuse(node, f"Attribute access ('.{node.attr}') is not allowed")

    def _sequence(self, node: ast.Tuple | ast.List | ast.Set) -> Evaluator:
        build = {ast.Tuple: tuple, ast.List: list, ast.Set: set}[type(node)]
        parts = [self.compile(element) for element in node.elts]

        def evaluate(run: _Run) -> object:
            items = [part(run) for part in parts]
            try:
                value = build(items)
            except TypeError:
                raise ExpressionError("Lists and dicts cannot be members of a set") from None
            return _check_built(value, run)

        return evaluate

    def _dict(self, node: ast.Dict) -> Evaluator:
        if any(key is None for key in node.keys):
            raise _refuse(node, "Unpacking with '**' is not allowed")
        pairs = [(self.compile(k), self.compile(v)) for k, v in zip(node.keys, node.values, strict=True)]

        def evaluate(run: _Run) -> object:
            items = [(key(run), item(run)) for key, item in pairs]
            try:
                value = dict(items)
            except TypeError:
                raise ExpressionError("Lists and dicts cannot be dict keys") from None
            return _check_built(value, run)

        return evaluate

    def _subscript(self, node: ast.Subscript) -> Evaluator:
        target = self.compile(node.value)
        if isinstance(node.slice, ast.Slice):
            bounds = [
                None if part is None else self.compile(part)
                for part in (node.slice.lower, node.slice.upper, node.slice.step)
            ]
            return lambda run: _slice(target(run), [None if b is None else b(run) for b in bounds])
        index = self.compile(node.slice)
        return lambda run: _index(target(run), index(run))

    def _unary(self, node: ast.UnaryOp) -> Evaluator:
        func = _UNARY.get(type(node.op))
        if func is None:
            raise _refuse(node, "The '~' operator is not allowed")
        operand = self.compile(node.operand)
        return lambda run: func(operand(run))

    def _binary(self, node: ast.BinOp) -> Evaluator:
        entry = _BINARY.get(type(node.op))
        if entry is None:
            raise _refuse(node, "Bitwise operators and '@' are not allowed")
        func = entry[1]
        left, right = self.compile(node.left), self.compile(node.right)
        return lambda run: func(left(run), right(run), run)

    def _boolean(self, node: ast.BoolOp) -> Evaluator:
        parts = [self.compile(value) for value in node.values]
        stop_when = isinstance(node.op, ast.Or)

        def evaluate(run: _Run) -> object:
            value: object = None
            for part in parts:
                value = part(run)
                if bool(value) is stop_when:
                    return value
            return value

        return evaluate

    def _compare(self, node: ast.Compare) -> Evaluator:
        operands = [node.left, *node.comparators]
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            if isinstance(op, ast.Is | ast.IsNot) and not any(
                isinstance(side, ast.Constant) and side.value is None for side in (left, right)
            ):
                raise _refuse(
                    node, "'is' is only allowed as 'is None' or 'is not None'; use '==' to compare values"
                )
        checks = [_COMPARE[type(op)][1] for op in node.ops]
        compiled = [self.compile(operand) for operand in operands]

        def evaluate(run: _Run) -> bool:
            left = compiled[0](run)
            for check, right_part in zip(checks, compiled[1:], strict=True):
                right = right_part(run)
                if not check(left, right):
                    return False
                left = right
            return True

        return evaluate

    def _conditional(self, node: ast.IfExp) -> Evaluator:
        test, body, orelse = self.compile(node.test), self.compile(node.body), self.compile(node.orelse)
        return lambda run: body(run) if test(run) else orelse(run)

    def _call(self, node: ast.Call) -> Evaluator:
        func = node.func
        if isinstance(func, ast.Attribute):
            raise _refuse(
                node, f"Calling methods ('.{func.attr}()') is not allowed; use functions such as lower(s)"
            )
        if not isinstance(func, ast.Name):
            raise _refuse(node, "Only named functions can be called")
        self._check_name(func, func.id)
        name = func.id
        if name not in FUNCTIONS:
            raise _refuse(node, f"Calling '{name}' is not allowed; the functions are: {', '.join(FUNCTIONS)}")
        if any(keyword.arg is None for keyword in node.keywords):
            raise _refuse(node, "Unpacking with '**' is not allowed")
        try:
            _signature(name).bind(*node.args, **{k.arg: k.value for k in node.keywords})
        except TypeError as err:
            raise _refuse(node, f"Wrong arguments for {name}(): {err}") from None
        args = [self.compile(arg) for arg in node.args]
        keywords = {k.arg: self.compile(k.value) for k in node.keywords}
        return lambda run: _call(name, [a(run) for a in args], {k: v(run) for k, v in keywords.items()}, run)


def _index(target: object, key: object) -> object:
    if type(target) is dict:
        try:
            return target[key]
        except KeyError:
            raise ExpressionError(f"Key {_show(key)} is not in the dict") from None
        except TypeError:
            raise ExpressionError(f"A {_kind(key)} cannot be a dict key") from None
    if type(target) in _SEQUENCES:
        if type(key) is not int:
            raise ExpressionError(f"A {_kind(target)} index must be a whole number, not {_kind(key)}")
        try:
            return target[key]
        except IndexError:
            raise ExpressionError(f"Index {key} is out of range (length {len(target)})") from None
    raise ExpressionError(f"Cannot use [...] on {_kind(target)}")


def _slice(target: object, bounds: list[object]) -> object:
    if type(target) not in _SEQUENCES:
        raise ExpressionError(f"Cannot slice {_kind(target)}")
    if any(bound is not None and type(bound) is not int for bound in bounds):
        raise ExpressionError("Slice bounds must be whole numbers")
    if bounds[2] == 0:
        raise ExpressionError("A slice step cannot be zero")
    return target[slice(*bounds)]


# ---------------------------------------------------------------- public API


def _parse(text: str, mode: str, limit: int, what: str) -> ast.AST:
    if len(text) > limit:
        raise ExpressionError(f"The {what} is too long (more than {limit:,} characters)")
    try:
        return ast.parse(text, mode=mode)
    except SyntaxError as err:
        raise ExpressionError(
            _syntax_message(text, err, mode), problems=_syntax_problems(err, mode)
        ) from None
    except (RecursionError, MemoryError, ValueError):
        raise ExpressionError(f"The {what} is too complex to read") from None


def _syntax_message(text: str, err: SyntaxError, mode: str) -> str:
    if mode == "eval":
        try:
            statements = ast.parse(text, mode="exec").body
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            statements = []
        if statements and isinstance(statements[0], ast.Assign):
            return "Assignments are not allowed in an expression (to compare, use '==')"
        if statements and not isinstance(statements[0], ast.Expr):
            return "Statements (such as import, def or for) are not allowed in an expression"
    if mode == "exec":
        return f"Line {err.lineno}: {_syntax_problem(err)}"
    return f"Syntax error at column {err.offset}: {err.msg}"


def _syntax_problem(err: SyntaxError) -> str:
    return f"Syntax error: {err.msg} (column {err.offset})"


def _syntax_problems(err: SyntaxError, mode: str) -> list[Problem] | None:
    if mode != "exec":
        return None
    return [Problem(_syntax_problem(err), line=err.lineno)]


class Expression:
    """A compiled expression: immutable, so one instance can serve every thread."""

    __slots__ = ("_evaluator", "names", "source")

    def __init__(self, source: str, names: frozenset[str], evaluator: Evaluator) -> None:
        self.source = source
        self.names = names
        self._evaluator = evaluator

    def evaluate(self, context: Mapping[str, object]) -> object:
        """The value of the expression over ``context`` (the dossier's data)."""
        return _guarded(self._evaluator, _Run(context))

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"


def _guarded(evaluator: Evaluator, run: _Run) -> object:
    """Run compiled code so that nothing but an ExpressionError ever escapes."""
    try:
        return evaluator(run)
    except ExpressionError:
        raise
    except RecursionError:
        raise ExpressionError("The expression is nested too deeply to evaluate") from None
    except MemoryError:
        raise ExpressionError("The expression needs too much memory") from None
    except Exception as err:
        raise ExpressionError(f"The expression could not be evaluated ({type(err).__name__})") from err


def _compile_tree(node: ast.AST) -> tuple[Evaluator, frozenset[str]]:
    _check_shape(node)
    compiler = _Compiler()
    evaluator = compiler.compile(node)
    _probe_constant_parts(node)
    return evaluator, frozenset(compiler.names)


_PROBED = (ast.BinOp, ast.UnaryOp, ast.Call, ast.Compare, ast.Subscript)


def _probe_constant_parts(root: ast.AST) -> None:
    """Evaluate once, at compile time, each largest part that reads no data.

    Such a part gives the same answer for every dossier, so if it fails
    (``9**9**9``, ``'a' * 10**9``, ``1/0``) it can never work: the designer
    hears it when deploying, not a clerk in the middle of a dossier.
    """
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, _PROBED) and not any(isinstance(n, ast.Name) for n in ast.walk(node)):
            try:
                _Compiler().compile(node)(_Run({}))
            except ExpressionError as err:
                raise _refuse(node, f"{err}; this part reads no data, so it fails for every dossier") from None
            continue
        stack.extend(_always_evaluated(node))


def _always_evaluated(node: ast.AST) -> list[ast.AST]:
    """The parts of ``node`` that every evaluation reaches: not a branch that may be skipped."""
    if isinstance(node, ast.IfExp):
        return [node.test]
    if isinstance(node, ast.BoolOp):
        return node.values[:1]
    return list(ast.iter_child_nodes(node))


def compile_expression(text: str) -> Expression:
    """Check and compile an expression; results are cached, so compiling the same text again is free.

    Surrounding whitespace is ignored, as BPMN files often indent condition text.
    """
    if not isinstance(text, str):
        raise ExpressionError("The expression must be text")
    return _compile_expression(text)


@functools.lru_cache(maxsize=1024)
def _compile_expression(text: str) -> Expression:
    tree = _parse(text.strip(), "eval", MAX_EXPRESSION_CHARS, "expression")
    evaluator, names = _compile_tree(tree.body)
    return Expression(text, names, evaluator)


def evaluate(text: str, context: Mapping[str, object]) -> object:
    """Compile (cached) and evaluate ``text`` over ``context``."""
    return compile_expression(text).evaluate(context)


# ---------------------------------------------------------------- scripts

_STATEMENT_NAMES: dict[type[ast.stmt], str] = {
    ast.Import: "import is not allowed",
    ast.ImportFrom: "import is not allowed",
    ast.FunctionDef: "Defining functions is not allowed",
    ast.AsyncFunctionDef: "Defining functions is not allowed",
    ast.ClassDef: "Defining classes is not allowed",
    ast.For: "Loops (for, while) are not allowed",
    ast.AsyncFor: "Loops (for, while) are not allowed",
    ast.While: "Loops (for, while) are not allowed",
    ast.If: "'if' statements are not allowed; use 'name = a if condition else b'",
    ast.Expr: "Each line must assign a value, like 'name = expression'",
    ast.AnnAssign: "Type annotations are not allowed",
}


class Script:
    """A compiled script task body: assignments applied together or not at all."""

    __slots__ = ("_steps", "names", "source", "targets")

    def __init__(self, source: str, steps: list[tuple[int, str, Evaluator]], names: frozenset[str]) -> None:
        self.source = source
        self._steps = tuple(steps)
        self.targets = tuple(dict.fromkeys(target for _, target, _ in steps))
        self.names = names

    def execute(self, context: MutableMapping[str, object]) -> None:
        """Run the assignments over ``context`` and store the results in it.

        Values are written only after every line succeeded, so a failing
        script leaves the dossier's data untouched.
        """
        assigned: dict[str, object] = {}
        run = _Run(ChainMap(assigned, context))
        for line, target, evaluator in self._steps:
            try:
                assigned[target] = _guarded(evaluator, run)
            except ExpressionError as err:
                raise ExpressionError(
                    f"Line {line}: {err.message}", problems=[Problem(err.message, line=line)]
                ) from None
        context.update(assigned)

    def __repr__(self) -> str:
        return f"Script({self.source!r})"


def _statement_target(statement: ast.stmt) -> tuple[str, ast.expr]:
    """The assigned name and value node of an allowed statement, or a refusal."""
    if isinstance(statement, ast.Assign):
        if len(statement.targets) != 1 or not isinstance(statement.targets[0], ast.Name):
            raise ExpressionError("Only simple assignments like 'name = expression' are allowed")
        return statement.targets[0].id, statement.value
    if isinstance(statement, ast.AugAssign):
        if not isinstance(statement.target, ast.Name):
            raise ExpressionError("Only simple assignments like 'name += expression' are allowed")
        if type(statement.op) not in _BINARY:
            raise ExpressionError("Bitwise operators and '@' are not allowed")
        return statement.target.id, statement.value
    message = _STATEMENT_NAMES.get(type(statement))
    raise ExpressionError(message or f"'{type(statement).__name__}' statements are not allowed")


def _compile_statement(statement: ast.stmt) -> tuple[str, Evaluator, frozenset[str]]:
    target, value_node = _statement_target(statement)
    if target.startswith("_"):
        raise ExpressionError(f"Names starting with '_' are not allowed ('{target}')")
    if target in FUNCTIONS:
        raise ExpressionError(f"'{target}' is the name of a function; choose another name")
    value, names = _compile_tree(value_node)
    if isinstance(statement, ast.AugAssign):
        combine = _BINARY[type(statement.op)][1]
        return target, lambda run: combine(run.lookup(target), value(run), run), names | {target}
    return target, value, names


def compile_script(text: str) -> Script:
    """Check and compile a script task body (cached), reporting every refused line at once.

    Refusals raise :class:`ExpressionError` whose ``problems`` carry the line
    numbers; ``element_id`` is left for the caller to fill in. A uniformly
    indented body (as scripts usually are inside BPMN XML) is accepted.
    """
    if not isinstance(text, str):
        raise ExpressionError("The script must be text")
    return _compile_script(text)


@functools.lru_cache(maxsize=512)
def _compile_script(text: str) -> Script:
    tree = _parse(textwrap.dedent(text), "exec", MAX_SCRIPT_CHARS, "script")
    body = [s for s in tree.body if not isinstance(s, ast.Pass)]
    if len(body) > MAX_STATEMENTS:
        raise ExpressionError(f"The script is too long (more than {MAX_STATEMENTS} statements)")
    steps: list[tuple[int, str, Evaluator]] = []
    problems: list[Problem] = []
    read: set[str] = set()
    assigned: set[str] = set()
    for statement in body:
        try:
            target, evaluator, names = _compile_statement(statement)
        except ExpressionError as err:
            problems.append(Problem(err.message, line=statement.lineno))
            continue
        read |= names - assigned
        assigned.add(target)
        steps.append((statement.lineno, target, evaluator))
    if problems:
        first = problems[0]
        summary = f"Line {first.line}: {first.message}"
        if len(problems) > 1:
            summary += f" (and {len(problems) - 1} more problem(s))"
        raise ExpressionError(summary, problems=problems)
    return Script(text, steps, frozenset(read))
