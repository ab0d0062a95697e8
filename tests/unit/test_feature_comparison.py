"""The comparison table in docs/features.md, checked against the installed ODMantic and Beanie.

Each row of the table has a check here for each library, so the table cannot
drift from what the installed versions do: a "no" is checked as absent as
firmly as a "yes" is checked as present.
"""

import asyncio
import importlib.metadata
import inspect
import pathlib
from typing import Any

import beanie
import beanie.operators
import odmantic
import odmantic.session
import pytest
from beanie.odm.bulk import BulkWriter
from beanie.odm.fields import Link, LinkTypes
from beanie.odm.queries.find import FindMany
from beanie.odm.settings.base import ItemSettings
from beanie.odm.settings.document import DocumentSettings

import odmantic_fastapi
import odmantic_fastapi._save_plan
from odmantic_fastapi import AIOEngine, SyncEngine

DOC = pathlib.Path(__file__).parents[2] / "docs" / "features.md"


def package_source(package: Any) -> str:
    root = pathlib.Path(package.__file__).parent
    return "\n".join(path.read_text() for path in sorted(root.rglob("*.py")))


def odmantic_rejects(annotation_source: str) -> bool:
    """Whether ODMantic refuses a Reference() field with this annotation."""
    namespace: dict[str, Any] = {"odmantic": odmantic}
    try:
        exec(
            "class Target(odmantic.Model):\n    name: str\n"
            f"class Holder(odmantic.Model):\n    ref: {annotation_source} = odmantic.Reference()\n",
            namespace,
        )
    except (TypeError, ValueError):
        return True
    return False


# feature -> (ours, ODMantic 1.1, Beanie 2.x); "yes", "no" or "partial"
TABLE: dict[str, tuple[str, str, str]] = {
    "Projections into a lighter model": ("yes", "no", "yes"),
    "Aggregation into typed results": ("yes", "no", "yes"),
    "Bulk saves (one bulk write per collection)": ("yes", "no", "yes"),
    "Update by query from field expressions": ("yes", "no", "yes"),
    "Optimistic concurrency (revision field)": ("yes", "no", "yes"),
    "Optional and list references": ("yes", "no", "yes"),
    "Lazy references fetched on demand": ("yes", "no", "yes"),
    "Model inheritance with a discriminator": ("yes", "no", "yes"),
    "Session and transaction objects": ("yes", "yes", "partial"),
    "Transaction retry helper": ("yes", "no", "no"),
    "FastAPI per-request transaction dependency": ("yes", "no", "no"),
    "Runs on pymongo's native async client": ("yes", "no", "yes"),
    "Embedded MongoDB-compatible server for tests": ("yes", "no", "no"),
}


def ours_accepts_optional_and_list_references() -> bool:
    """Declaring both kinds works (tests/integration/test_beyond_odmantic.py uses them)."""
    try:

        class Target(odmantic_fastapi.Model):
            name: str

        class Holder(odmantic_fastapi.Model):
            one: Target | None = odmantic_fastapi.Reference()
            many: list[Target] = odmantic_fastapi.Reference()

    except TypeError:
        return False
    return Holder.model_fields["one"].default is None


def ours_runs_on_async_mongo_client() -> bool:
    """AIOEngine takes an AsyncMongoClient as it is (it connects lazily: no server needed)."""
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient("mongodb://127.0.0.1:9")
    engine = AIOEngine(client, database="probe")
    works = engine.client is client and engine.database.name == "probe"
    asyncio.run(client.close())
    return works


def ours(feature: str) -> bool:
    find = inspect.signature(AIOEngine.find).parameters
    checks = {
        "Projections into a lighter model": "projection" in find,
        "Aggregation into typed results": "output"
        in inspect.signature(AIOEngine.aggregate).parameters,
        "Bulk saves (one bulk write per collection)": "collection.bulk_write"
        in inspect.getsource(odmantic_fastapi._save_plan._bulk_steps),
        "Update by query from field expressions": hasattr(AIOEngine, "update")
        and hasattr(SyncEngine, "update"),
        "Optimistic concurrency (revision field)": "revision_field"
        in odmantic_fastapi.config.ODM_CONFIG_OPTIONS,
        "Optional and list references": ours_accepts_optional_and_list_references(),
        "Lazy references fetched on demand": hasattr(AIOEngine, "fetch"),
        "Model inheritance with a discriminator": "discriminator_key"
        in odmantic_fastapi.config.ODM_CONFIG_OPTIONS,
        "Session and transaction objects": hasattr(odmantic_fastapi, "AIOTransaction"),
        "Transaction retry helper": hasattr(AIOEngine, "run_transaction"),
        "FastAPI per-request transaction dependency": hasattr(odmantic_fastapi, "get_transaction"),
        "Runs on pymongo's native async client": ours_runs_on_async_mongo_client(),
        "Embedded MongoDB-compatible server for tests": importlib.util.find_spec(
            "odmantic_fastapi.embedded"
        )
        is not None,
    }
    return checks[feature]


def odmantic_has(feature: str) -> bool:
    engine = odmantic.AIOEngine
    source = package_source(odmantic)
    config_keys = set(odmantic.config.ODMConfigDict.__annotations__)
    checks = {
        "Projections into a lighter model": "projection"
        in inspect.signature(engine.find).parameters,
        "Aggregation into typed results": hasattr(engine, "aggregate"),
        "Bulk saves (one bulk write per collection)": "bulk_write" in source,
        "Update by query from field expressions": hasattr(engine, "update")
        or "update_many" in source,
        "Optimistic concurrency (revision field)": "revision" in source,
        "Optional and list references": not odmantic_rejects("list[Target]")
        and not odmantic_rejects("Target | None"),
        "Lazy references fetched on demand": "lazy" in source.lower(),
        "Model inheritance with a discriminator": any("discriminator" in k for k in config_keys)
        or "discriminator" in source,
        "Session and transaction objects": hasattr(odmantic.session, "AIOTransaction")
        and hasattr(odmantic.session, "AIOSession"),
        "Transaction retry helper": "with_transaction" in source
        or "TransientTransactionError" in source,
        "FastAPI per-request transaction dependency": "fastapi" in source.lower()
        and "Depends" in source,
        "Runs on pymongo's native async client": "AsyncMongoClient" in source,
        "Embedded MongoDB-compatible server for tests": "OP_MSG" in source,
    }
    return checks[feature]


def beanie_has(feature: str) -> bool | str:
    source = package_source(beanie)
    checks: dict[str, bool | str] = {
        "Projections into a lighter model": hasattr(FindMany, "project"),
        "Aggregation into typed results": "projection_model"
        in inspect.signature(beanie.Document.aggregate).parameters,
        "Bulk saves (one bulk write per collection)": hasattr(BulkWriter, "commit"),
        "Update by query from field expressions": hasattr(FindMany, "update")
        and hasattr(beanie.operators, "Set"),
        "Optimistic concurrency (revision field)": "use_revision" in DocumentSettings.model_fields,
        "Optional and list references": {"LIST", "OPTIONAL_DIRECT"} <= set(LinkTypes.__members__),
        "Lazy references fetched on demand": hasattr(Link, "fetch"),
        "Model inheritance with a discriminator": "is_root" in ItemSettings.model_fields
        and "class_id" in ItemSettings.model_fields,
        # Beanie takes a driver session= but has no session or transaction objects of its own.
        "Session and transaction objects": "partial"
        if "session" in inspect.signature(beanie.Document.insert).parameters
        and not hasattr(beanie, "Transaction")
        else hasattr(beanie, "Transaction"),
        "Transaction retry helper": "TransientTransactionError" in source,
        "FastAPI per-request transaction dependency": "from fastapi" in source,
        "Runs on pymongo's native async client": "AsyncMongoClient" in source,
        "Embedded MongoDB-compatible server for tests": "OP_MSG" in source,
    }
    return checks[feature]


def as_word(value: bool | str) -> str:
    return value if isinstance(value, str) else ("yes" if value else "no")


@pytest.mark.parametrize("feature", list(TABLE))
def test_each_claim_matches_the_installed_libraries(feature: str) -> None:
    expected = TABLE[feature]
    found = (as_word(ours(feature)), as_word(odmantic_has(feature)), as_word(beanie_has(feature)))
    assert found == expected


def test_the_docs_table_is_this_table() -> None:
    text = DOC.read_text()
    versions = (importlib.metadata.version("odmantic"), importlib.metadata.version("beanie"))
    assert f"ODMantic {versions[0]}" in text and f"Beanie {versions[1]}" in text
    for feature, cells in TABLE.items():
        assert f"| {feature} | {' | '.join(cells)} |" in text, feature
