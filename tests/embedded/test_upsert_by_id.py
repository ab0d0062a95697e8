"""Upserts by _id with a $set of top-level fields, over the wire: what every ODM save sends.

The server builds these documents directly; each test pins what the general
update path gives, in bulk writes both small and large (a large one runs with
the cyclic garbage collector paused).
"""

import gc
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from odmantic_fastapi.embedded import EmbeddedServer

Doc = dict[str, Any]
# Enough statements for the write command to pause the garbage collector.
MANY = 300


def upsert(id_: Any, fields: Doc) -> UpdateOne:
    return UpdateOne({"_id": id_}, {"$set": fields}, upsert=True)


@pytest.fixture
def books(db: Database[Doc]) -> Collection[Doc]:
    return db.books


def test_an_upsert_inserts_the_id_first_then_the_fields_in_name_order(
    books: Collection[Doc],
) -> None:
    result = books.update_one({"_id": 1}, {"$set": {"z": 1, "a": [1, {"x": 2}], "B": 3}}, True)
    assert (result.matched_count, result.modified_count, result.upserted_id) == (0, 0, 1)
    stored = books.find_one({"_id": 1})
    assert stored == {"_id": 1, "B": 3, "a": [1, {"x": 2}], "z": 1}
    assert list(stored) == ["_id", "B", "a", "z"]


def test_many_upserts_in_one_bulk_write_report_each_upserted_id_by_index(
    books: Collection[Doc],
) -> None:
    result = books.bulk_write([upsert(i, {"title": f"t{i}", "n": i}) for i in range(MANY)])
    assert (result.upserted_count, result.matched_count, result.modified_count) == (MANY, 0, 0)
    assert result.upserted_ids == {i: i for i in range(MANY)}
    assert books.count_documents({}) == MANY
    assert books.find_one({"_id": 7}) == {"_id": 7, "n": 7, "title": "t7"}


def test_an_upsert_without_a_match_and_without_upsert_writes_nothing(
    books: Collection[Doc],
) -> None:
    result = books.update_one({"_id": 1}, {"$set": {"a": 1}})
    assert (result.matched_count, result.modified_count, result.upserted_id) == (0, 0, None)
    assert books.count_documents({}) == 0


def test_an_upsert_matching_a_document_keeps_its_other_fields_and_their_places(
    books: Collection[Doc],
) -> None:
    books.insert_one({"_id": 1, "extra": "kept", "z": 0, "nested": {"a": 1}})
    result = books.update_one({"_id": 1}, {"$set": {"z": 1, "y": 2, "nested": {"a": 1}}}, True)
    assert (result.matched_count, result.modified_count, result.upserted_id) == (1, 1, None)
    stored = books.find_one({"_id": 1})
    assert stored == {"_id": 1, "extra": "kept", "z": 1, "nested": {"a": 1}, "y": 2}
    assert list(stored) == ["_id", "extra", "z", "nested", "y"]


def test_many_upserts_update_the_stored_documents_and_insert_the_others(
    books: Collection[Doc],
) -> None:
    books.insert_many([{"_id": i, "extra": i, "n": i} for i in range(0, MANY, 3)])
    result = books.bulk_write([upsert(i, {"n": i if i % 2 else -i}) for i in range(MANY)])
    stored = MANY // 3
    # A stored document whose n is set to what it holds (i odd, or i == 0) is not modified.
    unchanged = sum(1 for i in range(0, MANY, 3) if i % 2 or i == 0)
    assert result.matched_count == stored
    assert result.modified_count == stored - unchanged
    assert result.upserted_count == MANY - stored
    assert books.find_one({"_id": 6}) == {"_id": 6, "extra": 6, "n": -6}
    assert books.find_one({"_id": 4}) == {"_id": 4, "n": -4}


def test_setting_what_is_stored_modifies_nothing_but_a_new_type_or_key_order_does(
    books: Collection[Doc],
) -> None:
    books.insert_one({"_id": 1, "n": 1, "sub": {"a": 1, "b": 2}})
    same = books.update_one({"_id": 1}, {"$set": {"n": 1, "sub": {"a": 1, "b": 2}}}, True)
    assert (same.matched_count, same.modified_count) == (1, 0)
    as_float = books.update_one({"_id": 1}, {"$set": {"n": 1.0}}, True)
    assert as_float.modified_count == 1
    reordered = books.update_one({"_id": 1}, {"$set": {"sub": {"b": 2, "a": 1}}}, True)
    assert reordered.modified_count == 1
    assert list((books.find_one({"_id": 1}) or {})["sub"]) == ["b", "a"]


def test_the_id_may_be_set_to_an_equal_value_but_not_changed(books: Collection[Doc]) -> None:
    created = books.update_one({"_id": 1}, {"$set": {"_id": 1.0, "a": 1}}, True)
    assert created.upserted_id == 1
    assert books.find_one({"_id": 1}) == {"_id": 1.0, "a": 1}
    for filter_id in (1, 2):  # a stored document, then an upsert
        with pytest.raises(OperationFailure) as caught:
            books.update_one({"_id": filter_id}, {"$set": {"_id": 3}}, True)
        assert caught.value.code == 66
    assert books.count_documents({}) == 1


def test_dotted_names_set_embedded_fields_and_dollar_prefixed_names_are_refused(
    books: Collection[Doc],
) -> None:
    books.update_one({"_id": 1}, {"$set": {"a.b": 1}}, True)
    assert books.find_one({"_id": 1}) == {"_id": 1, "a": {"b": 1}}
    with pytest.raises(OperationFailure) as caught:
        books.update_one({"_id": 2}, {"$set": {"$a": 1}}, True)
    assert caught.value.code == 2
    assert "The dollar ($) prefixed field '$a' in '$a' is not valid" in str(caught.value)
    with pytest.raises(OperationFailure) as caught:
        books.update_one({"_id": 2}, {"$set": {"_id": {"$a": 1}}}, True)
    assert caught.value.code == 66
    assert books.count_documents({}) == 1


def test_a_refused_statement_among_many_is_a_write_error_at_its_index(
    books: Collection[Doc],
) -> None:
    operations = [upsert(i, {"$bad": 1} if i == 150 else {"n": i}) for i in range(MANY)]
    with pytest.raises(BulkWriteError) as caught:
        books.bulk_write(operations, ordered=False)
    details = caught.value.details
    assert [(e["index"], e["code"]) for e in details["writeErrors"]] == [(150, 2)]
    assert details["nUpserted"] == MANY - 1
    with pytest.raises(BulkWriteError) as caught:
        books.bulk_write([upsert(MANY + i, {"n": i}) for i in range(3)] + operations[150:])
    assert caught.value.details["nUpserted"] == 3  # ordered: stops at the refused one


def test_a_duplicate_key_on_a_unique_index_is_a_write_error_with_its_key(
    books: Collection[Doc],
) -> None:
    books.create_index("isbn", unique=True)
    books.insert_one({"_id": 0, "isbn": "taken"})
    operations = [upsert(i, {"isbn": "taken" if i == 2 else f"isbn-{i}"}) for i in range(1, 5)]
    with pytest.raises(BulkWriteError) as caught:
        books.bulk_write(operations)
    (error,) = caught.value.details["writeErrors"]
    assert (error["index"], error["code"]) == (1, 11000)
    assert error["keyPattern"] == {"isbn": 1}
    assert error["keyValue"] == {"isbn": "taken"}
    assert sorted(d["_id"] for d in books.find()) == [0, 1]
    with pytest.raises(BulkWriteError) as caught:
        books.bulk_write(operations, ordered=False)
    assert [e["index"] for e in caught.value.details["writeErrors"]] == [1]
    assert sorted(d["_id"] for d in books.find()) == [0, 1, 3, 4]
    # Updating a stored document into a taken value is refused the same way.
    with pytest.raises(DuplicateKeyError):
        books.update_one({"_id": 1}, {"$set": {"isbn": "taken"}}, True)
    assert books.find_one({"_id": 1}) == {"_id": 1, "isbn": "isbn-1"}


def test_upserts_in_a_transaction_are_seen_only_by_it_until_it_commits(
    db: Database[Doc],
) -> None:
    db.books.insert_one({"_id": 0, "extra": True})
    with db.client.start_session() as session:
        with session.start_transaction():
            db.books.bulk_write([upsert(i, {"n": i}) for i in range(MANY)], session=session)
            assert db.books.count_documents({}) == 1
            assert db.books.count_documents({}, session=session) == MANY
            assert db.books.find_one({"_id": 0}, session=session) == {
                "_id": 0,
                "extra": True,
                "n": 0,
            }
        assert db.books.count_documents({}) == MANY
        with session.start_transaction():
            db.books.update_one({"_id": 1}, {"$set": {"n": -1}}, True, session=session)
            db.books.update_one({"_id": -1}, {"$set": {"n": -1}}, True, session=session)
            session.abort_transaction()
    assert db.books.find_one({"_id": 1}) == {"_id": 1, "n": 1}
    assert db.books.find_one({"_id": -1}) is None


def test_a_duplicate_key_in_a_transaction_aborts_it(db: Database[Doc]) -> None:
    db.books.create_index("isbn", unique=True)
    db.books.insert_one({"_id": 0, "isbn": "taken"})
    with db.client.start_session() as session:
        session.start_transaction()
        db.books.update_one({"_id": 1}, {"$set": {"isbn": "new"}}, True, session=session)
        with pytest.raises(DuplicateKeyError):
            db.books.update_one({"_id": 2}, {"$set": {"isbn": "taken"}}, True, session=session)
        with pytest.raises(OperationFailure) as caught:
            session.commit_transaction()
        assert caught.value.code == 251  # NoSuchTransaction: the server aborted it
    assert db.books.count_documents({}) == 1


def test_an_upsert_waits_for_the_transaction_holding_its_id_then_updates_what_it_committed(
    db: Database[Doc],
) -> None:
    outcome: list[Any] = []
    with db.client.start_session() as session:
        session.start_transaction()
        db.books.insert_one({"_id": 1, "by": "transaction"}, session=session)

        def save() -> None:
            result = db.books.update_one({"_id": 1}, {"$set": {"saved": True}}, True)
            outcome.append((result.matched_count, result.modified_count, result.upserted_id))

        thread = threading.Thread(target=save)
        thread.start()
        time.sleep(0.3)
        assert not outcome  # waiting for the transaction's lock
        session.commit_transaction()
        thread.join(10)
    # As mongod retries an upsert by _id that met a document inserted meanwhile.
    assert outcome == [(1, 1, None)]
    assert db.books.find_one({"_id": 1}) == {"_id": 1, "by": "transaction", "saved": True}


def test_a_retried_bulk_upsert_is_applied_once_and_answered_as_the_first_time(
    db: Database[Doc],
) -> None:
    admin = db.client.admin
    db.books.insert_one({"_id": 0, "n": 0})
    # The write is applied, then the connection closes: the driver retries it.
    admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode={"times": 1})
    try:
        result = db.books.bulk_write([upsert(i, {"n": i + 1}) for i in range(MANY)])
        fired = admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode="off")
    finally:
        admin.command("configureFailPoint", "onPrimaryTransactionalWrite", mode="off")
    assert fired["count"] == 1
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert result.upserted_ids == {i: i for i in range(1, MANY)}
    assert db.books.count_documents({}) == MANY
    assert db.books.find_one({"_id": 0}) == {"_id": 0, "n": 1}


def test_upserts_publish_insert_and_update_events(db: Database[Doc]) -> None:
    db.create_collection("books")
    db.books.insert_one({"_id": 0, "n": 0, "extra": 1})
    with db.books.watch(max_await_time_ms=50) as stream:
        db.books.bulk_write([upsert(0, {"n": 1}), upsert(1, {"n": 1}), upsert(0, {"n": 1})])
        events: list[Doc] = []
        deadline = time.monotonic() + 10
        while len(events) < 2 and time.monotonic() < deadline:
            event = stream.try_next()
            if event is not None:
                events.append(event)
    assert [e["operationType"] for e in events] == ["update", "insert"]
    assert events[0]["updateDescription"]["updatedFields"] == {"n": 1}
    assert events[1]["fullDocument"] == {"_id": 1, "n": 1}


@pytest.fixture(scope="module")
def local_server() -> Iterator[EmbeddedServer]:
    """A server in this process, whose garbage collector the tests can see."""
    with EmbeddedServer() as server:
        yield server


@pytest.fixture
def local(local_server: EmbeddedServer) -> Iterator[Collection[Doc]]:
    client: MongoClient[Doc] = MongoClient(local_server.url)
    try:
        yield client.db.books
        client.drop_database("db")
    finally:
        client.close()


def test_the_garbage_collector_runs_again_after_a_large_write(local: Collection[Doc]) -> None:
    assert gc.isenabled()
    local.bulk_write([upsert(i, {"n": i}) for i in range(MANY)])
    local.insert_many([{"n": i} for i in range(MANY)])
    with pytest.raises(BulkWriteError):
        local.bulk_write([upsert(i, {"$bad": i}) for i in range(MANY)])
    assert gc.isenabled()


def test_a_large_write_leaves_a_disabled_garbage_collector_disabled(
    local: Collection[Doc],
) -> None:
    gc.disable()
    try:
        local.bulk_write([upsert(i, {"n": i}) for i in range(MANY)])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_large_write_waiting_for_a_transaction_lets_the_garbage_collector_run(
    local: Collection[Doc],
) -> None:
    client: MongoClient[Doc] = local.database.client
    with client.start_session() as session:
        session.start_transaction()
        local.insert_one({"_id": MANY - 1, "by": "transaction"}, session=session)
        thread = threading.Thread(
            target=local.bulk_write, args=([upsert(i, {"n": i}) for i in range(MANY)],)
        )
        thread.start()
        deadline = time.monotonic() + 10
        while local.count_documents({}) < MANY - 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert thread.is_alive()  # the last statement waits for the transaction's lock
        assert gc.isenabled()
        session.commit_transaction()
        thread.join(10)
    assert gc.isenabled()
    assert local.find_one({"_id": MANY - 1}) == {
        "_id": MANY - 1,
        "by": "transaction",
        "n": MANY - 1,
    }


def test_a_write_of_more_than_16384_statements_leaves_the_collector_running(
    local: Collection[Doc],
) -> None:
    # Paused, the first collections after it would walk everything it allocated at once.
    collections: list[int] = []

    def count(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(count)
    try:
        local.bulk_write([upsert(i, {"n": i}) for i in range(20_000)])
    finally:
        gc.callbacks.remove(count)
    assert len(collections) > 20  # young collections all along, as without a pause
    assert gc.isenabled()
