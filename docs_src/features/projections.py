"""Features: read part of each document, into a lighter model or as dicts."""

from typing import Any

from pydantic import BaseModel

from docs_src.features.models import Owner
from odmantic_fastapi import AIOEngine


# --8<-- [start:model]
class OwnerName(BaseModel):
    name: str


async def owner_names(engine: AIOEngine) -> tuple[list[OwnerName], OwnerName | None]:
    names = await engine.find(Owner, Owner.name != "", projection=OwnerName)
    one = await engine.find_one(Owner, Owner.email == "ann@example.com", projection=OwnerName)
    return names, one


# --8<-- [end:model]


# --8<-- [start:fields]
async def owner_documents(engine: AIOEngine) -> list[dict[str, Any]]:
    return await engine.find(Owner, projection=[Owner.name, Owner.email])


# --8<-- [end:fields]
