"""Features: a model's changes as typed events, and resuming where a stream stopped."""

from typing import Any

from odmantic_fastapi import AIOEngine, Model


class Price(Model):
    symbol: str
    cents: int


async def next_prices(
    engine: AIOEngine, symbol: str, count: int, resume_after: dict[str, Any] | None = None
) -> tuple[list[int], dict[str, Any] | None]:
    """The next ``count`` prices of ``symbol``, and where to resume from afterwards."""
    prices: list[int] = []
    async with engine.watch(Price, Price.symbol == symbol, resume_after=resume_after) as stream:
        async for event in stream:  # ChangeEvent[Price]
            if event.document is not None:
                prices.append(event.document.cents)
            if len(prices) == count:
                break
        return prices, stream.resume_token
