"""Comparison, boolean, conditional and scoping expression operators ($eq, $and, $cond, $let, ...)."""

import random
from collections.abc import Mapping
from typing import Any

from ...errors import CommandError
from ..compare import compare
from ._core import MISSING, Operator, Vars, args, evaluate, is_null, one, truth, two

__all__ = ["OPERATORS"]


def _compare(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    """$eq, $ne, $gt, $gte, $lt, $lte and $cmp, in BSON comparison order (missing is null)."""
    a, b = two(name, expr, root, variables)
    a = None if a is MISSING else a
    b = None if b is MISSING else b
    order = compare(a, b)
    return {
        "$eq": order == 0,
        "$ne": order != 0,
        "$gt": order > 0,
        "$gte": order >= 0,
        "$lt": order < 0,
        "$lte": order <= 0,
        "$cmp": order,
    }[name]


def _and(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    return all(truth(v) for v in args(expr, root, variables))


def _or(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    return any(truth(v) for v in args(expr, root, variables))


def _not(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    return not truth(one(name, expr, root, variables))


def _cond(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    if isinstance(expr, list):
        if len(expr) != 3:
            raise CommandError(16020, "Expression $cond takes exactly 3 arguments.")
        condition, then, otherwise = expr
    elif isinstance(expr, Mapping):
        for key in ("if", "then", "else"):
            if key not in expr:
                raise CommandError(17080, f"Missing '{key}' parameter to $cond")
        condition, then, otherwise = expr["if"], expr["then"], expr["else"]
    else:
        raise CommandError(16020, "Expression $cond takes exactly 3 arguments.")
    chosen = then if truth(evaluate(condition, root, variables)) else otherwise
    return evaluate(chosen, root, variables)


def _if_null(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    items = expr if isinstance(expr, list) else [expr]
    for item in items[:-1]:
        value = evaluate(item, root, variables)
        if not is_null(value):
            return value
    return evaluate(items[-1], root, variables)


def _switch(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    for branch in expr.get("branches", []):
        if truth(evaluate(branch["case"], root, variables)):
            return evaluate(branch["then"], root, variables)
    if "default" in expr:
        return evaluate(expr["default"], root, variables)
    raise CommandError(
        40066,
        "$switch could not find a matching branch for an input, and no default was specified.",
    )


def _literal(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    return expr


def _let(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    scope = dict(variables)
    for var, value in expr.get("vars", {}).items():
        scope[var] = evaluate(value, root, variables)
    return evaluate(expr["in"], root, scope)


def _rand(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    return random.random()


OPERATORS: dict[str, Operator] = {
    **dict.fromkeys(("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$cmp"), _compare),
    "$and": _and,
    "$or": _or,
    "$not": _not,
    "$cond": _cond,
    "$ifNull": _if_null,
    "$switch": _switch,
    "$literal": _literal,
    "$let": _let,
    "$rand": _rand,
}
