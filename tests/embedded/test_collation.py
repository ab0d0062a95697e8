"""Collations: every read and write that takes one compares strings by it, and bad ones are refused."""

from typing import Any

import pytest
from pymongo import DeleteOne, ReturnDocument, UpdateMany
from pymongo.database import Database
from pymongo.errors import OperationFailure

CASE_INSENSITIVE = {"locale": "en_US", "strength": 2}
BASE_LETTERS = {"locale": "fr", "strength": 1}


@pytest.fixture
def words(db: Database[Any]) -> Any:
    db.words.insert_many(
        [
            {"_id": 1, "w": "ping"},
            {"_id": 2, "w": "PING"},
            {"_id": 3, "w": "pïng"},
            {"_id": 4, "w": "a10"},
            {"_id": 5, "w": "a9"},
        ]
    )
    return db.words


def _ids(docs: Any) -> list[int]:
    return sorted(d["_id"] for d in docs)


def test_strength_2_ignores_case_but_not_accents(words: Any) -> None:
    assert _ids(words.find({"w": "ping"}, collation=CASE_INSENSITIVE)) == [1, 2]


def test_strength_1_ignores_case_and_accents(words: Any) -> None:
    assert _ids(words.find({"w": "ping"}, collation=BASE_LETTERS)) == [1, 2, 3]


def test_the_default_strength_3_tells_case_apart(words: Any) -> None:
    assert _ids(words.find({"w": "ping"}, collation={"locale": "en"})) == [1]


def test_case_level_at_strength_1_ignores_accents_but_not_case(words: Any) -> None:
    collation = {"locale": "en", "strength": 1, "caseLevel": True}
    assert _ids(words.find({"w": "ping"}, collation=collation)) == [1, 3]


def test_numeric_ordering_sorts_digit_runs_as_numbers(words: Any) -> None:
    found = words.find({"_id": {"$in": [4, 5]}}).sort("w", 1)
    assert [d["w"] for d in found] == ["a10", "a9"]
    numeric = found.clone().collation({"locale": "en", "numericOrdering": True})
    assert [d["w"] for d in numeric] == ["a9", "a10"]


def test_range_operators_compare_by_the_collation(words: Any) -> None:
    between = {"w": {"$gt": "PINF", "$lt": "PINH"}}
    assert _ids(words.find(between)) == [2]
    assert _ids(words.find(between, collation=CASE_INSENSITIVE)) == [1, 2, 3]


def test_count_and_distinct_use_the_collation(words: Any) -> None:
    assert words.count_documents({"w": "PING"}, collation=CASE_INSENSITIVE) == 2
    values = words.distinct("w", {"_id": {"$lte": 3}}, collation=CASE_INSENSITIVE)
    assert sorted(values) == ["ping", "pïng"]


def test_update_and_delete_statements_use_their_collation(words: Any) -> None:
    result = words.update_many({"w": "ping"}, {"$set": {"seen": True}}, collation=CASE_INSENSITIVE)
    assert (result.matched_count, result.modified_count) == (2, 2)
    assert words.replace_one({"w": "PïNG"}, {"w": "x"}, collation=BASE_LETTERS).matched_count == 1
    assert words.delete_many({"w": "PING"}, collation=CASE_INSENSITIVE).deleted_count == 1
    assert words.delete_one({"w": "PÏNG"}, collation=CASE_INSENSITIVE).deleted_count == 1


def test_find_and_modify_matches_and_sorts_by_the_collation(words: Any) -> None:
    doc = words.find_one_and_update(
        {"w": "Ping"},
        {"$set": {"hit": True}},
        sort=[("_id", -1)],
        collation=CASE_INSENSITIVE,
        return_document=ReturnDocument.AFTER,
    )
    assert doc == {"_id": 2, "w": "PING", "hit": True}
    assert words.find_one_and_delete({"w": "PING"}, collation=CASE_INSENSITIVE) is not None


def test_an_update_by_string_id_with_a_collation_matches_other_cases(db: Database[Any]) -> None:
    db.keys.insert_one({"_id": "Key"})
    result = db.keys.update_one({"_id": "key"}, {"$set": {"n": 1}}, collation=CASE_INSENSITIVE)
    assert result.modified_count == 1


def test_aggregate_matches_and_groups_by_the_collation(words: Any) -> None:
    groups = words.aggregate(
        [{"$match": {"w": {"$gt": "b"}}}, {"$group": {"_id": "$w", "n": {"$sum": 1}}}],
        collation=CASE_INSENSITIVE,
    )
    assert sorted(g["n"] for g in groups) == [1, 2]


def test_a_bulk_write_gives_each_statement_its_own_collation(words: Any) -> None:
    result = words.bulk_write(
        [
            UpdateMany({"w": "PING"}, {"$set": {"a": 1}}, collation=CASE_INSENSITIVE),
            UpdateMany({"w": "PING"}, {"$set": {"b": 1}}),
            DeleteOne({"w": "PÏNG"}, collation=BASE_LETTERS),
        ]
    )
    assert (result.modified_count, result.deleted_count) == (3, 1)


def test_the_simple_locale_compares_code_points(words: Any) -> None:
    assert _ids(words.find({"w": "ping"}, collation={"locale": "simple"})) == [1]


@pytest.mark.parametrize(
    ("collation", "code"),
    [
        ({"strength": 2}, 40414),
        ({"locale": "not a locale"}, 2),
        ({"locale": "en", "strength": 9}, 51024),
        ({"locale": "en", "shout": True}, 40415),
    ],
)
def test_a_bad_collation_is_refused(words: Any, collation: dict[str, Any], code: int) -> None:
    with pytest.raises(OperationFailure) as caught:
        words.find_one({}, collation=collation)
    assert caught.value.code == code


def test_a_change_stream_refuses_a_collation_rather_than_ignore_it(db: Database[Any]) -> None:
    with pytest.raises(OperationFailure) as caught:
        db.command(
            {
                "aggregate": "words",
                "pipeline": [{"$changeStream": {}}],
                "cursor": {},
                "collation": CASE_INSENSITIVE,
            }
        )
    assert caught.value.code == 2


def test_a_collection_default_collation_is_refused_rather_than_ignored(
    db: Database[Any],
) -> None:
    with pytest.raises(OperationFailure, match="collation"):
        db.create_collection("words", collation=CASE_INSENSITIVE)
