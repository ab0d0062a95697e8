"""ODMantic 1.1 behaviours checked over the wire: what is stored, and what comes back."""

import re
import typing
from decimal import Decimal
from typing import Annotated

import pytest
from bson import Decimal128

from odmantic_fastapi import AIOEngine, EmbeddedModel, Model, SyncEngine
from odmantic_fastapi.bson import WithBsonSerializer


class Rule(Model):
    pattern: typing.Pattern  # type: ignore[type-arg]  # the bare typing alias is what is tested


async def test_typing_pattern_field_is_stored_as_regex_and_read_back(aio_engine: AIOEngine) -> None:
    rule = await aio_engine.save(Rule(pattern=re.compile(r"^a.c$", re.IGNORECASE)))
    raw = await aio_engine.get_collection(Rule).find_one(
        {"_id": rule.id, "pattern": {"$type": "regex"}}
    )
    assert raw is not None
    again = Rule(pattern=raw["pattern"])  # a bson Regex from the driver
    assert again.pattern.pattern == "^a.c$" and again.pattern.flags & re.IGNORECASE
    found = await aio_engine.find_one(Rule, Rule.id == rule.id)
    assert found is not None and found.pattern.pattern == "^a.c$"


class Reading(Model):
    value: Annotated[float, WithBsonSerializer(str)]


def test_with_bson_serializer_value_is_stored_as_serialized(sync_engine: SyncEngine) -> None:
    reading = sync_engine.save(Reading(value=3.25))
    raw = sync_engine.get_collection(Reading).find_one(
        {"_id": reading.id, "value": {"$type": "string"}}
    )
    assert raw is not None and raw["value"] == "3.25"
    assert Reading.model_validate_doc(raw).value == 3.25


class Ticket(Model):
    seat: int


async def test_transaction_refuses_operations_once_committed_or_aborted(
    aio_engine: AIOEngine,
) -> None:
    committed = aio_engine.transaction()
    await committed.start()
    await committed.commit()
    with pytest.raises(RuntimeError, match="transaction not started"):
        await committed.save(Ticket(seat=1))
    async with aio_engine.transaction() as exited:
        pass
    with pytest.raises(RuntimeError, match="transaction not started"):
        await exited.find_one(Ticket)
    assert await aio_engine.count(Ticket) == 0


def test_sync_transaction_refuses_operations_once_aborted(sync_engine: SyncEngine) -> None:
    aborted = sync_engine.transaction()
    aborted.start()
    aborted.abort()
    with pytest.raises(RuntimeError, match="transaction not started"):
        aborted.save(Ticket(seat=1))


async def test_engine_transaction_session_ends_after_manual_commit_or_abort(
    aio_engine: AIOEngine,
) -> None:
    for finish in ("commit", "abort"):
        transaction = aio_engine.transaction()
        await transaction.start()
        assert transaction.session.is_started
        await getattr(transaction, finish)()
        assert not transaction.session.is_started


def test_sync_engine_transaction_session_ends_after_manual_commit_or_abort(
    sync_engine: SyncEngine,
) -> None:
    for finish in ("commit", "abort"):
        transaction = sync_engine.transaction()
        transaction.start()
        assert transaction.session.is_started
        getattr(transaction, finish)()
        assert not transaction.session.is_started


def test_transaction_on_a_session_leaves_that_session_open(sync_engine: SyncEngine) -> None:
    with sync_engine.session() as session:
        transaction = session.transaction()
        transaction.start()
        transaction.commit()
        assert transaction.session is session and session.is_started


class Stop(EmbeddedModel):
    name: str


class Route(Model):
    stops: tuple[Stop, ...]
    model_config = {"extra": "allow"}


def test_tuple_of_embedded_models_is_stored_as_an_array(sync_engine: SyncEngine) -> None:
    route = Route(stops=(Stop(name="a"), Stop(name="b")))
    assert route.model_dump_doc()["stops"] == [{"name": "a"}, {"name": "b"}]
    sync_engine.save(route)
    raw = sync_engine.get_collection(Route).find_one({"_id": route.id, "stops": {"$type": "array"}})
    assert raw is not None and raw["stops"] == [{"name": "a"}, {"name": "b"}]
    found = sync_engine.find_one(Route, Route.id == route.id)
    assert found is not None and found.stops == (Stop(name="a"), Stop(name="b"))


async def test_extra_decimal_field_is_stored_as_decimal128(aio_engine: AIOEngine) -> None:
    route = Route(stops=(), fare=Decimal("2.50"))  # type: ignore[call-arg]  # an extra field
    assert isinstance(route.model_dump_doc()["fare"], Decimal128)
    await aio_engine.save(route)
    raw = await aio_engine.get_collection(Route).find_one(
        {"_id": route.id, "fare": {"$type": "decimal"}}
    )
    assert raw is not None and raw["fare"] == Decimal128("2.50")
