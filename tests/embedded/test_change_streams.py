"""Change streams over the wire: events, transactions, resuming, document options, long polls."""

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import IndexModel, MongoClient, ReplaceOne, UpdateOne
from pymongo.change_stream import ChangeStream
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import OperationFailure

from odmantic_fastapi.embedded import EmbeddedServer

Doc = dict[str, Any]


def connect(url: str) -> MongoClient[Doc]:
    return MongoClient(url)


@pytest.fixture
def client(mongodb_url: str) -> Iterator[MongoClient[Doc]]:
    c = connect(mongodb_url)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def database(client: MongoClient[Doc], mongodb_database_name: str) -> Database[Doc]:
    return client[mongodb_database_name]


@pytest.fixture
def coll(database: Database[Doc]) -> Collection[Doc]:
    database.create_collection("items")
    return database["items"]


def take(stream: ChangeStream[Doc], n: int) -> list[Doc]:
    events: list[Doc] = []
    deadline = time.monotonic() + 10
    while len(events) < n and time.monotonic() < deadline:
        event = stream.try_next()
        if event is not None:
            events.append(event)
    assert len(events) == n, events
    return events


def ops(events: list[Doc]) -> list[str]:
    return [e["operationType"] for e in events]


def test_insert_update_replace_delete_drop_and_invalidate(coll: Collection[Doc]) -> None:
    with coll.watch(max_await_time_ms=50) as stream:
        coll.insert_one({"_id": 1, "a": 1, "tags": ["x", "y"], "sub": {"k": 1}})
        coll.update_one(
            {"_id": 1}, {"$set": {"sub.k": 2}, "$unset": {"a": ""}, "$push": {"tags": "z"}}
        )
        coll.update_one({"_id": 1}, {"$pop": {"tags": 1}})
        coll.replace_one({"_id": 1}, {"b": 2})
        coll.delete_one({"_id": 1})
        coll.drop()
        events = take(stream, 7)
        assert not stream.alive
    assert ops(events) == [
        "insert",
        "update",
        "update",
        "replace",
        "delete",
        "drop",
        "invalidate",
    ]
    insert, update, pop, replace, delete, drop, _ = events
    ns = {"db": coll.database.name, "coll": "items"}
    assert insert["ns"] == ns and insert["documentKey"] == {"_id": 1}
    assert insert["fullDocument"] == {"_id": 1, "a": 1, "tags": ["x", "y"], "sub": {"k": 1}}
    assert update["updateDescription"] == {
        "updatedFields": {"sub.k": 2, "tags.2": "z"},
        "removedFields": ["a"],
        "truncatedArrays": [],
    }
    assert "fullDocument" not in update
    assert pop["updateDescription"]["truncatedArrays"] == [{"field": "tags", "newSize": 2}]
    assert replace["fullDocument"] == {"_id": 1, "b": 2}
    assert delete["documentKey"] == {"_id": 1} and "fullDocument" not in delete
    assert drop["ns"] == ns
    assert [e["clusterTime"] for e in events] == sorted(e["clusterTime"] for e in events)


def test_each_statement_of_a_bulk_write_is_a_replace_or_an_update_of_its_own(
    coll: Collection[Doc],
) -> None:
    coll.insert_many([{"_id": i, "a": i} for i in range(4)])
    with coll.watch(max_await_time_ms=50) as stream:
        coll.bulk_write(
            [
                ReplaceOne({"_id": 0}, {"b": 0}),
                UpdateOne({"_id": 1}, {"$set": {"a": 10}}),
                ReplaceOne({"_id": 2}, {"b": 2}),
                UpdateOne({"_id": 3}, [{"$set": {"a": 30}}]),
            ]
        )
        events = take(stream, 4)
    assert ops(events) == ["replace", "update", "replace", "update"]
    assert [e["documentKey"]["_id"] for e in events] == [0, 1, 2, 3]


def test_rename_invalidates_the_source_stream(
    client: MongoClient[Doc], coll: Collection[Doc]
) -> None:
    with coll.watch(max_await_time_ms=50) as stream:
        coll.rename("renamed")
        rename, invalidate = take(stream, 2)
    assert rename["operationType"] == "rename"
    assert rename["to"] == {"db": coll.database.name, "coll": "renamed"}
    assert invalidate["operationType"] == "invalidate"


def test_database_stream_sees_every_collection_and_the_drop_of_the_database(
    client: MongoClient[Doc], database: Database[Doc]
) -> None:
    with database.watch(max_await_time_ms=50) as stream:
        database.a.insert_one({"_id": 1})
        database.b.insert_one({"_id": 2})
        client.drop_database(database.name)
        events = take(stream, 6)
    assert ops(events) == ["insert", "insert", "drop", "drop", "dropDatabase", "invalidate"]
    assert {e["ns"]["coll"] for e in events[2:4]} == {"a", "b"}
    assert events[4]["ns"] == {"db": database.name}


def test_cluster_stream_sees_every_database(
    client: MongoClient[Doc], database: Database[Doc]
) -> None:
    other = client[database.name + "_other"]
    try:
        with client.watch(max_await_time_ms=50) as stream:
            database.a.insert_one({"_id": 1})
            other.b.insert_one({"_id": 2})
            events = take(stream, 2)
        assert [e["ns"]["db"] for e in events] == [database.name, other.name]
    finally:
        client.drop_database(other.name)


def test_aggregate_1_on_admin_needs_all_changes_for_cluster(client: MongoClient[Doc]) -> None:
    with pytest.raises(OperationFailure):
        client.admin.command("aggregate", 1, pipeline=[{"$changeStream": {}}], cursor={})


def test_a_transactions_events_appear_only_after_commit_in_commit_order(
    client: MongoClient[Doc], coll: Collection[Doc]
) -> None:
    with coll.watch(max_await_time_ms=50) as stream:
        with client.start_session() as session:
            session.start_transaction()
            coll.insert_one({"_id": 1}, session=session)
            coll.update_one({"_id": 1}, {"$set": {"x": 1}}, session=session)
            coll.insert_one({"_id": 2})  # outside the transaction: commits first
            assert [e["documentKey"]["_id"] for e in take(stream, 1)] == [2]
            assert stream.try_next() is None
            session.commit_transaction()
        with client.start_session() as session:
            session.start_transaction()
            coll.insert_one({"_id": 3}, session=session)
            session.abort_transaction()
        coll.insert_one({"_id": 4})
        events = take(stream, 3)
    assert ops(events) == ["insert", "update", "insert"]
    assert [e["documentKey"]["_id"] for e in events] == [1, 1, 4]
    assert events[0]["lsid"] == events[1]["lsid"]
    assert events[0]["txnNumber"] == events[1]["txnNumber"]


def test_resume_after_start_after_and_start_at_operation_time(coll: Collection[Doc]) -> None:
    with coll.watch(max_await_time_ms=50) as stream:
        coll.insert_many([{"_id": i} for i in range(3)])
        first, *_ = take(stream, 3)
    token = first["_id"]
    with coll.watch(resume_after=token, max_await_time_ms=50) as resumed:
        assert [e["documentKey"]["_id"] for e in take(resumed, 2)] == [1, 2]
    with coll.watch(start_after=token, max_await_time_ms=50) as resumed:
        assert [e["documentKey"]["_id"] for e in take(resumed, 2)] == [1, 2]
    with coll.watch(start_at_operation_time=first["clusterTime"], max_await_time_ms=50) as again:
        assert [e["documentKey"]["_id"] for e in take(again, 3)] == [0, 1, 2]


def test_start_after_an_invalidate_opens_a_new_stream(coll: Collection[Doc]) -> None:
    with coll.watch(max_await_time_ms=50) as stream:
        coll.insert_one({"_id": 1})
        coll.drop()
        invalidate = take(stream, 3)[-1]
    coll.insert_one({"_id": 2})
    with pytest.raises(OperationFailure), coll.watch(resume_after=invalidate["_id"]) as refused:
        refused.try_next()
    with coll.watch(start_after=invalidate["_id"], max_await_time_ms=50) as stream:
        (event,) = take(stream, 1)
    assert event["documentKey"] == {"_id": 2}


def test_post_batch_resume_token_advances_without_events(coll: Collection[Doc]) -> None:
    with coll.watch(max_await_time_ms=50) as stream:
        before = stream.resume_token
        coll.database["elsewhere"].insert_one({"_id": 1})
        assert stream.try_next() is None
        after = stream.resume_token
    assert before is not None and after is not None and after != before
    coll.insert_one({"_id": 2})
    with coll.watch(resume_after=after, max_await_time_ms=50) as resumed:
        (event,) = take(resumed, 1)
    assert event["documentKey"] == {"_id": 2}


def test_full_document_update_lookup_reads_the_current_document(coll: Collection[Doc]) -> None:
    coll.insert_one({"_id": 1, "n": 0})
    with coll.watch(full_document="updateLookup", max_await_time_ms=50) as stream:
        coll.update_one({"_id": 1}, {"$inc": {"n": 1}})
        coll.update_one({"_id": 1}, {"$inc": {"n": 1}})
        first, second = take(stream, 2)
    assert first["fullDocument"] == {"_id": 1, "n": 2}  # looked up when read, not when written
    assert second["fullDocument"] == {"_id": 1, "n": 2}


def test_pre_and_post_images_follow_coll_mod(
    database: Database[Doc], coll: Collection[Doc]
) -> None:
    coll.insert_one({"_id": 1, "n": 0})
    with coll.watch(
        full_document="whenAvailable",
        full_document_before_change="whenAvailable",
        max_await_time_ms=50,
    ) as stream:
        coll.update_one({"_id": 1}, {"$inc": {"n": 1}})
        database.command("collMod", "items", changeStreamPreAndPostImages={"enabled": True})
        coll.update_one({"_id": 1}, {"$inc": {"n": 1}})
        coll.delete_one({"_id": 1})
        without, update, delete = take(stream, 3)
    assert without["fullDocument"] is None and without["fullDocumentBeforeChange"] is None
    assert update["fullDocumentBeforeChange"] == {"_id": 1, "n": 1}
    assert update["fullDocument"] == {"_id": 1, "n": 2}
    assert delete["fullDocumentBeforeChange"] == {"_id": 1, "n": 2}


def test_required_images_fail_when_the_collection_records_none(coll: Collection[Doc]) -> None:
    with coll.watch(full_document_before_change="required", max_await_time_ms=50) as stream:
        coll.insert_one({"_id": 1})
        coll.delete_one({"_id": 1})
        with pytest.raises(OperationFailure) as info:
            take(stream, 2)
    assert info.value.code == 47
    assert info.value.details is not None
    assert info.value.details["codeName"] == "NoMatchingDocument"


def test_pipeline_filters_events_and_may_not_touch_the_resume_token(
    coll: Collection[Doc],
) -> None:
    with coll.watch([{"$match": {"operationType": "delete"}}], max_await_time_ms=50) as stream:
        coll.insert_one({"_id": 1})
        coll.delete_one({"_id": 1})
        (event,) = take(stream, 1)
    assert event["operationType"] == "delete"
    with coll.watch([{"$project": {"_id": 0}}], max_await_time_ms=50) as stream:
        coll.insert_one({"_id": 2})
        with pytest.raises(OperationFailure) as info:
            take(stream, 1)
    assert info.value.code == 280


def test_get_more_waits_for_events_without_blocking_other_clients(
    mongodb_url: str, coll: Collection[Doc]
) -> None:
    with coll.watch(max_await_time_ms=3000) as stream:
        waited: list[float] = []

        def read_one() -> None:
            started = time.monotonic()
            event = stream.try_next()
            waited.append(time.monotonic() - started)
            assert event is not None and event["documentKey"] == {"_id": 1}

        reader = threading.Thread(target=read_one)
        reader.start()
        time.sleep(0.3)
        with connect(mongodb_url) as other:
            started = time.monotonic()
            other[coll.database.name]["items"].insert_one({"_id": 1})
            assert time.monotonic() - started < 0.5
        reader.join(10)
    assert waited and 0.25 <= waited[0] < 2.5


def test_get_more_returns_empty_after_max_await_time(coll: Collection[Doc]) -> None:
    with coll.watch(max_await_time_ms=300) as stream:
        started = time.monotonic()
        assert stream.try_next() is None
        assert 0.25 <= time.monotonic() - started < 2


def test_a_token_older_than_the_history_window_is_refused() -> None:
    with EmbeddedServer() as server, connect(server.url) as c:
        assert server.server is not None
        server.server.change_streams.max_events = 5
        coll = c.db.items
        with coll.watch(max_await_time_ms=50) as stream:
            coll.insert_one({"_id": 0})
            token = take(stream, 1)[0]["_id"]
        coll.insert_many([{"_id": i} for i in range(1, 10)])
        with pytest.raises(OperationFailure) as info, coll.watch(resume_after=token) as refused:
            refused.try_next()
        assert info.value.code == 286


# -- showExpandedEvents -------------------------------------------------------


def test_only_an_expanded_stream_sees_collection_and_index_changes(
    database: Database[Doc],
) -> None:
    with (
        database.watch(max_await_time_ms=50) as plain,
        database.watch(max_await_time_ms=50, show_expanded_events=True) as expanded,
    ):
        database.create_collection("ledger")
        database.ledger.create_indexes(
            [IndexModel([("a", 1)], name="a_1"), IndexModel([("b", -1)], name="b_-1")]
        )
        database.command("collMod", "ledger", changeStreamPreAndPostImages={"enabled": True})
        database.ledger.drop_index("a_1")
        database.ledger.insert_one({"_id": 1})
        events = take(expanded, 5)
        assert ops(take(plain, 1)) == ["insert"]
    assert ops(events) == ["create", "createIndexes", "modify", "dropIndexes", "insert"]
    create, indexes, modify, dropped, _ = events
    assert create["operationDescription"]["idIndex"] == {"v": 2, "key": {"_id": 1}, "name": "_id_"}
    # One event for both indexes of one createIndexes.
    assert [i["name"] for i in indexes["operationDescription"]["indexes"]] == ["a_1", "b_-1"]
    assert modify["operationDescription"] == {"changeStreamPreAndPostImages": {"enabled": True}}
    assert [i["name"] for i in dropped["operationDescription"]["indexes"]] == ["a_1"]
    (info,) = database.list_collections(filter={"name": "ledger"})
    assert {e["collectionUUID"] for e in events} == {info["info"]["uuid"]}


def test_an_implicit_create_comes_before_the_insert_that_made_it(
    database: Database[Doc],
) -> None:
    with database.watch(max_await_time_ms=50, show_expanded_events=True) as stream:
        database.fresh.insert_many([{"_id": 1}, {"_id": 2}])
        assert ops(take(stream, 3)) == ["create", "insert", "insert"]


def test_a_rename_over_a_collection_names_the_dropped_target(database: Database[Doc]) -> None:
    database.create_collection("old")
    database.create_collection("new")
    (target,) = database.list_collections(filter={"name": "new"})
    with database.old.watch(max_await_time_ms=50, show_expanded_events=True) as stream:
        database.old.rename("new", dropTarget=True)
        (rename,) = take(stream, 1)
    assert rename["operationDescription"] == {
        "to": {"db": database.name, "coll": "new"},
        "dropTarget": target["info"]["uuid"],
    }


def test_an_expanded_update_disambiguates_numeric_field_names_and_array_indices(
    coll: Collection[Doc],
) -> None:
    coll.insert_one({"_id": 1, "byKey": {"1": 1}, "list": [{"1": 1}], "plain": {"x": 1}})
    with (
        coll.watch(max_await_time_ms=50) as plain,
        coll.watch(max_await_time_ms=50, show_expanded_events=True) as expanded,
    ):
        coll.update_one({"_id": 1}, {"$set": {"byKey.1": 2, "list.0.1": 2, "plain.x": 2}})
        coll.update_one({"_id": 1}, {"$set": {"plain.x": 3}})
        ambiguous, unambiguous = (e["updateDescription"] for e in take(expanded, 2))
        assert "disambiguatedPaths" not in take(plain, 1)[0]["updateDescription"]
    assert ambiguous["updatedFields"] == {"byKey.1": 2, "list.0.1": 2, "plain.x": 2}
    # A field named "1" stays a string; an array index is an integer.
    assert ambiguous["disambiguatedPaths"] == {
        "byKey.1": ["byKey", "1"],
        "list.0.1": ["list", 0, "1"],
    }
    assert "disambiguatedPaths" not in unambiguous
