"""The README's Python blocks, run as a reader would paste them, against the test session's server.

The blocks run in order in one namespace (the FastAPI block uses the ODM
block's model), in a temporary directory (the embedded server block writes
``./.data``). The ODM block's engine points at a fixed URL, so the test swaps
in one on the test server before calling its function.
"""

import contextlib
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pymongo import AsyncMongoClient, MongoClient

from odmantic_fastapi import AIOEngine, Model, TransactionDep, install
from odmantic_fastapi.testing import Faults, serve_with_uvicorn

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(), flags=re.M | re.S)


@pytest.fixture
async def readme(
    mongodb_url: str,
    mongodb_database_name: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> AsyncIterator[tuple[dict[str, Any], str]]:
    monkeypatch.setenv("MONGODB_URL", mongodb_url)
    monkeypatch.setenv("MONGODB_DATABASE", mongodb_database_name)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "readme"}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        for number, block in enumerate(_python_blocks(), start=1):
            exec(compile(block, f"README.md, python block {number}", "exec"), namespace)
    readme_client = namespace["engine"].client  # on a fixed URL: the tests swap the engine
    yield namespace, output.getvalue()
    await readme_client.close()


def test_readme_has_the_odm_fastapi_and_embedded_server_blocks() -> None:
    blocks = _python_blocks()
    assert any("AIOEngine(" in b for b in blocks)
    assert any("install(app" in b for b in blocks)
    assert any("EmbeddedServer()" in b for b in blocks)


async def test_readme_transfer_moves_money_in_a_transaction(
    readme: tuple[dict[str, Any], str], mongodb_url: str, mongodb_database_name: str
) -> None:
    namespace, _ = readme
    account = namespace["Account"]
    async with AsyncMongoClient[dict[str, Any]](mongodb_url) as client:
        engine = AIOEngine(client, database=mongodb_database_name)
        namespace["engine"] = engine
        await engine.save_all([account(owner="ada", balance=100), account(owner="bob", balance=0)])
        await namespace["transfer"]("ada", "bob", 30)
        balances = {a.owner: a.balance for a in await engine.find(account)}
        assert balances == {"ada": 70, "bob": 30}
        with pytest.raises(ValueError):  # balance: Field(ge=0) refuses an overdraft
            await namespace["transfer"]("bob", "ada", 31)
        balances = {a.owner: a.balance for a in await engine.find(account)}
        assert balances == {"ada": 70, "bob": 30}


async def test_readme_fastapi_route_deposits_in_the_request_transaction(
    readme: tuple[dict[str, Any], str], mongodb_url: str, mongodb_database_name: str
) -> None:
    namespace, _ = readme
    account = namespace["Account"]
    async with AsyncMongoClient[dict[str, Any]](mongodb_url) as client:
        await AIOEngine(client, database=mongodb_database_name).save(
            account(owner="ada", balance=5)
        )
    async with LifespanManager(namespace["app"]) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as api:
            response = await api.post("/accounts/ada/deposit", params={"amount": 20})
    assert response.status_code == 200
    assert response.json() == {"balance": 25}


async def test_readme_embedded_servers_print_their_urls(
    readme: tuple[dict[str, Any], str], tmp_path: Path
) -> None:
    _, printed = readme
    urls = printed.split()
    assert len(urls) == 2
    assert all(url.startswith("mongodb://127.0.0.1:") for url in urls)
    assert (tmp_path / ".data").is_dir()  # the durable server's journal


class Order(Model):
    item: str


def test_readme_fault_injection_example_passes_against_an_app(
    readme: tuple[dict[str, Any], str],
    faults: Faults,
    mongodb_url: str,
    mongodb_database_name: str,
) -> None:
    namespace, _ = readme
    example = namespace["test_an_order_survives_an_unknown_commit"]
    app = FastAPI()
    install(app)

    @app.post("/orders", status_code=201)
    async def create_order(tx: TransactionDep) -> dict[str, str]:
        order = await tx.save(Order(item="book"))
        return {"id": str(order.id)}

    with serve_with_uvicorn(app) as base_url, httpx.Client(base_url=base_url) as http:
        example(faults, http)
    with MongoClient[dict[str, Any]](mongodb_url) as client:
        database = client[mongodb_database_name]
        assert database.order.count_documents({}) == 1  # committed once, not twice
