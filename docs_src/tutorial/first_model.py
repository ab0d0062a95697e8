"""Tutorial step 1: declare a model, save an instance, find it again."""

import asyncio
from typing import Any

from pymongo import AsyncMongoClient

from odmantic_fastapi import AIOEngine, Field, Model
from odmantic_fastapi.embedded import EmbeddedServer


class Book(Model):
    title: str
    author: str
    year: int = Field(ge=0)
    pages: int | None = None


async def main(mongodb_url: str, database: str = "tutorial") -> Book:
    async with AsyncMongoClient[dict[str, Any]](mongodb_url) as client:
        engine = AIOEngine(client, database=database)

        dune = Book(title="Dune", author="Frank Herbert", year=1965)
        await engine.save(dune)  # a new document in the "book" collection

        found = await engine.find_one(Book, Book.title == "Dune")
        assert found == dune  # the same fields, and the same id

        found.model_update(pages=412)
        await engine.save(found)  # sends only the modified field

        assert await engine.count(Book) == 1
        return found


if __name__ == "__main__":
    # An embedded server for this run; pass your own server's URL to main() instead.
    with EmbeddedServer() as server:
        print(asyncio.run(main(server.url)))
