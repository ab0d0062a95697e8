"""Write concerns a one-member replica set cannot meet are refused, as MongoDB refuses them."""

from typing import Any

import pytest
from pymongo.database import Database
from pymongo.errors import OperationFailure
from pymongo.write_concern import WriteConcern


@pytest.mark.parametrize(
    ("w", "code"), [(2, 100), (10, 100), ("bogus", 79)], ids=["w2", "w10", "unknown-mode"]
)
def test_unsatisfiable_write_concern_is_refused_and_nothing_is_written(
    db: Database[Any], w: int | str, code: int
) -> None:
    things = db.get_collection("things", write_concern=WriteConcern(w=w))
    with pytest.raises(OperationFailure) as refused:
        things.insert_one({"_id": 1})
    assert refused.value.code == code
    assert db.things.count_documents({}) == 0


@pytest.mark.parametrize("w", [0, 1, "majority"])
def test_satisfiable_write_concerns_are_accepted(db: Database[Any], w: int | str) -> None:
    db.get_collection("things", write_concern=WriteConcern(w=w)).insert_one({"_id": 1})
    assert db.things.find_one({"_id": 1}) == {"_id": 1}


def test_create_index_with_an_unknown_write_concern_mode_is_refused(db: Database[Any]) -> None:
    with pytest.raises(OperationFailure) as refused:
        db.command(
            "createIndexes",
            "things",
            indexes=[{"key": {"a": 1}, "name": "a_1"}],
            writeConcern={"w": "bogus"},
        )
    assert refused.value.code == 79
