"""Features: optimistic concurrency with a revision field."""

from bson import ObjectId

from odmantic_fastapi import AIOEngine, Model, RevisionConflictError


class Wallet(Model):
    balance: int
    revision: int = 0
    model_config = {"revision_field": "revision"}


async def withdraw(engine: AIOEngine, wallet_id: ObjectId, amount: int) -> bool:
    wallet = await engine.find_one(Wallet, Wallet.id == wallet_id)
    assert wallet is not None
    wallet.balance -= amount
    try:
        await engine.save(wallet)
    except RevisionConflictError:
        return False  # someone saved it meanwhile: read again and retry
    return True
