"""Every example of the sessions specification (shared/seed/sessions.md), run for real.

The database URL is the session's server and money is in integer minor units
(the spec uses floats); otherwise each test follows its example and checks the
documented outcome, then that no transaction is left open on the server.
"""

import asyncio
import datetime
import random
from typing import Any

import pytest
from bson import ObjectId
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from odmantic_fastapi import AIOEngine, Model, SyncEngine
from odmantic_fastapi.session import AIOSession, AIOTransaction, SyncSession, SyncTransaction
from tests.integration.conftest import open_server_state


class User(Model):
    name: str
    email: str
    total_orders: int = 0


class Order(Model):
    user_id: ObjectId
    total: int


class Account(Model):
    user_id: ObjectId
    balance: int


class Transfer(Model):
    from_account: ObjectId
    to_account: ObjectId
    amount: int
    timestamp: datetime.datetime


async def assert_nothing_left_open(engine: AIOEngine) -> None:
    open_transactions, _ = await open_server_state(engine)
    assert open_transactions == 0


# -- basic session usage ---------------------------------------------------


async def test_basic_session_usage_async(aio_engine: AIOEngine) -> None:
    async with aio_engine.session() as session:
        user = User(name="John", email="john@example.com")
        await aio_engine.save(user, session=session)
        users = await aio_engine.find(User, session=session)
        user_count = await aio_engine.count(User, session=session)
        driver_session = session.get_driver_session()
    assert [u.name for u in users] == ["John"]
    assert user_count == 1
    assert driver_session.has_ended
    await assert_nothing_left_open(aio_engine)


def test_basic_session_usage_sync(sync_engine: SyncEngine) -> None:
    with sync_engine.session() as session:
        user = User(name="Jane", email="jane@example.com")
        sync_engine.save(user, session=session)
        users = list(sync_engine.find(User, session=session))
        user_count = sync_engine.count(User, session=session)
        driver_session = session.get_driver_session()
    assert [u.name for u in users] == ["Jane"]
    assert user_count == 1
    assert driver_session.has_ended


# -- transactions ------------------------------------------------------------


async def test_transaction_usage_async(aio_engine: AIOEngine) -> None:
    async with aio_engine.transaction() as transaction:
        user = User(name="Alice", email="alice@example.com")
        await aio_engine.save(user, session=transaction)
        order = Order(user_id=user.id, total=9999)
        await aio_engine.save(order, session=transaction)
        user.model_update(total_orders=1)
        await aio_engine.save(user, session=transaction)
        driver_session = transaction.get_driver_session()
    saved = await aio_engine.find_one(User, User.email == "alice@example.com")
    assert saved is not None and saved.total_orders == 1
    assert await aio_engine.count(Order) == 1
    assert driver_session.has_ended  # ended even though commit() was never called
    await assert_nothing_left_open(aio_engine)


def test_transaction_usage_sync(sync_engine: SyncEngine) -> None:
    with sync_engine.transaction() as transaction:
        user = User(name="Bob", email="bob@example.com")
        sync_engine.save(user, session=transaction)
        sync_engine.save(Order(user_id=user.id, total=14999), session=transaction)
    assert sync_engine.count(User) == 1
    assert sync_engine.count(Order) == 1


async def test_a_transaction_is_a_session(aio_engine: AIOEngine) -> None:
    txn = aio_engine.transaction()
    assert isinstance(txn, AIOSession)
    assert isinstance(SyncTransaction.__mro__[1], type) and issubclass(SyncTransaction, SyncSession)


# -- multi-collection money transfer ---------------------------------------------


async def money_transfer(
    engine: AIOEngine, from_id: ObjectId, to_id: ObjectId, amount: int, txn: AIOTransaction
) -> None:
    """The spec's money_transfer, run inside the retry helper's transaction."""
    from_account = await engine.find_one(Account, Account.user_id == from_id, session=txn)
    if not from_account or from_account.balance < amount:
        raise ValueError("Insufficient funds")
    to_account = await engine.find_one(Account, Account.user_id == to_id, session=txn)
    if not to_account:
        raise ValueError("Destination account not found")
    from_account.model_update(balance=from_account.balance - amount)
    to_account.model_update(balance=to_account.balance + amount)
    await engine.save(from_account, session=txn)
    await engine.save(to_account, session=txn)
    await engine.save(
        Transfer(
            from_account=from_id,
            to_account=to_id,
            amount=amount,
            timestamp=datetime.datetime.now(datetime.UTC),
        ),
        session=txn,
    )


async def test_money_transfer_moves_money_atomically(aio_engine: AIOEngine) -> None:
    a, b = ObjectId(), ObjectId()
    await aio_engine.save_all([Account(user_id=a, balance=100), Account(user_id=b, balance=0)])
    async with aio_engine.transaction() as txn:
        await money_transfer(aio_engine, a, b, 30, txn)
    balances = {acc.user_id: acc.balance async for acc in aio_engine.find(Account)}
    assert balances == {a: 70, b: 30}
    with pytest.raises(ValueError, match="Insufficient funds"):
        async with aio_engine.transaction() as txn:
            await money_transfer(aio_engine, a, b, 1000, txn)
    assert await aio_engine.count(Transfer) == 1
    await assert_nothing_left_open(aio_engine)


@pytest.mark.slow
async def test_concurrent_transfers_in_the_retry_helper_conserve_money(
    aio_engine: AIOEngine,
) -> None:
    """8 at a time, 1,000 in all, over 10 accounts, written as the spec writes them."""
    owners = [ObjectId() for _ in range(10)]
    await aio_engine.save_all([Account(user_id=o, balance=10_000) for o in owners])
    rng = random.Random(7)
    plan: list[tuple[ObjectId, ObjectId, int]] = []
    for _ in range(1000):
        src, dst = rng.sample(owners, 2)
        plan.append((src, dst, rng.randint(1, 3_000)))
    attempts: dict[int, int] = {}
    outcomes: list[tuple[ObjectId, ObjectId, int]] = []
    semaphore = asyncio.Semaphore(8)

    async def one(index: int, src: ObjectId, dst: ObjectId, amount: int) -> None:
        async def body(txn: AIOTransaction) -> None:
            attempts[index] = attempts.get(index, 0) + 1
            await money_transfer(aio_engine, src, dst, amount, txn)

        async with semaphore:
            try:
                await aio_engine.run_transaction(body)
                outcomes.append((src, dst, amount))
            except ValueError:
                pass

    await asyncio.gather(*(one(i, *p) for i, p in enumerate(plan)))
    accounts = await aio_engine.find(Account)
    assert sum(acc.balance for acc in accounts) == 100_000
    assert min(acc.balance for acc in accounts) >= 0
    transfers = await aio_engine.find(Transfer)
    assert len(transfers) == len(outcomes)
    net: dict[ObjectId, int] = {o: 10_000 for o in owners}
    for t in transfers:
        net[t.from_account] -= t.amount
        net[t.to_account] += t.amount
    assert {acc.user_id: acc.balance for acc in accounts} == net
    assert any(n > 1 for n in attempts.values()), "no transfer was retried; raise concurrency"
    await assert_nothing_left_open(aio_engine)


# -- error handling, nesting, rollback -------------------------------------------


async def test_session_with_error_handling(aio_engine: AIOEngine) -> None:
    async with aio_engine.session() as session:
        for i in range(10):
            await aio_engine.save(
                User(name=f"User {i}", email=f"user{i}@example.com"), session=session
            )
        total = await aio_engine.count(User, session=session)
    assert total == 10


async def nested_operations(engine: AIOEngine, session: AIOSession | None = None) -> User:
    if session:
        user = User(name="Nested User", email="nested@example.com")
        await engine.save(user, session=session)
        return user
    async with engine.session() as new_session:
        user = User(name="New Session User", email="newsession@example.com")
        await engine.save(user, session=new_session)
        return user


async def test_nested_session_handling(aio_engine: AIOEngine) -> None:
    await nested_operations(aio_engine)
    async with aio_engine.session() as session:
        await nested_operations(aio_engine, session=session)
        await nested_operations(aio_engine, session=session)
        count = await aio_engine.count(User, session=session)
    assert count == 3


async def test_transaction_started_from_an_open_session(aio_engine: AIOEngine) -> None:
    async with aio_engine.session() as session:
        async with session.transaction() as txn:
            await aio_engine.save(User(name="T", email="t@example.com"), session=txn)
        assert session.is_started  # the session outlives its transaction
    assert await aio_engine.count(User) == 1


async def test_rollback_examples_leave_nothing(aio_engine: AIOEngine) -> None:
    with pytest.raises(ValueError, match="Test users not allowed"):
        async with aio_engine.transaction() as txn:
            user = User(name="Test User", email="test@example.com")
            await aio_engine.save(user, session=txn)
            if user.name == "Test User":
                raise ValueError("Test users not allowed")
    with pytest.raises(RuntimeError, match="Something went wrong"):
        async with aio_engine.transaction() as txn:
            for i in range(5):
                await aio_engine.save(User(name=f"User {i}", email=f"u{i}@e.com"), session=txn)
            raise RuntimeError("Something went wrong")
    assert await aio_engine.count(User) == 0
    await assert_nothing_left_open(aio_engine)


async def test_explicit_abort_leaves_nothing_and_later_use_is_refused(
    aio_engine: AIOEngine,
) -> None:
    txn = aio_engine.transaction()
    await txn.start()
    await aio_engine.save(User(name="x", email="x@e.com"), session=txn)
    await txn.abort()
    assert await aio_engine.count(User) == 0
    with pytest.raises(RuntimeError, match="already aborted"):
        await txn.commit()
    with pytest.raises(RuntimeError):
        await aio_engine.save(User(name="y", email="y@e.com"), session=txn)


async def test_a_failed_commit_raises(aio_engine: AIOEngine) -> None:
    from pymongo.errors import PyMongoError

    txn = aio_engine.transaction()
    await txn.start()
    await aio_engine.save(User(name="x", email="x@e.com"), session=txn)
    await txn.get_driver_session().abort_transaction()  # behind the ODM's back
    with pytest.raises(PyMongoError):
        await txn.commit()
    assert await aio_engine.count(User) == 0
    await assert_nothing_left_open(aio_engine)


async def test_instances_saved_in_an_aborted_transaction_are_written_by_a_retry(
    aio_engine: AIOEngine,
) -> None:
    user = User(name="Retry", email="retry@example.com")
    async with aio_engine.transaction() as txn:
        await aio_engine.save(user, session=txn)
        await txn.abort()
    assert await aio_engine.count(User) == 0
    await aio_engine.save(user)
    assert await aio_engine.count(User) == 1


@pytest.mark.parametrize("through", ["transaction", "driver session", "session"])
async def test_a_save_in_an_aborted_transaction_is_written_by_a_retry_whatever_session_form(
    aio_engine: AIOEngine, through: str
) -> None:
    user = User(name="Retry", email="retry@example.com")
    async with aio_engine.session() as session, session.transaction() as txn:
        if through == "transaction":
            await txn.save(user)
        elif through == "driver session":
            await aio_engine.save(user, session=txn.get_driver_session())
        else:
            await session.save(user)
        await txn.abort()
    assert await aio_engine.count(User) == 0
    await aio_engine.save(user)
    assert await aio_engine.count(User) == 1


def test_a_sync_save_given_the_driver_session_is_written_by_a_retry_after_abort(
    sync_engine: SyncEngine,
) -> None:
    user = User(name="Retry", email="retry@example.com")
    with sync_engine.transaction() as txn:
        sync_engine.save(user, session=txn.get_driver_session())
        txn.abort()
    sync_engine.save(user)
    assert sync_engine.count(User) == 1


async def test_session_methods_hand_the_engine_the_driver_session(
    mongodb_url: str, mongodb_database_name: str
) -> None:
    from pymongo import AsyncMongoClient

    seen: list[object] = []

    class RecordingEngine(AIOEngine):
        async def count(self, model: Any, *queries: Any, session: Any = None) -> int:
            seen.append(session)
            return await super().count(model, *queries, session=session)

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    engine = RecordingEngine(client, mongodb_database_name)
    try:
        async with engine.session() as session:
            await session.count(User)
            async with session.transaction() as txn:
                await txn.count(User)
            assert seen == [session.get_driver_session()] * 2
    finally:
        await client.drop_database(mongodb_database_name)
        await client.close()


async def test_session_from_another_client_is_refused(
    aio_engine: AIOEngine, mongodb_url: str
) -> None:
    from pymongo import AsyncMongoClient

    other: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    try:
        foreign = other.start_session()
        with pytest.raises(ValueError, match="another client"):
            await aio_engine.count(User, session=foreign)
        await foreign.end_session()
    finally:
        await other.close()


async def test_session_configuration_defaults_are_money_safe(aio_engine: AIOEngine) -> None:
    async with aio_engine.transaction() as txn:
        assert txn.options.read_concern is not None
        assert txn.options.read_concern.level == "snapshot"
        assert txn.options.write_concern is not None
        assert txn.options.write_concern.document == {"w": "majority"}
    custom = aio_engine.transaction(write_concern=WriteConcern(w=1))
    assert custom.options.write_concern == WriteConcern(w=1)
    assert custom.options.read_concern == ReadConcern("snapshot")


# -- the same examples, synchronous ------------------------------------------------


def sync_money_transfer(
    engine: SyncEngine, from_id: ObjectId, to_id: ObjectId, amount: int, txn: SyncTransaction
) -> None:
    from_account = engine.find_one(Account, Account.user_id == from_id, session=txn)
    if not from_account or from_account.balance < amount:
        raise ValueError("Insufficient funds")
    to_account = engine.find_one(Account, Account.user_id == to_id, session=txn)
    if not to_account:
        raise ValueError("Destination account not found")
    from_account.model_update(balance=from_account.balance - amount)
    to_account.model_update(balance=to_account.balance + amount)
    engine.save(from_account, session=txn)
    engine.save(to_account, session=txn)
    engine.save(
        Transfer(
            from_account=from_id,
            to_account=to_id,
            amount=amount,
            timestamp=datetime.datetime.now(datetime.UTC),
        ),
        session=txn,
    )


def test_money_transfer_sync(sync_engine: SyncEngine) -> None:
    a, b = ObjectId(), ObjectId()
    sync_engine.save_all([Account(user_id=a, balance=100), Account(user_id=b, balance=0)])
    with sync_engine.transaction() as txn:
        sync_money_transfer(sync_engine, a, b, 30, txn)
    with pytest.raises(ValueError, match="Insufficient funds"), sync_engine.transaction() as txn:
        sync_money_transfer(sync_engine, a, b, 1000, txn)
    assert {acc.user_id: acc.balance for acc in sync_engine.find(Account)} == {a: 70, b: 30}
    assert sync_engine.count(Transfer) == 1


def test_session_with_error_handling_sync(sync_engine: SyncEngine) -> None:
    with sync_engine.session() as session:
        for i in range(10):
            sync_engine.save(User(name=f"User {i}", email=f"user{i}@example.com"), session=session)
        assert sync_engine.count(User, session=session) == 10


def sync_nested_operations(engine: SyncEngine, session: SyncSession | None = None) -> User:
    if session:
        user = User(name="Nested User", email="nested@example.com")
        engine.save(user, session=session)
        return user
    with engine.session() as new_session:
        user = User(name="New Session User", email="newsession@example.com")
        engine.save(user, session=new_session)
        return user


def test_nested_session_handling_sync(sync_engine: SyncEngine) -> None:
    sync_nested_operations(sync_engine)
    with sync_engine.session() as session:
        sync_nested_operations(sync_engine, session=session)
        sync_nested_operations(sync_engine, session=session)
        assert sync_engine.count(User, session=session) == 3


def test_rollback_examples_leave_nothing_sync(sync_engine: SyncEngine) -> None:
    with (
        pytest.raises(ValueError, match="Test users not allowed"),
        sync_engine.transaction() as txn,
    ):
        user = User(name="Test User", email="test@example.com")
        sync_engine.save(user, session=txn)
        raise ValueError("Test users not allowed")
    with (
        pytest.raises(RuntimeError, match="Something went wrong"),
        sync_engine.transaction() as txn,
    ):
        for i in range(5):
            sync_engine.save(User(name=f"User {i}", email=f"u{i}@e.com"), session=txn)
        raise RuntimeError("Something went wrong")
    assert sync_engine.count(User) == 0
    status = sync_engine.client.admin.command("serverStatus")
    assert status["transactions"]["currentOpen"] == 0


def test_session_configuration_sync(sync_engine: SyncEngine) -> None:
    with sync_engine.session() as session:
        list(sync_engine.find(User, session=session))
    with sync_engine.transaction() as txn:
        sync_engine.save(User(name="Transactional User", email="txn@example.com"), session=txn)
        assert txn.options.read_concern == ReadConcern("snapshot")
    assert sync_engine.count(User) == 1


def test_sync_retry_helper_retries_write_conflicts(
    sync_engine: SyncEngine, mongodb_url: str
) -> None:
    from pymongo import MongoClient

    account = Account(user_id=ObjectId(), balance=100)
    sync_engine.save(account)
    attempts: list[int] = []
    other: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)

    def debit(txn: SyncTransaction) -> None:
        attempts.append(1)
        current = sync_engine.find_one(Account, Account.id == account.id, session=txn)
        assert current is not None
        if len(attempts) == 1:
            # A concurrent committed write after our snapshot makes our write conflict.
            other[sync_engine.database_name].account.update_one(
                {"_id": account.id}, {"$inc": {"balance": 1}}
            )
        current.model_update(balance=current.balance - 10)
        sync_engine.save(current, session=txn)

    try:
        sync_engine.run_transaction(debit)
    finally:
        other.close()
    assert len(attempts) == 2
    stored = sync_engine.find_one(Account, Account.id == account.id)
    assert stored is not None and stored.balance == 91
