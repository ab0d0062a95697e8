"""Aggregation expressions over the wire: each operator family evaluated with MongoDB's results."""

import datetime
from typing import Any

import pytest
from bson import Decimal128, Int64
from pymongo.database import Database
from pymongo.errors import OperationFailure

DOC: dict[str, Any] = {
    "_id": 1,
    "i": 7,
    "f": 2.5,
    "s": "Hello World",
    "l": [3, 1, 2],
    "o": {"a": 1, "b": 2},
    "d": datetime.datetime(2024, 3, 5, 14, 30, 15, 250000),
    "nul": None,
}

# (expression, value), grouped by operator family.
EXPRESSIONS: list[tuple[Any, Any]] = [
    # arithmetic
    ({"$add": ["$i", 3]}, 10),
    ({"$add": ["$i", "$f"]}, 9.5),
    ({"$add": ["$i", "$missing"]}, None),
    ({"$subtract": ["$i", 10]}, -3),
    ({"$multiply": ["$i", Int64(2)]}, Int64(14)),
    ({"$divide": ["$i", 2]}, 3.5),
    ({"$mod": ["$i", 4]}, 3),
    ({"$abs": -4}, 4),
    ({"$pow": [2, 10]}, 1024),
    ({"$round": [2.5, 0]}, 2.0),
    ({"$trunc": ["$f"]}, 2.0),
    ({"$add": [{"$literal": Decimal128("1.1")}, 1]}, Decimal128("2.1")),
    # comparison, boolean, conditional, scoping
    ({"$gt": ["$i", 5]}, True),
    ({"$cmp": ["$s", "Hello"]}, 1),
    ({"$eq": ["$missing", None]}, True),
    ({"$and": ["$i", 0]}, False),
    ({"$or": ["$missing", "$nul", 1]}, True),
    ({"$not": [0]}, True),
    ({"$cond": {"if": {"$gte": ["$i", 7]}, "then": "big", "else": "small"}}, "big"),
    ({"$ifNull": ["$nul", "$missing", "fallback"]}, "fallback"),
    ({"$switch": {"branches": [{"case": False, "then": 1}], "default": 2}}, 2),
    ({"$let": {"vars": {"x": "$i"}, "in": {"$multiply": ["$$x", 2]}}}, 14),
    ({"$literal": "$i"}, "$i"),
    # strings
    ({"$concat": ["$s", "!"]}, "Hello World!"),
    ({"$toUpper": "$s"}, "HELLO WORLD"),
    ({"$substrCP": ["$s", 6, 5]}, "World"),
    ({"$strLenCP": "$s"}, 11),
    ({"$split": ["$s", " "]}, ["Hello", "World"]),
    ({"$trim": {"input": "  x  "}}, "x"),
    ({"$indexOfCP": ["$s", "o"]}, 4),
    ({"$strcasecmp": ["abc", "ABC"]}, 0),
    ({"$regexMatch": {"input": "$s", "regex": "^hel", "options": "i"}}, True),
    (
        {"$regexFind": {"input": "$s", "regex": "o(r)"}},
        {"match": "or", "idx": 7, "captures": ["r"]},
    ),
    ({"$replaceAll": {"input": "$s", "find": "o", "replacement": "0"}}, "Hell0 W0rld"),
    # arrays and objects
    ({"$size": "$l"}, 3),
    ({"$arrayElemAt": ["$l", -1]}, 2),
    ({"$first": "$l"}, 3),
    ({"$filter": {"input": "$l", "cond": {"$gt": ["$$this", 1]}}}, [3, 2]),
    ({"$map": {"input": "$l", "as": "n", "in": {"$add": ["$$n", 1]}}}, [4, 2, 3]),
    ({"$reduce": {"input": "$l", "initialValue": 0, "in": {"$add": ["$$value", "$$this"]}}}, 6),
    ({"$in": [2, "$l"]}, True),
    ({"$concatArrays": ["$l", [4]]}, [3, 1, 2, 4]),
    ({"$slice": ["$l", 1, 1]}, [1]),
    ({"$reverseArray": "$l"}, [2, 1, 3]),
    ({"$range": [0, 6, 2]}, [0, 2, 4]),
    ({"$indexOfArray": ["$l", 2]}, 2),
    ({"$sortArray": {"input": "$l", "sortBy": 1}}, [1, 2, 3]),
    ({"$mergeObjects": ["$o", {"b": 3}]}, {"a": 1, "b": 3}),
    ({"$objectToArray": "$o"}, [{"k": "a", "v": 1}, {"k": "b", "v": 2}]),
    ({"$arrayToObject": [[["x", 1]]]}, {"x": 1}),
    ({"$getField": "i"}, 7),
    # types and conversion
    ({"$type": "$l"}, "array"),
    ({"$type": "$missing"}, "missing"),
    ({"$isNumber": "$s"}, False),
    ({"$toString": "$i"}, "7"),
    ({"$toInt": "42"}, 42),
    ({"$toLong": "$i"}, Int64(7)),
    ({"$toDouble": "$i"}, 7.0),
    ({"$toBool": 0}, False),
    ({"$convert": {"input": "x", "to": "int", "onError": -1}}, -1),
    # dates
    ({"$year": "$d"}, 2024),
    ({"$month": "$d"}, 3),
    ({"$dayOfWeek": "$d"}, 3),  # 5 March 2024 was a Tuesday; Sunday is 1
    ({"$hour": "$d"}, 14),
    ({"$millisecond": "$d"}, 250),
    ({"$dateToString": {"date": "$d", "format": "%Y-%m-%d"}}, "2024-03-05"),
    ({"$dateFromString": {"dateString": "2024-03-05T00:00:00Z"}}, datetime.datetime(2024, 3, 5)),
]


@pytest.fixture
def one_doc(db: Database[Any]) -> Any:
    db.e.insert_one(DOC)
    return db.e


@pytest.mark.parametrize(
    ("expression", "value"), EXPRESSIONS, ids=[repr(e) for e, _ in EXPRESSIONS]
)
def test_expression_operators(one_doc: Any, expression: Any, value: Any) -> None:
    [result] = one_doc.aggregate([{"$project": {"_id": 0, "v": expression}}])
    assert result == {"v": value}
    assert type(result["v"]) is type(value)


def test_a_missing_result_leaves_the_field_out(one_doc: Any) -> None:
    [result] = one_doc.aggregate([{"$project": {"_id": 0, "v": "$missing", "w": "$i"}}])
    assert result == {"w": 7}


def test_expr_filters_with_expressions(one_doc: Any) -> None:
    assert one_doc.count_documents({"$expr": {"$eq": [{"$size": "$l"}, 3]}}) == 1
    assert one_doc.count_documents({"$expr": {"$lt": ["$i", "$f"]}}) == 0


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        ({"$frobnicate": 1}, 168),
        ({"$add": [1], "$subtract": [1, 1]}, 15983),
        ({"$concat": ["$s", 1]}, 16702),
        ({"$size": "$i"}, 17124),
        ({"$divide": [1, 0]}, 2),
        ({"$sqrt": -1}, 28714),
        ({"$switch": {"branches": [{"case": False, "then": 1}]}}, 40066),
        ({"$toInt": 2**40}, 241),
        ({"$multiply": ["$$nope", 1]}, 17276),
    ],
)
def test_invalid_expressions_are_errors(one_doc: Any, expression: Any, code: int) -> None:
    with pytest.raises(OperationFailure) as info:
        list(one_doc.aggregate([{"$project": {"v": expression}}]))
    assert info.value.code == code
