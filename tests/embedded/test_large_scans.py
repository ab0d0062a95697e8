"""A large read or write sees the collection as of one moment, while other clients commit.

A scan over thousands of documents reads their versions where it is consumed
(in a worker thread), not all at once on the event loop; transactions that
commit meanwhile must neither show half of their writes to it nor drop a
version it still has to read, or an update_many would skip documents that
matched.
"""

import random
import threading
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.client_session import ClientSession
from pymongo.collection import Collection

from odmantic_fastapi.embedded import ServerProcess

ACCOUNTS = 5_000
BALANCE = 10


@pytest.fixture(scope="module")
def accounts() -> Iterator[Collection[Any]]:
    with ServerProcess() as server:
        client: MongoClient[dict[str, Any]] = MongoClient(server.url)
        coll = client.bank.accounts
        coll.insert_many([{"_id": i, "balance": BALANCE} for i in range(ACCOUNTS)])
        try:
            yield coll
        finally:
            client.close()


@pytest.fixture
def transfers(accounts: Collection[Any]) -> Iterator[list[int]]:
    """Transactions moving one unit between two random accounts, until the test ends."""
    stop = threading.Event()
    done: list[int] = []
    mover = threading.Thread(target=_transfers, args=(accounts, stop, done))
    mover.start()
    try:
        yield done
    finally:
        stop.set()
        mover.join()


def _move(coll: Collection[Any], source: int, target: int, session: ClientSession) -> None:
    coll.update_one({"_id": source}, {"$inc": {"balance": -1}}, session=session)
    coll.update_one({"_id": target}, {"$inc": {"balance": 1}}, session=session)


def _transfers(coll: Collection[Any], stop: threading.Event, done: list[int]) -> None:
    rng = random.Random(5)
    client = coll.database.client
    while not stop.is_set():
        source, target = rng.sample(range(ACCOUNTS), 2)
        with client.start_session() as session:
            # Retried on write conflicts with the update_many of the tests.
            session.with_transaction(partial(_move, coll, source, target))
        done.append(1)


FILTERS = {"collection scan": {}, "index range": {"_id": {"$gte": 0}}}


@pytest.mark.parametrize("name", list(FILTERS))
def test_every_large_read_sees_the_money_conserved_while_transfers_commit(
    accounts: Collection[Any], transfers: list[int], name: str
) -> None:
    totals: list[int] = []
    while len(totals) < 10 or len(transfers) < 50:
        docs = list(accounts.find(FILTERS[name], batch_size=ACCOUNTS))
        assert len(docs) == ACCOUNTS
        totals.append(sum(doc["balance"] for doc in docs))
    assert set(totals) == {ACCOUNTS * BALANCE}, (len(transfers), totals)


@pytest.mark.parametrize("name", list(FILTERS))
def test_a_large_update_many_reaches_every_document_while_transfers_commit(
    accounts: Collection[Any], transfers: list[int], name: str
) -> None:
    for round in range(1, 6):
        assert accounts.update_many(FILTERS[name], {"$inc": {name: 1}}).modified_count == ACCOUNTS
        assert accounts.count_documents({name: round}) == ACCOUNTS
    assert len(transfers) > 0
