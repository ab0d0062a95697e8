"""The demo's POST /transfers written by hand on pymongo's AsyncMongoClient: the HTTP benchmark's baseline.

Run: ``MONGODB_URL=... MONGODB_DATABASE=... python -m bench.raw_transfer_app --port 8001``.
It reads and writes the demo's own collections (owner, account, transfer), so
the benchmark sets the data up once through the demo and drives both apps
with the same requests. Like the demo it authenticates the bearer token (a
SHA-256 lookup outside the transaction), then in one transaction with the
demo's options (snapshot reads, majority commit) reads both accounts, checks
currencies and funds, updates both balances and inserts the transfer record;
leaving the ``async with`` commits, an exception aborts. uvicorn is started
as ``python -m demo_app`` starts it (same host, log level, no extras).
"""

import argparse
import datetime
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import uvicorn
from bson import ObjectId
from bson.errors import InvalidId
from fastapi import FastAPI, Header, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from pymongo import AsyncMongoClient
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

__all__ = ["TransferIn", "TransferOut", "create_app", "main"]

MAX_AMOUNT = 10**12
MAX_BALANCE = 10**15


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    from_account: str
    to_account: str
    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT)


class TransferOut(BaseModel):
    id: str
    kind: Literal["transfer"]
    from_account: str
    to_account: str
    amount: int
    currency: str
    created_at: datetime.datetime


def _object_id(value: str) -> ObjectId:
    try:
        return ObjectId(value)
    except InvalidId:
        raise HTTPException(422, f"{value!r} is not an ObjectId") from None


def create_app(url: str, database: str) -> FastAPI:
    """The one-route app, on a client opened for the app's lifetime."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
        app.state.client = client
        app.state.db = client[database]
        try:
            yield
        finally:
            await client.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/transfers", status_code=status.HTTP_201_CREATED, response_model=TransferOut)
    async def transfer(
        body: TransferIn,
        request: Request,
        authorization: Annotated[str | None, Header()] = None,
    ) -> TransferOut:
        client: AsyncMongoClient[dict[str, Any]] = request.app.state.client
        db = request.app.state.db
        scheme, _, token = (authorization or "").partition(" ")
        owner = None
        if scheme.lower() == "bearer" and token:
            token_hash = hashlib.sha256(token.encode()).hexdigest()
            owner = await db.owner.find_one({"token_hash": token_hash})
        if owner is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Invalid token")
        source_id, target_id = _object_id(body.from_account), _object_id(body.to_account)
        if source_id == target_id:
            raise HTTPException(422, "Cannot transfer to the same account")
        async with (
            client.start_session() as session,
            await session.start_transaction(
                read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
            ),
        ):
            source = await db.account.find_one(
                {"_id": source_id, "owner_id": owner["_id"]}, session=session
            )
            target = await db.account.find_one(
                {"_id": target_id, "owner_id": owner["_id"]}, session=session
            )
            if source is None or target is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, "Account not found")
            if source["currency"] != target["currency"]:
                raise HTTPException(422, "Currency mismatch")
            if source["balance"] < body.amount:
                raise HTTPException(status.HTTP_409_CONFLICT, "Insufficient funds")
            if target["balance"] + body.amount > MAX_BALANCE:
                raise HTTPException(422, f"Balance would exceed {MAX_BALANCE}")
            await db.account.update_one(
                {"_id": source_id},
                {"$set": {"balance": source["balance"] - body.amount}},
                session=session,
            )
            await db.account.update_one(
                {"_id": target_id},
                {"$set": {"balance": target["balance"] + body.amount}},
                session=session,
            )
            record = {
                "_id": ObjectId(),
                "owner_id": owner["_id"],
                "kind": "transfer",
                "from_account": source_id,
                "to_account": target_id,
                "amount": body.amount,
                "currency": source["currency"],
                "created_at": datetime.datetime.now(datetime.UTC),
            }
            await db.transfer.insert_one(record, session=session)
        return TransferOut(
            id=str(record["_id"]),
            kind="transfer",
            from_account=str(source_id),
            to_account=str(target_id),
            amount=body.amount,
            currency=source["currency"],
            created_at=record["created_at"],
        )

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    app = create_app(os.environ["MONGODB_URL"], os.environ.get("MONGODB_DATABASE", "bank"))
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")


if __name__ == "__main__":
    main()
