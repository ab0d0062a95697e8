"""Features: an aggregation pipeline with typed results."""

from pydantic import BaseModel, Field

from docs_src.features.models import Account
from odmantic_fastapi import AIOEngine


class CurrencyTotal(BaseModel):
    currency: str = Field(alias="_id")
    total: int


async def totals_by_currency(engine: AIOEngine) -> list[CurrencyTotal]:
    return await engine.aggregate(
        Account,
        [Account.balance > 0, {"$group": {"_id": "$currency", "total": {"$sum": "$balance"}}}],
        output=CurrencyTotal,
    )
