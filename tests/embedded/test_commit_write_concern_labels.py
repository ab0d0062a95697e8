"""A commit's write concern error is an unknown commit result unless no wait could ever meet it."""

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.errors import WriteConcernError

from odmantic_fastapi.embedded import EmbeddedServer


@pytest.fixture(scope="module")
def test_server() -> Iterator[EmbeddedServer]:
    with EmbeddedServer(test_commands=True) as server:
        yield server


@pytest.fixture
def client(test_server: EmbeddedServer) -> Iterator[MongoClient[dict[str, Any]]]:
    c: MongoClient[dict[str, Any]] = MongoClient(test_server.url)
    try:
        yield c
    finally:
        c.admin.command("configureFailPoint", "failCommand", mode="off")
        c.close()


def _commit_labels(client: MongoClient[dict[str, Any]], code: int, name: str) -> list[str]:
    client.admin.command(
        "configureFailPoint",
        "failCommand",
        mode={"times": 1},
        data={
            "failCommands": ["commitTransaction"],
            "writeConcernError": {"code": code, "errmsg": f"injected {name}"},
        },
    )
    coll = client.labels[name]
    coll.drop()
    coll.insert_one({"_id": 0})
    with client.start_session() as session:
        session.start_transaction()
        coll.insert_one({"_id": 1}, session=session)
        with pytest.raises(WriteConcernError) as caught:
            session.commit_transaction()
    assert coll.count_documents({}) == 2
    assert caught.value.details is not None
    return list(caught.value.details.get("errorLabels", []))


@pytest.mark.parametrize(("code", "name"), [(100, "unsatisfiable"), (79, "unknown_mode")])
def test_a_write_concern_the_set_can_never_meet_is_a_known_result(
    client: MongoClient[dict[str, Any]], code: int, name: str
) -> None:
    assert "UnknownTransactionCommitResult" not in _commit_labels(client, code, name)


def test_a_write_concern_that_timed_out_is_an_unknown_result(
    client: MongoClient[dict[str, Any]],
) -> None:
    assert "UnknownTransactionCommitResult" in _commit_labels(client, 64, "timed_out")
