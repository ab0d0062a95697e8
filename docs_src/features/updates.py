"""Features: update by query, built from the model's fields."""

from docs_src.features.models import Account
from odmantic_fastapi import AIOEngine
from odmantic_fastapi.update import inc, push


async def promote_euro_accounts(engine: AIOEngine) -> int:
    return await engine.update(
        Account,
        Account.currency == "EUR",
        update=inc(Account.balance, 5) & push(Account.tags, "promo"),
    )
