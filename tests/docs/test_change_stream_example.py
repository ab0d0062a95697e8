"""The change stream example of docs/features.md, against a real server."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from docs_src.features.change_streams import Price, next_prices
from odmantic_fastapi import AIOEngine


@pytest.fixture
async def engine(mongodb_url: str, mongodb_database_name: str) -> AsyncIterator[AIOEngine]:
    async with AsyncMongoClient[dict[str, Any]](mongodb_url) as client:
        yield AIOEngine(client, database=mongodb_database_name)


async def test_next_prices_sees_new_prices_and_resumes(engine: AIOEngine) -> None:
    async def publish() -> None:
        await asyncio.sleep(0.3)
        for symbol, cents in [("ACME", 100), ("OTHER", 1), ("ACME", 101), ("ACME", 102)]:
            await engine.save(Price(symbol=symbol, cents=cents))

    (prices, token), _ = await asyncio.gather(next_prices(engine, "ACME", 2), publish())
    assert prices == [100, 101]
    rest, _ = await next_prices(engine, "ACME", 1, resume_after=token)
    assert rest == [102]
