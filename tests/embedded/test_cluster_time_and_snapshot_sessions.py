"""Cluster time in every reply, causally consistent sessions, and snapshot sessions over the wire."""

from typing import Any

import pytest
from bson import Timestamp
from pymongo import MongoClient, monitoring
from pymongo.database import Database
from pymongo.errors import OperationFailure


class _Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
def watched(mongodb_url: str, mongodb_database_name: str) -> Any:
    listener = _Commands()
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url, event_listeners=[listener])
    try:
        yield client[mongodb_database_name], listener
    finally:
        client.close()


def test_every_reply_carries_operation_time_and_cluster_time(db: Database[Any]) -> None:
    reply = db.command("ping")
    assert isinstance(reply["operationTime"], Timestamp)
    assert reply["$clusterTime"]["clusterTime"] == reply["operationTime"]
    failed = db.command("find", "things", filter=[], check=False)  # a malformed filter on purpose
    assert failed["ok"] == 0
    assert isinstance(failed["operationTime"], Timestamp)


def test_operation_time_grows_with_each_write(db: Database[Any]) -> None:
    first = db.command("insert", "things", documents=[{"_id": 1}])["operationTime"]
    second = db.command("insert", "things", documents=[{"_id": 2}])["operationTime"]
    assert second > first


def test_causally_consistent_session_reads_after_its_own_write(watched: Any) -> None:
    db, listener = watched
    with db.client.start_session(causal_consistency=True) as session:
        db.things.insert_one({"_id": 1}, session=session)
        written_at = session.operation_time
        assert written_at is not None
        assert db.things.find_one({"_id": 1}, session=session) == {"_id": 1}
    find = next(cmd for cmd in listener.sent if "find" in cmd)
    assert find["readConcern"]["afterClusterTime"] == written_at


def test_the_driver_gossips_the_cluster_time_it_was_sent(watched: Any) -> None:
    db, listener = watched
    db.command("ping")
    db.command("ping")
    assert "$clusterTime" in listener.sent[-1]


def test_snapshot_session_reads_at_its_snapshot_not_later_writes(db: Database[Any]) -> None:
    db.things.insert_one({"_id": 1, "n": 11})
    with db.client.start_session(snapshot=True) as session:
        assert db.things.find_one({"_id": 1}, session=session)["n"] == 11
        db.things.update_one({"_id": 1}, {"$set": {"n": 13}})
        db.things.insert_one({"_id": 2, "n": 2})
        assert db.things.find_one({"_id": 1}, session=session)["n"] == 11
        assert [
            d["_id"] for d in db.things.aggregate([{"$sort": {"_id": 1}}], session=session)
        ] == [1]
        assert db.things.distinct("n", session=session) == [11]
    assert db.things.find_one({"_id": 1})["n"] == 13


def test_snapshot_session_refuses_writes_and_list_indexes(db: Database[Any]) -> None:
    db.things.insert_one({"_id": 1})
    with db.client.start_session(snapshot=True) as session:
        with pytest.raises(OperationFailure) as insert:
            db.things.insert_one({"_id": 2}, session=session)
        assert insert.value.code == 72
        with pytest.raises(OperationFailure) as update:
            db.things.update_one({"_id": 1}, {"$set": {"x": 1}}, session=session)
        assert update.value.code == 72
        with pytest.raises(OperationFailure) as list_indexes:
            list(db.things.list_indexes(session=session))
        assert list_indexes.value.code == 72
    assert db.things.count_documents({}) == 1


def test_a_snapshot_time_the_server_no_longer_holds_is_refused(db: Database[Any]) -> None:
    db.things.insert_one({"_id": 1})
    old = db.command("ping")["operationTime"]
    db.things.insert_one({"_id": 2})
    with pytest.raises(OperationFailure) as refused:
        db.command("find", "things", readConcern={"level": "snapshot", "atClusterTime": old})
    assert refused.value.code == 239
