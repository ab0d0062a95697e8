"""One transaction per request, committed or aborted from the response status before it is sent."""

import asyncio
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel

from odmantic_fastapi import Model
from odmantic_fastapi.dependencies import (
    EngineDep,
    TransactionDep,
    get_transaction,
    install,
)
from odmantic_fastapi.session import AIOTransaction
from odmantic_fastapi.settings import MongoSettings

# Each test's app serves in-process and over a real uvicorn server (see conftest).


class Note(Model):
    text: str


class NoteIn(BaseModel):
    text: str
    stars: int


def make_app(settings: MongoSettings) -> FastAPI:
    app = FastAPI()
    install(app, models=[Note], settings=settings)

    async def write(text: str, tx: AIOTransaction) -> None:
        await tx.engine.save(Note(text=text), session=tx)

    @app.post("/ok/{status}")
    async def ok(status: int, tx: TransactionDep) -> Response:
        await write(f"ok-{status}", tx)
        if status == 303:
            return RedirectResponse("/elsewhere", status_code=303)
        return Response(status_code=status)

    @app.post("/http-exception")
    async def http_exception(tx: TransactionDep) -> None:
        await write("http-exception", tx)
        raise HTTPException(status_code=409, detail="no")

    @app.post("/returned-400")
    async def returned(tx: TransactionDep) -> JSONResponse:
        await write("returned-400", tx)
        return JSONResponse({"detail": "bad"}, status_code=400)

    @app.post("/crash")
    async def crash(tx: TransactionDep) -> None:
        await write("crash", tx)
        raise RuntimeError("boom")

    async def writes_then_fails(tx: TransactionDep) -> None:
        await write("dependency", tx)
        raise HTTPException(status_code=403, detail="forbidden")

    async def writes_then_crashes(tx: TransactionDep) -> None:
        await write("dependency-crash", tx)
        raise RuntimeError("dependency boom")

    @app.post("/dependency-crashes")
    async def dependency_crashes(_: Annotated[None, Depends(writes_then_crashes)]) -> None:
        return None

    @app.post("/dependency-fails")
    async def dependency_fails(_: Annotated[None, Depends(writes_then_fails)]) -> None:
        return None

    async def writes_first(tx: TransactionDep) -> AIOTransaction:
        await write("validation", tx)
        return tx

    @app.post("/validation")
    async def validation(
        body: NoteIn, tx: Annotated[AIOTransaction, Depends(writes_first)]
    ) -> None:
        return None

    @app.post("/forgot-session/{status}")
    async def forgot_session(status: int, engine: EngineDep, tx: TransactionDep) -> Response:
        await engine.save(Note(text=f"joined-{status}"))  # no session=: joins the request's
        return Response(status_code=status)

    @app.post("/driver-abort")
    async def driver_abort(tx: TransactionDep) -> dict[str, str]:
        await write("driver-abort", tx)
        await tx.get_driver_session().abort_transaction()
        return {"status": "claims success"}

    @app.post("/route-commits")
    async def route_commits(tx: TransactionDep) -> dict[str, str]:
        await write("route-commits", tx)
        await tx.commit()
        return {"status": "committed by the route"}

    @app.post("/slow/{name}")
    async def slow(name: str, tx: TransactionDep) -> dict[str, int]:
        await write(name, tx)
        await asyncio.sleep(0.2)
        seen = await tx.engine.count(Note, session=tx)
        return {"seen": seen}

    @app.post("/second-transaction")
    async def second_transaction(engine: EngineDep, tx: TransactionDep) -> None:
        async with engine.transaction():
            pass

    @app.get("/no-transaction")
    async def no_transaction(engine: EngineDep) -> dict[str, int]:
        return {"notes": await engine.count(Note)}

    return app


async def texts(reader: Any) -> list[str]:
    return sorted([d["text"] async for d in reader.note.find()])


@pytest.mark.parametrize("status", [200, 201, 204, 303])
async def test_transaction_commits_on_success_and_redirect(
    serve: Any, settings: MongoSettings, reader: Any, status: int
) -> None:
    client = await serve(make_app(settings))
    response = await client.post(f"/ok/{status}")
    assert response.status_code == status
    assert await texts(reader) == [f"ok-{status}"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/http-exception", 409),
        ("/returned-400", 400),
        ("/dependency-fails", 403),
        ("/validation", 422),
        ("/ok/500", 500),
    ],
)
async def test_transaction_aborts_on_error_status(
    serve: Any, settings: MongoSettings, reader: Any, path: str, status: int
) -> None:
    client = await serve(make_app(settings))
    response = await client.post(path, json={"text": "x", "stars": "not a number"})
    assert response.status_code == status
    assert await texts(reader) == []


async def test_transaction_aborts_when_the_route_raises(
    settings: MongoSettings, reader: Any
) -> None:
    from asgi_lifespan import LifespanManager

    app = make_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/crash")
            crashed_dependency = await client.post("/dependency-crashes")
    assert response.status_code == 500
    assert crashed_dependency.status_code == 500
    assert "boom" not in response.text + crashed_dependency.text
    assert await texts(reader) == []


async def test_engine_calls_without_session_join_the_request_transaction(
    serve: Any, settings: MongoSettings, reader: Any
) -> None:
    client = await serve(make_app(settings))
    assert (await client.post("/forgot-session/400")).status_code == 400
    assert await texts(reader) == []
    assert (await client.post("/forgot-session/200")).status_code == 200
    assert await texts(reader) == ["joined-200"]


async def test_committed_data_is_readable_as_soon_as_the_2xx_arrives(
    serve: Any, settings: MongoSettings, reader: Any
) -> None:
    client = await serve(make_app(settings))
    for i in range(100):
        assert (await client.post("/ok/201")).status_code == 201
        assert await reader.note.count_documents({}) == i + 1


async def test_a_commit_that_fails_never_reports_success(
    serve: Any, settings: MongoSettings, reader: Any
) -> None:
    client = await serve(make_app(settings))
    response = await client.post("/driver-abort")
    assert response.status_code >= 400
    assert await texts(reader) == []


async def test_a_route_that_commits_itself_is_not_committed_twice(
    serve: Any, settings: MongoSettings, reader: Any
) -> None:
    client = await serve(make_app(settings))
    response = await client.post("/route-commits")
    assert response.status_code == 200
    assert await texts(reader) == ["route-commits"]


async def test_concurrent_requests_have_isolated_transactions(
    serve: Any, settings: MongoSettings, reader: Any
) -> None:
    client = await serve(make_app(settings))
    first, second = await asyncio.gather(client.post("/slow/a"), client.post("/slow/b"))
    # Each sees only its own uncommitted note while the other is still open.
    assert first.json() == {"seen": 1}
    assert second.json() == {"seen": 1}
    assert await texts(reader) == ["a", "b"]


async def test_no_transaction_or_session_is_left_open_after_many_requests(
    serve: Any, settings: MongoSettings, reader: Any
) -> None:
    client = await serve(make_app(settings))
    paths = ["/ok/200", "/http-exception", "/returned-400", "/no-transaction", "/route-commits"]
    for i in range(1000):
        path = paths[i % len(paths)]
        if path == "/no-transaction":
            await client.get(path)
        else:
            await client.post(path)
    status = await reader.client.admin.command("serverStatus")
    assert status["transactions"]["currentOpen"] == 0


async def test_get_transaction_without_install_fails_loudly() -> None:
    app = FastAPI()

    @app.get("/")
    async def route(tx: Annotated[AIOTransaction, Depends(get_transaction)]) -> None:
        return None

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        with pytest.raises(RuntimeError, match=r"odmantic_fastapi\.install"):
            await client.get("/")


async def test_engine_transaction_inside_a_request_transaction_is_refused(
    settings: MongoSettings,
) -> None:
    from asgi_lifespan import LifespanManager

    async with LifespanManager(make_app(settings)) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            with pytest.raises(RuntimeError, match="already has a transaction"):
                await client.post("/second-transaction")


async def test_an_unreachable_database_at_commit_answers_503() -> None:
    from asgi_lifespan import LifespanManager

    from odmantic_fastapi.embedded import EmbeddedServer

    server = EmbeddedServer()
    url = server.start()
    app = FastAPI()
    install(
        app,
        models=[Note],
        settings=MongoSettings(url=url, database="unreachable", server_selection_timeout_ms=300),
        # The commit is retried while its outcome is unknown; keep that window short here.
        commit_retry_seconds=1.0,
    )

    @app.post("/write-then-lose-the-database")
    async def write(tx: TransactionDep) -> dict[str, str]:
        await tx.save(Note(text="lost"))
        await asyncio.to_thread(server.stop)
        return {"status": "claims success"}

    port = int(url.rstrip("/").rsplit(":", 1)[1])
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/write-then-lose-the-database")
        # Bring the database back so the app's client shuts down cleanly.
        revived = EmbeddedServer(port=port)
        await asyncio.to_thread(revived.start)
    await asyncio.to_thread(revived.stop)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
