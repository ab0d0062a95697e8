"""How a request ends: the abort of its open transaction finishes even when the request is cancelled."""

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pymongo import MongoClient
from starlette.types import Message

from odmantic_fastapi import Model
from odmantic_fastapi.dependencies import TransactionDep, install
from odmantic_fastapi.settings import MongoSettings

APP_NAME = "request-end-tests"


class Entry(Model):
    text: str


def scope_of(method: str, path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


@pytest.fixture
def admin(mongodb_url: str) -> Iterator[MongoClient[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url)
    yield client
    client.admin.command("configureFailPoint", "failCommand", mode="off")
    client.close()


async def test_a_request_cancelled_twice_while_aborting_still_aborts(
    mongodb_url: str,
    mongodb_database_name: str,
    admin: MongoClient[dict[str, Any]],
) -> None:
    """The abort of a cancelled request's open transaction runs to its end, shielded."""
    settings = MongoSettings(url=mongodb_url, database=mongodb_database_name, app_name=APP_NAME)
    app = FastAPI()
    install(app, models=[Entry], settings=settings)
    written = asyncio.Event()

    @app.post("/hangs")
    async def hangs(tx: TransactionDep) -> None:
        await tx.save(Entry(text="never committed"))
        written.set()
        await asyncio.Event().wait()

    async def discard(message: Message) -> None:
        pass

    async with LifespanManager(app) as manager:
        # The abort sent by the request's close is held 300 ms by the server.
        admin.admin.command(
            "configureFailPoint",
            "failCommand",
            mode={"times": 1},
            data={
                "failCommands": ["abortTransaction"],
                "appName": APP_NAME,
                "blockConnection": True,
                "blockTimeMS": 300,
            },
        )
        request: asyncio.Task[None] = asyncio.ensure_future(
            manager.app(scope_of("POST", "/hangs"), no_body, discard)
        )
        await written.wait()
        request.cancel()  # the route stops; closing the request starts the abort
        await asyncio.sleep(0.1)
        request.cancel()  # and again, while the abort waits for its answer
        with pytest.raises(asyncio.CancelledError):
            await request
        transactions = admin.admin.command("serverStatus")["transactions"]
    assert transactions["currentOpen"] == 0
    assert admin[mongodb_database_name][+Entry].count_documents({}) == 0
