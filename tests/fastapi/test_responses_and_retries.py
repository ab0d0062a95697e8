"""Retries of safe routes, background tasks, streaming, OpenAPI, and a real uvicorn server."""

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import BackgroundTasks, FastAPI
from fastapi.responses import StreamingResponse
from pymongo import MongoClient

from odmantic_fastapi import Model
from odmantic_fastapi.dependencies import RetryingTransactionDep, TransactionDep, install
from odmantic_fastapi.settings import MongoSettings
from odmantic_fastapi.testing import serve_with_uvicorn


class Counter(Model):
    name: str
    value: int = 0


class Note(Model):
    text: str


def counter_app(settings: MongoSettings) -> FastAPI:
    app = FastAPI()
    install(app, models=[Counter, Note], settings=settings)
    attempts: list[int] = []
    app.state.attempts = attempts

    async def no_follow_up(note_id: Any) -> None:
        return None

    app.state.after_commit = no_follow_up

    @app.post("/counters/{name}/increment")
    async def increment(name: str, tx: RetryingTransactionDep) -> dict[str, int]:
        attempts.append(1)
        counter = await tx.find_one(Counter, Counter.name == name)
        assert counter is not None
        await asyncio.sleep(0.1)  # both requests read the same value before either writes
        counter.model_update(value=counter.value + 1)
        await tx.save(counter)
        return {"value": counter.value}

    @app.post("/counters/{name}/increment-once")
    async def increment_once(name: str, tx: TransactionDep) -> dict[str, int]:
        counter = await tx.find_one(Counter, Counter.name == name)
        assert counter is not None
        await asyncio.sleep(0.1)
        counter.model_update(value=counter.value + 1)
        await tx.save(counter)
        return {"value": counter.value}

    @app.post("/notes/{text}", response_model=Note)
    async def note(text: str, tx: TransactionDep, background: BackgroundTasks) -> Note:
        created = Note(text=text)
        await tx.save(created)
        background.add_task(app.state.after_commit, created.id)
        return created

    @app.post("/stream/{text}")
    async def stream(text: str, tx: TransactionDep) -> StreamingResponse:
        await tx.save(Note(text=text))

        async def body() -> AsyncIterator[bytes]:
            yield b"saved "
            yield text.encode()

        return StreamingResponse(body())

    return app


async def test_a_retrying_route_is_run_again_on_write_conflict_and_both_land(
    serve: Any, settings: MongoSettings, reader: Any
) -> None:
    app = counter_app(settings)
    client = await serve(app)
    await reader.counter.insert_one({"name": "hits", "value": 0})
    first, second = await asyncio.gather(
        client.post("/counters/hits/increment"), client.post("/counters/hits/increment")
    )
    assert (first.status_code, second.status_code) == (200, 200)
    assert sorted([first.json()["value"], second.json()["value"]]) == [1, 2]
    assert (await reader.counter.find_one({"name": "hits"}))["value"] == 2
    assert len(app.state.attempts) == 3  # one of the two ran twice


async def test_a_plain_route_answers_409_with_retry_after_on_write_conflict(
    serve: Any, settings: MongoSettings, reader: Any
) -> None:
    client = await serve(counter_app(settings))
    await reader.counter.insert_one({"name": "hits", "value": 0})
    responses = await asyncio.gather(
        client.post("/counters/hits/increment-once"), client.post("/counters/hits/increment-once")
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409]
    conflict = next(r for r in responses if r.status_code == 409)
    assert conflict.headers["retry-after"] == "1"
    assert "retry" in conflict.json()["detail"]
    assert (await reader.counter.find_one({"name": "hits"}))["value"] == 1


async def test_background_tasks_run_after_the_commit(
    serve: Any, settings: MongoSettings, mongodb_url: str, mongodb_database_name: str
) -> None:
    app = counter_app(settings)
    seen: list[Any] = []

    async def after_commit(note_id: Any) -> None:
        other: Any = MongoClient(mongodb_url)
        seen.append(other[mongodb_database_name].note.find_one({"_id": note_id}))
        other.close()

    app.state.after_commit = after_commit
    client = await serve(app)
    response = await client.post("/notes/hello")
    assert response.status_code == 200
    # Over real HTTP the response arrives before the background task has run.
    for _ in range(100):
        if seen:
            break
        await asyncio.sleep(0.05)
    assert seen and seen[0]["text"] == "hello"


async def test_a_streaming_response_commits_before_its_body_is_sent(
    serve: Any, settings: MongoSettings, reader: Any
) -> None:
    client = await serve(counter_app(settings))
    response = await client.post("/stream/streamed")
    assert response.text == "saved streamed"
    assert await reader.note.count_documents({"text": "streamed"}) == 1


def test_openapi_renders_odm_models_with_string_object_ids(settings: MongoSettings) -> None:
    schema = counter_app(settings).openapi()
    note = schema["components"]["schemas"]["Note"]
    assert note["properties"]["id"]["type"] == "string"
    assert note["properties"]["id"]["examples"]


@pytest.fixture
def uvicorn_url(settings: MongoSettings) -> Iterator[str]:
    """The counter app behind a real uvicorn server on 127.0.0.1."""
    with serve_with_uvicorn(counter_app(settings)) as url:
        yield url


def test_over_real_http_a_2xx_means_the_data_is_readable_at_once(
    uvicorn_url: str, mongodb_url: str, mongodb_database_name: str
) -> None:
    other: Any = MongoClient(mongodb_url)
    notes = other[mongodb_database_name].note
    try:
        with httpx.Client(base_url=uvicorn_url) as client:
            for i in range(100):
                response = client.post(f"/notes/n{i}")
                assert response.status_code == 200
                assert notes.find_one({"text": f"n{i}"}) is not None
    finally:
        other.close()


def test_a_client_that_disconnects_mid_request_leaves_all_or_nothing(
    settings: MongoSettings, mongodb_url: str, mongodb_database_name: str
) -> None:
    app = FastAPI()
    install(app, models=[Note], settings=settings)

    @app.post("/pair/{name}")
    async def pair(name: str, tx: TransactionDep) -> dict[str, str]:
        await tx.save(Note(text=f"{name}-first"))
        await asyncio.sleep(0.5)  # the client gives up here
        await tx.save(Note(text=f"{name}-second"))
        return {"status": "saved"}

    other: Any = MongoClient(mongodb_url)
    notes = other[mongodb_database_name].note
    try:
        with serve_with_uvicorn(app) as url:
            for i in range(5):
                with (
                    pytest.raises(httpx.ReadTimeout),
                    httpx.Client(base_url=url, timeout=0.1) as client,
                ):
                    client.post(f"/pair/p{i}")
            # Keep the server up until the abandoned requests have finished.
            end = time.monotonic() + 10
            while time.monotonic() < end:
                status = other.admin.command("serverStatus")["transactions"]
                if status["currentOpen"] == 0:
                    break
                time.sleep(0.1)
            assert other.admin.command("serverStatus")["transactions"]["currentOpen"] == 0
        for i in range(5):
            texts = {d["text"] for d in notes.find({"text": {"$regex": f"^p{i}-"}})}
            assert texts in (set(), {f"p{i}-first", f"p{i}-second"})
    finally:
        other.close()


async def test_a_database_outage_mid_request_answers_503_with_retry_after() -> None:
    """Not a 500: the client can tell "retry later" from a bug, and nothing was applied."""
    from asgi_lifespan import LifespanManager

    from odmantic_fastapi.embedded import ServerProcess

    with ServerProcess() as server:
        settings = MongoSettings(url=server.url, database="outage", server_selection_timeout_ms=500)
        app = counter_app(settings)
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                assert (await client.post("/notes/before")).status_code == 200
                server.kill()
                response = await client.post("/notes/during")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.json() == {
        "detail": "The database is unavailable; the request was not applied."
    }
