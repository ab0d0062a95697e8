"""Property: every supported BSON type survives model -> document -> server -> document -> model."""

import datetime
import decimal
from collections.abc import Iterator
from typing import Any

import bson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import MongoClient

from odmantic_fastapi import EmbeddedModel, Model, SyncEngine
from odmantic_fastapi.bson import Binary, Decimal128, Int64


class Inner(EmbeddedModel):
    label: str
    weights: list[float]


class Everything(Model):
    small: int
    big: Int64
    real: float
    text: str
    flag: bool
    when: datetime.datetime
    money: decimal.Decimal
    dec: Decimal128
    blob: Binary
    ref: bson.ObjectId
    maybe: int | None
    inner: Inner
    inners: list[Inner]
    mapping: dict[str, int]


finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
texts = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=20
)
inners = st.builds(Inner, label=texts, weights=st.lists(finite, max_size=3))
everything = st.builds(
    Everything,
    small=st.integers(-(2**31), 2**31 - 1),
    big=st.integers(-(2**63), 2**63 - 1).map(Int64),
    real=finite,
    text=texts,
    flag=st.booleans(),
    when=st.datetimes(
        min_value=datetime.datetime(1900, 1, 1), max_value=datetime.datetime(2200, 1, 1)
    ),
    money=st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12
    ),
    dec=st.decimals(
        allow_nan=False, allow_infinity=False, places=6, min_value=-(10**9), max_value=10**9
    ).map(lambda d: Decimal128(str(d))),
    blob=st.binary(max_size=16).map(Binary),
    ref=st.builds(bson.ObjectId),
    maybe=st.one_of(st.none(), st.integers(-5, 5)),
    inner=inners,
    inners=st.lists(inners, max_size=2),
    mapping=st.dictionaries(
        st.text(alphabet="abcdef", min_size=1, max_size=4), st.integers(-9, 9), max_size=3
    ),
)


@pytest.fixture
def engine(mongodb_url: str, mongodb_database_name: str) -> Iterator[SyncEngine]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
    yield SyncEngine(client, database=mongodb_database_name)
    client.close()


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(instance=everything)
def test_models_round_trip_through_the_server(engine: SyncEngine, instance: Everything) -> None:
    engine.save(instance)
    loaded = engine.find_one(Everything, Everything.id == instance.id)
    assert loaded == instance
    raw = engine.get_collection(Everything).find_one({"_id": instance.id})
    assert isinstance(raw["big"], bson.Int64)
    assert isinstance(raw["money"], bson.Decimal128)
    assert raw["when"] == instance.when
