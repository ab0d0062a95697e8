"""Property: what the query builder builds, the server evaluates as a plain reference evaluator would.

Random documents (ints, strings, nulls, missing fields, int arrays) and random
queries built with the ODM's query builder; the embedded server's answer must
equal a straightforward Python evaluation written from MongoDB's rules.
"""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import MongoClient

from odmantic_fastapi import Model, query
from odmantic_fastapi.query import QueryExpression


class Thing(Model):
    a: int | None = None
    s: str | None = None
    tags: list[int] = []


FIELDS: dict[str, Any] = {"a": Thing.a, "s": Thing.s, "tags": Thing.tags}
MISSING = object()

scalar_for = {
    "a": st.integers(-3, 3),
    "s": st.sampled_from(["", "a", "b", "ab"]),
    "tags": st.integers(-3, 3),
}

documents = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "a": st.one_of(st.none(), st.integers(-3, 3)),
            "s": st.one_of(st.none(), st.sampled_from(["", "a", "b", "ab"])),
            "tags": st.lists(st.integers(-3, 3), max_size=3),
        },
    ),
    max_size=8,
)


def _values(doc: dict[str, Any], field: str) -> list[Any]:
    """What a field condition compares: the value, and the elements of an array."""
    value = doc.get(field, MISSING)
    if value is MISSING:
        return []
    return [value, *value] if isinstance(value, list) else [value]


def _same_type(x: Any, y: Any) -> bool:
    return isinstance(x, int) == isinstance(y, int) and isinstance(x, str) == isinstance(y, str)


Reference = Callable[[dict[str, Any]], bool]


@st.composite
def conditions(draw: st.DrawFn) -> tuple[QueryExpression, Reference]:
    field = draw(st.sampled_from(sorted(FIELDS)))
    proxy = FIELDS[field]
    op = draw(st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "exists"]))
    value = draw(scalar_for[field])
    if op == "exists":
        present = draw(st.booleans())
        return query.exists(proxy, present), lambda d: (field in d) == present
    if op in ("in", "nin"):
        items = draw(st.lists(scalar_for[field], min_size=1, max_size=3))
        built = query.in_(proxy, items) if op == "in" else query.not_in(proxy, items)

        def inside(d: dict[str, Any]) -> bool:
            return any(v == i and _same_type(v, i) for v in _values(d, field) for i in items)

        return built, (inside if op == "in" else lambda d: not inside(d))
    if op in ("eq", "ne"):

        def equal(d: dict[str, Any]) -> bool:
            return any(v == value and _same_type(v, value) for v in _values(d, field))

        built = query.eq(proxy, value) if op == "eq" else query.ne(proxy, value)
        return built, (equal if op == "eq" else lambda d: not equal(d))
    compare = {
        "gt": lambda v: v > value,
        "gte": lambda v: v >= value,
        "lt": lambda v: v < value,
        "lte": lambda v: v <= value,
    }[op]
    built = getattr(query, op)(proxy, value)
    return built, lambda d: any(
        v is not None and _same_type(v, value) and compare(v) for v in _values(d, field)
    )


@st.composite
def queries(draw: st.DrawFn) -> tuple[QueryExpression, Reference]:
    parts = draw(st.lists(conditions(), min_size=1, max_size=3))
    if len(parts) == 1:
        return parts[0]
    combine = draw(st.sampled_from(["and", "or", "nor"]))
    built = {"and": query.and_, "or": query.or_, "nor": query.nor_}[combine](*(q for q, _ in parts))
    refs = [r for _, r in parts]
    if combine == "and":
        return built, lambda d: all(r(d) for r in refs)
    if combine == "or":
        return built, lambda d: any(r(d) for r in refs)
    return built, lambda d: not any(r(d) for r in refs)


@pytest.fixture
def collection(mongodb_url: str, mongodb_database_name: str) -> Iterator[Any]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
    yield client[mongodb_database_name].thing
    client.close()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(docs=documents, built=queries())
def test_server_matches_the_reference_evaluator(
    collection: Any, docs: list[dict[str, Any]], built: tuple[QueryExpression, Reference]
) -> None:
    expression, reference = built
    collection.delete_many({})
    if docs:
        collection.insert_many([{"_id": i, **d} for i, d in enumerate(docs)])
    found = sorted(d["_id"] for d in collection.find(dict(expression)))
    expected = [i for i, d in enumerate(docs) if reference(d)]
    assert found == expected, (dict(expression), docs)
