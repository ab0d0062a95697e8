"""ODMantic 1.1 behaviours checked over the wire: what is stored, and what comes back."""

import re
import typing
from typing import Annotated

from odmantic_fastapi import AIOEngine, Model, SyncEngine
from odmantic_fastapi.bson import WithBsonSerializer


class Rule(Model):
    pattern: typing.Pattern  # type: ignore[type-arg]  # the bare typing alias is what is tested


async def test_typing_pattern_field_is_stored_as_regex_and_read_back(aio_engine: AIOEngine) -> None:
    rule = await aio_engine.save(Rule(pattern=re.compile(r"^a.c$", re.IGNORECASE)))
    raw = await aio_engine.get_collection(Rule).find_one(
        {"_id": rule.id, "pattern": {"$type": "regex"}}
    )
    assert raw is not None
    again = Rule(pattern=raw["pattern"])  # a bson Regex from the driver
    assert again.pattern.pattern == "^a.c$" and again.pattern.flags & re.IGNORECASE
    found = await aio_engine.find_one(Rule, Rule.id == rule.id)
    assert found is not None and found.pattern.pattern == "^a.c$"


class Reading(Model):
    value: Annotated[float, WithBsonSerializer(str)]


def test_with_bson_serializer_value_is_stored_as_serialized(sync_engine: SyncEngine) -> None:
    reading = sync_engine.save(Reading(value=3.25))
    raw = sync_engine.get_collection(Reading).find_one(
        {"_id": reading.id, "value": {"$type": "string"}}
    )
    assert raw is not None and raw["value"] == "3.25"
    assert Reading.model_validate_doc(raw).value == 3.25
