"""create's options: clustered and time-series collections, pre- and post-images, expiry, and refusals."""

import datetime
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import OperationFailure, WriteError

from odmantic_fastapi.embedded import ServerProcess

CLUSTERED = {"key": {"_id": 1}, "unique": True, "name": "by id"}


@pytest.fixture
def fast_ttl(db: Database[Any]) -> Iterator[None]:
    admin = db.client.admin
    previous = admin.command({"setParameter": 1, "ttlMonitorSleepSecs": 1})["was"]
    try:
        yield
    finally:
        admin.command({"setParameter": 1, "ttlMonitorSleepSecs": previous})


def _info(db: Database[Any], name: str) -> dict[str, Any]:
    [info] = db.list_collections(filter={"name": name})
    return dict(info)


def test_a_clustered_collection_lists_its_clustered_index(db: Database[Any]) -> None:
    db.create_collection("events", clusteredIndex=CLUSTERED)
    info = _info(db, "events")
    assert info["type"] == "collection"
    assert info["options"] == {"clusteredIndex": {"v": 2, **CLUSTERED}}
    assert "idIndex" not in info
    assert [dict(i) for i in db.events.list_indexes()] == [
        {"v": 2, "key": {"_id": 1}, "name": "by id", "unique": True, "clustered": True}
    ]


@pytest.mark.parametrize(
    ("clustered", "code"),
    [
        ({"key": {"x": 1}, "unique": True}, 6053000),
        ({"key": {"_id": 1}}, 6492000),
    ],
)
def test_a_clustered_index_must_be_unique_on_id(
    db: Database[Any], clustered: Any, code: int
) -> None:
    with pytest.raises(OperationFailure) as caught:
        db.create_collection("events", clusteredIndex=clustered)
    assert caught.value.code == code


def test_a_time_series_collection_keeps_its_options_with_their_defaults(
    db: Database[Any],
) -> None:
    db.create_collection(
        "readings", timeseries={"timeField": "t", "metaField": "m", "granularity": "minutes"}
    )
    info = _info(db, "readings")
    assert info["type"] == "timeseries"
    assert info["options"]["timeseries"] == {
        "timeField": "t",
        "metaField": "m",
        "granularity": "minutes",
        "bucketMaxSpanSeconds": 86400,
    }
    db.create_collection(
        "custom",
        timeseries={"timeField": "t", "bucketMaxSpanSeconds": 60, "bucketRoundingSeconds": 60},
    )
    assert "granularity" not in _info(db, "custom")["options"]["timeseries"]


def test_a_time_series_measurement_needs_its_time_field(db: Database[Any]) -> None:
    db.create_collection("readings", timeseries={"timeField": "t"})
    db.readings.insert_one({"t": datetime.datetime(2024, 1, 1), "v": 1})
    with pytest.raises(WriteError) as caught:
        db.readings.insert_one({"v": 2})
    assert caught.value.code == 2


@pytest.mark.parametrize(
    "timeseries",
    [
        {},
        {"timeField": "t", "granularity": "days"},
        {"timeField": "t", "bucketMaxSpanSeconds": 60},
        {"timeField": "t", "metaField": "t"},
    ],
)
def test_bad_time_series_options_are_refused(db: Database[Any], timeseries: dict[str, Any]) -> None:
    with pytest.raises(OperationFailure):
        db.create_collection("readings", timeseries=timeseries)
    assert "readings" not in db.list_collection_names()


def test_expire_after_seconds_needs_a_clustered_or_time_series_collection(
    db: Database[Any],
) -> None:
    with pytest.raises(OperationFailure) as caught:
        db.create_collection("plain", expireAfterSeconds=10)
    assert caught.value.code == 72


@pytest.mark.usefixtures("fast_ttl")
def test_a_time_series_collection_expires_old_measurements(db: Database[Any]) -> None:
    db.create_collection("readings", timeseries={"timeField": "t"}, expireAfterSeconds=60)
    now = datetime.datetime.now(datetime.UTC)
    db.readings.insert_many(
        [{"t": now - datetime.timedelta(hours=1), "v": "old"}, {"t": now, "v": "new"}]
    )
    deadline = time.monotonic() + 10
    while db.readings.count_documents({}) > 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [d["v"] for d in db.readings.find()] == ["new"]


@pytest.mark.usefixtures("fast_ttl")
def test_a_clustered_collection_expires_documents_by_their_date_id(db: Database[Any]) -> None:
    db.create_collection("events", clusteredIndex=CLUSTERED, expireAfterSeconds=60)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0, tzinfo=None)
    db.events.insert_many([{"_id": now - datetime.timedelta(hours=1)}, {"_id": now}])
    deadline = time.monotonic() + 10
    while db.events.count_documents({}) > 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [d["_id"] for d in db.events.find()] == [now]


def test_pre_and_post_images_can_be_enabled_at_creation(db: Database[Any]) -> None:
    db.create_collection("orders", changeStreamPreAndPostImages={"enabled": True})
    assert _info(db, "orders")["options"] == {"changeStreamPreAndPostImages": {"enabled": True}}


def test_an_unsupported_option_is_refused_by_name(db: Database[Any]) -> None:
    with pytest.raises(OperationFailure, match="storageEngine"):
        db.create_collection("plain", storageEngine={"wiredTiger": {}})


def test_time_series_measurements_may_share_an_id(db: Database[Any]) -> None:
    db.create_collection("readings", timeseries={"timeField": "t"})
    first, second = datetime.datetime(2024, 1, 1, 0, 0), datetime.datetime(2024, 1, 1, 0, 1)
    db.readings.insert_many([{"_id": 1, "t": first}, {"_id": 1, "t": second}])
    assert list(db.readings.find({"_id": 1}).sort("t", 1)) == [
        {"_id": 1, "t": first},
        {"_id": 1, "t": second},
    ]
    assert db.readings.delete_one({"t": first}).deleted_count == 1
    assert list(db.readings.find()) == [{"_id": 1, "t": second}]


def test_an_update_may_not_move_a_measurement_in_time(db: Database[Any]) -> None:
    db.create_collection("readings", timeseries={"timeField": "t", "metaField": "m"})
    db.readings.insert_one({"_id": 1, "t": datetime.datetime(2024, 1, 1), "m": "a"})
    db.readings.update_one({"_id": 1}, {"$set": {"m": "b"}})
    assert db.readings.find_one()["m"] == "b"
    with pytest.raises(WriteError) as caught:
        db.readings.update_one({"_id": 1}, {"$set": {"t": datetime.datetime(2025, 1, 1)}})
    assert caught.value.code == 72


def test_time_series_measurements_sharing_an_id_survive_a_restart(tmp_path: Path) -> None:
    times = [datetime.datetime(2024, 1, 1, 0, m) for m in range(3)]
    with ServerProcess(data_dir=tmp_path) as server:
        client: MongoClient[dict[str, Any]] = MongoClient(server.url)
        client.app.create_collection("readings", timeseries={"timeField": "t"})
        client.app.readings.insert_many([{"_id": 1, "t": t} for t in times])
        client.app.readings.delete_one({"t": times[1]})
        client.close()
    with ServerProcess(data_dir=tmp_path) as server:
        client = MongoClient(server.url)
        found = client.app.readings.find().sort("t", 1)
        assert [d["t"] for d in found] == [times[0], times[2]]
        client.close()
