"""Tutorial step 4, synchronous: the same sessions and transactions with SyncEngine."""

from typing import Any

from pymongo import MongoClient

from docs_src.tutorial.sessions import InsufficientFunds, Payment, Wallet
from odmantic_fastapi import SyncEngine
from odmantic_fastapi.embedded import EmbeddedServer


def pay(engine: SyncEngine, source: str, target: str, amount: int) -> Payment:
    with engine.transaction() as txn:
        payer = engine.find_one(Wallet, Wallet.owner == source, session=txn)
        payee = engine.find_one(Wallet, Wallet.owner == target, session=txn)
        assert payer is not None and payee is not None
        if payer.balance < amount:
            raise InsufficientFunds(source)
        payer.model_update(balance=payer.balance - amount)
        payee.model_update(balance=payee.balance + amount)
        payment = Payment(source=payer.id, target=payee.id, amount=amount)
        engine.save_all([payer, payee, payment], session=txn)
        return payment


def main(mongodb_url: str, database: str = "tutorial") -> dict[str, int]:
    with MongoClient[dict[str, Any]](mongodb_url) as client:
        engine = SyncEngine(client, database=database)
        with engine.session() as session:
            wallets = [Wallet(owner="ada", balance=500), Wallet(owner="grace", balance=0)]
            engine.save_all(wallets, session=session)
            assert engine.count(Wallet, session=session) == 2
        pay(engine, "ada", "grace", 200)
        return {w.owner: w.balance for w in engine.find(Wallet)}


if __name__ == "__main__":
    with EmbeddedServer() as server:
        print(main(server.url))
