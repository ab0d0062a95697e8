"""The status the client receives decides the commit, whatever surrounds install().

Each numbered case of the FastAPI layer's promise: middleware added after
install, a catch-all exception handler, websockets, ``def`` routes, writes
after the commit, and a client that disconnects. Data is checked through a
separate client (``reader``); apps serve in-process and under uvicorn.
"""

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import BackgroundTasks, FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from odmantic_fastapi import (
    EngineDep,
    Model,
    SessionDep,
    SyncEngineDep,
    SyncSessionDep,
    SyncTransactionDep,
    TransactionDep,
    install,
)
from odmantic_fastapi.settings import MongoSettings
from odmantic_fastapi.testing import serve_with_uvicorn

CLOSED = "transaction already committed; write in the route, not in the response body"


class Note(Model):
    text: str


async def texts(reader: Any) -> list[str]:
    return sorted([d["text"] async for d in reader.note.find()])


def base_app(settings: MongoSettings) -> FastAPI:
    app = FastAPI()
    install(app, models=[Note], settings=settings)

    @app.post("/write/{text}")
    async def write(text: str, tx: TransactionDep) -> dict[str, str]:
        await tx.save(Note(text=text))
        return {"written": text}

    @app.post("/crash/{text}")
    async def crash(text: str, tx: TransactionDep) -> None:
        await tx.save(Note(text=text))
        raise RuntimeError("the route failed")

    return app


class TurnsSuccessInto500:
    """A pure ASGI middleware, added after install(), that replaces a 200 with a 500."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def replace(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "status": 500}
            await send(message)

        await self.app(scope, receive, replace)


async def test_1_an_asgi_middleware_added_after_install_that_answers_500_aborts(
    serve: Any, settings: MongoSettings, reader: Any
) -> None:
    app = base_app(settings)
    app.add_middleware(TurnsSuccessInto500)
    client = await serve(app)
    response = await client.post("/write/outer-asgi")
    assert response.status_code == 500
    assert await texts(reader) == []


async def test_1_an_http_middleware_added_after_install_that_answers_500_aborts(
    serve: Any, settings: MongoSettings, reader: Any
) -> None:
    app = base_app(settings)

    @app.middleware("http")
    async def fail_everything(request: Request, call_next: Any) -> Response:
        await call_next(request)
        return JSONResponse({"detail": "maintenance"}, status_code=500)

    client = await serve(app)
    response = await client.post("/write/outer-http")
    assert response.status_code == 500
    assert await texts(reader) == []


async def test_1_a_middleware_that_turns_an_error_into_200_commits(
    serve: Any, settings: MongoSettings, reader: Any
) -> None:
    app = base_app(settings)

    @app.middleware("http")
    async def soften(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        if response.status_code == 409:
            return JSONResponse({"detail": "accepted anyway"}, status_code=200)
        return response

    @app.post("/conflict/{text}")
    async def conflict(text: str, tx: TransactionDep) -> JSONResponse:
        await tx.save(Note(text=text))
        return JSONResponse({"detail": "conflict"}, status_code=409)

    client = await serve(app)
    assert (await client.post("/conflict/softened")).status_code == 200
    assert await texts(reader) == ["softened"]


async def test_2_a_catch_all_exception_handler_that_answers_200_commits(
    serve: Any, settings: MongoSettings, reader: Any
) -> None:
    app = base_app(settings)

    async def soft_error(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=200)

    app.add_exception_handler(Exception, soft_error)
    # Starlette re-raises after a catch-all handler has answered; the client has its 200.
    client = await serve(app, raise_app_exceptions=False)
    response = await client.post("/crash/soft")
    assert response.status_code == 200
    assert response.json() == {"error": "the route failed"}
    assert await texts(reader) == ["soft"]


async def test_2_server_error_middlewares_500_aborts(
    serve: Any, settings: MongoSettings, reader: Any
) -> None:
    client = await serve(base_app(settings), raise_app_exceptions=False)
    response = await client.post("/crash/unhandled")
    assert response.status_code == 500
    assert await texts(reader) == []


async def test_a_layer_wrapped_outside_the_transaction_middleware_is_refused_at_startup(
    settings: MongoSettings,
) -> None:
    app = base_app(settings)
    inner = app.build_middleware_stack
    app.build_middleware_stack = lambda: TurnsSuccessInto500(inner())  # type: ignore[method-assign]  # what a wrapper library might do
    with pytest.raises(RuntimeError, match=r"outside the transaction middleware"):
        async with LifespanManager(app):
            pass


def test_install_twice_is_refused(settings: MongoSettings) -> None:
    app = base_app(settings)
    with pytest.raises(RuntimeError, match="already called"):
        install(app, settings=settings)


# -- 3. websockets -------------------------------------------------------------


def websocket_app(settings: MongoSettings) -> FastAPI:
    app = FastAPI()
    install(app, models=[Note], settings=settings)

    @app.websocket("/notes")
    async def notes(websocket: WebSocket, session: SessionDep, engine: EngineDep) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            async with session.transaction() as txn:
                await txn.save(Note(text=text))
            await websocket.send_text(str(await engine.count(Note, session=session)))

    return app


def _websocket_exchange(base_url: str, path: str, texts_to_send: list[str]) -> list[str]:
    """A minimal websocket client over a socket (wsproto), for the uvicorn server."""
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

    host, port = base_url.removeprefix("http://").split(":")
    ws = WSConnection(ConnectionType.CLIENT)
    received: list[str] = []
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(ws.send(Request(host=host, target=path)))
        pending = list(texts_to_send)
        accepted = False
        while True:
            data = sock.recv(65536)
            ws.receive_data(data or None)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    accepted = True
                elif isinstance(event, TextMessage):
                    received.append(event.data)
                elif isinstance(event, CloseConnection):
                    return received
            if accepted and len(received) == len(texts_to_send) - len(pending):
                if not pending:
                    sock.sendall(ws.send(CloseConnection(code=1000)))
                    return received
                sock.sendall(ws.send(TextMessage(data=pending.pop(0))))
            if not data:
                return received


async def _asgi_websocket(app: Any, path: str, texts_to_send: list[str]) -> list[str]:
    """Drive a websocket route in-process, message by message, as a server would."""
    incoming: asyncio.Queue[Message] = asyncio.Queue()
    replies: asyncio.Queue[str | None] = asyncio.Queue()
    await incoming.put({"type": "websocket.connect"})

    async def send(message: Message) -> None:
        if message["type"] == "websocket.send":
            await replies.put(message["text"])
        elif message["type"] == "websocket.close":
            await replies.put(None)

    scope: dict[str, Any] = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"t")],
        "client": ("127.0.0.1", 1),
        "server": ("t", 80),
        "subprotocols": [],
    }
    connection = asyncio.create_task(app(scope, incoming.get, send))
    received: list[str] = []
    for text in texts_to_send:
        await incoming.put({"type": "websocket.receive", "text": text})
        reply = await asyncio.wait_for(replies.get(), 10)
        assert reply is not None
        received.append(reply)
    await incoming.put({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(connection, 10)
    return received


async def test_3_a_websocket_gets_a_session_for_the_connection(
    settings: MongoSettings, reader: Any
) -> None:
    async with LifespanManager(websocket_app(settings)) as manager:
        received = await _asgi_websocket(manager.app, "/notes", ["first", "second"])
        status = await reader.client.admin.command("serverStatus")
    assert received == ["1", "2"]
    assert await texts(reader) == ["first", "second"]
    assert status["transactions"]["currentOpen"] == 0


async def test_3_a_websocket_gets_a_session_under_uvicorn(
    settings: MongoSettings, reader: Any
) -> None:
    with serve_with_uvicorn(websocket_app(settings)) as url:
        received = await asyncio.to_thread(_websocket_exchange, url, "/notes", ["a", "b", "c"])
    assert received == ["1", "2", "3"]
    assert await texts(reader) == ["a", "b", "c"]


async def test_3_a_transaction_in_a_websocket_route_is_refused_at_startup(
    settings: MongoSettings,
) -> None:
    app = FastAPI()
    install(app, settings=settings)

    @app.websocket("/tx")
    async def tx_socket(websocket: WebSocket, tx: TransactionDep) -> None:
        await websocket.accept()

    with pytest.raises(RuntimeError, match=r"websocket route /tx: TransactionDep .* SessionDep"):
        async with LifespanManager(app):
            pass


# -- 4. def routes -------------------------------------------------------------


def sync_app(settings: MongoSettings) -> FastAPI:
    app = FastAPI()
    install(app, models=[Note], settings=settings)

    @app.post("/sync/{text}/{status}")
    def write(text: str, status: int, tx: SyncTransactionDep) -> Response:
        tx.save(Note(text=text))
        return Response(status_code=status)

    @app.get("/sync/count")
    def count(engine: SyncEngineDep, session: SyncSessionDep) -> dict[str, int]:
        return {"notes": engine.count(Note, session=session)}

    return app


@pytest.mark.parametrize(("status", "committed"), [(200, True), (201, True), (409, False)])
async def test_4_a_def_route_with_a_sync_transaction_follows_the_status(
    serve: Any, settings: MongoSettings, reader: Any, status: int, committed: bool
) -> None:
    client = await serve(sync_app(settings))
    assert (await client.post(f"/sync/n{status}/{status}")).status_code == status
    assert await texts(reader) == ([f"n{status}"] if committed else [])
    assert (await client.get("/sync/count")).json() == {"notes": 1 if committed else 0}


async def test_4_a_def_route_that_raises_aborts_its_sync_transaction(
    serve: Any, settings: MongoSettings, reader: Any
) -> None:
    app = sync_app(settings)

    @app.post("/sync-crash")
    def crash(tx: SyncTransactionDep) -> None:
        tx.save(Note(text="crashed"))
        raise RuntimeError("boom")

    client = await serve(app, raise_app_exceptions=False)
    assert (await client.post("/sync-crash")).status_code == 500
    assert await texts(reader) == []


@pytest.mark.parametrize("dependency", ["TransactionDep", "SessionDep"])
async def test_4_an_async_dependency_in_a_def_route_is_refused_at_startup(
    settings: MongoSettings, dependency: str
) -> None:
    app = FastAPI()
    install(app, settings=settings)
    annotation = {"TransactionDep": TransactionDep, "SessionDep": SessionDep}[dependency]

    def route(tx: annotation) -> None:  # type: ignore[valid-type]  # chosen by the parameter
        return None

    app.post("/forgets-await")(route)
    with pytest.raises(RuntimeError, match=rf"`def` function but asks for {dependency}.*Sync"):
        async with LifespanManager(app):
            pass


async def test_4_an_async_transaction_in_a_def_route_added_after_startup_is_refused(
    settings: MongoSettings, reader: Any
) -> None:
    app = base_app(settings)
    async with LifespanManager(app) as manager:

        @app.post("/late")
        def late(tx: TransactionDep) -> None:
            return None

        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            with pytest.raises(RuntimeError, match="SyncTransactionDep"):
                await client.post("/late")


# -- 5. writes after the commit ------------------------------------------------


def streaming_app(settings: MongoSettings) -> FastAPI:
    app = base_app(settings)
    errors: list[str] = []
    app.state.errors = errors

    @app.post("/stream/{how}")
    async def stream(how: str, tx: TransactionDep, engine: EngineDep) -> StreamingResponse:
        await tx.save(Note(text="in-route"))

        async def body() -> Any:
            yield b"first chunk\n"
            try:
                if how == "transaction":
                    await tx.save(Note(text="in-body"))
                else:
                    await engine.save(Note(text="in-body"))
            except RuntimeError as exc:
                errors.append(str(exc))
            yield b"last chunk\n"

        return StreamingResponse(body())

    @app.post("/sync-stream")
    def sync_stream(tx: SyncTransactionDep) -> StreamingResponse:
        tx.save(Note(text="in-route"))

        def body() -> Any:
            yield b"first chunk\n"
            try:
                tx.save(Note(text="in-body"))
            except RuntimeError as exc:
                errors.append(str(exc))
            yield b"last chunk\n"

        return StreamingResponse(body())

    @app.post("/background")
    async def background(
        tx: TransactionDep, engine: EngineDep, tasks: BackgroundTasks
    ) -> dict[str, str]:
        await tx.save(Note(text="in-route"))

        async def later() -> None:
            await engine.save(Note(text="from-background"))

        tasks.add_task(later)
        return {"status": "ok"}

    return app


@pytest.mark.parametrize(
    "path", ["/stream/transaction", "/stream/engine-without-session", "/sync-stream"]
)
async def test_5_a_write_in_the_response_body_is_refused(
    serve: Any, settings: MongoSettings, reader: Any, path: str
) -> None:
    app = streaming_app(settings)
    client = await serve(app)
    response = await client.post(path)
    assert response.status_code == 200
    assert response.text == "first chunk\nlast chunk\n"
    assert app.state.errors == [CLOSED]
    assert await texts(reader) == ["in-route"]


async def test_5_a_background_task_writes_on_its_own_after_the_commit(
    serve: Any, settings: MongoSettings, reader: Any
) -> None:
    client = await serve(streaming_app(settings))
    assert (await client.post("/background")).status_code == 200
    for _ in range(100):
        if len(await texts(reader)) == 2:
            break
        await asyncio.sleep(0.05)
    assert await texts(reader) == ["from-background", "in-route"]


# -- 6. a client that disconnects -----------------------------------------------


def slow_app(settings: MongoSettings) -> FastAPI:
    app = base_app(settings)

    @app.post("/slow/{text}")
    async def slow(text: str, tx: TransactionDep) -> dict[str, str]:
        await tx.save(Note(text=text))
        await asyncio.sleep(0.5)
        return {"written": text}

    return app


async def _wait_for(reader: Any, expected: list[str]) -> list[str]:
    for _ in range(100):
        found = await texts(reader)
        if found == expected:
            break
        await asyncio.sleep(0.05)
    return found


async def test_6_a_request_whose_client_disconnected_is_committed_in_process(
    settings: MongoSettings, reader: Any
) -> None:
    app = slow_app(settings)
    sent: list[Message] = []

    async def receive() -> Message:
        if not sent:
            sent.append({"type": "http.request", "body": b"", "more_body": False})
            return sent[0]
        await asyncio.sleep(3600)  # the client is gone; nothing more arrives
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        return None  # the server drops what it cannot deliver, as uvicorn does

    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/slow/gone",
        "raw_path": b"/slow/gone",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"t")],
        "client": ("127.0.0.1", 1),
        "server": ("t", 80),
    }
    async with LifespanManager(app) as manager:
        await manager.app(scope, receive, send)
    assert await texts(reader) == ["gone"]


async def test_6_a_request_whose_client_disconnected_is_committed_under_uvicorn(
    settings: MongoSettings, reader: Any
) -> None:
    with serve_with_uvicorn(slow_app(settings)) as url:
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(b"POST /slow/gone HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
            await asyncio.sleep(0.1)  # the route has started
        assert await _wait_for(reader, ["gone"]) == ["gone"]
