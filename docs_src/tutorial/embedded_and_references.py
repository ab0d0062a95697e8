"""Tutorial step 3: embedded models live inside a document, references point to another one."""

import asyncio
from typing import Any

from pymongo import AsyncMongoClient

from odmantic_fastapi import AIOEngine, EmbeddedModel, Model, Reference
from odmantic_fastapi.embedded import EmbeddedServer


class Address(EmbeddedModel):
    city: str
    country: str


class Publisher(Model):
    name: str
    address: Address  # stored inside the publisher's document


class Edition(Model):
    title: str
    year: int
    publisher: Publisher = Reference()  # stored as the publisher's id


async def main(mongodb_url: str, database: str = "tutorial") -> Edition:
    async with AsyncMongoClient[dict[str, Any]](mongodb_url) as client:
        engine = AIOEngine(client, database=database)

        chilton = Publisher(name="Chilton", address=Address(city="Philadelphia", country="US"))
        edition = Edition(title="Dune", year=1965, publisher=chilton)
        await engine.save(edition)  # saves the publisher too, then the edition

        # A query reaches into an embedded model with the same dotted attributes.
        in_philly = await engine.find_one(Publisher, Publisher.address.city == "Philadelphia")
        assert in_philly == chilton

        # Finding an edition loads its publisher from the other collection.
        found = await engine.find_one(Edition, Edition.title == "Dune")
        assert found is not None
        assert found.publisher.name == "Chilton"

        # The stored edition holds the reference, not a copy of the publisher.
        raw = await engine.get_collection(Edition).find_one({"_id": found.id})
        assert raw["publisher"] == chilton.id
        return found


if __name__ == "__main__":
    # An embedded server for this run; pass your own server's URL to main() instead.
    with EmbeddedServer() as server:
        print(asyncio.run(main(server.url)))
