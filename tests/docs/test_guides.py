"""The guides' examples (docs_src/guides), each run against a real server."""

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import ObjectId
from fastapi import FastAPI
from pymongo import AsyncMongoClient, MongoClient

from docs_src.guides import client_retries, deploying, embedded_server, migrating_from_beanie
from odmantic_fastapi import Model, TransactionDep, install
from odmantic_fastapi.settings import MongoSettings
from odmantic_fastapi.testing import serve_with_uvicorn


async def test_embedded_server_in_memory() -> None:
    assert await embedded_server.in_memory() == 1


def test_embedded_server_keeps_acknowledged_writes_across_a_restart(tmp_path: Path) -> None:
    assert embedded_server.survives_a_restart(tmp_path) == ["kept on disk"]


async def test_beanie_idioms_run_as_written(mongodb_url: str, mongodb_database_name: str) -> None:
    posts = await migrating_from_beanie.main(mongodb_url, mongodb_database_name)
    assert posts == ["Engines, revised: 1"]
    async with AsyncMongoClient[dict[str, Any]](mongodb_url) as client:
        indexes = await client[mongodb_database_name].posts.index_information()
    assert any(info.get("unique") is None and len(info["key"]) == 2 for info in indexes.values())


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URL", "mongodb://db-0,db-1,db-2/?replicaSet=rs0")
    monkeypatch.setenv("MONGODB_MAX_POOL_SIZE", "40")
    monkeypatch.setenv("MONGODB_TLS", "true")
    app = deploying.production_app()
    assert app.router.lifespan_context is not None
    settings = MongoSettings()
    assert settings.client_options() == {"maxPoolSize": 40, "tls": True}


def test_pool_and_timeouts_reach_the_app(mongodb_url: str, mongodb_database_name: str) -> None:
    settings = deploying.pool_and_timeouts(mongodb_url)
    assert settings.client_options()["maxPoolSize"] == 50
    settings = settings.model_copy(update={"database": mongodb_database_name})
    app = FastAPI()
    install(app, settings=settings)

    @app.get("/pool")
    async def pool(tx: TransactionDep) -> dict[str, int]:
        return {"max": tx.engine.client.options.pool_options.max_pool_size}

    with serve_with_uvicorn(app) as base_url:
        assert httpx.get(f"{base_url}/pool").json() == {"max": 50}


class Counter(Model):
    value: int


@pytest.fixture
def conflicting_app(
    mongodb_url: str, mongodb_database_name: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, list[int]]]:
    """An app whose first increment meets a concurrent write: a real write conflict."""
    monkeypatch.setenv("MONGODB_URL", mongodb_url)
    monkeypatch.setenv("MONGODB_DATABASE", mongodb_database_name)
    counter_id = ObjectId()
    attempts: list[int] = []
    lock = threading.Lock()
    app = FastAPI()
    install(app)

    @app.post("/increment")
    async def increment(tx: TransactionDep) -> dict[str, int]:
        counter = await tx.find_one(Counter, Counter.id == counter_id)
        assert counter is not None
        with lock:
            attempts.append(1)
            first = len(attempts) == 1
        if first:
            with MongoClient[dict[str, Any]](mongodb_url) as other:
                other[mongodb_database_name].counter.update_one(
                    {"_id": counter_id}, {"$inc": {"value": 100}}
                )
        counter.model_update(value=counter.value + 1)
        await tx.save(counter)
        return {"value": counter.value}

    with MongoClient[dict[str, Any]](mongodb_url) as client:
        client[mongodb_database_name].counter.insert_one({"_id": counter_id, "value": 0})
    with serve_with_uvicorn(app) as base_url:
        yield base_url, attempts


def test_client_retries_a_write_conflict_after_retry_after(
    conflicting_app: tuple[str, list[int]],
) -> None:
    base_url, attempts = conflicting_app
    with httpx.Client(base_url=base_url) as client:
        response = client_retries.post_with_retries(
            client, "/increment", {}, idempotency_key="increment-1"
        )
    assert response.status_code == 200
    # The first attempt was rolled back (409, Retry-After: 1); the second applied once.
    assert response.json() == {"value": 101}
    assert len(attempts) == 2


def test_client_does_not_retry_a_final_409(mongodb_url: str, mongodb_database_name: str) -> None:
    from docs_src.tutorial.fastapi_app import app

    with pytest.MonkeyPatch.context() as env:
        env.setenv("MONGODB_URL", mongodb_url)
        env.setenv("MONGODB_DATABASE", mongodb_database_name)
        with serve_with_uvicorn(app) as base_url, httpx.Client(base_url=base_url) as client:
            assert client.post("/accounts/ada").status_code == 201
            response = client_retries.post_with_retries(
                client, "/accounts/ada", None, idempotency_key="open-ada"
            )
    assert response.status_code == 409
    assert "Retry-After" not in response.headers
