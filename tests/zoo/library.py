"""A small library domain: books, their publishers and embedded addresses."""

import datetime
import enum

from odmantic_fastapi import EmbeddedModel, Field, Index, Model, Reference
from odmantic_fastapi.query import desc


class Genre(enum.Enum):
    NOVEL = "novel"
    ESSAY = "essay"


class Address(EmbeddedModel):
    city: str
    zip_code: str = Field(key_name="zip")


class Publisher(Model):
    name: str = Field(unique=True)
    address: Address | None = None


class Book(Model):
    title: str
    year: int = Field(index=True)
    pages: int = Field(default=100, key_name="n_pages", ge=1)
    genre: Genre = Genre.NOVEL
    tags: list[str] = []
    published: datetime.datetime = Field(default_factory=datetime.datetime.now)
    publisher: Publisher = Reference()

    model_config = {
        "collection": "books",
        "indexes": lambda: [Index(Book.title, desc(Book.year), name="title_year")],
    }
