"""engine.watch: typed change events from the embedded server, async and sync, resumable."""

from typing import Any

import pytest

from odmantic_fastapi import AIOEngine, EmbeddedModel, Field, Model, Reference, SyncEngine
from odmantic_fastapi.change_stream import ChangeEvent


class Address(EmbeddedModel):
    city: str


class Account(Model):
    owner: str = Field(key_name="owner_name")
    balance: int = 0
    address: Address | None = None
    tags: list[str] = []


async def next_events(stream: Any, n: int) -> list[ChangeEvent[Account]]:
    events: list[ChangeEvent[Account]] = []
    for _ in range(100):
        event = await stream.try_next()
        if event is not None:
            events.append(event)
        if len(events) == n:
            return events
    raise AssertionError(f"only {len(events)} of {n} events arrived")


async def test_watch_yields_typed_events_with_model_field_names(aio_engine: AIOEngine) -> None:
    async with aio_engine.watch(Account, max_await_time_ms=50) as stream:
        account = Account(owner="ada", address=Address(city="Paris"))
        await aio_engine.save(account)
        account.balance = 10
        account.address = Address(city="Lyon")
        await aio_engine.save(account)
        await aio_engine.get_collection(Account).update_one(
            {"_id": account.id}, {"$unset": {"owner_name": ""}}
        )
        await aio_engine.delete(account)
        insert, update, unset, delete = await next_events(stream, 4)
    assert insert.operation_type == "insert"
    assert isinstance(insert.document, Account)
    assert (insert.document.owner, insert.document.balance) == ("ada", 0)
    assert insert.document.address == Address(city="Paris")
    assert insert.id == account.id
    assert update.operation_type == "update"
    assert update.update_description is not None
    assert update.update_description.updated_fields == {"balance": 10, "address.city": "Lyon"}
    assert unset.update_description is not None
    assert unset.update_description.removed_fields == ["owner"]
    assert delete.operation_type == "delete" and delete.document is None
    assert delete.id == account.id


async def test_watch_filters_by_queries_on_the_changed_document(aio_engine: AIOEngine) -> None:
    ada, bob = Account(owner="ada"), Account(owner="bob")
    async with aio_engine.watch(Account, Account.owner == "ada", max_await_time_ms=50) as stream:
        await aio_engine.save_all([ada, bob])
        bob.balance = ada.balance = 5
        await aio_engine.save_all([bob, ada])
        events = await next_events(stream, 2)
    assert [e.operation_type for e in events] == ["insert", "update"]
    assert all(e.id == ada.id for e in events)
    assert events[1].document is not None and events[1].document.balance == 5


async def test_watch_resumes_after_a_token(aio_engine: AIOEngine) -> None:
    async with aio_engine.watch(Account, max_await_time_ms=50) as stream:
        await aio_engine.save(Account(owner="first"))
        (first,) = await next_events(stream, 1)
        token = stream.resume_token
    assert token == first.resume_token
    await aio_engine.save(Account(owner="second"))
    async with aio_engine.watch(Account, resume_after=token, max_await_time_ms=50) as stream:
        (second,) = await next_events(stream, 1)
    assert second.document is not None and second.document.owner == "second"


async def test_watch_gives_pre_images_when_the_collection_records_them(
    aio_engine: AIOEngine,
) -> None:
    account = Account(owner="ada")
    await aio_engine.save(account)
    await aio_engine.database.command(
        "collMod", "account", changeStreamPreAndPostImages={"enabled": True}
    )
    async with aio_engine.watch(
        Account, full_document_before_change="required", max_await_time_ms=50
    ) as stream:
        await aio_engine.delete(account)
        (delete,) = await next_events(stream, 1)
    assert delete.document_before_change == account


async def test_async_for_ends_at_invalidate(aio_engine: AIOEngine) -> None:
    await aio_engine.save(Account(owner="ada"))
    seen: list[str] = []
    stream = aio_engine.watch(Account, max_await_time_ms=50)
    async with stream:
        await aio_engine.save(Account(owner="bob"))
        await aio_engine.get_collection(Account).drop()
        async for event in stream:
            seen.append(event.operation_type)
    assert seen == ["insert", "drop", "invalidate"]


def test_sync_watch(sync_engine: SyncEngine) -> None:
    with sync_engine.watch(Account, max_await_time_ms=50) as stream:
        sync_engine.save(Account(owner="ada"))
        event = None
        for _ in range(100):
            event = stream.try_next()
            if event is not None:
                break
    assert event is not None and event.operation_type == "insert"
    assert event.document is not None and event.document.owner == "ada"


def test_watch_refuses_a_closed_stream_and_operator_filters(sync_engine: SyncEngine) -> None:
    stream = sync_engine.watch(Account)
    stream.close()
    with pytest.raises(RuntimeError):
        stream.try_next()
    with pytest.raises(ValueError):
        sync_engine.watch(Account, {"$where": "true"})


class Book(Model):
    title: str
    author: Account = Reference()


def test_a_model_holding_references_cannot_be_watched(sync_engine: SyncEngine) -> None:
    with pytest.raises(TypeError, match="references"):
        sync_engine.watch(Book)
