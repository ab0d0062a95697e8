"""Property: update documents applied by the embedded server agree with a reference written from MongoDB's rules.

Random documents (int32, int64, doubles, strings, null, booleans, arrays and
embedded documents) and random sequences of update documents using $set,
$unset, $inc, $mul, $min, $max, $push (plain and with $each/$position/$slice),
$addToSet (plain and $each), $pull, $pullAll, $pop and $rename on plain and
dotted paths (array indexes included). Each update goes through pymongo's
update_one to the embedded server; a small reference implementation below
computes what MongoDB (5.0+) gives. They must agree on:

- the resulting document: field values and BSON types, strictly (1, 1.0 and
  Int64(1) differ); the order of fields inside documents is not compared;
- refusals: when the reference refuses, the server raises a WriteError with one
  of the codes the reference names (MongoDB reports only the first of several
  errors, so every error the update contains is acceptable), and the stored
  document is left exactly as it was.

Server bugs found this way are reproduced by ``test_update_bug_stays_fixed``
(one case per bug, with MongoDB's answer). While a bug is open its key is in
KNOWN_BUGS: its reproducers are strict xfails, and the reference, which always
knows MongoDB's outcome at those places, makes the property skip the cases that
hit it (counted in the figures). Fixing a bug means deleting its KNOWN_BUGS
entry: the property then checks those cases too, and the reproducers become
ordinary regression tests (a strict xfail that passes fails the run, so a fix
cannot go unnoticed).
"""

import collections
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bson import Int64
from hypothesis import assume, event, given
from hypothesis import strategies as st
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.errors import OperationFailure, WriteError

from ._support import hypothesis_settings, record_figures

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)

# -- reference ----------------------------------------------------------------


class Refused(Exception):
    """The reference refuses the update; ``codes`` are the MongoDB error codes it may report."""

    def __init__(self, codes: set[int], why: str) -> None:
        super().__init__(why)
        self.codes = codes


class KnownBug(Exception):
    """The case hits a server bug that is still open (a key of KNOWN_BUGS)."""


def _bug_site(bug: str, mongodb: Refused | None = None) -> None:
    """Where server bug ``bug`` shows: skip the case while it is open, else MongoDB's outcome.

    ``mongodb`` is MongoDB's refusal there; None means MongoDB goes on as the reference does.
    """
    assert bug in ALL_BUGS, bug
    if bug in KNOWN_BUGS:
        raise KnownBug(bug)
    if mongodb is not None:
        raise mongodb


# Every bug this test has found, and what it was (its reproducers are in _BUG_CASES below).
ALL_BUGS = {
    "read-through-array-index": (
        "A path that reaches into an array by index (arr.0) is read as missing by every "
        "operator that reads the current value ($inc, $mul, $min, $max, $push, $addToSet, "
        "$pull, $pullAll, $pop, $rename): _Writer.get only indexes lists with int parts. "
        "$inc {'arr.0': 1} on [5, 6] stores [1, 6]; $push {'arr.0': 2} on [[1]] stores [[2]]."
    ),
    "null-treated-as-missing": (
        "$inc and $mul on a field holding null set it to the operand (or 0) instead of "
        "failing with TypeMismatch (14); $push and $addToSet on null replace it with an "
        "array instead of failing with code 2."
    ),
    "rename-source-through-array": (
        "$rename from a path through an array element (arr.0 with arr: [5]) is a silent "
        "no-op instead of code 2 (the source field cannot be an array element)."
    ),
    "rename-non-viable-source": (
        "$rename from a path through a scalar (a.x with a: 1) is a silent no-op instead of "
        "PathNotViable (28)."
    ),
    "rename-non-viable-source-through-array": (
        "$rename from a path that cannot be followed through an array (arr.x, or arr.0.x "
        "with arr[0] a scalar) is a silent no-op instead of PathNotViable (28): a non-numeric "
        "part on an array is not viable either."
    ),
    "rename-destination-in-array": (
        "$rename to a destination inside an array (arr.0, arr.x, arr.5) overwrites or "
        "creates the element instead of code 2 (the destination field cannot be an array "
        "element)."
    ),
    "unset-non-index-field-of-array": (
        "$unset of a non-numeric field under an array ({'arr.x': ''} with arr a list) makes "
        "the update command fail with InternalError (code 1, a ValueError from int('x') in "
        "_Writer.unset) instead of being a no-op."
    ),
    "upsert-changes-_id": (
        "An upsert whose update changes the _id taken from the filter (filter {_id: 0}, "
        "$inc {_id: 1}) inserts {_id: 1} instead of failing with ImmutableField (66); the "
        "_id check in _new_version only runs for updates of existing documents."
    ),
    "create-through-null-array-element": (
        "$set (and every creating operator) on arr.0.x where arr[0] is null replaces the "
        "null with a new document instead of failing with PathNotViable (28), as MongoDB "
        "does for a null anywhere else on the path."
    ),
}
# The ones still open in the embedded server: a key stays here until its fix lands.
# All of them were open at commit cd30fce; 16f2d27 and the commit after it close them.
KNOWN_BUGS: set[str] = set()


def _rank(value: Any) -> int:
    """MongoDB's canonical type order: null < numbers < strings < objects < arrays < booleans."""
    if value is None:
        return 1
    if isinstance(value, bool):
        return 8
    if isinstance(value, int | float):
        return 2
    if isinstance(value, str):
        return 3
    if isinstance(value, dict):
        return 4
    if isinstance(value, list):
        return 5
    raise TypeError(f"no rank for {value!r}")


def _sign(a: Any, b: Any) -> int:
    return int((a > b) - (a < b))


def bson_compare(a: Any, b: Any) -> int:
    """BSONElement::woCompare: type rank, then value; documents by (type, name, value) per field."""
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return _sign(ra, rb)
    if a is None:
        return 0
    if isinstance(a, dict):
        for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=False):
            order = _sign(_rank(va), _rank(vb)) or _sign(ka, kb) or bson_compare(va, vb)
            if order:
                return order
        return _sign(len(a), len(b))
    if isinstance(a, list):
        for x, y in zip(a, b, strict=False):
            order = bson_compare(x, y)
            if order:
                return order
        return _sign(len(a), len(b))
    return _sign(a, b)


def bson_equal(a: Any, b: Any) -> bool:
    return bson_compare(a, b) == 0


def strict(value: Any) -> Any:
    """A comparable form that tells BSON types apart and ignores field order."""
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, Int64):
        return ("long", int(value))
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        return ("double", value)
    if isinstance(value, str):
        return ("string", value)
    if isinstance(value, list):
        return ("array", tuple(strict(v) for v in value))
    if isinstance(value, dict):
        return ("object", tuple(sorted((k, strict(v)) for k, v in value.items())))
    raise TypeError(f"unexpected value {value!r}")


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


FOUND, MISSING, BLOCKED = "found", "missing", "blocked"


def _lookup(doc: dict[str, Any], parts: list[str]) -> tuple[str, Any, bool]:
    """(FOUND, value, through_array) | (MISSING, ...) | (BLOCKED, ...) for a non-viable path."""
    node: Any = doc
    through_array = False
    for part in parts:
        if isinstance(node, dict):
            if part not in node:
                return MISSING, None, through_array
            node = node[part]
        elif isinstance(node, list):
            through_array = True
            if not part.isdigit():
                return BLOCKED, None, through_array
            if int(part) >= len(node):
                return MISSING, None, through_array
            node = node[int(part)]
        else:
            return BLOCKED, None, through_array
    return FOUND, node, through_array


def _create(doc: dict[str, Any], parts: list[str], value: Any) -> None:
    """Set ``value`` at the path, creating documents and padding arrays with nulls (ModifierNode)."""
    node: Any = doc
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, dict):
            if last:
                node[part] = value
                return
            if part not in node:
                node[part] = {}
            elif not isinstance(node[part], dict | list):
                raise Refused({28}, f"cannot create field {parts[i + 1]!r} in {node[part]!r}")
            node = node[part]
        elif isinstance(node, list):
            if not part.isdigit():
                raise Refused({28}, f"cannot create field {part!r} in an array")
            index = int(part)
            while len(node) <= index:
                node.append(None if len(node) < index or last else {})
            if last:
                node[index] = value
                return
            child = node[index]
            if child is None:
                _bug_site("create-through-null-array-element")
            if not isinstance(child, dict | list):
                raise Refused({28}, f"cannot create field {parts[i + 1]!r} in {child!r}")
            node = child
        else:  # pragma: no cover - the loop only descends into containers
            raise AssertionError(node)


def _container(doc: dict[str, Any], parts: list[str]) -> Any:
    found, node, _ = _lookup(doc, parts[:-1])
    assert found == FOUND
    return node


def _replace(doc: dict[str, Any], parts: list[str], value: Any) -> None:
    parent = _container(doc, parts)
    if isinstance(parent, list):
        parent[int(parts[-1])] = value
    else:
        parent[parts[-1]] = value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _arith(op: str, current: Any, operand: Any) -> Any:
    if isinstance(current, float) or isinstance(operand, float):
        a, b = float(current), float(operand)
        return a + b if op == "$inc" else a * b
    result = int(current) + int(operand) if op == "$inc" else int(current) * int(operand)
    if isinstance(current, Int64) or isinstance(operand, Int64):
        if not _INT64[0] <= result <= _INT64[1]:
            raise Refused({2}, f"{op} overflows a long")
        return Int64(result)
    if _INT32[0] <= result <= _INT32[1]:
        return result
    if _INT64[0] <= result <= _INT64[1]:
        return Int64(result)
    raise Refused({2}, f"{op} overflows")  # pragma: no cover - int32 op int32 fits a long


def _zero_like(operand: Any) -> Any:
    if isinstance(operand, float):
        return 0.0
    if isinstance(operand, Int64):
        return Int64(0)
    return 0


_OPERATOR_KEYS = {"$gt", "$gte", "$lt", "$lte", "$ne", "$in", "$nin"}


def _query_eq(value: Any, wanted: Any) -> bool:
    """{field: wanted} on a field value: equality, or an array element equal to it."""
    if bson_equal(value, wanted):
        return True
    return isinstance(value, list) and any(bson_equal(v, wanted) for v in value)


def _operator_matches(element: Any, op: str, operand: Any) -> bool:
    """{"": {op: operand}} against {"": element}: query semantics, arrays traversed."""
    candidates = [element, *element] if isinstance(element, list) else [element]
    if op == "$ne":
        return not any(bson_equal(c, operand) for c in candidates)
    if op == "$in":
        return any(bson_equal(c, o) for c in candidates for o in operand)
    if op == "$nin":
        return not any(bson_equal(c, o) for c in candidates for o in operand)
    # Comparisons only hold between values of one canonical type.
    order = {"$gt": (1,), "$gte": (0, 1), "$lt": (-1,), "$lte": (-1, 0)}[op]
    return any(_rank(c) == _rank(operand) and bson_compare(c, operand) in order for c in candidates)


def _pull_test(condition: Any) -> Callable[[Any], bool]:
    if isinstance(condition, dict) and condition and next(iter(condition)) in _OPERATOR_KEYS:
        return lambda el: all(_operator_matches(el, op, arg) for op, arg in condition.items())
    if isinstance(condition, dict):

        def object_matches(el: Any) -> bool:
            if not isinstance(el, dict):
                return False
            for key, wanted in condition.items():
                if key not in el:
                    if wanted is not None:
                        return False
                elif not _query_eq(el[key], wanted):
                    return False
            return True

        return object_matches
    return lambda el: bson_equal(el, condition)


def _prefix_related(a: list[str], b: list[str]) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


def reference_update(
    doc: dict[str, Any], update: dict[str, dict[str, Any]], *, upsert: bool = False
) -> dict[str, Any]:
    """The document MongoDB stores after ``update``; raises Refused or KnownBug.

    With ``upsert``, ``doc`` is the document built from the filter's equality fields.
    """
    codes: set[int] = set()
    claimed: list[list[str]] = []
    actions: list[tuple[str, str, Any]] = []
    for op, fields in update.items():
        for path, arg in fields.items():
            valid = True
            if op in ("$inc", "$mul") and not _is_number(arg):
                codes.add(14)
                valid = False
            targets = [path.split(".")]
            if op == "$rename":
                targets.append(arg.split("."))
                if _prefix_related(targets[0], targets[1]):
                    codes.add(2)
                    valid = False
            for target in targets:
                if any(_prefix_related(target, other) for other in claimed):
                    codes.add(40)
                    valid = False
                claimed.append(target)
            if valid:
                actions.append((op, path, arg))
    result: dict[str, Any] = _copy(doc)
    # Fields are updated in the lexicographic order of their paths. The first error
    # stops MongoDB; errors of the other fields are collected as acceptable codes.
    for op, path, arg in sorted(actions, key=lambda action: action[1]):
        try:
            _apply(result, op, path.split("."), arg)
        except Refused as refused:
            codes |= refused.codes
    if codes:
        raise Refused(codes, f"update {update}")
    if strict(result.get("_id")) != strict(doc.get("_id")):
        changed = Refused({66}, "the update changes _id")
        if upsert:
            _bug_site("upsert-changes-_id", changed)
        raise changed
    return result


def _apply(doc: dict[str, Any], op: str, parts: list[str], arg: Any) -> None:
    found, current, through_array = _lookup(doc, parts)
    # $set and $unset write through arrays correctly; $rename has its own bug entry.
    reads = op not in ("$set", "$unset", "$rename")
    if found == FOUND and through_array and reads:
        _bug_site("read-through-array-index")
    if op == "$set":
        _create(doc, parts, _copy(arg))
    elif op == "$unset":
        parent_found, parent, _ = _lookup(doc, parts[:-1])
        if parent_found == FOUND and isinstance(parent, list) and not parts[-1].isdigit():
            _bug_site("unset-non-index-field-of-array")
        if found == FOUND:
            parent = _container(doc, parts)
            if isinstance(parent, list):
                parent[int(parts[-1])] = None
            else:
                del parent[parts[-1]]
    elif op in ("$inc", "$mul"):
        if found != FOUND:
            _create(doc, parts, arg if op == "$inc" else _zero_like(arg))
        elif current is None:
            _bug_site("null-treated-as-missing", Refused({14}, f"{op} on null"))
        elif not _is_number(current):
            raise Refused({14}, f"{op} on a non-number")
        else:
            _replace(doc, parts, _arith(op, current, arg))
    elif op in ("$min", "$max"):
        if found != FOUND:
            _create(doc, parts, _copy(arg))
        elif bson_compare(arg, current) == (-1 if op == "$min" else 1):
            _replace(doc, parts, _copy(arg))
    elif op in ("$push", "$addToSet"):
        if found == FOUND and current is None:
            _bug_site("null-treated-as-missing", Refused({2}, f"{op} to null"))
        if found == FOUND and not isinstance(current, list):
            raise Refused({2}, f"{op} to a non-array")
        array = list(current) if found == FOUND else []
        if op == "$push":
            _push(array, arg)
        else:
            each = arg["$each"] if isinstance(arg, dict) and "$each" in arg else [arg]
            for item in each:
                if not any(bson_equal(item, have) for have in array):
                    array.append(_copy(item))
        if found == FOUND:
            _replace(doc, parts, array)
        else:
            _create(doc, parts, array)
    elif op in ("$pull", "$pullAll", "$pop"):
        if found != FOUND:
            return
        if not isinstance(current, list):
            raise Refused({14} if op == "$pop" else {2}, f"{op} on a non-array")
        if op == "$pop":
            kept = current[:-1] if arg == 1 else current[1:]
        elif op == "$pullAll":
            kept = [el for el in current if not any(bson_equal(el, v) for v in arg)]
        else:
            test = _pull_test(arg)
            kept = [el for el in current if not test(el)]
        _replace(doc, parts, kept)
    elif op == "$rename":
        _rename(doc, parts, arg.split("."), found, current, through_array)
    else:  # pragma: no cover - the strategies only draw the operators above
        raise AssertionError(op)


def _push(array: list[Any], arg: Any) -> None:
    if not (isinstance(arg, dict) and "$each" in arg):
        array.append(_copy(arg))
        return
    each = [_copy(v) for v in arg["$each"]]
    position = arg.get("$position")
    if position is None:
        array.extend(each)
    else:
        index = position if position >= 0 else max(len(array) + position, 0)
        array[index:index] = each
    if "$slice" in arg:
        limit = arg["$slice"]
        array[:] = array[:limit] if limit >= 0 else array[limit:]


def _rename(
    doc: dict[str, Any],
    source: list[str],
    target: list[str],
    found: str,
    value: Any,
    through_array: bool,
) -> None:
    """RenameNode: source checks, destination checks, then set the destination and drop the source."""
    if found == BLOCKED:
        bug = "rename-non-viable-source" + ("-through-array" if through_array else "")
        _bug_site(bug, Refused({28}, "the source path is not viable"))
    if found != FOUND:
        return
    if through_array:
        _bug_site(
            "rename-source-through-array",
            Refused({2}, "the source field cannot be an array element"),
        )
    # The destination may not lie in an array: MongoDB looks at the destination's
    # parents when it exists, else at its deepest existing element and that one's parents.
    node: Any = doc
    chain: list[Any] = [doc]
    for part in target:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            break
        chain.append(node)
    checked = chain[:-1] if len(chain) == len(target) + 1 else chain
    if any(isinstance(element, list) for element in checked):
        _bug_site(
            "rename-destination-in-array",
            Refused({2}, "the destination field cannot be an array element"),
        )
    _create(doc, target, value)
    del _container(doc, source)[source[-1]]


# -- strategies ---------------------------------------------------------------

ints = st.sampled_from([-2, -1, 0, 1, 2, 3, _INT32[1], _INT32[0]])
longs = st.sampled_from([0, 5, -7, 2**40, 2**62, _INT64[1], _INT64[0]]).map(Int64)
doubles = st.sampled_from([0.0, -0.0, 0.5, -1.5, 2.0, 1e300])
numbers = st.one_of(ints, longs, doubles)
scalars = st.one_of(numbers, st.sampled_from(["", "a", "b", "ab"]), st.none(), st.booleans())
small_docs = st.dictionaries(st.sampled_from(["x", "y", "0"]), scalars, max_size=2)
# No array directly inside an array: $pull's matching of nested arrays is not modelled.
elements = st.one_of(scalars, small_docs)
arrays = st.lists(elements, max_size=4)
values = st.one_of(
    scalars,
    arrays,
    st.dictionaries(st.sampled_from(["x", "y", "0"]), st.one_of(scalars, arrays), max_size=3),
)

documents = st.fixed_dictionaries(
    {"_id": st.just(0)},
    optional={
        "a": values,
        "b": scalars,
        "c": values,
        "arr": arrays,
        "d": st.dictionaries(st.sampled_from(["x", "y", "0"]), values, max_size=3),
    },
)

paths = st.builds(
    lambda head, tail: ".".join([head, *tail]),
    st.sampled_from(["a", "b", "c", "arr", "d", "e"]),
    st.lists(st.sampled_from(["x", "y", "0", "1", "3"]), max_size=2),
)


@st.composite
def push_args(draw: st.DrawFn) -> Any:
    if not draw(st.booleans()):
        return draw(elements)
    arg: dict[str, Any] = {"$each": draw(st.lists(elements, max_size=3))}
    if draw(st.booleans()):
        arg["$position"] = draw(st.integers(-3, 4))
    if draw(st.booleans()):
        arg["$slice"] = draw(st.integers(-3, 3))
    return arg


pull_conditions = st.one_of(
    scalars,
    st.builds(
        lambda op, v: {op: v},
        st.sampled_from(["$gt", "$gte", "$lt", "$lte", "$ne"]),
        st.one_of(numbers, st.sampled_from(["a", "b"])),
    ),
    st.builds(
        lambda op, v: {op: v},
        st.sampled_from(["$in", "$nin"]),
        st.lists(scalars, min_size=1, max_size=3),
    ),
    st.dictionaries(st.sampled_from(["x", "y"]), scalars, min_size=1, max_size=1),
)

# Arguments per operator for ordinary paths.
ARGUMENTS: dict[str, st.SearchStrategy[Any]] = {
    "$set": values,
    "$unset": st.sampled_from(["", 1]),
    "$inc": st.one_of(numbers, numbers, st.sampled_from(["1", None, True])),
    "$mul": st.one_of(numbers, numbers, st.sampled_from(["2", None])),
    "$min": st.one_of(scalars, arrays),
    "$max": st.one_of(scalars, arrays),
    "$push": push_args(),
    "$addToSet": st.one_of(
        elements, st.builds(lambda each: {"$each": each}, st.lists(elements, max_size=3))
    ),
    "$pull": pull_conditions,
    "$pullAll": st.lists(scalars, max_size=3),
    "$pop": st.sampled_from([1, -1]),
    "$rename": paths,
}
# _id (always the int 0) is touched with int arguments only: whether MongoDB calls
# 0 -> 0.0 or 0 -> Int64(0) a modification of the immutable _id is not modelled.
ID_ARGUMENTS: dict[str, st.SearchStrategy[Any]] = {
    "$set": st.sampled_from([0, 1]),
    "$unset": st.just(""),
    "$inc": st.sampled_from([0, 1]),
    "$min": st.one_of(ints, st.none(), st.sampled_from(["a"])),
}


def _pairs(op: str) -> st.SearchStrategy[tuple[str, Any]]:
    pairs = st.tuples(paths, ARGUMENTS[op])
    if op in ID_ARGUMENTS:
        return st.one_of(pairs, pairs, pairs, st.tuples(st.just("_id"), ID_ARGUMENTS[op]))
    return pairs


@st.composite
def updates(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    """One or two operators with one or two fields each.

    Four updates in five keep their paths apart, so that most of them apply; the
    fifth may name a path twice or a path and its parent (a conflict, code 40).
    """
    operators = draw(
        st.lists(st.sampled_from(sorted(ARGUMENTS)), min_size=1, max_size=2, unique=True)
    )
    allow_conflicts = draw(st.integers(0, 4)) == 0
    claimed: list[list[str]] = []
    update: dict[str, dict[str, Any]] = {}
    for op in operators:
        fields: dict[str, Any] = {}
        for _ in range(draw(st.integers(1, 2))):
            path, arg = draw(_pairs(op))
            touched = [path.split("."), *([arg.split(".")] if op == "$rename" else [])]
            clash = any(_prefix_related(t, c) for t in touched for c in claimed)
            if (clash or path in fields) and not allow_conflicts:
                continue
            claimed.extend(touched)
            fields[path] = arg
        if fields:
            update[op] = fields
    return update


# -- the property -------------------------------------------------------------

_STATS: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="module")
def client(mongodb_url: str) -> Iterator[MongoClient[dict[str, Any]]]:
    mongo: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
    yield mongo
    mongo.close()
    if _STATS:
        record_figures("update_operators_vs_reference", dict(sorted(_STATS.items())))


@pytest.fixture
def collection(
    client: MongoClient[dict[str, Any]], mongodb_database_name: str
) -> Collection[dict[str, Any]]:
    return client[mongodb_database_name].things


def _server_update(
    collection: Collection[dict[str, Any]], update: dict[str, Any], upsert: bool
) -> int | None:
    """Apply the update; the error code when the server refuses it."""
    try:
        collection.update_one({"_id": 0}, update, upsert=upsert)
    except WriteError as exc:
        return exc.code
    except OperationFailure as exc:
        # Not a refusal of this update: the command itself failed.
        raise AssertionError(f"the update command failed: {exc} for {update}") from exc
    return None


@hypothesis_settings(max_examples=400)
@given(
    start=st.one_of(st.none(), documents, documents, documents),
    steps=st.lists(updates(), min_size=1, max_size=2),
)
def test_server_applies_updates_as_the_reference_does(
    collection: Collection[dict[str, Any]],
    start: dict[str, Any] | None,
    steps: list[dict[str, dict[str, Any]]],
) -> None:
    """``start`` None means an upsert: the update applies to {_id: 0} built from the filter."""
    collection.delete_many({})
    if start is not None:
        collection.insert_one(start)
    expected: dict[str, Any] | None = start
    compared = 0
    for update in steps:
        base = expected if expected is not None else {"_id": 0}
        try:
            outcome: dict[str, Any] | Refused = reference_update(
                base, update, upsert=expected is None
            )
        except Refused as refused:
            outcome = refused
        except KnownBug as bug:
            event(f"skipped, known bug: {bug}")
            _STATS[f"skipped_known_bug:{bug}"] += 1
            break
        code = _server_update(collection, update, upsert=expected is None)
        stored = collection.find_one({"_id": 0})
        compared += 1
        if isinstance(outcome, Refused):
            _STATS["refused"] += 1
            _STATS[f"refused_with_{code}"] += 1
            assert code in outcome.codes, (
                f"server {'accepted' if code is None else f'refused with {code}'}, "
                f"reference refuses with one of {sorted(outcome.codes)}: {base} {update}"
            )
            # A refused update changes nothing.
            assert strict(stored) == strict(expected), (stored, expected, update)
            break
        _STATS["applied"] += 1
        assert code is None, f"server refused with {code}: {base} {update} -> {outcome}"
        assert stored is not None
        assert strict(stored) == strict(outcome), (
            f"\nstart:     {base}\nupdate:    {update}\nserver:    {stored}\nreference: {outcome}"
        )
        expected = stored
    assume(compared > 0)


# -- the diagnosed bugs, reproduced -------------------------------------------

# (bug, starting fields or None for an upsert, update, MongoDB's document or error code)
_BUG_CASES: list[tuple[str, dict[str, Any] | None, dict[str, Any], dict[str, Any] | int]] = [
    ("read-through-array-index", {"arr": [5, 6]}, {"$inc": {"arr.0": 1}}, {"arr": [6, 6]}),
    ("read-through-array-index", {"arr": [5, 6]}, {"$max": {"arr.1": 1}}, {"arr": [5, 6]}),
    ("read-through-array-index", {"arr": [[1]]}, {"$push": {"arr.0": 2}}, {"arr": [[1, 2]]}),
    ("read-through-array-index", {"arr": [[1, 2]]}, {"$pull": {"arr.0": 1}}, {"arr": [[2]]}),
    ("null-treated-as-missing", {"a": None}, {"$inc": {"a": 1}}, 14),
    ("null-treated-as-missing", {"a": None}, {"$mul": {"a": 2}}, 14),
    ("null-treated-as-missing", {"a": None}, {"$push": {"a": 1}}, 2),
    ("null-treated-as-missing", {"a": None}, {"$addToSet": {"a": 1}}, 2),
    ("rename-source-through-array", {"arr": [5]}, {"$rename": {"arr.0": "b"}}, 2),
    ("rename-non-viable-source", {"a": 1}, {"$rename": {"a.x": "b"}}, 28),
    ("rename-non-viable-source-through-array", {"arr": [1]}, {"$rename": {"arr.x": "b"}}, 28),
    ("rename-non-viable-source-through-array", {"arr": [5]}, {"$rename": {"arr.0.x": "b"}}, 28),
    ("rename-destination-in-array", {"a": 1, "arr": [5]}, {"$rename": {"a": "arr.0"}}, 2),
    ("rename-destination-in-array", {"a": 1, "arr": []}, {"$rename": {"a": "arr.x"}}, 2),
    ("create-through-null-array-element", {"arr": [None]}, {"$set": {"arr.0.x": 1}}, 28),
    ("upsert-changes-_id", None, {"$inc": {"_id": 1}}, 66),
    ("unset-non-index-field-of-array", {"arr": [1, 2]}, {"$unset": {"arr.x": ""}}, {"arr": [1, 2]}),
]


@pytest.mark.parametrize(
    ("start", "update", "mongodb_gives"),
    [
        pytest.param(
            start,
            update,
            result,
            id=f"{bug}:{update}",
            marks=[pytest.mark.xfail(strict=True, reason=f"embedded server bug {bug!r}")]
            if bug in KNOWN_BUGS
            else [],
        )
        for bug, start, update, result in _BUG_CASES
    ],
)
def test_update_bug_stays_fixed(
    collection: Collection[dict[str, Any]],
    start: dict[str, Any] | None,
    update: dict[str, Any],
    mongodb_gives: dict[str, Any] | int,
) -> None:
    """MongoDB's answer: the stored document, or the error code of the refusal.

    ``start`` None is an upsert with the filter {_id: 0}.
    """
    if start is not None:
        collection.insert_one({"_id": 0, **start})
    code = _server_update(collection, update, upsert=start is None)
    if isinstance(mongodb_gives, int):
        assert code == mongodb_gives
        expected = None if start is None else {"_id": 0, **start}
        assert [strict(d) for d in collection.find()] == [strict(expected)] * (start is not None)
    else:
        assert code is None
        assert strict(collection.find_one({"_id": 0})) == strict({"_id": 0, **mongodb_gives})


def test_the_reference_gives_mongodb_s_answer_to_every_reproducer() -> None:
    """The property skips an open bug's cases, and agrees with the reproducers on the others."""
    assert KNOWN_BUGS <= set(ALL_BUGS) == {bug for bug, *_ in _BUG_CASES}
    for bug, start, update, mongodb_gives in _BUG_CASES:
        base = {"_id": 0, **(start or {})}
        if bug in KNOWN_BUGS:
            with pytest.raises(KnownBug, match=bug):
                reference_update(base, update, upsert=start is None)
        elif isinstance(mongodb_gives, int):
            with pytest.raises(Refused) as refused:
                reference_update(base, update, upsert=start is None)
            assert refused.value.codes == {mongodb_gives}
        else:
            assert strict(reference_update(base, update)) == strict({"_id": 0, **mongodb_gives})
