"""Tutorial step 2: filter, sort, page through and remove documents."""

import asyncio
from typing import Any

from pymongo import AsyncMongoClient

from docs_src.tutorial.first_model import Book
from odmantic_fastapi import AIOEngine, query
from odmantic_fastapi.embedded import EmbeddedServer

BOOKS = [
    Book(title="Dune", author="Frank Herbert", year=1965),
    Book(title="Hyperion", author="Dan Simmons", year=1989),
    Book(title="Neuromancer", author="William Gibson", year=1984),
    Book(title="Foundation", author="Isaac Asimov", year=1951),
]


async def main(mongodb_url: str, database: str = "tutorial") -> list[str]:
    async with AsyncMongoClient[dict[str, Any]](mongodb_url) as client:
        engine = AIOEngine(client, database=database)
        await engine.save_all(BOOKS)  # one bulk write

        # A comparison on a field is a plain MongoDB filter (query.gt is its long form).
        assert query.gt(Book.year, 1980) == {"year": {"$gt": 1980}}

        recent = await engine.find(Book, Book.year > 1980, sort=Book.year)
        assert [b.title for b in recent] == ["Neuromancer", "Hyperion"]

        # Several conditions are joined with AND; query.or_ and friends combine them.
        eighties = await engine.find(Book, Book.year >= 1980, Book.year < 1990)
        assert len(eighties) == 2
        classics = query.or_(Book.year < 1960, query.in_(Book.author, ["Frank Herbert"]))
        assert await engine.count(Book, classics) == 2

        # Sort descending, skip the first one, keep two; iterate without a list.
        titles = []
        async for book in engine.find(Book, sort=query.desc(Book.year), skip=1, limit=2):
            titles.append(book.title)
        assert titles == ["Neuromancer", "Dune"]

        # Remove by query: returns how many documents went.
        assert await engine.remove(Book, Book.year < 1960) == 1
        return sorted(b.title for b in await engine.find(Book))


if __name__ == "__main__":
    # An embedded server for this run; pass your own server's URL to main() instead.
    with EmbeddedServer() as server:
        print(asyncio.run(main(server.url)))
