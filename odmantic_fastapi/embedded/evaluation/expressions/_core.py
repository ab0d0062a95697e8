"""Evaluating an aggregation expression: field paths, variables, and dispatch to operator families.

``evaluate(expr, root)`` evaluates an expression against a document; missing
values are the ``MISSING`` sentinel inside the evaluator and come out as absent
fields or null, never as the sentinel. Each operator family module fills
``OPERATORS`` (name -> handler); ``validate_expression`` rejects names the
table does not hold before any document is read.
"""

import datetime
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from ...errors import CommandError
from .. import budget
from ..paths import MISSING
from ..values import bson_type_name, truthy

__all__ = [
    "INT32",
    "INT64",
    "MAX_VALUE_BYTES",
    "MISSING",
    "OPERATORS",
    "Operator",
    "Vars",
    "args",
    "array_arg",
    "check_built_value",
    "check_size",
    "checked",
    "evaluate",
    "is_missing",
    "is_null",
    "one",
    "present",
    "truth",
    "two",
    "type_name",
    "validate_expression",
    "value_bytes",
    "with_var",
]

Vars = Mapping[str, Any]
_T = TypeVar("_T")
# A handler gets its operator's name (families share handlers), its argument,
# the document and the variables in scope.
Operator = Callable[[str, Any, Any, Vars], Any]
OPERATORS: dict[str, Operator] = {}

# The largest string or array an expression may build (MongoDB's BSON user size).
MAX_VALUE_BYTES = 16 * 1024 * 1024
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)


def is_missing(value: Any) -> bool:
    return value is MISSING


def is_null(value: Any) -> bool:
    """Null or missing: what most operators answer null for."""
    return value is None or value is MISSING


def present(value: Any) -> Any:
    """``value``, with missing turned into null (inside arrays, for instance)."""
    return None if value is MISSING else value


def truth(value: Any) -> bool:
    """Aggregation truthiness, missing included."""
    return False if value is MISSING else truthy(value)


def type_name(value: Any) -> str:
    """The ``$type`` name of a value, "missing" for a path that leads nowhere."""
    return "missing" if value is MISSING else bson_type_name(value)


def with_var(variables: Vars, name: str, value: Any) -> dict[str, Any]:
    return {**variables, name: value}


def args(expr: Any, root: Any, variables: Vars) -> list[Any]:
    """Every argument evaluated; a lone argument need not be wrapped in a list."""
    items = expr if isinstance(expr, list) else [expr]
    return [evaluate(item, root, variables) for item in items]


def one(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    """The single argument of a one-argument operator, evaluated."""
    items = expr if isinstance(expr, list) else [expr]
    if len(items) != 1:
        raise CommandError(
            16020, f"Expression {name} takes exactly 1 arguments. {len(items)} were passed in."
        )
    return evaluate(items[0], root, variables)


def two(name: str, expr: Any, root: Any, variables: Vars) -> tuple[Any, Any]:
    """Both arguments of a two-argument operator, evaluated."""
    if not isinstance(expr, list) or len(expr) != 2:
        raise CommandError(16020, f"Expression {name} takes exactly 2 arguments.")
    return evaluate(expr[0], root, variables), evaluate(expr[1], root, variables)


def array_arg(name: str, value: Any) -> list[Any] | None:
    """An array argument; None when it is null or missing, an error when it is no array."""
    if is_null(value):
        return None
    if not isinstance(value, list):
        raise CommandError(28689, f"{name} requires an array, found {type(value).__name__}")
    return value


def checked(items: Iterable[_T]) -> Iterator[_T]:
    """``items``, checking the command's maxTimeMS every 1,024 of them."""
    for position, item in enumerate(items):
        if position & 1023 == 1023:
            budget.check()
        yield item


def check_size(name: str, size: int) -> None:
    """Refuse to build a string or array of ``size`` bytes past MongoDB's 16 MB BSON limit."""
    if size > MAX_VALUE_BYTES:
        raise CommandError(
            10334,
            f"{name} would build a value of about {size} bytes, over the "
            f"{MAX_VALUE_BYTES}-byte BSON limit",
        )


def value_bytes(value: Any, limit: int) -> int:
    """About how many bytes ``value`` takes in BSON; counting stops once past ``limit``.

    Elements shared by reference (``$map`` repeating one long string) count
    each time, as they would in the reply: that is what must stay bounded.
    """
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item) + 7
        elif isinstance(item, Mapping):
            total += 5
            for key, inner in item.items():
                total += len(key) + 2
                stack.append(inner)
        elif isinstance(item, list):
            total += 5 + 3 * len(item)
            stack.extend(item)
        else:
            total += 9
    return total


def check_built_value(name: str, value: Any) -> Any:
    """``value`` (a string or array an operator built), refused past the 16 MB BSON limit."""
    if isinstance(value, list | str):
        check_size(name, value_bytes(value, MAX_VALUE_BYTES))
    return value


def _field(value: Any, parts: Sequence[str]) -> Any:
    for i, part in enumerate(parts):
        if isinstance(value, Mapping):
            value = value.get(part, MISSING)
        elif isinstance(value, list):
            rest = parts[i:]
            out = [_field(v, rest) for v in value if isinstance(v, Mapping)]
            return [v for v in out if v is not MISSING]
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


def _variable(path: str, root: Any, variables: Vars) -> Any:
    name, _, rest = path[2:].partition(".")
    if name in ("ROOT", "CURRENT"):
        base = variables.get("CURRENT", root) if name == "CURRENT" else root
    elif name == "NOW":
        base = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    elif name == "REMOVE":
        return MISSING
    elif name in variables:
        base = variables[name]
    else:
        raise CommandError(17276, f"Use of undefined variable: {name}")
    return _field(base, rest.split(".")) if rest else base


def evaluate(expr: Any, root: Mapping[str, Any], variables: Vars | None = None) -> Any:
    """The value of ``expr`` for the document ``root``; MISSING when a path leads nowhere."""
    variables = variables or {}
    if isinstance(expr, str):
        if expr.startswith("$$"):
            return _variable(expr, root, variables)
        if expr.startswith("$"):
            return _field(variables.get("CURRENT", root), expr[1:].split("."))
        return expr
    if isinstance(expr, Mapping):
        if len(expr) == 1:
            key = next(iter(expr))
            if key.startswith("$"):
                handler = OPERATORS.get(key)
                if handler is None:
                    raise CommandError(168, f"Unrecognized expression '{key}'")
                return handler(key, expr[key], root, variables)
        out: dict[str, Any] = {}
        for key, value in expr.items():
            result = evaluate(value, root, variables)
            if result is not MISSING:
                out[key] = result
        return out
    if isinstance(expr, list):
        return [present(evaluate(item, root, variables)) for item in expr]
    return expr


def validate_expression(expr: Any) -> None:
    """Reject unknown operators anywhere in ``expr`` before evaluating it."""
    if isinstance(expr, Mapping):
        if len(expr) == 1:
            key = next(iter(expr))
            if key.startswith("$"):
                if key not in OPERATORS:
                    raise CommandError(168, f"Unrecognized expression '{key}'")
                if key == "$literal":
                    return
        else:
            for key in expr:
                if key.startswith("$"):
                    raise CommandError(
                        15983,
                        f"An expression specification must contain exactly one field, the name of the expression. Found {len(expr)} fields",
                    )
        for value in expr.values():
            validate_expression(value)
    elif isinstance(expr, list):
        for item in expr:
            validate_expression(item)
