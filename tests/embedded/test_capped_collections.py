"""Capped collections keep their newest documents; tailable cursors follow new ones."""

from typing import Any

import pytest
from pymongo.database import Database
from pymongo.errors import OperationFailure


@pytest.fixture
def capped(db: Database[Any]) -> Any:
    db.create_collection("log", capped=True, size=4096, max=3)
    return db.log


def test_a_capped_collection_lists_its_limits(db: Database[Any], capped: Any) -> None:
    assert capped.options() == {"capped": True, "size": 4096, "max": 3}
    db.create_collection("odd", capped=True, size=1000)
    assert db.odd.options() == {"capped": True, "size": 4096}


def test_inserts_past_max_delete_the_oldest_documents(capped: Any) -> None:
    capped.insert_many([{"_id": i} for i in range(5)])
    assert [d["_id"] for d in capped.find()] == [2, 3, 4]


def test_inserts_past_size_delete_the_oldest_documents(db: Database[Any]) -> None:
    db.create_collection("big", capped=True, size=4096)
    db.big.insert_many([{"_id": i, "pad": "x" * 1000} for i in range(10)])
    kept = [d["_id"] for d in db.big.find()]
    assert kept == list(range(10 - len(kept), 10))
    assert 2 <= len(kept) <= 4


def test_capped_needs_a_size(db: Database[Any]) -> None:
    with pytest.raises(OperationFailure) as caught:
        db.create_collection("log", capped=True)
    assert caught.value.code == 72


def test_a_tailable_cursor_stays_open_and_returns_later_inserts(
    db: Database[Any], capped: Any
) -> None:
    capped.insert_many([{"_id": 1}, {"_id": 2}])
    first = db.command({"find": "log", "tailable": True, "batchSize": 2})["cursor"]
    assert [d["_id"] for d in first["firstBatch"]] == [1, 2]
    assert first["id"] != 0
    empty = db.command({"getMore": first["id"], "collection": "log"})["cursor"]
    assert (empty["nextBatch"], empty["id"]) == ([], first["id"])
    capped.insert_one({"_id": 3})
    later = db.command({"getMore": first["id"], "collection": "log"})["cursor"]
    assert later["nextBatch"] == [{"_id": 3}]


def test_a_tailable_cursor_whose_position_was_deleted_is_lost(
    db: Database[Any], capped: Any
) -> None:
    capped.insert_many([{"_id": 1}, {"_id": 2}])
    cursor_id = db.command({"find": "log", "tailable": True})["cursor"]["id"]
    capped.insert_many([{"_id": i} for i in range(3, 7)])
    with pytest.raises(OperationFailure) as caught:
        db.command({"getMore": cursor_id, "collection": "log"})
    assert caught.value.code == 136


def test_a_tailable_cursor_needs_a_capped_collection(db: Database[Any]) -> None:
    db.plain.insert_one({})
    with pytest.raises(OperationFailure) as caught:
        db.command({"find": "plain", "tailable": True})
    assert caught.value.code == 2


def test_a_capped_collection_takes_no_writes_in_a_transaction(
    db: Database[Any], capped: Any
) -> None:
    with db.client.start_session() as session:
        session.start_transaction()
        with pytest.raises(OperationFailure) as caught:
            capped.insert_one({"_id": 1}, session=session)
        session.abort_transaction()
    assert caught.value.code == 263
