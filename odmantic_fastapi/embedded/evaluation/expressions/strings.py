"""String expression operators: $concat, $substr*, $split, $trim, $regexMatch, $replaceAll, ..."""

import re
from collections.abc import Mapping
from typing import Any

from bson import Regex

from ...errors import CommandError
from ..compare import to_decimal
from ..values import Pattern, compile_regex
from ._core import Operator, Vars, args, check_size, evaluate, is_null, one, two
from .conversion import to_string

__all__ = ["OPERATORS"]


def _concat(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    values = args(expr, root, variables)
    if any(is_null(v) for v in values):
        return None
    for v in values:
        if not isinstance(v, str):
            raise CommandError(16702, f"$concat only supports strings, not {type(v).__name__}")
    check_size(name, sum(len(v) for v in values))
    return "".join(values)


def _case(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    """$toLower and $toUpper: null and missing give the empty string."""
    value = one(name, expr, root, variables)
    if is_null(value):
        return ""
    text = to_string(value)
    return text.lower() if name == "$toLower" else text.upper()


def _substr(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    """$substrCP counts code points; $substr and $substrBytes count UTF-8 bytes."""
    if not isinstance(expr, list) or len(expr) != 3:
        raise CommandError(16020, f"Expression {name} takes exactly 3 arguments.")
    text, start, length = (evaluate(e, root, variables) for e in expr)
    text = "" if is_null(text) else to_string(text)
    start, length = int(to_decimal(start)), int(to_decimal(length))
    if name == "$substrCP":
        return text[start : start + length] if length >= 0 else text[start:]
    data = text.encode()
    chunk = data[start : start + length] if length >= 0 else data[start:]
    return chunk.decode(errors="ignore")


def _length(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    value = one(name, expr, root, variables)
    if not isinstance(value, str):
        raise CommandError(34471, f"{name} requires a string argument")
    return len(value) if name == "$strLenCP" else len(value.encode())


def _split(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    a, b = two(name, expr, root, variables)
    if is_null(a):
        return None
    if not isinstance(a, str) or not isinstance(b, str) or not b:
        raise CommandError(40085, "$split requires a string and a non-empty string delimiter")
    return a.split(b)


def _trim(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    value = evaluate(expr.get("input"), root, variables)
    chars = evaluate(expr.get("chars"), root, variables) if "chars" in expr else None
    if is_null(value):
        return None
    return {"$trim": value.strip, "$ltrim": value.lstrip, "$rtrim": value.rstrip}[name](chars)


def _index_of(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    items = args(expr, root, variables)
    if is_null(items[0]):
        return None
    return items[0].find(items[1], *(int(i) for i in items[2:4]))


def _strcasecmp(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    a, b = two(name, expr, root, variables)
    x, y = to_string(a) or "", to_string(b) or ""
    return (x.lower() > y.lower()) - (x.lower() < y.lower())


def _regex_args(spec: Any, root: Any, variables: Vars) -> tuple[str | None, Pattern]:
    if not isinstance(spec, Mapping):
        raise CommandError(51103, "regex expressions take an object")
    text = evaluate(spec.get("input"), root, variables)
    pattern = evaluate(spec.get("regex"), root, variables)
    options = evaluate(spec.get("options", ""), root, variables) or ""
    if isinstance(pattern, Regex | re.Pattern):
        compiled = compile_regex(pattern)
    else:
        compiled = compile_regex(pattern, options)
    return (text if isinstance(text, str) else None), compiled


def _regex(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    """$regexMatch (a boolean) and $regexFind (the first match, its index and captures)."""
    text, pattern = _regex_args(expr, root, variables)
    found = pattern.search(text) if text is not None else None
    if name == "$regexMatch":
        return found is not None
    if found is None:
        return None
    return {"match": found.group(0), "idx": found.start(), "captures": list(found.groups())}


def _replace(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    text = evaluate(expr.get("input"), root, variables)
    find = evaluate(expr.get("find"), root, variables)
    replacement = evaluate(expr.get("replacement"), root, variables)
    if is_null(text) or is_null(find) or is_null(replacement):
        return None
    if isinstance(text, str) and isinstance(find, str) and isinstance(replacement, str) and find:
        count = 1 if name == "$replaceOne" else text.count(find)
        check_size(name, len(text) + count * max(0, len(replacement) - len(find)))
    return text.replace(find, replacement, 1 if name == "$replaceOne" else -1)


OPERATORS: dict[str, Operator] = {
    "$concat": _concat,
    "$toLower": _case,
    "$toUpper": _case,
    **dict.fromkeys(("$substr", "$substrCP", "$substrBytes"), _substr),
    "$strLenCP": _length,
    "$strLenBytes": _length,
    "$split": _split,
    **dict.fromkeys(("$trim", "$ltrim", "$rtrim"), _trim),
    "$indexOfCP": _index_of,
    "$strcasecmp": _strcasecmp,
    "$regexMatch": _regex,
    "$regexFind": _regex,
    "$replaceOne": _replace,
    "$replaceAll": _replace,
}
