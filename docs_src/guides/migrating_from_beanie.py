"""Guide: Beanie idioms written with odmantic_fastapi."""

from typing import Any

from pymongo import AsyncMongoClient

from odmantic_fastapi import AIOEngine, EmbeddedModel, Field, Index, Model, Reference, query
from odmantic_fastapi.update import inc, set_


class Address(EmbeddedModel):  # Beanie: a pydantic BaseModel field
    city: str


class Author(Model):  # Beanie: class Author(Document)
    name: str = Field(unique=True)  # Beanie: Indexed(str, unique=True)
    address: Address


class Post(Model):
    title: str = Field(index=True)  # Beanie: Indexed(str)
    likes: int = 0
    author: Author = Reference()  # Beanie: Link[Author], fetched with fetch_links=True

    model_config = {
        "collection": "posts",  # Beanie: class Settings: name = "posts"
        "indexes": lambda: [Index(Post.title, Post.likes)],
    }


async def main(mongodb_url: str, database: str = "blog") -> list[str]:
    async with AsyncMongoClient[dict[str, Any]](mongodb_url) as client:
        # Beanie: await init_beanie(database=client.blog, document_models=[Author, Post])
        engine = AIOEngine(client, database=database)
        await engine.configure_database([Author, Post])  # creates the declared indexes

        ada = Author(name="Ada", address=Address(city="London"))
        await engine.save(Post(title="Engines", author=ada))  # Beanie: await post.insert()
        await engine.save(Post(title="Notes", author=ada, likes=3))

        # Beanie: await Post.find(Post.likes >= 1).sort(-Post.likes).limit(10).to_list()
        liked = await engine.find(Post, Post.likes >= 1, sort=query.desc(Post.likes), limit=10)
        assert [p.title for p in liked] == ["Notes"]

        # Beanie: await Post.find_one(Post.title == "Engines", fetch_links=True)
        post = await engine.find_one(Post, Post.title == "Engines")
        assert post is not None and post.author.name == "Ada"

        # Beanie: await Post.find(Post.title == "Engines").update(Inc({Post.likes: 1}))
        await engine.update(Post, Post.title == "Engines", update=inc(Post.likes, 1))
        # Beanie: await post.set({Post.title: "Engines, revised"})
        await engine.update(Post, Post.id == post.id, update=set_(Post.title, "Engines, revised"))

        # Beanie: await post.delete()
        notes = await engine.find_one(Post, Post.title == "Notes")
        assert notes is not None
        await engine.delete(notes)

        return [f"{p.title}: {p.likes}" for p in await engine.find(Post)]
