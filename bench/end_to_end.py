"""ODM end to end: the same operations on the same embedded server, each ODM against raw pymongo.

Usage: ``python -m bench.end_to_end [--quick|--full]``; writes bench/results/end_to_end.json.
One embedded server (``ServerProcess``) serves every contender in the same
run, each on its own database and client:

- insert 10k: ``save_all`` of 10k new models (Beanie: ``insert_many``) against
  raw ``insert_many`` of the same 10k documents (the models are given the
  documents' ids, so save_all's inserts only guess the ids are free; a side
  measure gives save_all over ids all taken, where the upserts take over);
- find all 10k: every document into models (raw: ``find().to_list()``);
- find_one by id, 2k times;
- update 2k: change one field of a found instance and ``save`` it (Beanie:
  ``set``; raw: ``update_one`` with ``$set``);
- 1k transfers: a transaction with two balance updates, committed.

Contenders run in a rotated order each round; each figure is the median of
the rounds and every ratio is to raw pymongo async in the same run. --full
does three rounds of these counts; --quick one round of a fifth of each.
"""

import abc
import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import beanie
import bson
import odmantic
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import AsyncMongoClient, UpdateOne
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from odmantic_fastapi import AIOEngine
from odmantic_fastapi.embedded import ServerProcess

from ._common import machine, write_results
from ._models import (
    BEANIE_MODELS,
    BeanieAccount,
    BeanieBook,
    Book,
    BookAccount,
    OdmanticAccount,
    OdmanticBook,
    PlainBook,
    StoredPlainBook,
    book_documents,
)

__all__ = ["BASELINE", "OPERATIONS", "run"]

# Full counts; --quick runs a fifth of each to stay within its time budget.
COUNTS = {
    "insert": 10_000,
    "find all": 10_000,
    "find_one by id": 2_000,
    "update": 2_000,
    "transfer txn": 1_000,
}
ACCOUNTS = 100
OPERATIONS = tuple(COUNTS)
SLICES = 10
# Back-to-back pairs per round for the side comparisons (upserts, new models, find floor).
SIDE_PAIRS = 3
GIVEN_IDS_PAIRED = "save_all with given ids, paired"
FIND_PAIRED = "find all, paired"
# Raw pymongo also sends save_all's writes by hand, to tell the server's share from the ODM's.
UPSERTS = "insert as bulk upserts"
# Plain pydantic models dumped into those upserts by hand: what any model layer pays on
# top of the server's upserts (a dump and a driver operation per model), the floor
# under save_all with given ids.
PYDANTIC_UPSERTS = "plain pydantic models as bulk upserts"
NEW_MODELS = "save_all of new models with automatic ids"
# New models given the ids of stored documents: save_all's inserts find the ids taken
# and the upserts take over (what overwriting costs, against insert_many).
TAKEN_IDS = "save_all of new models over taken ids"
# Raw pymongo's find with every document validated by a plain pydantic model: what
# the driver and pydantic alone cost, the floor under any ODM's find into models.
FIND_FLOOR = "find all into plain pydantic"
BASELINE = "raw pymongo async"


def _fields(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}


class _Contender(abc.ABC):
    """One way of doing the five operations; subclasses fill in the driver and ODM calls."""

    name: ClassVar[str]
    slug: ClassVar[str]

    def __init__(self, url: str) -> None:
        self.url = url
        self.database = f"bench_e2e_{self.slug}"

    @abc.abstractmethod
    async def open(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None:
        """Drop the contender's database and close its client."""

    @abc.abstractmethod
    async def reset(self, docs: list[dict[str, Any]]) -> None:
        """Empty collections, accounts, and unsaved objects for ``docs``; untimed."""

    @abc.abstractmethod
    async def insert(self) -> None: ...

    @abc.abstractmethod
    async def find_all(self) -> int:
        """Read every book into objects (kept for update); returns how many."""

    @abc.abstractmethod
    async def find_by_id(self, ids: list[bson.ObjectId]) -> None: ...

    @abc.abstractmethod
    async def update(self, part: slice) -> None:
        """Change the price of the books found last (those in ``part``), one write each."""

    @abc.abstractmethod
    async def transfers(self, part: slice) -> None:
        """One transaction per number in ``part``, moving 1 between two of the accounts."""


class Raw(_Contender):
    name = BASELINE
    slug = "raw"

    async def open(self) -> None:
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.url)
        self.db = self.client[self.database]

    async def close(self) -> None:
        await self.client.drop_database(self.database)
        await self.client.close()

    async def reset(self, docs: list[dict[str, Any]]) -> None:
        await self.db.book.drop()
        await self.db.account.drop()
        self.docs = [dict(d) for d in docs]
        self.account_ids = [bson.ObjectId() for _ in range(ACCOUNTS)]
        await self.db.account.insert_many([{"_id": i, "balance": 10**9} for i in self.account_ids])

    async def insert(self) -> None:
        await self.db.book.insert_many(self.docs)

    async def find_all(self) -> int:
        return len(await self.db.book.find({}).to_list(None))

    async def time_insert_many(self) -> float:
        """Seconds for insert_many of the documents into an emptied collection."""
        await self.db.book.drop()
        gc.collect()
        start = time.perf_counter()
        await self.db.book.insert_many(self.docs)
        return time.perf_counter() - start

    async def insert_as_upserts(self) -> float:
        """Seconds for what save_all sends, by hand: one bulk_write of upserts by _id."""
        await self.db.book.drop()
        operations = [
            UpdateOne({"_id": d["_id"]}, {"$set": _fields(d)}, upsert=True) for d in self.docs
        ]
        gc.collect()
        start = time.perf_counter()
        await self.db.book.bulk_write(operations)
        return time.perf_counter() - start

    async def pydantic_models_as_upserts(self) -> float:
        """Seconds for plain pydantic models dumped and sent as save_all's upserts, by hand."""
        await self.db.book.drop()
        models = [PlainBook(**_fields(d), id=d["_id"]) for d in self.docs]
        gc.collect()
        start = time.perf_counter()
        operations = [
            UpdateOne({"_id": m.id}, {"$set": m.model_dump(exclude={"id"})}, upsert=True)
            for m in models
        ]
        await self.db.book.bulk_write(operations)
        return time.perf_counter() - start

    async def time_find_all(self) -> float:
        """Seconds for find_all; the documents are freed after the timer, as the floor's are."""
        gc.collect()
        start = time.perf_counter()
        docs = await self.db.book.find({}).to_list(None)
        seconds = time.perf_counter() - start
        assert len(docs) == len(self.docs)
        return seconds

    async def find_all_into_pydantic(self) -> float:
        """Seconds for find_all with each document validated by plain pydantic."""
        gc.collect()
        start = time.perf_counter()
        books = [StoredPlainBook.model_validate(d) for d in await self.db.book.find({}).to_list()]
        seconds = time.perf_counter() - start
        assert len(books) == len(self.docs)
        return seconds

    async def find_by_id(self, ids: list[bson.ObjectId]) -> None:
        for id_ in ids:
            assert await self.db.book.find_one({"_id": id_}) is not None

    async def update(self, part: slice) -> None:
        for doc in self.docs[part]:
            await self.db.book.update_one({"_id": doc["_id"]}, {"$set": {"price": 1.5}})

    async def transfers(self, part: slice) -> None:
        # The same options as odmantic_fastapi's transaction defaults.
        options: dict[str, Any] = {
            "read_concern": ReadConcern("snapshot"),
            "write_concern": WriteConcern("majority"),
        }
        accounts = self.db.account
        for i in range(part.start, part.stop):
            source, target = self.account_ids[i % ACCOUNTS], self.account_ids[(i + 1) % ACCOUNTS]
            async with (
                self.client.start_session() as session,
                await session.start_transaction(**options),
            ):
                await accounts.update_one(
                    {"_id": source}, {"$inc": {"balance": -1}}, session=session
                )
                await accounts.update_one(
                    {"_id": target}, {"$inc": {"balance": 1}}, session=session
                )


class Ours(_Contender):
    """odmantic_fastapi on pymongo's AsyncMongoClient."""

    name = "odmantic_fastapi (pymongo async)"
    slug = "ours_pymongo"

    def _client(self) -> Any:
        return AsyncMongoClient(self.url)

    async def open(self) -> None:
        self.client = self._client()
        self.engine = AIOEngine(self.client, database=self.database)

    async def close(self) -> None:
        await self.client.drop_database(self.database)
        closed = self.client.close()
        if asyncio.iscoroutine(closed):
            await closed

    async def reset(self, docs: list[dict[str, Any]]) -> None:
        await self.engine.database.book.drop()
        await self.engine.database.account.drop()
        self.books = [Book(**_fields(d), id=d["_id"]) for d in docs]
        self.accounts = [BookAccount(balance=10**9) for _ in range(ACCOUNTS)]
        await self.engine.save_all(self.accounts)

    async def insert(self) -> None:
        await self.engine.save_all(self.books)

    async def time_save_all_given_ids(self, docs: list[dict[str, Any]]) -> float:
        """Seconds for the insert column's save_all (models with given ids: upserts)."""
        await self.engine.database.book.drop()
        books = [Book(**_fields(d), id=d["_id"]) for d in docs]
        gc.collect()
        start = time.perf_counter()
        await self.engine.save_all(books)
        return time.perf_counter() - start

    async def time_find_all(self) -> float:
        """Seconds for find_all, without freeing the models the previous find kept."""
        self.found = []
        gc.collect()
        start = time.perf_counter()
        found = await self.engine.find(Book)
        seconds = time.perf_counter() - start
        self.found = found
        return seconds

    async def save_all_over_taken_ids(self, docs: list[dict[str, Any]]) -> float:
        """Seconds for save_all of new models whose ids are all stored already (overwrites)."""
        collection = self.engine.database.book
        await collection.drop()
        await collection.insert_many([dict(d) for d in docs])
        books = [Book(**{**_fields(d), "price": d["price"] + 1}, id=d["_id"]) for d in docs]
        gc.collect()
        start = time.perf_counter()
        await self.engine.save_all(books)
        seconds = time.perf_counter() - start
        assert await collection.count_documents({"price": {"$lt": 2}}) == 0  # all overwritten
        return seconds

    async def insert_new_models(self, docs: list[dict[str, Any]]) -> float:
        """Seconds for save_all of new models as users make them (automatic ids): inserts.

        The "insert" operation passes each document's id to the constructor, so
        that every contender stores the same ids; save_all must then upsert, as
        ODMantic does, since a document with that id could exist.
        """
        await self.engine.database.book.drop()
        books = [Book(**_fields(d)) for d in docs]
        gc.collect()
        start = time.perf_counter()
        await self.engine.save_all(books)
        return time.perf_counter() - start

    async def find_all(self) -> int:
        self.found = await self.engine.find(Book)
        return len(self.found)

    async def find_by_id(self, ids: list[bson.ObjectId]) -> None:
        for id_ in ids:
            assert await self.engine.find_one(Book, Book.id == id_) is not None

    async def update(self, part: slice) -> None:
        for book in self.found[part]:
            book.price = 1.5
            await self.engine.save(book)

    async def transfers(self, part: slice) -> None:
        for i in range(part.start, part.stop):
            source, target = self.accounts[i % ACCOUNTS], self.accounts[(i + 1) % ACCOUNTS]
            async with self.engine.transaction() as txn:
                source.balance -= 1
                target.balance += 1
                await txn.save(source)
                await txn.save(target)


class OursMotor(Ours):
    name = "odmantic_fastapi (motor)"
    slug = "ours_motor"

    def _client(self) -> Any:
        return AsyncIOMotorClient(self.url)


class Odmantic(_Contender):
    name = "ODMantic 1.1 (motor)"
    slug = "odmantic"

    async def open(self) -> None:
        self.client: Any = AsyncIOMotorClient(self.url)
        self.engine = odmantic.AIOEngine(self.client, database=self.database)

    async def close(self) -> None:
        await self.client.drop_database(self.database)
        self.client.close()

    async def reset(self, docs: list[dict[str, Any]]) -> None:
        await self.client[self.database].book.drop()
        await self.client[self.database].account.drop()
        self.books = [OdmanticBook(**_fields(d), id=d["_id"]) for d in docs]
        self.accounts = [
            OdmanticAccount(id=bson.ObjectId(), balance=10**9) for _ in range(ACCOUNTS)
        ]
        await self.engine.save_all(self.accounts)

    async def insert(self) -> None:
        await self.engine.save_all(self.books)

    async def find_all(self) -> int:
        self.found = await self.engine.find(OdmanticBook)
        return len(self.found)

    async def find_by_id(self, ids: list[bson.ObjectId]) -> None:
        for id_ in ids:
            found = await self.engine.find_one(OdmanticBook, OdmanticBook.id == id_)
            assert found is not None

    async def update(self, part: slice) -> None:
        for book in self.found[part]:
            book.price = 1.5
            await self.engine.save(book)

    async def transfers(self, part: slice) -> None:
        for i in range(part.start, part.stop):
            source, target = self.accounts[i % ACCOUNTS], self.accounts[(i + 1) % ACCOUNTS]
            async with self.engine.transaction() as txn:
                source.balance -= 1
                target.balance += 1
                await txn.save(source)
                await txn.save(target)
                await txn.commit()


class Beanie(_Contender):
    name = "Beanie 2.x (pymongo async)"
    slug = "beanie"

    async def open(self) -> None:
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(self.url)
        await beanie.init_beanie(database=self.client[self.database], document_models=BEANIE_MODELS)

    async def close(self) -> None:
        await self.client.drop_database(self.database)
        await self.client.close()

    async def reset(self, docs: list[dict[str, Any]]) -> None:
        await BeanieBook.get_pymongo_collection().drop()
        await BeanieAccount.get_pymongo_collection().drop()
        # Beanie's insert_many does not set ids on the documents: give them theirs.
        self.books = [BeanieBook(**_fields(d), id=d["_id"]) for d in docs]
        self.accounts = [BeanieAccount(id=bson.ObjectId(), balance=10**9) for _ in range(ACCOUNTS)]
        await BeanieAccount.insert_many(self.accounts)

    async def insert(self) -> None:
        await BeanieBook.insert_many(self.books)

    async def find_all(self) -> int:
        self.found = await BeanieBook.find_all().to_list()
        return len(self.found)

    async def find_by_id(self, ids: list[bson.ObjectId]) -> None:
        for id_ in ids:
            assert await BeanieBook.get(id_) is not None

    async def update(self, part: slice) -> None:
        for book in self.found[part]:
            await book.set({BeanieBook.price: 1.5})

    async def transfers(self, part: slice) -> None:
        for i in range(part.start, part.stop):
            source, target = self.accounts[i % ACCOUNTS], self.accounts[(i + 1) % ACCOUNTS]
            async with (
                self.client.start_session() as session,
                await session.start_transaction(),
            ):
                await source.set({BeanieAccount.balance: source.balance - 1}, session=session)
                await target.set({BeanieAccount.balance: target.balance + 1}, session=session)


CONTENDERS: tuple[type[_Contender], ...] = (Raw, Ours, OursMotor, Odmantic, Beanie)


Step = Callable[[_Contender], Awaitable[Any]]


def _steps(docs: list[dict[str, Any]], counts: dict[str, int]) -> list[tuple[str, Step]]:
    """A round's timed steps; the repeated operations come in ten slices each, so that
    contenders take turns every slice and a change in the machine's load hits them alike."""
    lookups = counts["find_one by id"]
    ids = [d["_id"] for d in docs[:: len(docs) // lookups]][:lookups]

    def lookup(part: slice) -> Step:
        return lambda c: c.find_by_id(ids[part])

    def update(part: slice) -> Step:
        return lambda c: c.update(part)

    def transfer(part: slice) -> Step:
        return lambda c: c.transfers(part)

    steps: list[tuple[str, Step]] = [
        ("insert", lambda c: c.insert()),
        ("find all", lambda c: c.find_all()),
    ]
    for op, make in (("find_one by id", lookup), ("update", update), ("transfer txn", transfer)):
        size = counts[op] // SLICES
        steps += [(op, make(slice(i * size, (i + 1) * size))) for i in range(SLICES)]
    return steps


async def _round(
    order: list[_Contender], docs: list[dict[str, Any]], counts: dict[str, int]
) -> dict[str, dict[str, float]]:
    for contender in order:
        await contender.reset(docs)
    seconds = {c.name: dict.fromkeys(OPERATIONS, 0.0) for c in order}
    previous = ""
    for op, step in _steps(docs, counts):
        if op != previous:  # not before every slice: a collection costs more than a slice
            gc.collect()
            previous = op
        for contender in order:
            start = time.perf_counter()
            await step(contender)
            seconds[contender.name][op] += time.perf_counter() - start
    # The side comparisons are ratios of two runs made back to back, a few times
    # over (the median is kept), so that the machine's load hits both alike.
    baseline = next(c for c in order if isinstance(c, Raw))
    ours = next(c for c in order if type(c) is Ours)
    side: dict[str, list[float]] = {
        UPSERTS: [],
        PYDANTIC_UPSERTS: [],
        NEW_MODELS: [],
        TAKEN_IDS: [],
        FIND_FLOOR: [],
        GIVEN_IDS_PAIRED: [],
        FIND_PAIRED: [],
    }
    for _ in range(SIDE_PAIRS):
        insert = await baseline.time_insert_many()
        side[GIVEN_IDS_PAIRED].append(await ours.time_save_all_given_ids(docs) / insert)
        insert = await baseline.time_insert_many()
        side[UPSERTS].append(await baseline.insert_as_upserts() / insert)
        insert = await baseline.time_insert_many()
        side[PYDANTIC_UPSERTS].append(await baseline.pydantic_models_as_upserts() / insert)
        insert = await baseline.time_insert_many()
        side[NEW_MODELS].append(await ours.insert_new_models(docs) / insert)
        insert = await baseline.time_insert_many()
        side[TAKEN_IDS].append(await ours.save_all_over_taken_ids(docs) / insert)
        find = await baseline.time_find_all()
        side[FIND_FLOOR].append(await baseline.find_all_into_pydantic() / find)
        find = await baseline.time_find_all()
        side[FIND_PAIRED].append(await ours.time_find_all() / find)
    seconds[baseline.name][UPSERTS] = statistics.median(side[UPSERTS])
    seconds[baseline.name][PYDANTIC_UPSERTS] = statistics.median(side[PYDANTIC_UPSERTS])
    seconds[baseline.name][FIND_FLOOR] = statistics.median(side[FIND_FLOOR])
    seconds[ours.name][NEW_MODELS] = statistics.median(side[NEW_MODELS])
    seconds[ours.name][TAKEN_IDS] = statistics.median(side[TAKEN_IDS])
    seconds[ours.name][GIVEN_IDS_PAIRED] = statistics.median(side[GIVEN_IDS_PAIRED])
    seconds[ours.name][FIND_PAIRED] = statistics.median(side[FIND_PAIRED])
    for contender in order:
        assert await contender.find_all() == len(docs), contender.name
    return seconds


async def _measure(
    url: str, rounds: int, counts: dict[str, int]
) -> dict[str, dict[str, list[float]]]:
    docs = book_documents(counts["insert"])
    contenders = [cls(url) for cls in CONTENDERS]
    times: dict[str, dict[str, list[float]]] = {
        c.name: {op: [] for op in OPERATIONS} for c in contenders
    }
    times[BASELINE][UPSERTS] = []
    times[BASELINE][PYDANTIC_UPSERTS] = []
    times[BASELINE][FIND_FLOOR] = []
    times[Ours.name][NEW_MODELS] = []
    times[Ours.name][TAKEN_IDS] = []
    times[Ours.name][GIVEN_IDS_PAIRED] = []
    times[Ours.name][FIND_PAIRED] = []
    for contender in contenders:
        await contender.open()
    try:
        # Warm-up: connections, validators and the server's first collections.
        for contender in contenders:
            await contender.reset(docs[:200])
            await contender.insert()
            await contender.find_all()
            await contender.find_by_id([docs[0]["_id"]])
            await contender.update(slice(0, 10))
            await contender.transfers(slice(0, 10))
        for round_ in range(rounds):
            shift = round_ % len(contenders)
            order = contenders[shift:] + contenders[:shift]
            for name, by_op in (await _round(order, docs, counts)).items():
                for op, value in by_op.items():
                    times[name][op].append(value)
    finally:
        for contender in contenders:
            await contender.close()
    return times


def run(quick: bool) -> dict[str, Any]:
    """Measure, and return the results as written to end_to_end.json."""
    rounds = 1 if quick else 3
    counts = {op: count // 5 for op, count in COUNTS.items()} if quick else dict(COUNTS)
    with ServerProcess() as server:
        times = asyncio.run(_measure(server.url, rounds, counts))
    # Each round stored these as ratios already (see _round).
    find_floor_ratio = statistics.median(times[BASELINE].pop(FIND_FLOOR))
    upserts_ratio = statistics.median(times[BASELINE].pop(UPSERTS))
    pydantic_upserts_ratio = statistics.median(times[BASELINE].pop(PYDANTIC_UPSERTS))
    new_models_ratio = statistics.median(times[Ours.name].pop(NEW_MODELS))
    taken_ids_ratio = statistics.median(times[Ours.name].pop(TAKEN_IDS))
    given_ids_paired = statistics.median(times[Ours.name].pop(GIVEN_IDS_PAIRED))
    find_paired = statistics.median(times[Ours.name].pop(FIND_PAIRED))
    contenders: dict[str, Any] = {}
    for name, by_op in times.items():
        contenders[name] = {
            op: {
                "seconds": statistics.median(runs),
                # Paired with raw pymongo's time of the same round, then the median.
                "ratio_to_raw": statistics.median(
                    mine / raw for mine, raw in zip(runs, times[BASELINE][op], strict=True)
                ),
                "runs_s": runs,
            }
            for op, runs in by_op.items()
        }
    return {
        "mode": "quick" if quick else "full",
        "machine": machine(),
        "rounds": rounds,
        "baseline": BASELINE,
        "counts": counts,
        "accounts": ACCOUNTS,
        "contenders": contenders,
        # The same documents sent as save_all sends them, over insert_many's time.
        "raw_bulk_upserts_over_insert_many": upserts_ratio,
        # Plain pydantic models dumped into the same upserts by hand, over insert_many's time.
        "pydantic_upserts_over_insert_many": pydantic_upserts_ratio,
        # Raw find plus plain pydantic validation of every document, over raw find's time.
        "raw_find_into_pydantic_over_raw_find": find_floor_ratio,
        # The insert and find all columns' figures for odmantic_fastapi on pymongo async,
        # measured again as back-to-back pairs with raw pymongo (see _round).
        "paired": {"insert": given_ids_paired, "find all": find_paired},
        # save_all of new models with automatic ids (inserts), over insert_many's time.
        "save_all_new_models_over_insert_many": new_models_ratio,
        # save_all of new models given the ids of stored documents, over insert_many's time.
        "save_all_over_taken_ids_over_insert_many": taken_ids_ratio,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="one round of a fifth (the default)")
    mode.add_argument("--full", action="store_true", help="three rounds of the full counts")
    args = parser.parse_args()
    results = run(quick=not args.full)
    path = write_results("end_to_end", results)
    print(f"{'':34s}" + "".join(f"{op:>20s}" for op in OPERATIONS))
    for name, by_op in results["contenders"].items():
        cells = "".join(
            f"{by_op[op]['seconds']:>11.3f}s {by_op[op]['ratio_to_raw']:>6.2f}x"
            for op in OPERATIONS
        )
        print(f"{name:34s}{cells}")
    upserts = results["raw_bulk_upserts_over_insert_many"]
    print(f"raw bulk_write of upserts (what save_all sends) / insert_many: {upserts:.2f}x")
    pydantic_upserts = results["pydantic_upserts_over_insert_many"]
    print(f"plain pydantic models dumped into those upserts / insert_many: {pydantic_upserts:.2f}x")
    floor = results["raw_find_into_pydantic_over_raw_find"]
    print(f"raw find into plain pydantic / raw find: {floor:.2f}x")
    new_models = results["save_all_new_models_over_insert_many"]
    print(f"save_all of new models with automatic ids / insert_many: {new_models:.2f}x")
    taken = results["save_all_over_taken_ids_over_insert_many"]
    print(f"save_all of new models over taken ids (overwrites) / insert_many: {taken:.2f}x")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
