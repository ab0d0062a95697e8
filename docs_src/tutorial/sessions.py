"""Tutorial step 4: sessions group operations, transactions make them all-or-nothing."""

import asyncio
import contextlib
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient

from odmantic_fastapi import AIOEngine, AIOSession, AIOTransaction, Model
from odmantic_fastapi.embedded import EmbeddedServer


class Wallet(Model):
    owner: str
    balance: int  # in cents: money is never a float


class Payment(Model):
    source: ObjectId
    target: ObjectId
    amount: int


class InsufficientFunds(Exception):
    pass


# --8<-- [start:session]
async def open_wallets(engine: AIOEngine, owners: list[str]) -> int:
    async with engine.session() as session:
        for owner in owners:
            await engine.save(Wallet(owner=owner, balance=0), session=session)
        # The same session reads its own writes, even from a secondary.
        return await engine.count(Wallet, session=session)
    # Leaving the block ends the session on the server.


# --8<-- [end:session]


# --8<-- [start:transaction]
async def pay(engine: AIOEngine, source: str, target: str, amount: int) -> Payment:
    async with engine.transaction() as txn:
        payer = await engine.find_one(Wallet, Wallet.owner == source, session=txn)
        payee = await engine.find_one(Wallet, Wallet.owner == target, session=txn)
        assert payer is not None and payee is not None
        if payer.balance < amount:
            raise InsufficientFunds(source)  # the block aborts: nothing is written
        payer.model_update(balance=payer.balance - amount)
        payee.model_update(balance=payee.balance + amount)
        payment = Payment(source=payer.id, target=payee.id, amount=amount)
        await engine.save_all([payer, payee, payment], session=txn)
        return payment
    # Leaving the block normally commits the three writes together.


# --8<-- [end:transaction]


# --8<-- [start:retry]
async def deposit(engine: AIOEngine, owner: str, amount: int) -> int:
    async def credit(txn: AIOTransaction) -> int:
        wallet = await engine.find_one(Wallet, Wallet.owner == owner, session=txn)
        assert wallet is not None
        wallet.model_update(balance=wallet.balance + amount)
        await engine.save(wallet, session=txn)
        return wallet.balance

    # On a write conflict the whole callback runs again, on fresh reads.
    return await engine.run_transaction(credit)


# --8<-- [end:retry]


# --8<-- [start:helper]
async def rename(engine: AIOEngine, old: str, new: str, session: AIOSession | None = None) -> None:
    """Works alone, or as part of the caller's session or transaction."""
    wallet = await engine.find_one(Wallet, Wallet.owner == old, session=session)
    assert wallet is not None
    wallet.model_update(owner=new)
    await engine.save(wallet, session=session)


# --8<-- [end:helper]


async def main(mongodb_url: str, database: str = "tutorial") -> dict[str, int]:
    async with AsyncMongoClient[dict[str, Any]](mongodb_url) as client:
        engine = AIOEngine(client, database=database)
        assert await open_wallets(engine, ["ada", "grace"]) == 2
        assert await deposit(engine, "ada", 10_000) == 10_000
        await pay(engine, "ada", "grace", 2_500)
        with contextlib.suppress(InsufficientFunds):
            await pay(engine, "grace", "ada", 1_000_000)  # refused: rolled back, nothing written
        async with engine.transaction() as txn:
            await rename(engine, "grace", "hopper", session=txn)
        assert await engine.count(Payment) == 1
        return {w.owner: w.balance for w in await engine.find(Wallet)}


if __name__ == "__main__":
    # An embedded server for this run; pass your own server's URL to main() instead.
    with EmbeddedServer() as server:
        print(asyncio.run(main(server.url)))
