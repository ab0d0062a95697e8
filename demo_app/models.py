"""Stored documents and the API's request and response bodies."""

import datetime
from typing import Annotated, Generic, Literal, TypeVar

import pymongo
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

from odmantic_fastapi import Field as ODMField
from odmantic_fastapi import Index, Model, ObjectId
from odmantic_fastapi.query import desc

__all__ = [
    "MAX_AMOUNT",
    "MAX_BALANCE",
    "Account",
    "AccountIn",
    "AccountOut",
    "Amount",
    "AmountIn",
    "Currency",
    "IdempotencyRecord",
    "Owner",
    "OwnerIn",
    "OwnerOut",
    "Page",
    "Transfer",
    "TransferIn",
    "TransferOut",
]

# Money is an integer number of minor units (cents). Bounds keep every sum
# within int64 with room to spare.
MAX_AMOUNT = 10**12
MAX_BALANCE = 10**15

Currency = Literal["EUR", "USD", "GBP", "JPY", "CHF"]
Amount = Annotated[
    StrictInt,
    Field(
        gt=0, le=MAX_AMOUNT, description=f"Minor units (cents), 1 to {MAX_AMOUNT}", examples=[2500]
    ),
]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Owner(Model):
    name: str
    token_hash: str = ODMField(unique=True)
    created_at: datetime.datetime = ODMField(default_factory=_now)


class Account(Model):
    owner_id: ObjectId = ODMField(index=True)
    currency: Currency
    balance: int = 0
    created_at: datetime.datetime = ODMField(default_factory=_now)


class Transfer(Model):
    """One movement of money: a deposit, a withdrawal or a transfer between accounts."""

    owner_id: ObjectId
    kind: Literal["deposit", "withdrawal", "transfer"]
    from_account: ObjectId | None = None
    to_account: ObjectId | None = None
    amount: int
    currency: Currency
    created_at: datetime.datetime = ODMField(default_factory=_now)

    model_config = {
        "indexes": lambda: [
            Index(Transfer.from_account, desc(Transfer.created_at)),
            Index(Transfer.to_account, desc(Transfer.created_at)),
        ]
    }


class IdempotencyRecord(Model):
    """The first response to a request carrying an Idempotency-Key, kept for 24 hours."""

    owner_id: ObjectId
    key: str
    request_hash: str
    status_code: int
    body: dict[str, object]
    created_at: datetime.datetime = ODMField(default_factory=_now)

    model_config = {
        "collection": "idempotency_keys",
        "indexes": lambda: [
            Index(IdempotencyRecord.owner_id, IdempotencyRecord.key, unique=True),
            # Keys expire after 24 hours.
            pymongo.IndexModel([("created_at", pymongo.ASCENDING)], expireAfterSeconds=86_400),
        ],
    }


def _as_utc(moment: datetime.datetime) -> datetime.datetime:
    """MongoDB keeps naive UTC; responses say so, as RFC 3339 date-times must."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC)


UtcDatetime = Annotated[datetime.datetime, AfterValidator(_as_utc)]


class OwnerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "Ada"}]})
    name: str = Field(min_length=1, max_length=100)


class OwnerOut(BaseModel):
    id: str
    name: str
    token: str = Field(description="Bearer token; shown once, stored only as a hash")


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"currency": "EUR"}]})
    currency: Currency


class AccountOut(BaseModel):
    id: str
    currency: Currency
    balance: int
    created_at: UtcDatetime


class AmountIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"amount": 2500}]})
    amount: Amount


class TransferIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "from_account": "6560c9f0a1b2c3d4e5f60718",
                    "to_account": "6560c9f0a1b2c3d4e5f60719",
                    "amount": 1500,
                }
            ]
        },
    )
    from_account: ObjectId
    to_account: ObjectId
    amount: Amount


class TransferOut(BaseModel):
    id: str
    kind: Literal["deposit", "withdrawal", "transfer"]
    from_account: str | None
    to_account: str | None
    amount: int
    currency: Currency
    created_at: UtcDatetime


ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    offset: int
    limit: int
    total: int
