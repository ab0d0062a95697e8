"""Each commit-failure path of the FastAPI layer, over real HTTP, with faults injected by the server."""

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pymongo import MongoClient

from odmantic_fastapi import Model
from odmantic_fastapi.dependencies import RetryingTransactionDep, TransactionDep, install
from odmantic_fastapi.settings import MongoSettings
from odmantic_fastapi.testing import FaultInjection, Faults, fail_command, serve_with_uvicorn


class Item(Model):
    name: str


def make_app(settings: MongoSettings) -> FastAPI:
    app = FastAPI()
    install(app, models=[Item], settings=settings)
    runs: list[str] = []
    app.state.runs = runs

    @app.post("/items/{name}", status_code=201)
    async def create(name: str, tx: TransactionDep) -> dict[str, str]:
        await tx.save(Item(name=name))
        return {"name": name}

    @app.post("/retrying/{name}", status_code=201)
    async def create_retrying(name: str, tx: RetryingTransactionDep) -> dict[str, str]:
        runs.append(name)
        await tx.save(Item(name=name))
        return {"name": name}

    return app


@pytest.fixture
def app(settings: MongoSettings) -> FastAPI:
    return make_app(settings)


@pytest.fixture
def http(app: FastAPI) -> Iterator[httpx.Client]:
    with serve_with_uvicorn(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


@pytest.fixture
def items(mongodb_client: MongoClient[dict[str, Any]], mongodb_database_name: str) -> Iterator[Any]:
    yield mongodb_client[mongodb_database_name]["item"]


def transient_commit_failure(
    client: MongoClient[dict[str, Any]],
) -> AbstractContextManager[FaultInjection]:
    """The next commit fails with WriteConflict, labelled TransientTransactionError."""
    return fail_command(
        client, "commitTransaction", error_code=112, error_labels=["TransientTransactionError"]
    )


def names(items: Any) -> list[str]:
    return sorted(doc["name"] for doc in items.find())


def test_a_write_conflict_answers_409_with_retry_after_and_saves_nothing(
    http: httpx.Client, faults: Faults, items: Any
) -> None:
    with faults.write_conflict() as fault:
        response = http.post("/items/a")
    assert fault.fired == 1
    assert response.status_code == 409
    assert response.headers["retry-after"] == "1"
    assert names(items) == []
    assert http.post("/items/b").status_code == 201
    assert names(items) == ["b"]


def test_a_transient_commit_failure_answers_409_and_saves_nothing(
    http: httpx.Client, mongodb_client: MongoClient[dict[str, Any]], items: Any
) -> None:
    with transient_commit_failure(mongodb_client) as fault:
        response = http.post("/items/a")
    assert fault.fired == 1
    assert response.status_code == 409
    assert response.headers["retry-after"] == "1"
    assert names(items) == []


def test_an_unknown_commit_result_is_retried_and_the_commit_applied_once(
    http: httpx.Client, faults: Faults, items: Any
) -> None:
    with faults.commit_result_unknown() as fault:
        response = http.post("/items/a")
    assert fault.fired == 1
    assert response.status_code == 201
    assert names(items) == ["a"]


def test_a_commit_that_stays_unknown_answers_503_and_is_applied_exactly_once(
    http: httpx.Client, faults: Faults, items: Any
) -> None:
    with faults.commit_result_unknown(times=None) as fault:
        response = http.post("/items/a")
    assert fault.fired >= 2  # the commit was retried, and each retry stayed unknown
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert names(items) == ["a"]


def test_a_retrying_route_runs_again_after_a_write_conflict(
    app: FastAPI, http: httpx.Client, faults: Faults, items: Any
) -> None:
    with faults.write_conflict() as fault:
        response = http.post("/retrying/a")
    assert fault.fired == 1
    assert response.status_code == 201
    assert app.state.runs == ["a", "a"]
    assert names(items) == ["a"]


def test_a_retrying_route_runs_again_after_a_transient_commit_failure(
    app: FastAPI, http: httpx.Client, mongodb_client: MongoClient[dict[str, Any]], items: Any
) -> None:
    with transient_commit_failure(mongodb_client) as fault:
        response = http.post("/retrying/a")
    assert fault.fired == 1
    assert response.status_code == 201
    assert app.state.runs == ["a", "a"]
    assert names(items) == ["a"]


def test_a_dropped_connection_at_commit_is_retried_by_the_driver(
    http: httpx.Client, faults: Faults, items: Any
) -> None:
    with faults.connection_closed("commitTransaction") as fault:
        response = http.post("/items/a")
    assert fault.fired == 1
    assert response.status_code == 201
    assert names(items) == ["a"]
