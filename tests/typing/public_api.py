"""Checked by mypy only (not collected by pytest): what the checker infers from the public API.

Each function's annotated return type pins down an inferred type; mypy --strict
fails the build if the library's annotations drift.
"""

from pymongo import AsyncMongoClient, MongoClient

from odmantic_fastapi import (
    AIOEngine,
    AIOSession,
    AIOTransaction,
    EmbeddedModel,
    Field,
    Model,
    ObjectId,
    Reference,
    SyncEngine,
    SyncTransaction,
)
from odmantic_fastapi.engine import AIOCursor, SyncCursor
from odmantic_fastapi.query import QueryExpression, SortExpression, and_, asc


class Address(EmbeddedModel):
    city: str


class Author(Model):
    name: str = Field(index=True)
    address: Address | None = None


class Book(Model):
    title: str
    author: Author = Reference()


def engine() -> AIOEngine:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(connect=False)
    return AIOEngine(client, database="typing")


def find_returns_a_typed_cursor(e: AIOEngine) -> AIOCursor[Book]:
    return e.find(Book, Book.title == "Dune")


async def find_one_returns_an_optional_instance(e: AIOEngine) -> Book | None:
    return await e.find_one(Book, sort=asc(Book.title))


async def awaiting_a_cursor_gives_a_list(e: AIOEngine) -> list[Book]:
    return await e.find(Book)


async def save_returns_the_instance(e: AIOEngine, book: Book) -> Book:
    return await e.save(book)


async def count_returns_an_int(e: AIOEngine) -> int:
    return await e.count(Author)


def sessions_and_transactions(e: AIOEngine) -> tuple[AIOSession, AIOTransaction]:
    return e.session(), e.transaction()


async def run_transaction_returns_the_callback_result(e: AIOEngine) -> int:
    async def body(txn: AIOTransaction) -> int:
        return await txn.count(Author)

    return await e.run_transaction(body)


def a_transaction_is_a_session(txn: AIOTransaction) -> AIOSession:
    return txn


def sync_engine_is_typed(client: MongoClient[dict[str, object]]) -> SyncCursor[Author]:
    return SyncEngine(client).find(Author)


def sync_run_transaction(e: SyncEngine) -> str:
    def body(txn: SyncTransaction) -> str:
        return "done"

    return e.run_transaction(body)


def primary_keys_are_object_ids(author: Author) -> ObjectId:
    return author.id


def query_types(q: QueryExpression, s: SortExpression) -> QueryExpression:
    return and_(q, q)
