"""ODM cost: parse and dump 10k documents in memory, and find 10k through the embedded server.

Usage: ``python bench/odm.py [--quick]``; writes bench/results/odm.json.
In memory, each contender turns the same 10k driver documents (decoded once
by bson) into objects and back; the floor is a plain pydantic model with the
same fields. Over the wire, odmantic_fastapi's find is compared with raw
pymongo async reading the same 10k documents from the same server.
Contenders that are not installed (ODMantic 1.1) are reported as skipped.
"""

import argparse
import asyncio
import datetime
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bson
from pydantic import BaseModel

from odmantic_fastapi import AIOEngine, Field, Model
from odmantic_fastapi.embedded import ServerProcess

RESULTS = Path(__file__).parent / "results"
N = 10_000


class PlainBook(BaseModel):
    id: bson.ObjectId = Field(default_factory=bson.ObjectId)
    title: str
    year: int
    price: float
    tags: list[str]
    published: datetime.datetime

    model_config = {"arbitrary_types_allowed": True}


class Book(Model):
    title: str
    year: int
    price: float
    tags: list[str]
    published: datetime.datetime


def documents() -> list[dict[str, Any]]:
    raw = [
        {
            "_id": bson.ObjectId(),
            "title": f"Book {i}",
            "year": 1900 + i % 120,
            "price": i * 0.5,
            "tags": ["a", "b", str(i % 7)],
            "published": datetime.datetime(2020, 1, 1, 12, 0, 0, 123000),
        }
        for i in range(N)
    ]
    # Decode once through bson, as documents come from the driver.
    return [bson.decode(bson.encode(d)) for d in raw]


def median_seconds(run: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def in_memory(repeats: int) -> dict[str, Any]:
    docs = documents()
    plain_input = [{**{k: v for k, v in d.items() if k != "_id"}, "id": d["_id"]} for d in docs]
    results: dict[str, Any] = {}
    plain_parse = median_seconds(
        lambda: [PlainBook.model_validate(d) for d in plain_input], repeats
    )
    plain_objs = [PlainBook.model_validate(d) for d in plain_input]
    plain_dump = median_seconds(lambda: [o.model_dump() for o in plain_objs], repeats)
    ours_parse = median_seconds(lambda: [Book.model_validate_doc(d) for d in docs], repeats)
    ours_objs = [Book.model_validate_doc(d) for d in docs]
    ours_dump = median_seconds(lambda: [o.model_dump_doc() for o in ours_objs], repeats)
    results["plain pydantic"] = {"parse_s": plain_parse, "dump_s": plain_dump}
    results["odmantic_fastapi"] = {"parse_s": ours_parse, "dump_s": ours_dump}
    try:
        import odmantic

        class OBook(odmantic.Model):
            title: str
            year: int
            price: float
            tags: list[str]
            published: datetime.datetime

        o_parse = median_seconds(lambda: [OBook.model_validate_doc(d) for d in docs], repeats)
        o_objs = [OBook.model_validate_doc(d) for d in docs]
        o_dump = median_seconds(lambda: [o.model_dump_doc() for o in o_objs], repeats)
        results["odmantic 1.1"] = {"parse_s": o_parse, "dump_s": o_dump}
    except ImportError:
        results["odmantic 1.1"] = "skipped: not installed"
    for value in results.values():
        if isinstance(value, dict):
            value["parse_ratio_to_pydantic"] = value["parse_s"] / plain_parse
            value["dump_ratio_to_pydantic"] = value["dump_s"] / plain_dump
    return results


async def over_the_wire(repeats: int) -> dict[str, Any]:
    from pymongo import AsyncMongoClient

    with ServerProcess() as server:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.url)
        engine = AIOEngine(client, database="bench")
        await client.bench.book.insert_many(documents())
        raw_times, odm_times = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            raw = await client.bench.book.find({}).to_list(None)
            raw_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            books = await engine.find(Book)
            odm_times.append(time.perf_counter() - start)
            assert len(raw) == len(books) == N
        await client.close()
    raw_s, odm_s = statistics.median(raw_times), statistics.median(odm_times)
    return {
        "raw pymongo async find 10k": raw_s,
        "odmantic_fastapi find 10k": odm_s,
        "ratio": odm_s / raw_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 5 if args.quick else 9
    results = {"documents": N, "repeats": repeats, "in_memory": in_memory(repeats)}
    results["find"] = asyncio.run(over_the_wire(3 if args.quick else 5))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "odm.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
