"""Document commands over the wire with pymongo: what a driver user relies on."""

import datetime
from decimal import Decimal
from typing import Any

import pytest
from bson import Binary, Decimal128, Int64, ObjectId, Regex
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.database import Database
from pymongo.errors import (
    BulkWriteError,
    DocumentTooLarge,
    DuplicateKeyError,
    OperationFailure,
    WriteError,
)


def test_hello_presents_a_replica_set_primary(db: Database[Any]) -> None:
    hello = db.client.admin.command("hello")
    assert hello["isWritablePrimary"] is True
    assert hello["setName"]
    assert hello["maxWireVersion"] >= 17
    assert hello["logicalSessionTimeoutMinutes"] == 30
    assert db.client.server_info()["version"].startswith(("7.", "8."))


def test_insert_assigns_object_id_first_and_find_returns_it(db: Database[Any]) -> None:
    result = db.books.insert_one({"title": "Dune"})
    assert isinstance(result.inserted_id, ObjectId)
    doc = db.books.find_one({"title": "Dune"})
    assert doc is not None
    assert list(doc) == ["_id", "title"]


def test_every_bson_type_round_trips(db: Database[Any]) -> None:
    doc = {
        "_id": 1,
        "int": 5,
        "long": Int64(2**40),
        "double": 1.5,
        "decimal": Decimal128(Decimal("1.10")),
        "string": "é",
        "bytes": b"\x00\x01",
        "binary": Binary(b"abc", 5),
        "oid": ObjectId(),
        "date": datetime.datetime(2024, 1, 2, 3, 4, 5, 123000),
        "regex": Regex("^a", "i"),
        "null": None,
        "bool": True,
        "list": [1, "a", {"x": 1}],
        "nested": {"a": {"b": [1, 2]}},
    }
    db.types.insert_one(doc)
    assert db.types.find_one({"_id": 1}) == doc


def test_duplicate_id_is_a_duplicate_key_error(db: Database[Any]) -> None:
    db.c.insert_one({"_id": "x"})
    with pytest.raises(DuplicateKeyError) as info:
        db.c.insert_one({"_id": "x"})
    assert info.value.code == 11000


def test_unordered_insert_many_reports_each_failure_and_keeps_the_rest(db: Database[Any]) -> None:
    db.c.insert_one({"_id": 2})
    with pytest.raises(BulkWriteError) as info:
        db.c.insert_many([{"_id": 1}, {"_id": 2}, {"_id": 3}], ordered=False)
    assert [e["index"] for e in info.value.details["writeErrors"]] == [1]
    assert sorted(d["_id"] for d in db.c.find()) == [1, 2, 3]


def test_find_filters_sorts_skips_limits_and_projects(db: Database[Any]) -> None:
    db.c.insert_many([{"_id": i, "n": i % 3, "tag": f"t{i}"} for i in range(10)])
    docs = list(
        db.c.find({"n": {"$gte": 1}}, {"tag": 1, "_id": 0})
        .sort([("n", DESCENDING), ("_id", ASCENDING)])
        .skip(1)
        .limit(3)
    )
    assert docs == [{"tag": "t5"}, {"tag": "t8"}, {"tag": "t1"}]


def test_large_results_come_back_through_get_more(db: Database[Any]) -> None:
    db.c.insert_many([{"_id": i} for i in range(1000)])
    ids = [d["_id"] for d in db.c.find().batch_size(50)]
    assert ids == list(range(1000))
    assert db.client.admin.command("serverStatus")["metrics"]["cursor"]["open"]["total"] == 0


def test_update_operators_upsert_and_counts(db: Database[Any]) -> None:
    db.c.insert_many([{"_id": 1, "v": 1, "tags": ["a"]}, {"_id": 2, "v": 2, "tags": []}])
    result = db.c.update_many({}, {"$inc": {"v": 10}, "$push": {"tags": "z"}})
    assert (result.matched_count, result.modified_count) == (2, 2)
    assert db.c.find_one({"_id": 1}) == {"_id": 1, "v": 11, "tags": ["a", "z"]}
    upsert = db.c.update_one({"name": "new"}, {"$set": {"v": 0}}, upsert=True)
    assert upsert.upserted_id is not None
    assert db.c.find_one({"_id": upsert.upserted_id}) == {
        "_id": upsert.upserted_id,
        "name": "new",
        "v": 0,
    }
    noop = db.c.update_one({"_id": 1}, {"$set": {"v": 11}})
    assert (noop.matched_count, noop.modified_count) == (1, 0)


def test_replace_keeps_id_and_rejects_changing_it(db: Database[Any]) -> None:
    db.c.insert_one({"_id": 1, "a": 1})
    db.c.replace_one({"_id": 1}, {"b": 2})
    assert db.c.find_one() == {"_id": 1, "b": 2}
    with pytest.raises(OperationFailure) as info:
        db.c.update_one({"_id": 1}, {"$set": {"_id": 2}})
    assert info.value.code == 66


def test_delete_one_and_many(db: Database[Any]) -> None:
    db.c.insert_many([{"k": 1}, {"k": 1}, {"k": 2}])
    assert db.c.delete_one({"k": 1}).deleted_count == 1
    assert db.c.delete_many({}).deleted_count == 2
    assert db.c.count_documents({}) == 0


def test_find_one_and_update_returns_before_or_after(db: Database[Any]) -> None:
    db.c.insert_many([{"_id": 1, "n": 5}, {"_id": 2, "n": 1}])
    before = db.c.find_one_and_update({}, {"$inc": {"n": 1}}, sort=[("n", ASCENDING)])
    assert before == {"_id": 2, "n": 1}
    after = db.c.find_one_and_update(
        {"_id": 1}, {"$inc": {"n": 1}}, return_document=ReturnDocument.AFTER
    )
    assert after == {"_id": 1, "n": 6}
    assert db.c.find_one_and_delete({"_id": 1}) == {"_id": 1, "n": 6}
    assert db.c.find_one_and_update({"_id": 9}, {"$set": {"n": 0}}, upsert=True) is None
    assert db.c.find_one({"_id": 9}) == {"_id": 9, "n": 0}


def test_count_and_distinct(db: Database[Any]) -> None:
    db.c.insert_many([{"a": [1, 2]}, {"a": 2}, {"a": 3}, {"b": 1}])
    assert db.c.count_documents({"a": 2}) == 2
    assert db.c.estimated_document_count() == 4
    assert db.c.distinct("a") == [1, 2, 3]


def test_aggregate_groups_and_looks_up(db: Database[Any]) -> None:
    db.authors.insert_many([{"_id": 1, "name": "Ann"}, {"_id": 2, "name": "Bo"}])
    db.books.insert_many(
        [{"author": 1, "pages": 100}, {"author": 1, "pages": 50}, {"author": 2, "pages": 10}]
    )
    result = list(
        db.books.aggregate(
            [
                {"$group": {"_id": "$author", "pages": {"$sum": "$pages"}}},
                {
                    "$lookup": {
                        "from": "authors",
                        "localField": "_id",
                        "foreignField": "_id",
                        "as": "a",
                    }
                },
                {"$project": {"_id": 0, "name": {"$first": "$a.name"}, "pages": 1}},
                {"$sort": {"pages": -1}},
            ]
        )
    )
    assert result == [{"pages": 150, "name": "Ann"}, {"pages": 10, "name": "Bo"}]


def test_indexes_are_named_listed_enforced_and_dropped(db: Database[Any]) -> None:
    names = db.c.create_indexes(
        [IndexModel([("a", ASCENDING), ("b", DESCENDING)]), IndexModel("email", unique=True)]
    )
    assert names == ["a_1_b_-1", "email_1"]
    info = db.c.index_information()
    assert set(info) == {"_id_", "a_1_b_-1", "email_1"}
    assert info["email_1"]["unique"] is True
    db.c.insert_one({"email": "x"})
    with pytest.raises(DuplicateKeyError) as dup:
        db.c.insert_one({"email": "x"})
    assert "email_1 dup key" in str(dup.value)
    db.c.drop_index("email_1")
    db.c.insert_one({"email": "x"})


def test_unique_index_cannot_be_built_over_duplicates(db: Database[Any]) -> None:
    db.c.insert_many([{"k": 1}, {"k": 1}])
    with pytest.raises(DuplicateKeyError):
        db.c.create_index("k", unique=True)
    assert set(db.c.index_information()) == {"_id_"}


def test_ttl_index_expires_documents_in_the_background(db: Database[Any]) -> None:
    import time

    admin = db.client.admin
    previous = admin.command({"setParameter": 1, "ttlMonitorSleepSecs": 1})["was"]
    try:
        db.sessions.create_index("at", expireAfterSeconds=1)
        old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=30)
        db.sessions.insert_many(
            [
                {"_id": "old", "at": old},
                {
                    "_id": "new",
                    "at": datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
                },
            ]
        )
        deadline = time.monotonic() + 10
        while db.sessions.find_one({"_id": "old"}) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [d["_id"] for d in db.sessions.find()] == ["new"]
    finally:
        admin.command({"setParameter": 1, "ttlMonitorSleepSecs": previous})


def test_collections_and_databases_are_listed_and_dropped(db: Database[Any]) -> None:
    db.create_collection("made")
    db.other.insert_one({})
    assert sorted(db.list_collection_names()) == ["made", "other"]
    with pytest.raises(OperationFailure) as info:
        db.command("create", "made")
    assert info.value.code == 48
    assert db.name in db.client.list_database_names()
    db.drop_collection("made")
    assert db.list_collection_names() == ["other"]


def test_unknown_commands_and_operators_are_errors_not_ignored(db: Database[Any]) -> None:
    with pytest.raises(OperationFailure) as info:
        db.command("frobnicate")
    assert info.value.code == 59
    db.c.insert_one({"a": 1})
    with pytest.raises(OperationFailure) as bad_query:
        db.c.find_one({"a": {"$frob": 1}})
    assert bad_query.value.code == 2
    with pytest.raises(OperationFailure) as bad_update:
        db.c.update_one({}, {"$frob": {"a": 1}})
    assert bad_update.value.code == 9
    with pytest.raises(OperationFailure) as bad_stage:
        list(db.c.aggregate([{"$frob": {}}]))
    assert bad_stage.value.code == 40324


def test_where_is_refused(db: Database[Any]) -> None:
    db.c.insert_one({"a": 1})
    with pytest.raises(OperationFailure):
        db.c.find_one({"$where": "this.a == 1"})


def test_server_status_reports_connections_cursors_and_transactions(db: Database[Any]) -> None:
    status = db.client.admin.command("serverStatus")
    assert status["connections"]["current"] >= 1
    assert "open" in status["metrics"]["cursor"]
    assert {"currentOpen", "totalCommitted", "totalAborted"} <= set(status["transactions"])


def test_ttl_decides_on_the_latest_version_not_an_older_one(db: Database[Any]) -> None:
    import time

    admin = db.client.admin
    previous = admin.command({"setParameter": 1, "ttlMonitorSleepSecs": 1})["was"]
    try:
        db.ttl.create_index("at", expireAfterSeconds=1)
        old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
        db.ttl.insert_one({"_id": "refreshed", "at": old})
        with db.client.start_session() as pinning:
            # An open transaction keeps the old version (and its index entry) alive.
            pinning.start_transaction()
            db.other.find_one({}, session=pinning)
            db.ttl.update_one(
                {"_id": "refreshed"},
                {"$set": {"at": datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)}},
            )
            time.sleep(2.5)
            assert db.ttl.find_one({"_id": "refreshed"}) is not None
            pinning.abort_transaction()
    finally:
        admin.command({"setParameter": 1, "ttlMonitorSleepSecs": previous})


def test_set_by_id_keeps_field_order_and_upserts_in_name_order(db: Database[Any]) -> None:
    """The shape of every ODM save: update_one({"_id": v}, {"$set": ...}, upsert=True)."""
    result = db.saves.update_one({"_id": 1}, {"$set": {"z": 1, "_id": 1, "a": 2}}, upsert=True)
    assert (result.matched_count, result.modified_count, result.upserted_id) == (0, 0, 1)
    assert list(db.saves.find_one({"_id": 1}) or {}) == ["_id", "a", "z"]
    result = db.saves.update_one({"_id": 1}, {"$set": {"y": 3, "z": 9, "b": 4}}, upsert=True)
    assert (result.matched_count, result.modified_count, result.upserted_id) == (1, 1, None)
    assert db.saves.find_one({"_id": 1}) == {"_id": 1, "a": 2, "z": 9, "b": 4, "y": 3}
    assert list(db.saves.find_one({"_id": 1}) or {}) == ["_id", "a", "z", "b", "y"]
    same = db.saves.update_one({"_id": 1}, {"$set": {"a": 2}})
    assert (same.matched_count, same.modified_count) == (1, 0)
    assert db.saves.update_one({"_id": 2}, {"$set": {"a": 1}}).matched_count == 0
    assert db.saves.count_documents({}) == 1
    with pytest.raises(OperationFailure) as caught:
        db.saves.update_one({"_id": 1}, {"$set": {"_id": 2}})
    assert caught.value.code == 66


def test_upsert_by_id_compares_ids_by_value_not_by_type(db: Database[Any]) -> None:
    db.ids.insert_one({"_id": 5, "a": 1})
    matched = db.ids.update_one({"_id": 5.0}, {"$set": {"b": 2}}, upsert=True)
    assert (matched.matched_count, matched.upserted_id) == (1, None)
    assert db.ids.find_one({"_id": Int64(5)}) == {"_id": 5, "a": 1, "b": 2}
    created = db.ids.update_one({"_id": 6}, {"$set": {"_id": 6.0, "a": 3}}, upsert=True)
    assert created.upserted_id == 6
    assert db.ids.find_one({"_id": 6}) == {"_id": 6.0, "a": 3}
    with pytest.raises(OperationFailure) as caught:
        db.ids.update_one({"_id": 7}, {"$set": {"_id": 8}}, upsert=True)
    assert caught.value.code == 66
    with pytest.raises(DuplicateKeyError):
        db.ids.insert_one({"_id": Int64(6)})
    assert db.ids.count_documents({}) == 2


def test_a_single_field_index_keys_every_kind_of_value(db: Database[Any]) -> None:
    db.kinds.create_index("v")
    db.kinds.create_index("w", sparse=True)
    db.kinds.insert_many(
        [
            {"_id": 1, "v": 1, "w": 1},
            {"_id": 2, "v": Int64(1)},
            {"_id": 3, "v": 1.0},
            {"_id": 4, "v": [2, 1]},
            {"_id": 5},
            {"_id": 6, "v": None},
            {"_id": 7, "v": {"a": 1}},
            {"_id": 8, "v": "1"},
            {"_id": 9, "v": Decimal128("1")},
            {"_id": 10, "v": True},
        ]
    )

    def ids(query: dict[str, Any]) -> list[int]:
        return sorted(d["_id"] for d in db.kinds.find(query))

    assert ids({"v": 1}) == [1, 2, 3, 4, 9]
    assert ids({"v": None}) == [5, 6]
    assert ids({"v": {"a": 1}}) == [7]
    assert ids({"v": "1"}) == [8]
    assert ids({"v": True}) == [10]
    assert ids({"v": {"$gt": 1}}) == [4]
    assert ids({"w": 1}) == [1]
    assert ids({"w": None}) == [2, 3, 4, 5, 6, 7, 8, 9, 10]
    db.kinds.update_one({"_id": 4}, {"$set": {"v": 3}})
    assert ids({"v": 2}) == []
    assert ids({"v": 3}) == [4]


def test_a_compound_index_answers_equality_on_its_leading_fields(db: Database[Any]) -> None:
    """The idempotency lookup's shape: (owner, key) unique, many keys per owner."""
    db.keys.create_index([("owner", ASCENDING), ("key", ASCENDING)], unique=True)
    db.keys.insert_many([{"owner": o, "key": f"k{i}", "n": i} for o in (1, 2) for i in range(50)])
    db.keys.insert_one({"owner": 1, "key": ["tag-a", "tag-b"], "n": -1})
    assert (db.keys.find_one({"owner": 1, "key": "k7"}) or {})["n"] == 7
    assert (db.keys.find_one({"$and": [{"owner": 2}, {"key": {"$eq": "k9"}}]}) or {})["n"] == 9
    assert db.keys.find_one({"owner": 3, "key": "k7"}) is None
    assert (db.keys.find_one({"owner": 1, "key": "tag-b"}) or {})["n"] == -1  # multikey
    assert db.keys.count_documents({"owner": 1, "key": {"$in": ["k1", "k2"]}}) == 2
    assert db.keys.count_documents({"owner": 2, "n": {"$gte": 45}}) == 5


def test_an_or_of_indexed_branches_finds_every_match(db: Database[Any]) -> None:
    """The demo's movement history: from_account == id or to_account == id, both indexed."""
    db.moves.create_index("src")
    db.moves.create_index("dst")
    db.moves.insert_many([{"src": i % 10, "dst": (i + 1) % 10, "n": i} for i in range(100)])
    either = {"$or": [{"src": 3}, {"dst": 3}]}
    expected = sorted(i for i in range(100) if i % 10 == 3 or (i + 1) % 10 == 3)
    assert sorted(d["n"] for d in db.moves.find(either)) == expected
    both = {"$and": [either, {"n": {"$lt": 50}}]}
    assert db.moves.count_documents(both) == len([n for n in expected if n < 50])
    # A branch no index narrows means a scan: still every match.
    mixed = {"$or": [{"src": 3}, {"n": 99}]}
    assert sorted(d["n"] for d in db.moves.find(mixed)) == sorted(
        {i for i in range(100) if i % 10 == 3} | {99}
    )


def test_unique_sparse_and_partial_indexes(db: Database[Any]) -> None:
    db.i.create_index("email", unique=True, sparse=True)
    db.i.insert_many([{"_id": 1}, {"_id": 2}])  # sparse: missing emails do not collide
    db.i.create_index("code", unique=True, partialFilterExpression={"active": True})
    db.i.insert_many(
        [{"_id": 3, "code": "A", "active": False}, {"_id": 4, "code": "A", "active": True}]
    )
    with pytest.raises(WriteError):
        db.i.insert_one({"_id": 5, "code": "A", "active": True})


def test_documents_over_16_mib_are_refused(db: Database[Any]) -> None:
    with pytest.raises((DocumentTooLarge, OperationFailure)):
        db.big.insert_one({"blob": "x" * (16 * 1024 * 1024 + 1)})
    db.big.insert_one({"_id": ObjectId(), "ok": True})
    assert db.big.count_documents({}) == 1
