"""Query filters compiled once into fast predicates with MongoDB's matching semantics.

``compile_filter({"age": {"$gte": 18}, "tags": "x"})`` validates the whole
filter up front (an unknown operator is BadValue, never ignored) and returns a
:class:`Matcher` whose ``matches(doc)`` runs nested closures, so evaluating a
filter per document does no parsing.

Semantics follow MongoDB 7.0: a field condition holds if any value the path
reaches (through arrays of documents) or any element of an array value
satisfies it; comparisons only match values of the operand's BSON type
("type bracketing"); null matches missing fields.
"""

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from bson import Decimal128, Regex

from ..errors import CommandError
from .collation import Collation, collated, in_collation
from .compare import (
    RANK_NULL,
    RANK_NUMBER,
    is_number,
    sort_key,
    to_decimal,
    type_rank,
)
from .expressions import evaluate, validate_expression
from .paths import resolve_path, split_path
from .text_search import TextSearch
from .values import TYPE_ALIASES, Pattern, bson_type_number, compile_regex, is_regex, truthy

__all__ = ["Matcher", "compile_filter", "equality_seed"]

Values = list[Any]
# A field test sees every value the path reaches and whether some branch was missing.
FieldTest = Callable[[Values, bool], bool]
DocTest = Callable[[Mapping[str, Any]], bool]

_RANK_MINKEY = 1
_RANK_MAXKEY = 100


def _bad(message: str) -> CommandError:
    return CommandError(2, message)


def _expand(values: Values) -> list[Any]:
    """Each value, and the elements of array values (one level), as MongoDB compares them."""
    expanded: list[Any] = []
    for value in values:
        expanded.append(value)
        if isinstance(value, list):
            expanded.extend(value)
    return expanded


def _regex_test(pattern: Pattern) -> Callable[[Any], bool]:
    def test(value: Any) -> bool:
        if isinstance(value, str):
            return pattern.search(value) is not None
        if isinstance(value, Regex | re.Pattern):
            other = value.pattern
            return bool(other == pattern.pattern)
        return False

    return test


def _equality(operand: Any) -> FieldTest:
    """``{path: operand}`` and ``$eq``: whole values, array elements, null for missing."""
    if is_regex(operand):
        regex = _regex_test(compile_regex(operand))
        return lambda values, missing: any(regex(v) for v in _expand(values))
    if operand is None:

        def null_test(values: Values, missing: bool) -> bool:
            if missing or not values:
                return True
            return any(v is None for v in _expand(values))

        return null_test
    key = sort_key(operand)
    if isinstance(operand, str | int | float) and not isinstance(operand, bool):
        # Fast path for scalars: no need to build keys for non-matching types.
        rank = type_rank(operand)

        def scalar_test(values: Values, missing: bool) -> bool:
            for value in values:
                if isinstance(value, list):
                    for element in value:
                        if type_rank(element) == rank and sort_key(element) == key:
                            return True
                elif type_rank(value) == rank and sort_key(value) == key:
                    return True
            return False

        return scalar_test

    def test(values: Values, missing: bool) -> bool:
        return any(sort_key(v) == key for v in _expand(values))

    return test


def _comparison(op: str, operand: Any) -> FieldTest:
    if is_regex(operand):
        raise _bad(f"Can't have RegEx as arg to predicate over field, op: {op}")
    key = sort_key(operand)
    rank = key[0]
    bracket = rank not in (_RANK_MINKEY, _RANK_MAXKEY)
    if op == "$gt":
        cmp: Callable[[tuple[Any, ...]], bool] = lambda k: k > key  # noqa: E731
    elif op == "$gte":
        cmp = lambda k: k >= key  # noqa: E731
    elif op == "$lt":
        cmp = lambda k: k < key  # noqa: E731
    else:
        cmp = lambda k: k <= key  # noqa: E731
    nullish = rank == RANK_NULL and op in ("$gte", "$lte")

    def test(values: Values, missing: bool) -> bool:
        if nullish and (missing or not values):
            return True
        for value in _expand(values):
            value_key = sort_key(value)
            if bracket and value_key[0] != rank:
                continue
            if rank == RANK_NUMBER and _is_nan_key(value_key) != _is_nan_key(key):
                continue
            if cmp(value_key):
                return True
        return False

    return test


def _is_nan_key(key: tuple[Any, ...]) -> bool:
    return bool(key[0] == RANK_NUMBER and key[1] == (0,))


# Scalars whose comparison keys are hashable and equal exactly when MongoDB's $eq says so.
_KEYED = (str, int, float, Decimal128)


def _in(operand: Any, op: str = "$in") -> FieldTest:
    if not isinstance(operand, list):
        raise _bad(f"{op} needs an array")
    tests = []
    # Plain scalars are looked up by their comparison key in one set, so the cost
    # per document does not grow with the length of the list.
    keys: set[tuple[Any, ...]] = set()
    for item in operand:
        if isinstance(item, Mapping) and item and next(iter(item)).startswith("$"):
            raise _bad("cannot nest $ under $in")
        if isinstance(item, _KEYED):
            keys.add(sort_key(item))
        else:
            tests.append(_equality(item))

    def in_keys(values: Values, missing: bool) -> bool:
        for value in values:
            if isinstance(value, list):
                if any(_hashable_key(element) in keys for element in value):
                    return True
            elif _hashable_key(value) in keys:
                return True
        return False

    if keys:
        tests.append(in_keys)

    def test(values: Values, missing: bool) -> bool:
        return any(t(values, missing) for t in tests)

    return test


def _hashable_key(value: Any) -> tuple[Any, ...] | None:
    """The comparison key of a scalar, or None for values no $in key can equal."""
    if isinstance(value, _KEYED):
        return sort_key(value)
    return None


def _type(operand: Any) -> FieldTest:
    specs = operand if isinstance(operand, list) else [operand]
    wanted: set[int] = set()
    want_number = False
    for spec in specs:
        if isinstance(spec, str):
            if spec == "number":
                want_number = True
            elif spec in TYPE_ALIASES:
                wanted.add(TYPE_ALIASES[spec])
            else:
                raise _bad(f"Unknown type name alias: {spec}")
        elif is_number(spec):
            number = int(to_decimal(spec))
            if number not in set(TYPE_ALIASES.values()) | {0}:
                raise _bad(f"Invalid numerical type code: {spec}")
            wanted.add(number)
        else:
            raise CommandError(14, "type must be represented as a number or a string")

    def has_type(value: Any) -> bool:
        code = bson_type_number(value)
        return code in wanted or (want_number and type_rank(value) == RANK_NUMBER)

    def test(values: Values, missing: bool) -> bool:
        return any(has_type(v) for v in _expand(values))

    return test


def _mod(operand: Any) -> FieldTest:
    if not isinstance(operand, list) or len(operand) != 2:
        raise _bad("malformed mod, needs to be an array of two numbers [divisor, remainder]")
    divisor, remainder = operand
    if not is_number(divisor) or not is_number(remainder):
        raise _bad("malformed mod, divisor and remainder must be numbers")
    d, r = int(to_decimal(divisor)), int(to_decimal(remainder))
    if d == 0:
        raise _bad("divisor cannot be 0")

    def ok(value: Any) -> bool:
        if not is_number(value):
            return False
        number = to_decimal(value)
        if number.is_nan() or number.is_infinite():
            return False
        n = int(number)
        return math.fmod(n, d) == r

    return lambda values, missing: any(ok(v) for v in _expand(values))


def _size(operand: Any) -> FieldTest:
    if not is_number(operand) or to_decimal(operand) != int(to_decimal(operand)):
        raise _bad("$size needs a number")
    size = int(to_decimal(operand))
    if size < 0:
        raise _bad("$size may not be negative")
    return lambda values, missing: any(isinstance(v, list) and len(v) == size for v in values)


def _elem_match(operand: Any) -> FieldTest:
    if not isinstance(operand, Mapping):
        raise _bad("$elemMatch needs an Object")
    keys = list(operand)
    operator_form = bool(keys) and all(
        k.startswith("$") and k not in ("$and", "$or", "$nor", "$expr", "$where", "$text")
        for k in keys
    )
    if operator_form:
        element_test = _operators(operand)

        def test_scalar(values: Values, missing: bool) -> bool:
            return any(
                isinstance(v, list) and any(element_test([e], False) for e in v) for v in values
            )

        return test_scalar
    doc_test = _compile_document(operand, None)

    def test_doc(values: Values, missing: bool) -> bool:
        return any(
            isinstance(v, list) and any(isinstance(e, Mapping) and doc_test(e) for e in v)
            for v in values
        )

    return test_doc


def _all(operand: Any) -> FieldTest:
    if not isinstance(operand, list):
        raise _bad("$all needs an array")
    tests: list[FieldTest] = []
    for item in operand:
        if isinstance(item, Mapping) and "$elemMatch" in item:
            tests.append(_elem_match(item["$elemMatch"]))
        elif isinstance(item, Mapping) and item and next(iter(item)).startswith("$"):
            raise _bad("no $ expressions in $all")
        else:
            tests.append(_equality(item))
    if not tests:
        return lambda values, missing: False
    return lambda values, missing: all(t(values, missing) for t in tests)


def _not(operand: Any) -> FieldTest:
    if is_regex(operand):
        inner = _equality(operand)
    elif isinstance(operand, Mapping):
        if not operand:
            raise _bad("$not cannot be empty")
        inner = _operators(operand)
    else:
        raise _bad("$not needs a regex or a document")
    return lambda values, missing: not inner(values, missing)


def _negate(test: FieldTest) -> FieldTest:
    return lambda values, missing: not test(values, missing)


def _exists(want: bool) -> FieldTest:
    return lambda values, missing: bool(values) == want


def _any_value(test: Callable[[Any], bool]) -> FieldTest:
    return lambda values, missing: any(test(v) for v in _expand(values))


def _path_test(parts: tuple[str, ...], test: FieldTest) -> DocTest:
    return lambda doc: test(*resolve_path(doc, parts))


def _operators(spec: Mapping[str, Any]) -> FieldTest:
    """An operator document such as ``{"$gte": 1, "$lt": 5}``: all must hold."""
    tests: list[FieldTest] = []
    options = spec.get("$options")
    if options is not None and "$regex" not in spec:
        raise _bad("$options needs a $regex")
    for op, operand in spec.items():
        if op == "$eq":
            tests.append(_equality(operand))
        elif op == "$ne":
            eq = _equality(operand)
            tests.append(_negate(eq))
        elif op in ("$gt", "$gte", "$lt", "$lte"):
            tests.append(_comparison(op, operand))
        elif op == "$in":
            tests.append(_in(operand))
        elif op == "$nin":
            inn = _in(operand, "$nin")
            tests.append(_negate(inn))
        elif op == "$exists":
            tests.append(_exists(bool(operand)))
        elif op == "$type":
            tests.append(_type(operand))
        elif op == "$mod":
            tests.append(_mod(operand))
        elif op == "$regex":
            if options is not None and not isinstance(options, str):
                raise _bad("$options has to be a string")
            if isinstance(operand, Regex | re.Pattern) and options:
                operand = operand.pattern
            regex = _regex_test(compile_regex(operand, options or ""))
            tests.append(_any_value(regex))
        elif op == "$options":
            continue
        elif op == "$size":
            tests.append(_size(operand))
        elif op == "$all":
            tests.append(_all(operand))
        elif op == "$elemMatch":
            tests.append(_elem_match(operand))
        elif op == "$not":
            tests.append(_not(operand))
        elif op in ("$near", "$nearSphere", "$geoWithin", "$geoIntersects", "$within"):
            raise _bad(f"geospatial operator {op} is not supported by the embedded server")
        else:
            raise _bad(f"unknown operator: {op}")
    if len(tests) == 1:
        return tests[0]
    return lambda values, missing: all(t(values, missing) for t in tests)


def _field_test(condition: Any) -> FieldTest:
    if isinstance(condition, Mapping) and condition:
        first = next(iter(condition))
        if first.startswith("$"):
            return _operators(condition)
    return _equality(condition)


_NO_VARIABLES: Mapping[str, Any] = {}


class _Context:
    """What a compile pass collects besides the predicate."""

    def __init__(self, text_fields: Mapping[str, float] | None) -> None:
        self.text_fields = text_fields
        self.text: TextSearch | None = None
        self.field_tests: list[tuple[tuple[str, ...], FieldTest]] = []


def _logical(op: str, operand: Any, ctx: _Context | None, variables: Mapping[str, Any]) -> DocTest:
    if not isinstance(operand, list) or not operand:
        raise _bad(f"{op} must be a nonempty array")
    parts = []
    for clause in operand:
        if not isinstance(clause, Mapping):
            raise _bad(f"{op} argument's entries must be objects")
        parts.append(_compile_document(clause, ctx if op == "$and" else None, variables))
    if op == "$and":
        return lambda doc: all(p(doc) for p in parts)
    if op == "$or":
        return lambda doc: any(p(doc) for p in parts)
    return lambda doc: not any(p(doc) for p in parts)


def _expr(operand: Any, variables: Mapping[str, Any]) -> DocTest:
    validate_expression(operand)
    scope = dict(variables)

    def test(doc: Mapping[str, Any]) -> bool:
        return truthy(evaluate(operand, doc, scope))

    return test


def _compile_document(
    filter: Mapping[str, Any], ctx: _Context | None, variables: Mapping[str, Any] = _NO_VARIABLES
) -> DocTest:
    if not isinstance(filter, Mapping):
        raise _bad("filter must be an object")
    tests: list[DocTest] = []
    for key, condition in filter.items():
        if key.startswith("$"):
            if key in ("$and", "$or", "$nor"):
                tests.append(_logical(key, condition, ctx, variables))
            elif key == "$expr":
                tests.append(_expr(condition, variables))
            elif key == "$comment":
                continue
            elif key == "$where":
                raise _bad("$where is not allowed in this context")
            elif key == "$text":
                if ctx is None:
                    raise _bad("$text can only be used at the top level of a query")
                if ctx.text_fields is None:
                    raise CommandError(27, "text index required for $text query")
                ctx.text = TextSearch(condition, ctx.text_fields)
                tests.append(ctx.text.matches)
            else:
                raise _bad(f"unknown top level operator: {key}")
            continue
        if not key:
            raise _bad("field names cannot be empty")
        field_test = _field_test(condition)
        parts = split_path(key)
        if ctx is not None:
            ctx.field_tests.append((parts, field_test))
        if len(parts) == 1:
            tests.append(_top_level_test(key, field_test))
        else:
            tests.append(_path_test(parts, field_test))
    if not tests:
        return lambda doc: True
    if len(tests) == 1:
        return tests[0]
    return lambda doc: all(t(doc) for t in tests)


def _top_level_test(key: str, field_test: FieldTest) -> DocTest:
    def test(doc: Mapping[str, Any]) -> bool:
        if key in doc:
            return field_test([doc[key]], False)
        return field_test([], True)

    return test


class Matcher:
    """A compiled filter."""

    def __init__(
        self,
        filter: Mapping[str, Any],
        text_fields: Mapping[str, float] | None,
        variables: Mapping[str, Any] = _NO_VARIABLES,
        collation: Collation | None = None,
    ) -> None:
        self._ctx = _Context(text_fields)
        self.collation = collation
        with in_collation(collation):
            self._test = _compile_document(filter, self._ctx, variables)
        if collation is not None:
            self._test = collated(collation, self._test)

    def matches(self, doc: Mapping[str, Any]) -> bool:
        return self._test(doc)

    @property
    def uses_text(self) -> bool:
        return self._ctx.text is not None

    def text_score(self, doc: Mapping[str, Any]) -> float:
        text = self._ctx.text
        return text.score(doc) if text is not None else 0.0

    def first_array_position(self, doc: Mapping[str, Any]) -> int | None:
        """Index of the first array element the query matched, for the positional ``$``."""
        with in_collation(self.collation):
            return self._first_array_position(doc)

    def _first_array_position(self, doc: Mapping[str, Any]) -> int | None:
        for parts, test in self._ctx.field_tests:
            node: Any = doc
            for i, part in enumerate(parts):
                if isinstance(node, list):
                    rest = parts[i:]
                    for index, element in enumerate(node):
                        values, missing = (
                            resolve_path(element, rest) if rest else ([element], False)
                        )
                        if test(values, missing):
                            return index
                    break
                if not isinstance(node, Mapping) or part not in node:
                    break
                node = node[part]
            else:
                if isinstance(node, list):
                    for index, element in enumerate(node):
                        if test([element], False):
                            return index
        return None


def compile_filter(
    filter: Mapping[str, Any],
    *,
    text_fields: Mapping[str, float] | None = None,
    variables: Mapping[str, Any] = _NO_VARIABLES,
    collation: Collation | None = None,
) -> Matcher:
    """Validate and compile a query filter; ``variables`` are what ``$expr`` sees as ``$$name``.

    With a ``collation``, strings compare by it (regular expressions never do).
    """
    if not isinstance(filter, Mapping):
        raise _bad("filter must be an object")
    return Matcher(filter, text_fields, variables, collation)


def _set_seed(seed: dict[str, Any], path: str, value: Any) -> None:
    parts = split_path(path)
    node = seed
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise CommandError(
                54, f"cannot infer query fields to set, path '{path}' is matched twice"
            )
        node = child
    if parts[-1] in node:
        raise CommandError(54, f"cannot infer query fields to set, path '{path}' is matched twice")
    node[parts[-1]] = value


def equality_seed(filter: Mapping[str, Any]) -> dict[str, Any]:
    """The document an upsert starts from: the query's equality conditions."""
    seed: dict[str, Any] = {}

    def collect(clauses: Mapping[str, Any]) -> None:
        for key, condition in clauses.items():
            if key == "$and" and isinstance(condition, list):
                for clause in condition:
                    if isinstance(clause, Mapping):
                        collect(clause)
                continue
            if key.startswith("$"):
                continue
            if (
                isinstance(condition, Mapping)
                and condition
                and next(iter(condition)).startswith("$")
            ):
                if "$eq" in condition:
                    _set_seed(seed, key, condition["$eq"])
                elif (
                    "$in" in condition
                    and isinstance(condition["$in"], list)
                    and len(condition["$in"]) == 1
                ):
                    _set_seed(seed, key, condition["$in"][0])
                continue
            if is_regex(condition):
                continue
            _set_seed(seed, key, condition)

    collect(filter)
    if "_id" in seed:
        seed = {"_id": seed.pop("_id"), **seed}
    return seed
