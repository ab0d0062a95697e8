"""Transactions over the wire: snapshot isolation, write conflicts, aborts, retries."""

import asyncio
import random
import threading
import time
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from tests.embedded.conftest import maybe_await


def test_reader_outside_transaction_sees_old_value_until_commit(db: Database[Any]) -> None:
    db.accounts.insert_one({"_id": 1, "balance": 100})
    client = db.client
    with client.start_session() as session:
        session.start_transaction()
        db.accounts.update_one({"_id": 1}, {"$set": {"balance": 50}}, session=session)
        assert db.accounts.find_one({"_id": 1}, session=session)["balance"] == 50
        assert db.accounts.find_one({"_id": 1})["balance"] == 100
        session.commit_transaction()
    assert db.accounts.find_one({"_id": 1})["balance"] == 50


def test_transaction_reads_are_stable_while_others_commit(db: Database[Any]) -> None:
    db.accounts.insert_many([{"_id": 1, "balance": 100}, {"_id": 2, "balance": 0}])
    with db.client.start_session() as session:
        session.start_transaction()
        assert db.accounts.find_one({"_id": 1}, session=session)["balance"] == 100
        db.accounts.update_one({"_id": 1}, {"$set": {"balance": 7}})
        db.accounts.insert_one({"_id": 3, "balance": 1})
        assert db.accounts.find_one({"_id": 1}, session=session)["balance"] == 100
        assert db.accounts.count_documents({}, session=session) == 2
        assert sum(d["balance"] for d in db.accounts.find({}, session=session)) == 100
        session.abort_transaction()


def test_uncommitted_insert_is_invisible_to_other_readers(db: Database[Any]) -> None:
    with db.client.start_session() as session:
        session.start_transaction()
        db.orders.insert_one({"_id": "o1"}, session=session)
        assert db.orders.find_one({"_id": "o1"}) is None
        assert db.orders.count_documents({}) == 0
        session.commit_transaction()
    assert db.orders.find_one({"_id": "o1"}) == {"_id": "o1"}


def test_non_transactional_insert_survives_another_sessions_abort(db: Database[Any]) -> None:
    with db.client.start_session() as session:
        session.start_transaction()
        db.items.insert_one({"_id": "in-txn"}, session=session)
        db.items.insert_one({"_id": "outside"})
        session.abort_transaction()
    assert [d["_id"] for d in db.items.find()] == ["outside"]


def test_abort_discards_exactly_that_transactions_writes(db: Database[Any]) -> None:
    db.items.insert_many([{"_id": i, "v": 0} for i in range(3)])
    with db.client.start_session() as s1, db.client.start_session() as s2:
        s1.start_transaction()
        s2.start_transaction()
        db.items.update_one({"_id": 0}, {"$set": {"v": 1}}, session=s1)
        db.items.update_one({"_id": 1}, {"$set": {"v": 2}}, session=s2)
        s1.abort_transaction()
        s2.commit_transaction()
    assert {d["_id"]: d["v"] for d in db.items.find()} == {0: 0, 1: 2, 2: 0}


def test_second_writer_of_a_document_gets_write_conflict(db: Database[Any]) -> None:
    db.accounts.insert_one({"_id": 1, "balance": 100})
    with db.client.start_session() as s1, db.client.start_session() as s2:
        s1.start_transaction()
        s2.start_transaction()
        db.accounts.update_one({"_id": 1}, {"$inc": {"balance": -10}}, session=s1)
        with pytest.raises(OperationFailure) as info:
            db.accounts.update_one({"_id": 1}, {"$inc": {"balance": -20}}, session=s2)
        assert info.value.code == 112
        assert info.value.has_error_label("TransientTransactionError")
        s1.commit_transaction()
        with pytest.raises(OperationFailure) as aborted:
            s2.commit_transaction()
        assert aborted.value.code == 251
    assert db.accounts.find_one({"_id": 1})["balance"] == 90


def test_write_to_document_committed_after_snapshot_conflicts(db: Database[Any]) -> None:
    db.accounts.insert_one({"_id": 1, "balance": 100})
    with db.client.start_session() as session:
        session.start_transaction()
        db.accounts.find_one({"_id": 1}, session=session)
        db.accounts.update_one({"_id": 1}, {"$set": {"balance": 1}})
        with pytest.raises(OperationFailure) as info:
            db.accounts.update_one({"_id": 1}, {"$set": {"balance": 2}}, session=session)
        assert info.value.code == 112


def test_two_transactions_inserting_same_unique_key_conflict(db: Database[Any]) -> None:
    db.users.create_index("email", unique=True)
    with db.client.start_session() as s1, db.client.start_session() as s2:
        s1.start_transaction()
        s2.start_transaction()
        db.users.insert_one({"email": "a@example.com"}, session=s1)
        with pytest.raises(OperationFailure) as info:
            db.users.insert_one({"email": "a@example.com"}, session=s2)
        assert info.value.code == 112
        assert info.value.has_error_label("TransientTransactionError")
        s1.commit_transaction()
    with pytest.raises(DuplicateKeyError):
        db.users.insert_one({"email": "a@example.com"})


def test_with_transaction_retries_conflicting_transactions_until_both_land(
    db: Database[Any], mongodb_url: str
) -> None:
    db.accounts.insert_one({"_id": 1, "balance": 0})
    barrier = threading.Barrier(2)
    attempts: list[int] = []

    def add(amount: int) -> None:
        client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
        coll = client[db.name].accounts
        first = [True]

        def callback(session: Any) -> None:
            attempts.append(amount)
            balance = coll.find_one({"_id": 1}, session=session)["balance"]
            if first[0]:
                first[0] = False
                barrier.wait(timeout=10)
            coll.update_one({"_id": 1}, {"$set": {"balance": balance + amount}}, session=session)

        with client.start_session() as session:
            session.with_transaction(callback)
        client.close()

    threads = [threading.Thread(target=add, args=(n,)) for n in (5, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert db.accounts.find_one({"_id": 1})["balance"] == 12
    assert len(attempts) >= 3  # at least one of the two had to retry


def test_retried_commit_of_a_committed_transaction_answers_ok(db: Database[Any]) -> None:
    with db.client.start_session() as session:
        session.start_transaction()
        db.items.insert_one({"_id": 1}, session=session)
        session.commit_transaction()
        # The driver re-sends commitTransaction with the same txnNumber.
        session.commit_transaction()
    assert db.items.count_documents({}) == 1


def test_commit_is_atomic_across_collections_and_databases(db: Database[Any]) -> None:
    other = db.client[db.name + "_other"]
    try:
        with db.client.start_session() as session:
            session.start_transaction()
            db.a.insert_one({"_id": 1}, session=session)
            other.b.insert_one({"_id": 2}, session=session)
            assert db.a.count_documents({}) == 0
            assert other.b.count_documents({}) == 0
            session.commit_transaction()
        assert db.a.count_documents({}) == 1
        assert other.b.count_documents({}) == 1
    finally:
        db.client.drop_database(other.name)


def test_write_outside_transaction_waits_for_the_holder_instead_of_corrupting(
    db: Database[Any], mongodb_url: str
) -> None:
    db.accounts.insert_one({"_id": 1, "balance": 100})
    with db.client.start_session() as session:
        session.start_transaction()
        db.accounts.update_one({"_id": 1}, {"$inc": {"balance": -30}}, session=session)
        done = threading.Event()

        def outside() -> None:
            client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
            client[db.name].accounts.update_one({"_id": 1}, {"$inc": {"balance": 5}})
            client.close()
            done.set()

        thread = threading.Thread(target=outside)
        thread.start()
        assert not done.wait(0.5), "the outside write must wait for the transaction"
        session.commit_transaction()
        thread.join(10)
    assert done.is_set()
    assert db.accounts.find_one({"_id": 1})["balance"] == 75


def test_duplicate_key_inside_transaction_aborts_it(db: Database[Any]) -> None:
    db.items.insert_one({"_id": 1})
    with db.client.start_session() as session:
        session.start_transaction()
        db.items.insert_one({"_id": 2}, session=session)
        with pytest.raises(DuplicateKeyError):
            db.items.insert_one({"_id": 1}, session=session)
        with pytest.raises(OperationFailure) as info:
            session.commit_transaction()
        assert info.value.code == 251
    assert db.items.count_documents({}) == 1


def test_abandoned_transaction_aborts_after_lifetime_limit(db: Database[Any]) -> None:
    admin = db.client.admin
    previous = admin.command({"setParameter": 1, "transactionLifetimeLimitSeconds": 1})["was"]
    try:
        with db.client.start_session() as session:
            session.start_transaction()
            db.items.insert_one({"_id": "abandoned"}, session=session)
            status = admin.command("serverStatus")["transactions"]
            assert status["currentOpen"] >= 1
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if admin.command("serverStatus")["transactions"]["currentOpen"] == 0:
                    break
                time.sleep(0.2)
            with pytest.raises(OperationFailure) as info:
                session.commit_transaction()
            assert info.value.code == 251
        assert db.items.count_documents({}) == 0
    finally:
        admin.command({"setParameter": 1, "transactionLifetimeLimitSeconds": previous})


async def test_async_clients_see_snapshot_isolation(
    aclient: Any, mongodb_database_name: str
) -> None:
    coll = aclient[mongodb_database_name].accounts
    await coll.insert_one({"_id": 1, "balance": 100})
    session = await maybe_await(aclient.start_session())
    try:
        await maybe_await(session.start_transaction())
        await coll.update_one({"_id": 1}, {"$set": {"balance": 40}}, session=session)
        assert (await coll.find_one({"_id": 1}))["balance"] == 100
        assert (await coll.find_one({"_id": 1}, session=session))["balance"] == 40
        await session.commit_transaction()
    finally:
        await session.end_session()
    assert (await coll.find_one({"_id": 1}))["balance"] == 40


async def test_async_with_transaction_commits_and_aborts(
    aclient: Any, mongodb_database_name: str
) -> None:
    coll = aclient[mongodb_database_name].items
    session = await maybe_await(aclient.start_session())

    async def ok(s: Any) -> None:
        await coll.insert_one({"_id": "kept"}, session=s)

    async def fail(s: Any) -> None:
        await coll.insert_one({"_id": "dropped"}, session=s)
        raise RuntimeError("boom")

    try:
        await session.with_transaction(ok)
        with pytest.raises(RuntimeError):
            await session.with_transaction(fail)
    finally:
        await session.end_session()
    assert [d["_id"] async for d in coll.find()] == ["kept"]


@pytest.mark.slow
async def test_concurrent_read_modify_write_transfers_keep_the_money_invariant(
    mongodb_url: str, mongodb_database_name: str
) -> None:
    """20 accounts, 8 clients, 2,000 transfers reading both balances and writing them with $set."""
    from pymongo import AsyncMongoClient

    accounts, clients_n, transfers = 20, 8, 2000
    setup: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_url)
    coll = setup[mongodb_database_name].accounts
    await coll.insert_many([{"_id": i, "balance": 1000} for i in range(accounts)])
    rng = random.Random(42)
    plan = [
        (a, b, rng.randint(1, 400))
        for a, b in (rng.sample(range(accounts), 2) for _ in range(transfers))
    ]
    queue: asyncio.Queue[tuple[int, int, int]] = asyncio.Queue()
    for item in plan:
        queue.put_nowait(item)
    clients: list[AsyncMongoClient[dict[str, Any]]] = [
        AsyncMongoClient(mongodb_url) for _ in range(clients_n)
    ]

    async def worker(client: AsyncMongoClient[dict[str, Any]]) -> None:
        wc = client[mongodb_database_name].accounts.with_options(
            write_concern=WriteConcern("majority")
        )
        while not queue.empty():
            src, dst, amount = queue.get_nowait()

            async def move(
                session: Any, src: int = src, dst: int = dst, amount: int = amount
            ) -> None:
                a = await wc.find_one({"_id": src}, session=session)
                b = await wc.find_one({"_id": dst}, session=session)
                if a["balance"] < amount:
                    return
                await wc.update_one(
                    {"_id": src}, {"$set": {"balance": a["balance"] - amount}}, session=session
                )
                await wc.update_one(
                    {"_id": dst}, {"$set": {"balance": b["balance"] + amount}}, session=session
                )

            async with client.start_session() as session:
                await session.with_transaction(move, read_concern=ReadConcern("snapshot"))

    try:
        await asyncio.gather(*(worker(c) for c in clients))
        balances = [d["balance"] async for d in coll.find()]
        assert sum(balances) == accounts * 1000
        assert min(balances) >= 0
    finally:
        for c in clients:
            await c.close()
        await setup.close()


async def test_async_second_writer_gets_write_conflict_and_abort_spares_others(
    aclient: Any, mongodb_database_name: str
) -> None:
    from pymongo.errors import OperationFailure as AsyncOperationFailure

    coll = aclient[mongodb_database_name].accounts
    await coll.insert_one({"_id": 1, "balance": 100})
    s1 = await maybe_await(aclient.start_session())
    s2 = await maybe_await(aclient.start_session())
    try:
        await maybe_await(s1.start_transaction())
        await maybe_await(s2.start_transaction())
        await coll.update_one({"_id": 1}, {"$inc": {"balance": -10}}, session=s1)
        with pytest.raises(AsyncOperationFailure) as info:
            await coll.update_one({"_id": 1}, {"$inc": {"balance": -20}}, session=s2)
        assert info.value.code == 112
        assert info.value.has_error_label("TransientTransactionError")
        await coll.insert_one({"_id": 2, "outside": True})
        await s1.abort_transaction()
        await s2.abort_transaction()
    finally:
        await s1.end_session()
        await s2.end_session()
    assert [d async for d in coll.find({}, sort=[("_id", 1)])] == [
        {"_id": 1, "balance": 100},
        {"_id": 2, "outside": True},
    ]
