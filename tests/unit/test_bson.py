"""BSON field types: what they accept, what they refuse and how they report it."""

import datetime
import decimal
import re
from typing import Any

import pytest
from bson import Decimal128
from bson.regex import Regex as BsonRegex
from pydantic import ValidationError

from odmantic_fastapi import Model
from odmantic_fastapi.bson import Regex

UTC_PLUS_2 = datetime.timezone(datetime.timedelta(hours=2))


class Stamp(Model):
    at: datetime.datetime


def test_datetimes_are_naive_with_millisecond_precision() -> None:
    stamp = Stamp(at=datetime.datetime(2024, 1, 1, 12, 0, 0, 123456))
    assert stamp.at == datetime.datetime(2024, 1, 1, 12, 0, 0, 123000)


def test_an_aware_datetime_in_utc_is_kept_as_naive_utc() -> None:
    stamp = Stamp(at=datetime.datetime(2024, 1, 1, 12, tzinfo=datetime.UTC))
    assert stamp.at == datetime.datetime(2024, 1, 1, 12)
    assert Stamp.model_validate({"at": "2024-01-01T12:00:00Z"}).at == datetime.datetime(
        2024, 1, 1, 12
    )


@pytest.mark.parametrize(
    "moment",
    [datetime.datetime(2024, 1, 1, 12, tzinfo=UTC_PLUS_2), "2024-01-01T12:00:00+02:00"],
)
def test_a_datetime_with_a_non_utc_offset_is_refused(moment: Any) -> None:
    with pytest.raises(ValidationError, match="datetime objects must be naive"):
        Stamp.model_validate({"at": moment})


class Values(Model):
    money: decimal.Decimal
    exact: Decimal128
    regex: Regex
    pattern: re.Pattern  # type: ignore[type-arg]  # ODMantic's bare Pattern annotation


GOOD = {"money": "1.5", "exact": "2.5", "regex": "^a", "pattern": "^b"}


@pytest.mark.parametrize(
    ("field", "bad", "choices", "message"),
    [
        ("money", "3abcd.15", 3, "Value error, Invalid decimal string"),
        ("exact", "3abcd.15", 2, "Value error, Invalid Decimal128 value"),
        ("regex", "^((", 3, "Value error, Invalid Pattern value"),
        ("pattern", "^((", 3, "Value error, Invalid Pattern value"),
    ],
)
def test_an_invalid_value_reports_each_form_its_field_accepts(
    field: str, bad: str, choices: int, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Values.model_validate({**GOOD, field: bad})
    errors = caught.value.errors()
    assert len(errors) == choices
    assert {error["loc"][0] for error in errors} == {field}
    assert message in [error["msg"] for error in errors]


def test_each_accepted_form_validates_to_the_field_type() -> None:
    values = Values.model_validate(
        {
            "money": Decimal128("1.25"),
            "exact": decimal.Decimal("2.5"),
            "regex": re.compile("^a"),
            "pattern": BsonRegex("^b"),
        }
    )
    assert values.money == decimal.Decimal("1.25")
    assert values.exact == Decimal128("2.5")
    assert isinstance(values.regex, BsonRegex) and values.regex.pattern == "^a"
    assert values.pattern == re.compile("^b")
    assert Values.model_validate({**GOOD, "money": 3}).money == decimal.Decimal(3)
    assert Values.model_validate({**GOOD, "money": 0.1}).money == decimal.Decimal("0.1")
