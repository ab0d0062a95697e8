"""Index collations and hidden indexes; collMod changes hidden flags, TTLs, expiry and views."""

from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure

from odmantic_fastapi.embedded import ServerProcess

CASE_INSENSITIVE = {"locale": "en", "strength": 2}


def test_a_unique_index_with_a_collation_refuses_keys_equal_under_it(db: Database[Any]) -> None:
    db.users.create_index("name", unique=True, collation=CASE_INSENSITIVE)
    db.users.insert_one({"name": "Ada"})
    with pytest.raises(DuplicateKeyError):
        db.users.insert_one({"name": "ADA"})
    db.users.insert_one({"name": "Adà"})


def test_list_indexes_shows_the_index_collation_in_full(db: Database[Any]) -> None:
    db.users.create_index("name", collation=CASE_INSENSITIVE)
    collation = db.users.index_information()["name_1"]["collation"]
    assert collation["locale"] == "en"
    assert collation["strength"] == 2
    assert collation["caseLevel"] is False
    assert collation["numericOrdering"] is False


def test_the_same_keys_under_another_collation_are_another_index(db: Database[Any]) -> None:
    db.users.create_index("name")
    db.users.create_index("name", name="name_ci", collation=CASE_INSENSITIVE)
    assert {"name_1", "name_ci"} <= set(db.users.index_information())


def test_queries_with_or_without_a_collation_find_through_a_collated_index(
    db: Database[Any],
) -> None:
    db.users.create_index("name", collation=CASE_INSENSITIVE)
    db.users.insert_many([{"name": "Ada"}, {"name": "ada"}])
    assert db.users.count_documents({"name": "ada"}) == 1
    assert db.users.count_documents({"name": "ada"}, collation=CASE_INSENSITIVE) == 2


def test_a_hidden_index_is_kept_but_cannot_be_hinted(db: Database[Any]) -> None:
    db.items.create_index("x", hidden=True)
    db.items.insert_many([{"x": 1}, {"x": 2}])
    assert db.items.index_information()["x_1"]["hidden"] is True
    assert db.items.count_documents({"x": 2}) == 1
    with pytest.raises(OperationFailure):
        list(db.items.find({}).hint("x_1"))


def test_coll_mod_hides_and_unhides_an_index(db: Database[Any]) -> None:
    db.items.create_index("x")
    reply = db.command({"collMod": "items", "index": {"name": "x_1", "hidden": True}})
    assert (reply["hidden_old"], reply["hidden_new"]) == (False, True)
    assert db.items.index_information()["x_1"]["hidden"] is True
    db.command({"collMod": "items", "index": {"keyPattern": {"x": 1}, "hidden": False}})
    assert "hidden" not in db.items.index_information()["x_1"]


def test_coll_mod_changes_a_ttl(db: Database[Any]) -> None:
    db.items.create_index("at", expireAfterSeconds=60)
    reply = db.command({"collMod": "items", "index": {"name": "at_1", "expireAfterSeconds": 5}})
    assert (reply["expireAfterSeconds_old"], reply["expireAfterSeconds_new"]) == (60, 5)
    assert db.items.index_information()["at_1"]["expireAfterSeconds"] == 5


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ({"index": {"name": "nope", "hidden": True}}, 27),
        ({"index": {"name": "_id_", "hidden": True}}, 72),
        ({"validator": {"$jsonSchema": {"required": ["x"]}}}, 72),
    ],
)
def test_coll_mod_refusals(db: Database[Any], command: dict[str, Any], code: int) -> None:
    db.items.insert_one({})
    with pytest.raises(OperationFailure) as caught:
        db.command({"collMod": "items", **command})
    assert caught.value.code == code


def test_coll_mod_redefines_a_view(db: Database[Any]) -> None:
    db.source.insert_many([{"x": 1}, {"x": 2}])
    db.create_collection("view", viewOn="source", pipeline=[{"$match": {"x": 1}}])
    db.command({"collMod": "view", "pipeline": [{"$match": {"x": 2}}]})
    assert [d["x"] for d in db.view.find()] == [2]


def test_coll_mod_changes_survive_a_restart(tmp_path: Path) -> None:
    with ServerProcess(data_dir=tmp_path) as server:
        client: MongoClient[dict[str, Any]] = MongoClient(server.url)
        client.app.items.create_index("x")
        client.app.command({"collMod": "items", "index": {"name": "x_1", "hidden": True}})
        client.app.command({"collMod": "items", "changeStreamPreAndPostImages": {"enabled": True}})
        client.close()
    with ServerProcess(data_dir=tmp_path) as server:
        client = MongoClient(server.url)
        assert client.app.items.index_information()["x_1"]["hidden"] is True
        assert client.app.items.options() == {"changeStreamPreAndPostImages": {"enabled": True}}
        client.close()


@pytest.mark.parametrize("key", ["$**", "a.$**", "$a", "a.$b"])
def test_wildcard_and_dollar_index_keys_are_refused(db: Database[Any], key: str) -> None:
    with pytest.raises(OperationFailure) as caught:
        db.items.create_index([(key, 1)])
    assert caught.value.code == 67
