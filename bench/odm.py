"""ODM cost in memory: parse 10k driver documents into models and dump 10k models to documents.

Usage: ``python -m bench.odm [--quick|--full]``; writes bench/results/odm.json.
Every contender turns the same 10k documents (decoded once by bson, as the
driver hands them over) into objects and back, with no server in the timed
part. The floor is a plain pydantic model with the same fields, given the
same data with ``_id`` already renamed to ``id``. Contenders are timed in
turn, round after round, and each figure is the median of its rounds.
Beanie refuses to build a Document before ``init_beanie``, so it is
initialised once against an embedded server first; its parse is
``beanie.odm.utils.parsing.parse_obj`` and its dump ``get_dict(to_db=True)``,
the calls its find and insert make.
"""

import argparse
import asyncio
import statistics
from collections.abc import Callable
from typing import Any

import beanie
from beanie.odm.utils.dump import get_dict
from beanie.odm.utils.parsing import parse_obj
from pymongo import AsyncMongoClient

from odmantic_fastapi.embedded import ServerProcess

from ._common import machine, timed, write_results
from ._models import BEANIE_MODELS, BeanieBook, Book, OdmanticBook, PlainBook, book_documents

__all__ = ["CONTENDERS", "N", "run"]

N = 10_000
CONTENDERS = ("plain pydantic", "odmantic_fastapi", "ODMantic 1.1", "Beanie 2.x")


async def _init_beanie() -> None:
    with ServerProcess() as server:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(server.url)
        await beanie.init_beanie(database=client.bench_odm, document_models=BEANIE_MODELS)
        await client.close()


def _operations(
    docs: list[dict[str, Any]],
) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """Each contender's (parse all, dump all) callables, on objects parsed once up front."""
    plain_input = [{**{k: v for k, v in d.items() if k != "_id"}, "id": d["_id"]} for d in docs]
    plain = [PlainBook.model_validate(d) for d in plain_input]
    ours = [Book.model_validate_doc(d) for d in docs]
    theirs = [OdmanticBook.model_validate_doc(d) for d in docs]
    beanies = [parse_obj(BeanieBook, d) for d in docs]
    return {
        "plain pydantic": (
            lambda: [PlainBook.model_validate(d) for d in plain_input],
            lambda: [o.model_dump() for o in plain],
        ),
        "odmantic_fastapi": (
            lambda: [Book.model_validate_doc(d) for d in docs],
            lambda: [o.model_dump_doc() for o in ours],
        ),
        "ODMantic 1.1": (
            lambda: [OdmanticBook.model_validate_doc(d) for d in docs],
            lambda: [o.model_dump_doc() for o in theirs],
        ),
        "Beanie 2.x": (
            lambda: [parse_obj(BeanieBook, d) for d in docs],
            lambda: [get_dict(o, to_db=True) for o in beanies],  # type: ignore[arg-type]  # parse_obj is typed as returning BaseModel
        ),
    }


def run(quick: bool) -> dict[str, Any]:
    """Measure, and return the results as written to odm.json."""
    repeats = 5 if quick else 15
    asyncio.run(_init_beanie())
    docs = book_documents(N)
    for parse, dump in _operations(docs[:500]).values():  # warm up: first calls build validators
        parse()
        dump()
    operations = _operations(docs)
    times: dict[str, dict[str, list[float]]] = {
        name: {"parse": [], "dump": []} for name in CONTENDERS
    }
    for _ in range(repeats):
        for name, (parse, dump) in operations.items():
            times[name]["parse"].append(timed(parse))
            times[name]["dump"].append(timed(dump))
    floor = {kind: statistics.median(times["plain pydantic"][kind]) for kind in ("parse", "dump")}
    contenders: dict[str, Any] = {}
    for name in CONTENDERS:
        parse_s = statistics.median(times[name]["parse"])
        dump_s = statistics.median(times[name]["dump"])
        contenders[name] = {
            "parse_s": parse_s,
            "dump_s": dump_s,
            "parse_ratio_to_pydantic": parse_s / floor["parse"],
            "dump_ratio_to_pydantic": dump_s / floor["dump"],
            "parse_runs_s": times[name]["parse"],
            "dump_runs_s": times[name]["dump"],
        }
    ours, odmantic = contenders["odmantic_fastapi"], contenders["ODMantic 1.1"]
    return {
        "mode": "quick" if quick else "full",
        "machine": machine(),
        "documents": N,
        "repeats": repeats,
        "contenders": contenders,
        "parse_speedup_over_odmantic": odmantic["parse_s"] / ours["parse_s"],
        "dump_speedup_over_odmantic": odmantic["dump_s"] / ours["dump_s"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="5 rounds (the default)")
    mode.add_argument("--full", action="store_true", help="15 rounds")
    args = parser.parse_args()
    results = run(quick=not args.full)
    path = write_results("odm", results)
    for name, value in results["contenders"].items():
        print(
            f"{name:18s} parse {value['parse_s'] * 1000:7.1f} ms ({value['parse_ratio_to_pydantic']:.2f}x)"
            f"  dump {value['dump_s'] * 1000:7.1f} ms ({value['dump_ratio_to_pydantic']:.2f}x)"
        )
    print(f"parse {results['parse_speedup_over_odmantic']:.2f}x faster than ODMantic 1.1")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
