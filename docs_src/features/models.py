"""The models the feature examples share."""

from odmantic_fastapi import Field, Model, Reference


class Owner(Model):
    name: str
    email: str = Field(unique=True)


class Account(Model):
    owner: Owner = Reference()
    currency: str
    balance: int = 0
    tags: list[str] = []
