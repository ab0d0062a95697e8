"""Code written for ODMantic 1.1's documented API; only the imports name odmantic_fastapi.

Everything below uses ODMantic's own spellings (``from odmantic import ...`` became
``from odmantic_fastapi import ...``) and checks the outcomes ODMantic documents.
"""

from typing import Any

import pytest
from pydantic import BaseModel

from odmantic_fastapi import AIOEngine, EmbeddedModel, Field, Index, Model, Reference, SyncEngine
from odmantic_fastapi.exceptions import DocumentNotFoundError, DuplicateKeyError
from odmantic_fastapi.query import asc, desc


class Publisher(Model):
    name: str
    founded: int = Field(ge=1440)
    location: str | None = None


class Book(Model):
    title: str
    pages: int
    publisher: Publisher = Reference()


class CapitalCity(EmbeddedModel):
    name: str
    population: int


class Country(Model):
    name: str = Field(unique=True)
    currency: str
    capital_city: CapitalCity


class Player(Model):
    name: str
    level: int = Field(default=1, ge=1)

    model_config = {"indexes": lambda: [Index(Player.name, desc(Player.level), name="name_level")]}


async def test_create_find_update_delete(aio_engine: AIOEngine) -> None:
    hachette = Publisher(name="Hachette Livre", founded=1826, location="FR")
    harper = Publisher(name="HarperCollins", founded=1989, location="US")
    books = [
        Book(title="They Didn't See Us Coming", pages=304, publisher=hachette),
        Book(title="This Isn't Happening", pages=256, publisher=hachette),
        Book(title="Prodigal Summer", pages=464, publisher=harper),
    ]
    await aio_engine.save_all(books)
    assert await aio_engine.count(Publisher) == 2

    by_hachette = await aio_engine.find(Book, Book.publisher == hachette.id)
    assert {b.title for b in by_hachette} == {"They Didn't See Us Coming", "This Isn't Happening"}
    assert all(b.publisher == hachette for b in by_hachette)

    long_ones = await aio_engine.find(Book, Book.pages > 300, sort=desc(Book.pages))
    assert [b.pages for b in long_ones] == [464, 304]

    cheapest = await aio_engine.find_one(Book, sort=asc(Book.pages))
    assert cheapest is not None and cheapest.pages == 256

    harper.location = "UK"
    await aio_engine.save(harper)
    reloaded = await aio_engine.find_one(Publisher, Publisher.name == "HarperCollins")
    assert reloaded is not None and reloaded.location == "UK"

    class PublisherPatch(BaseModel):
        founded: int | None = None
        location: str | None = None

    reloaded.model_update(PublisherPatch(founded=1990))
    await aio_engine.save(reloaded)
    again = await aio_engine.find_one(Publisher, Publisher.id == harper.id)
    assert again is not None and (again.founded, again.location) == (1990, "UK")

    await aio_engine.delete(books[0])
    assert await aio_engine.count(Book) == 2
    with pytest.raises(DocumentNotFoundError):
        await aio_engine.delete(books[0])
    assert await aio_engine.remove(Book, Book.pages < 300) == 1
    assert await aio_engine.remove(Book, just_one=True) == 1


async def test_async_iteration_skip_and_limit(aio_engine: AIOEngine) -> None:
    await aio_engine.save_all([Player(name=f"p{i}", level=i + 1) for i in range(10)])
    names = [p.name async for p in aio_engine.find(Player, sort=Player.level, skip=2, limit=3)]
    assert names == ["p2", "p3", "p4"]
    with pytest.raises(ValueError):
        aio_engine.find(Player, limit=0)


async def test_embedded_models_and_unique_indexes(aio_engine: AIOEngine) -> None:
    await aio_engine.configure_database([Country, Player])
    await aio_engine.save(
        Country(
            name="Sweden",
            currency="SEK",
            capital_city=CapitalCity(name="Stockholm", population=975_904),
        )
    )
    found = await aio_engine.find_one(Country, Country.capital_city.name == "Stockholm")
    assert found is not None and found.capital_city.population == 975_904
    with pytest.raises(DuplicateKeyError):
        await aio_engine.save(
            Country(name="Sweden", currency="EUR", capital_city=CapitalCity(name="X", population=1))
        )
    indexes = await aio_engine.get_collection(Player).index_information()
    assert "name_level" in indexes


async def test_only_modified_fields_are_written(aio_engine: AIOEngine) -> None:
    player = Player(name="leeroy", level=3)
    await aio_engine.save(player)
    stored = await aio_engine.find_one(Player, Player.id == player.id)
    assert stored is not None
    # Someone else changes the name; our save of the level must not overwrite it.
    await aio_engine.get_collection(Player).update_one(
        {"_id": player.id}, {"$set": {"name": "jenkins"}}
    )
    stored.level = 4
    await aio_engine.save(stored)
    raw: Any = await aio_engine.get_collection(Player).find_one({"_id": player.id})
    assert (raw["name"], raw["level"]) == ("jenkins", 4)


def test_sync_engine_has_the_same_surface(sync_engine: SyncEngine) -> None:
    sync_engine.configure_database([Player])
    sync_engine.save_all([Player(name="a", level=2), Player(name="b")])
    assert [p.name for p in sync_engine.find(Player, Player.level >= 1, sort=Player.name)] == [
        "a",
        "b",
    ]
    found = sync_engine.find_one(Player, Player.name == "b")
    assert found is not None and found.level == 1
    assert sync_engine.count(Player, Player.level > 1) == 1
    sync_engine.delete(found)
    assert sync_engine.remove(Player) == 1
