"""Collections and indexes a transaction creates belong to it: hidden until commit, gone on abort."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient, WriteConcern
from pymongo.database import Database
from pymongo.errors import OperationFailure, WriteConcernError

from odmantic_fastapi.embedded import ServerProcess


@pytest.fixture
def other(db: Database[Any]) -> Iterator[Database[Any]]:
    """The same database through a second client, outside every transaction."""
    client: MongoClient[dict[str, Any]] = MongoClient(_url(db))
    try:
        yield client[db.name]
    finally:
        client.close()


def _url(db: Database[Any]) -> str:
    host, port = db.client.address or ("127.0.0.1", 27017)
    return f"mongodb://{host}:{port}/"


def test_a_collection_created_in_a_transaction_appears_at_commit(
    db: Database[Any], other: Database[Any]
) -> None:
    with db.client.start_session() as session:
        session.start_transaction()
        db.create_collection("made", session=session)
        db.implied.insert_one({"_id": 1}, session=session)
        assert db.implied.find_one({}, session=session) == {"_id": 1}
        assert set(other.list_collection_names()).isdisjoint({"made", "implied"})
        session.commit_transaction()
    assert {"made", "implied"} <= set(other.list_collection_names())
    assert list(other.implied.find()) == [{"_id": 1}]


def test_a_collection_created_in_an_aborted_transaction_never_exists(
    db: Database[Any],
) -> None:
    with db.client.start_session() as session:
        session.start_transaction()
        db.create_collection("made", session=session)
        db.implied.insert_one({"_id": 1}, session=session)
        session.abort_transaction()
    assert set(db.list_collection_names()).isdisjoint({"made", "implied"})


def test_an_index_created_in_a_transaction_appears_at_commit(
    db: Database[Any], other: Database[Any]
) -> None:
    with db.client.start_session() as session:
        session.start_transaction()
        db.fresh.create_index("x", name="t_1", session=session)
        assert "fresh" not in other.list_collection_names()
        session.commit_transaction()
    assert "t_1" in other.fresh.index_information()


def test_creating_an_existing_collection_in_a_transaction_is_namespace_exists(
    db: Database[Any],
) -> None:
    db.create_collection("made")
    with db.client.start_session() as session:
        session.start_transaction()
        with pytest.raises(OperationFailure) as caught:
            db.create_collection("made", session=session)
        session.abort_transaction()
    assert caught.value.code == 48


def test_an_index_on_a_committed_collection_is_refused_in_a_transaction(
    db: Database[Any],
) -> None:
    db.old.insert_one({"_id": 1})
    with db.client.start_session() as session:
        session.start_transaction()
        with pytest.raises(OperationFailure) as caught:
            db.old.create_index("y", session=session)
        session.abort_transaction()
    assert caught.value.code == 263
    assert list(db.old.index_information()) == ["_id_"]


def test_a_commit_whose_write_concern_cannot_be_met_commits_and_reports_it(
    db: Database[Any],
) -> None:
    with db.client.start_session() as session:
        session.start_transaction(write_concern=WriteConcern(w=10))
        db.items.insert_one({"_id": 1}, session=session)
        with pytest.raises(WriteConcernError) as caught:
            session.commit_transaction()
    assert caught.value.code == 100
    assert list(db.items.find()) == [{"_id": 1}]


def test_what_a_transaction_created_survives_a_restart(tmp_path: Path) -> None:
    with ServerProcess(data_dir=tmp_path) as server:
        client: MongoClient[dict[str, Any]] = MongoClient(server.url)
        with client.start_session() as session:
            session.start_transaction()
            client.app.create_collection("made", session=session)
            client.app.made.create_index("x", name="t_1", session=session)
            client.app.made.insert_one({"_id": 1, "x": 2}, session=session)
            session.commit_transaction()
        client.close()
    with ServerProcess(data_dir=tmp_path) as server:
        client = MongoClient(server.url)
        assert "t_1" in client.app.made.index_information()
        assert list(client.app.made.find()) == [{"_id": 1, "x": 2}]
        client.close()
