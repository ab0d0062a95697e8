"""The README's Python blocks, run as a reader would paste them, against the test session's server.

The blocks run in order in one namespace (the FastAPI block uses the ODM
block's model), in a temporary directory (the embedded server block writes
``./.data``). The ODM block's engine points at a fixed URL, so the test swaps
in one on the test server before calling its function.
"""

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pymongo import AsyncMongoClient

from odmantic_fastapi import AIOEngine

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(), flags=re.M | re.S)


@pytest.fixture
def readme(
    mongodb_url: str,
    mongodb_database_name: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> tuple[dict[str, Any], str]:
    monkeypatch.setenv("MONGODB_URL", mongodb_url)
    monkeypatch.setenv("MONGODB_DATABASE", mongodb_database_name)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, Any] = {"__name__": "readme"}
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        for number, block in enumerate(_python_blocks(), start=1):
            exec(compile(block, f"README.md, python block {number}", "exec"), namespace)
    return namespace, output.getvalue()


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
    await namespace["engine"].client.close()  # the block's own client, never used
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
    await namespace["engine"].client.close()
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
    namespace, printed = readme
    await namespace["engine"].client.close()
    urls = printed.split()
    assert len(urls) == 2
    assert all(url.startswith("mongodb://127.0.0.1:") for url in urls)
    assert (tmp_path / ".data").is_dir()  # the durable server's journal
