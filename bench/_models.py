"""The same book and account, declared once per contender, and the documents they are read from."""

import datetime
import random
from typing import Any

import beanie
import bson
import odmantic
from pydantic import BaseModel, ConfigDict, Field

from odmantic_fastapi import Model

__all__ = [
    "BEANIE_MODELS",
    "BeanieAccount",
    "BeanieBook",
    "Book",
    "BookAccount",
    "OdmanticAccount",
    "OdmanticBook",
    "PlainBook",
    "StoredPlainBook",
    "book_documents",
]


class PlainBook(BaseModel):
    """The floor: plain pydantic, the same fields, no ODM."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    id: bson.ObjectId = Field(default_factory=bson.ObjectId)
    title: str
    year: int
    price: float
    tags: list[str]
    published: datetime.datetime


class StoredPlainBook(PlainBook):
    """Plain pydantic reading a stored document as it comes: ``_id`` validated into ``id``."""

    id: bson.ObjectId = Field(validation_alias="_id")


class Book(Model):
    title: str
    year: int
    price: float
    tags: list[str]
    published: datetime.datetime


class BookAccount(Model):
    balance: int

    model_config = {"collection": "account"}


class OdmanticBook(odmantic.Model):
    title: str
    year: int
    price: float
    tags: list[str]
    published: datetime.datetime

    model_config = {"collection": "book"}


class OdmanticAccount(odmantic.Model):
    balance: int

    model_config = {"collection": "account"}


class BeanieBook(beanie.Document):
    title: str
    year: int
    price: float
    tags: list[str]
    published: datetime.datetime

    class Settings:
        name = "book"


class BeanieAccount(beanie.Document):
    balance: int

    class Settings:
        name = "account"


BEANIE_MODELS: list[type[beanie.Document]] = [BeanieBook, BeanieAccount]


def book_documents(count: int, seed: int = 8) -> list[dict[str, Any]]:
    """``count`` book documents as the driver returns them: encoded and decoded once by bson."""
    rng = random.Random(seed)
    raw = [
        {
            "_id": bson.ObjectId(),
            "title": f"Book {i}",
            "year": 1900 + i % 120,
            "price": round(rng.uniform(1, 100), 2),
            "tags": ["a", "b", str(i % 7)],
            # Milliseconds only, as BSON stores dates.
            "published": datetime.datetime(2020, 1, 1, 12, 0, 0, 123000),
        }
        for i in range(count)
    ]
    return [bson.decode(bson.encode(d)) for d in raw]
