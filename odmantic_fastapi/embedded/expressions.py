"""Aggregation expressions ("$field.path", {"$add": [...]}, "$$ROOT", ...) with MongoDB's semantics.

``evaluate(expr, root)`` evaluates an expression against a document; missing
values are a private sentinel inside this module and come out as absent fields
or null, never as the sentinel. ``validate_expression`` rejects unknown
operators before any document is read.
"""

import datetime
import decimal
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from bson import Decimal128, Int64, ObjectId, Regex

from .compare import compare, is_number, sort_key, to_decimal
from .errors import CommandError
from .paths import MISSING

__all__ = ["MISSING", "evaluate", "is_missing", "validate_expression"]

Vars = Mapping[str, Any]
_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


def is_missing(value: Any) -> bool:
    return value is MISSING


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


def _null(value: Any) -> bool:
    return value is None or value is MISSING


def _number_result(value: Any, *operands: Any) -> Any:
    """Type an arithmetic result as MongoDB does: decimal > double > long > int."""
    if any(isinstance(o, Decimal128) for o in operands):
        return Decimal128(to_decimal(value) if not isinstance(value, decimal.Decimal) else value)
    if any(isinstance(o, float) for o in operands) or isinstance(value, float):
        return float(value)
    number = int(value)
    if any(isinstance(o, Int64) for o in operands) or not _INT32[0] <= number <= _INT32[1]:
        if _INT64[0] <= number <= _INT64[1]:
            return Int64(number)
        return float(number)
    return number


def _numbers(name: str, values: list[Any]) -> list[Any] | None:
    if any(_null(v) for v in values):
        return None
    for v in values:
        if not is_number(v):
            raise CommandError(14, f"{name} only supports numeric types, not {type(v).__name__}")
    return values


def _add(values: list[Any]) -> Any:
    if any(_null(v) for v in values):
        return None
    dates = [v for v in values if isinstance(v, datetime.datetime)]
    numbers = [v for v in values if not isinstance(v, datetime.datetime)]
    for v in numbers:
        if not is_number(v):
            raise CommandError(
                14, f"$add only supports numeric or date types, not {type(v).__name__}"
            )
    if len(dates) > 1:
        raise CommandError(16612, "only one date allowed in an $add expression")
    total = sum((to_decimal(v) for v in numbers), decimal.Decimal(0))
    if dates:
        return dates[0] + datetime.timedelta(milliseconds=float(total))
    if any(isinstance(v, Decimal128) for v in numbers):
        return Decimal128(total)
    if any(isinstance(v, float) for v in numbers):
        return float(sum(float(v) for v in numbers))
    return _number_result(int(total), *numbers)


def _arith2(name: str, a: Any, b: Any) -> Any:
    if _null(a) or _null(b):
        return None
    if name == "$subtract" and isinstance(a, datetime.datetime):
        if isinstance(b, datetime.datetime):
            return Int64(int((a - b).total_seconds() * 1000))
        if is_number(b):
            return a - datetime.timedelta(milliseconds=float(to_decimal(b)))
    if not is_number(a) or not is_number(b):
        raise CommandError(14, f"{name} only supports numeric types")
    x, y = to_decimal(a), to_decimal(b)
    if name == "$subtract":
        result = x - y
    elif name == "$divide":
        if y == 0:
            raise CommandError(2, "can't $divide by zero")
        if isinstance(a, Decimal128) or isinstance(b, Decimal128):
            return Decimal128(x / y)
        return float(a) / float(b)
    else:
        if y == 0:
            raise CommandError(2, "can't $mod by zero")
        result = (
            decimal.Decimal(math.fmod(float(x), float(y)))
            if isinstance(a, float) or isinstance(b, float)
            else x % y
        )
    if isinstance(a, Decimal128) or isinstance(b, Decimal128):
        return Decimal128(result)
    if isinstance(a, float) or isinstance(b, float):
        return float(result)
    return _number_result(int(result), a, b)


def _to_string(value: Any) -> Any:
    if _null(value):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, ObjectId | Decimal128 | int | float):
        return str(value)
    raise CommandError(16007, f"can't convert from BSON type {type(value).__name__} to String")


def _convert(value: Any, target: str) -> Any:
    if _null(value):
        return None
    try:
        if target in ("int", "long"):
            if isinstance(value, str):
                number = int(value)
            elif isinstance(value, datetime.datetime):
                number = int(value.replace(tzinfo=datetime.UTC).timestamp() * 1000)
            else:
                number = (
                    int(to_decimal(value))
                    if is_number(value) or isinstance(value, bool)
                    else int(value)
                )
            if target == "int":
                if not _INT32[0] <= number <= _INT32[1]:
                    raise CommandError(
                        241, f"Conversion would overflow target type in $convert with value {value}"
                    )
                return number
            return Int64(number)
        if target == "double":
            return float(to_decimal(value)) if is_number(value) else float(value)
        if target == "decimal":
            return Decimal128(str(value) if not is_number(value) else to_decimal(value))
        if target == "string":
            return _to_string(value)
        if target == "bool":
            if is_number(value):
                return to_decimal(value) != 0
            return True
        if target == "objectId":
            return value if isinstance(value, ObjectId) else ObjectId(value)
        if target == "date":
            if isinstance(value, datetime.datetime):
                return value
            if isinstance(value, str):
                parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
                return (
                    parsed.astimezone(datetime.UTC).replace(tzinfo=None)
                    if parsed.tzinfo
                    else parsed
                )
            if is_number(value):
                return datetime.datetime(1970, 1, 1) + datetime.timedelta(
                    milliseconds=float(to_decimal(value))
                )
    except CommandError:
        raise
    except Exception:
        raise CommandError(241, f"Failed to parse {value!r} as {target} in $convert") from None
    raise CommandError(
        241, f"Unsupported conversion from {type(value).__name__} to {target} in $convert"
    )


def _type_name(value: Any) -> str:
    from .matcher import _bson_type_number

    if value is MISSING:
        return "missing"
    code = _bson_type_number(value)
    return {
        1: "double",
        2: "string",
        3: "object",
        4: "array",
        5: "binData",
        7: "objectId",
        8: "bool",
        9: "date",
        10: "null",
        11: "regex",
        13: "javascript",
        16: "int",
        17: "timestamp",
        18: "long",
        19: "decimal",
        -1: "minKey",
        127: "maxKey",
    }.get(code, "unknown")


def _date_part(name: str, value: Any) -> Any:
    if _null(value):
        return None
    if not isinstance(value, datetime.datetime):
        raise CommandError(16006, f"can't convert from BSON type {type(value).__name__} to Date")
    if name == "$year":
        return value.year
    if name == "$month":
        return value.month
    if name == "$dayOfMonth":
        return value.day
    if name == "$dayOfWeek":
        return value.isoweekday() % 7 + 1
    if name == "$dayOfYear":
        return value.timetuple().tm_yday
    if name == "$hour":
        return value.hour
    if name == "$minute":
        return value.minute
    if name == "$second":
        return value.second
    if name == "$millisecond":
        return value.microsecond // 1000
    return int(value.strftime("%U"))


def _date_to_string(spec: Mapping[str, Any], root: Any, variables: Vars) -> Any:
    value = evaluate(spec.get("date"), root, variables)
    if _null(value):
        return evaluate(spec.get("onNull"), root, variables) if "onNull" in spec else None
    fmt = evaluate(spec.get("format", "%Y-%m-%dT%H:%M:%S.%LZ"), root, variables)
    out = fmt.replace("%L", f"{value.microsecond // 1000:03d}")
    return value.strftime(out.replace("%%", "\x00")).replace("\x00", "%")


def _regex_args(spec: Any, root: Any, variables: Vars) -> tuple[str | None, re.Pattern[str]]:
    if not isinstance(spec, Mapping):
        raise CommandError(51103, "regex expressions take an object")
    text = evaluate(spec.get("input"), root, variables)
    pattern = evaluate(spec.get("regex"), root, variables)
    options = evaluate(spec.get("options", ""), root, variables) or ""
    from .matcher import _compile_regex

    if isinstance(pattern, Regex | re.Pattern):
        compiled = _compile_regex(pattern)
    else:
        compiled = _compile_regex(pattern, options)
    return (text if isinstance(text, str) else None), compiled


def _args(expr: Any, root: Any, variables: Vars) -> list[Any]:
    items = expr if isinstance(expr, list) else [expr]
    return [evaluate(item, root, variables) for item in items]


def _one(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    items = expr if isinstance(expr, list) else [expr]
    if len(items) != 1:
        raise CommandError(
            16020, f"Expression {name} takes exactly 1 arguments. {len(items)} were passed in."
        )
    return evaluate(items[0], root, variables)


def _two(name: str, expr: Any, root: Any, variables: Vars) -> tuple[Any, Any]:
    if not isinstance(expr, list) or len(expr) != 2:
        raise CommandError(16020, f"Expression {name} takes exactly 2 arguments.")
    return evaluate(expr[0], root, variables), evaluate(expr[1], root, variables)


def _truthy(value: Any) -> bool:
    from .matcher import truthy

    return False if value is MISSING else truthy(value)


def _array_op(name: str, value: Any) -> list[Any] | None:
    if _null(value):
        return None
    if not isinstance(value, list):
        raise CommandError(28689, f"{name} requires an array, found {type(value).__name__}")
    return value


def _with_var(variables: Vars, name: str, value: Any) -> dict[str, Any]:
    return {**variables, name: value}


def _operator(name: str, expr: Any, root: Any, variables: Vars) -> Any:
    if name == "$literal":
        return expr
    if name in ("$add",):
        return _add(_args(expr, root, variables))
    if name in ("$subtract", "$divide", "$mod"):
        a, b = _two(name, expr, root, variables)
        return _arith2(name, a, b)
    if name == "$multiply":
        values = _numbers(name, _args(expr, root, variables))
        if values is None:
            return None
        product = decimal.Decimal(1)
        for v in values:
            product *= to_decimal(v)
        if any(isinstance(v, Decimal128) for v in values):
            return Decimal128(product)
        if any(isinstance(v, float) for v in values):
            return float(math.prod(float(v) for v in values))
        return _number_result(int(product), *values)
    if name in ("$abs", "$ceil", "$floor", "$sqrt", "$exp", "$ln", "$log10"):
        value = _one(name, expr, root, variables)
        if _null(value):
            return None
        if not is_number(value):
            raise CommandError(28765, f"{name} only supports numeric types")
        number = float(to_decimal(value))
        if name == "$abs":
            return (
                _number_result(abs(to_decimal(value)), value)
                if not isinstance(value, float)
                else abs(value)
            )
        if name == "$ceil":
            return float(math.ceil(number)) if isinstance(value, float) else value
        if name == "$floor":
            return float(math.floor(number)) if isinstance(value, float) else value
        if name == "$sqrt":
            if number < 0:
                raise CommandError(28714, "$sqrt's argument must be greater than or equal to 0")
            return math.sqrt(number)
        if name == "$exp":
            return math.exp(number)
        if number <= 0:
            raise CommandError(28766, f"{name}'s argument must be a positive number")
        return math.log(number) if name == "$ln" else math.log10(number)
    if name in ("$pow", "$log"):
        a, b = _two(name, expr, root, variables)
        if _null(a) or _null(b):
            return None
        if name == "$pow":
            result = float(to_decimal(a)) ** float(to_decimal(b))
            if isinstance(a, float) or isinstance(b, float) or float(to_decimal(b)) < 0:
                return result
            return _number_result(int(to_decimal(a)) ** int(to_decimal(b)), a, b)
        return math.log(float(to_decimal(a)), float(to_decimal(b)))
    if name in ("$round", "$trunc"):
        items = expr if isinstance(expr, list) else [expr]
        value = evaluate(items[0], root, variables)
        places = evaluate(items[1], root, variables) if len(items) > 1 else 0
        if _null(value):
            return None
        quant = decimal.Decimal(1).scaleb(-int(places))
        rounding = decimal.ROUND_HALF_EVEN if name == "$round" else decimal.ROUND_DOWN
        result = to_decimal(value).quantize(quant, rounding=rounding)
        if isinstance(value, float):
            return float(result)
        if isinstance(value, Decimal128):
            return Decimal128(result)
        return _number_result(int(result), value)
    if name in ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$cmp"):
        a, b = _two(name, expr, root, variables)
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
    if name == "$and":
        return all(_truthy(v) for v in _args(expr, root, variables))
    if name == "$or":
        return any(_truthy(v) for v in _args(expr, root, variables))
    if name == "$not":
        return not _truthy(_one(name, expr, root, variables))
    if name == "$cond":
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
        chosen = then if _truthy(evaluate(condition, root, variables)) else otherwise
        return evaluate(chosen, root, variables)
    if name == "$ifNull":
        items = expr if isinstance(expr, list) else [expr]
        for item in items[:-1]:
            value = evaluate(item, root, variables)
            if not _null(value):
                return value
        return evaluate(items[-1], root, variables)
    if name == "$switch":
        for branch in expr.get("branches", []):
            if _truthy(evaluate(branch["case"], root, variables)):
                return evaluate(branch["then"], root, variables)
        if "default" in expr:
            return evaluate(expr["default"], root, variables)
        raise CommandError(
            40066,
            "$switch could not find a matching branch for an input, and no default was specified.",
        )
    if name == "$concat":
        values = _args(expr, root, variables)
        if any(_null(v) for v in values):
            return None
        for v in values:
            if not isinstance(v, str):
                raise CommandError(16702, f"$concat only supports strings, not {type(v).__name__}")
        return "".join(values)
    if name in ("$toLower", "$toUpper"):
        value = _one(name, expr, root, variables)
        if _null(value):
            return ""
        text = _to_string(value)
        return text.lower() if name == "$toLower" else text.upper()
    if name in ("$substr", "$substrCP", "$substrBytes"):
        if not isinstance(expr, list) or len(expr) != 3:
            raise CommandError(16020, f"Expression {name} takes exactly 3 arguments.")
        text, start, length = (evaluate(e, root, variables) for e in expr)
        text = "" if _null(text) else _to_string(text)
        start, length = int(to_decimal(start)), int(to_decimal(length))
        if name == "$substrCP":
            return text[start : start + length] if length >= 0 else text[start:]
        data = text.encode()
        chunk = data[start : start + length] if length >= 0 else data[start:]
        return chunk.decode(errors="ignore")
    if name in ("$strLenCP", "$strLenBytes"):
        value = _one(name, expr, root, variables)
        if not isinstance(value, str):
            raise CommandError(34471, f"{name} requires a string argument")
        return len(value) if name == "$strLenCP" else len(value.encode())
    if name == "$split":
        a, b = _two(name, expr, root, variables)
        if _null(a):
            return None
        if not isinstance(a, str) or not isinstance(b, str) or not b:
            raise CommandError(40085, "$split requires a string and a non-empty string delimiter")
        return a.split(b)
    if name in ("$trim", "$ltrim", "$rtrim"):
        value = evaluate(expr.get("input"), root, variables)
        chars = evaluate(expr.get("chars"), root, variables) if "chars" in expr else None
        if _null(value):
            return None
        return {"$trim": value.strip, "$ltrim": value.lstrip, "$rtrim": value.rstrip}[name](chars)
    if name == "$indexOfCP":
        items = _args(expr, root, variables)
        if _null(items[0]):
            return None
        return items[0].find(items[1], *(int(i) for i in items[2:4]))
    if name == "$strcasecmp":
        a, b = _two(name, expr, root, variables)
        x, y = _to_string(a) or "", _to_string(b) or ""
        return (x.lower() > y.lower()) - (x.lower() < y.lower())
    if name in ("$regexMatch", "$regexFind"):
        text, pattern = _regex_args(expr, root, variables)
        found = pattern.search(text) if text is not None else None
        if name == "$regexMatch":
            return found is not None
        if found is None:
            return None
        return {"match": found.group(0), "idx": found.start(), "captures": list(found.groups())}
    if name in ("$replaceOne", "$replaceAll"):
        text = evaluate(expr.get("input"), root, variables)
        find = evaluate(expr.get("find"), root, variables)
        replacement = evaluate(expr.get("replacement"), root, variables)
        if _null(text) or _null(find) or _null(replacement):
            return None
        return text.replace(find, replacement, 1 if name == "$replaceOne" else -1)
    if name == "$size":
        value = _one(name, expr, root, variables)
        if not isinstance(value, list):
            raise CommandError(
                17124,
                f"The argument to $size must be an array. Type of argument was: {_type_name(value)}",
            )
        return len(value)
    if name == "$arrayElemAt":
        array, index = _two(name, expr, root, variables)
        array = _array_op(name, array)
        if array is None or _null(index):
            return None
        i = int(to_decimal(index))
        return array[i] if -len(array) <= i < len(array) else MISSING
    if name in ("$first", "$last"):
        array = _array_op(name, _one(name, expr, root, variables))
        if array is None or not array:
            return MISSING if array is not None else None
        return array[0] if name == "$first" else array[-1]
    if name == "$filter":
        array = _array_op(name, evaluate(expr["input"], root, variables))
        if array is None:
            return None
        var = expr.get("as", "this")
        kept = [
            e for e in array if _truthy(evaluate(expr["cond"], root, _with_var(variables, var, e)))
        ]
        if "limit" in expr:
            kept = kept[: int(evaluate(expr["limit"], root, variables))]
        return kept
    if name == "$map":
        array = _array_op(name, evaluate(expr["input"], root, variables))
        if array is None:
            return None
        var = expr.get("as", "this")
        return [_present(evaluate(expr["in"], root, _with_var(variables, var, e))) for e in array]
    if name == "$reduce":
        array = _array_op(name, evaluate(expr["input"], root, variables))
        if array is None:
            return None
        value = evaluate(expr["initialValue"], root, variables)
        for element in array:
            scope = {**variables, "value": value, "this": element}
            value = evaluate(expr["in"], root, scope)
        return value
    if name == "$in":
        item, array = _two(name, expr, root, variables)
        if not isinstance(array, list):
            raise CommandError(40081, "$in requires an array as a second argument")
        wanted = sort_key(None if item is MISSING else item)
        return any(sort_key(e) == wanted for e in array)
    if name == "$concatArrays":
        values = _args(expr, root, variables)
        if any(_null(v) for v in values):
            return None
        out: list[Any] = []
        for v in values:
            out.extend(_array_op(name, v) or [])
        return out
    if name == "$slice":
        items = _args(expr, root, variables)
        array = _array_op(name, items[0])
        if array is None:
            return None
        if len(items) == 2:
            n = int(to_decimal(items[1]))
            return array[:n] if n >= 0 else array[n:]
        start, n = int(to_decimal(items[1])), int(to_decimal(items[2]))
        start = start if start >= 0 else max(len(array) + start, 0)
        return array[start : start + n]
    if name == "$reverseArray":
        array = _array_op(name, _one(name, expr, root, variables))
        return None if array is None else list(reversed(array))
    if name == "$isArray":
        return isinstance(_one(name, expr, root, variables), list)
    if name == "$range":
        items = [int(to_decimal(v)) for v in _args(expr, root, variables)]
        return list(range(*items))
    if name == "$indexOfArray":
        items = _args(expr, root, variables)
        array = _array_op(name, items[0])
        if array is None:
            return None
        wanted = sort_key(items[1])
        for i, element in enumerate(array):
            if sort_key(element) == wanted:
                return i
        return -1
    if name == "$sortArray":
        array = _array_op(name, evaluate(expr["input"], root, variables))
        if array is None:
            return None
        spec = expr["sortBy"]
        if isinstance(spec, Mapping):
            from .sorting import compile_sort

            key_fn = compile_sort(spec)
            assert key_fn is not None
            return sorted(array, key=lambda e: key_fn(e if isinstance(e, Mapping) else {}))
        return sorted(array, key=sort_key, reverse=spec == -1)
    if name == "$mergeObjects":
        merged: dict[str, Any] = {}
        for value in _args(expr, root, variables):
            if _null(value):
                continue
            if not isinstance(value, Mapping):
                raise CommandError(
                    40400,
                    f"$mergeObjects requires object inputs, but input is of type {_type_name(value)}",
                )
            merged.update(value)
        return merged
    if name == "$objectToArray":
        value = _one(name, expr, root, variables)
        if _null(value):
            return None
        return [{"k": k, "v": v} for k, v in value.items()]
    if name == "$arrayToObject":
        value = _one(name, expr, root, variables)
        if _null(value):
            return None
        obj: dict[str, Any] = {}
        for item in value:
            if isinstance(item, Mapping):
                obj[item["k"]] = item["v"]
            else:
                obj[item[0]] = item[1]
        return obj
    if name == "$getField":
        field = expr if isinstance(expr, str) else expr.get("field")
        source = (
            root
            if isinstance(expr, str)
            else evaluate(expr.get("input", "$$CURRENT"), root, variables)
        )
        return source.get(field, MISSING) if isinstance(source, Mapping) else None
    if name == "$type":
        return _type_name(_one(name, expr, root, variables))
    if name == "$isNumber":
        return is_number(_one(name, expr, root, variables))
    if name in (
        "$toString",
        "$toInt",
        "$toLong",
        "$toDouble",
        "$toDecimal",
        "$toBool",
        "$toObjectId",
        "$toDate",
    ):
        target = {
            "$toString": "string",
            "$toInt": "int",
            "$toLong": "long",
            "$toDouble": "double",
            "$toDecimal": "decimal",
            "$toBool": "bool",
            "$toObjectId": "objectId",
            "$toDate": "date",
        }[name]
        return _convert(_one(name, expr, root, variables), target)
    if name == "$convert":
        value = evaluate(expr.get("input"), root, variables)
        target = evaluate(expr.get("to"), root, variables)
        if _null(value) and "onNull" in expr:
            return evaluate(expr["onNull"], root, variables)
        try:
            return _convert(value, target)
        except CommandError:
            if "onError" in expr:
                return evaluate(expr["onError"], root, variables)
            raise
    if name in (
        "$year",
        "$month",
        "$dayOfMonth",
        "$dayOfWeek",
        "$dayOfYear",
        "$hour",
        "$minute",
        "$second",
        "$millisecond",
        "$week",
    ):
        value = evaluate(
            expr["date"] if isinstance(expr, Mapping) and "date" in expr else expr, root, variables
        )
        return _date_part(name, value)
    if name == "$dateToString":
        return _date_to_string(expr, root, variables)
    if name == "$dateFromString":
        return _convert(evaluate(expr.get("dateString"), root, variables), "date")
    if name == "$let":
        scope = dict(variables)
        for var, value in expr.get("vars", {}).items():
            scope[var] = evaluate(value, root, variables)
        return evaluate(expr["in"], root, scope)
    if name == "$rand":
        import random

        return random.random()
    raise CommandError(168, f"Unrecognized expression '{name}'")


_KNOWN = frozenset(
    [
        "$literal",
        "$add",
        "$subtract",
        "$divide",
        "$mod",
        "$multiply",
        "$abs",
        "$ceil",
        "$floor",
        "$sqrt",
        "$exp",
        "$ln",
        "$log10",
        "$pow",
        "$log",
        "$round",
        "$trunc",
        "$eq",
        "$ne",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$cmp",
        "$and",
        "$or",
        "$not",
        "$cond",
        "$ifNull",
        "$switch",
        "$concat",
        "$toLower",
        "$toUpper",
        "$substr",
        "$substrCP",
        "$substrBytes",
        "$strLenCP",
        "$strLenBytes",
        "$split",
        "$trim",
        "$ltrim",
        "$rtrim",
        "$indexOfCP",
        "$strcasecmp",
        "$regexMatch",
        "$regexFind",
        "$replaceOne",
        "$replaceAll",
        "$size",
        "$arrayElemAt",
        "$first",
        "$last",
        "$filter",
        "$map",
        "$reduce",
        "$in",
        "$concatArrays",
        "$slice",
        "$reverseArray",
        "$isArray",
        "$range",
        "$indexOfArray",
        "$sortArray",
        "$mergeObjects",
        "$objectToArray",
        "$arrayToObject",
        "$getField",
        "$type",
        "$isNumber",
        "$toString",
        "$toInt",
        "$toLong",
        "$toDouble",
        "$toDecimal",
        "$toBool",
        "$toObjectId",
        "$toDate",
        "$convert",
        "$year",
        "$month",
        "$dayOfMonth",
        "$dayOfWeek",
        "$dayOfYear",
        "$hour",
        "$minute",
        "$second",
        "$millisecond",
        "$week",
        "$dateToString",
        "$dateFromString",
        "$let",
        "$rand",
    ]
)


def _present(value: Any) -> Any:
    return None if value is MISSING else value


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
                return _operator(key, expr[key], root, variables)
        out: dict[str, Any] = {}
        for key, value in expr.items():
            result = evaluate(value, root, variables)
            if result is not MISSING:
                out[key] = result
        return out
    if isinstance(expr, list):
        return [_present(evaluate(item, root, variables)) for item in expr]
    return expr


def validate_expression(expr: Any) -> None:
    """Reject unknown operators anywhere in ``expr`` before evaluating it."""
    if isinstance(expr, Mapping):
        if len(expr) == 1:
            key = next(iter(expr))
            if key.startswith("$"):
                if key not in _KNOWN:
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
