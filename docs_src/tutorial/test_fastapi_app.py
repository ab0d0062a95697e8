"""Tutorial step 6: test the app with the package's pytest plugin and the embedded server.

``mongodb_url`` (an embedded server started for the test session, or
``MONGODB_URL`` when set) and ``mongodb_database_name`` (a fresh database,
dropped after the test) come from the plugin that installing odmantic_fastapi
registers with pytest.
"""

# --8<-- [start:basics]
from collections.abc import AsyncIterator

import httpx
import pytest
from asgi_lifespan import LifespanManager

from docs_src.tutorial.fastapi_app import app
from odmantic_fastapi.testing import Faults


@pytest.fixture
async def api(
    mongodb_url: str, mongodb_database_name: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("MONGODB_URL", mongodb_url)
    monkeypatch.setenv("MONGODB_DATABASE", mongodb_database_name)
    async with LifespanManager(app) as manager:  # runs install's startup and shutdown
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def test_transfer_moves_money(api: httpx.AsyncClient) -> None:
    for owner in ("ada", "grace"):
        assert (await api.post(f"/accounts/{owner}")).status_code == 201
    await api.post("/accounts/ada/deposit", params={"amount": 500})
    response = await api.post(
        "/transfers", json={"source": "ada", "target": "grace", "amount": 200}
    )
    assert response.status_code == 200
    assert (await api.get("/accounts/grace")).json()["balance"] == 200
    assert (await api.get("/accounts/ada/movements")).json() == [500, -200]


async def test_refused_transfer_writes_nothing(api: httpx.AsyncClient) -> None:
    for owner in ("ada", "grace"):
        await api.post(f"/accounts/{owner}")
    response = await api.post("/transfers", json={"source": "ada", "target": "grace", "amount": 1})
    assert response.status_code == 409
    # The credit and the movement saved before the 409 were rolled back with it.
    assert (await api.get("/accounts/grace")).json()["balance"] == 0
    assert (await api.get("/accounts/grace/movements")).json() == []


# --8<-- [end:basics]


# --8<-- [start:faults]
async def test_write_conflict_answers_409_and_writes_nothing(
    api: httpx.AsyncClient, faults: Faults
) -> None:
    await api.post("/accounts/ada")
    with faults.write_conflict() as fault:  # the next write fails as if another client won
        response = await api.post("/accounts/ada/deposit", params={"amount": 5})
    assert fault.fired == 1
    assert response.status_code == 409
    assert response.headers["Retry-After"] == "1"
    assert (await api.get("/accounts/ada")).json()["balance"] == 0


async def test_unknown_commit_result_is_retried_and_applied_once(
    api: httpx.AsyncClient, faults: Faults
) -> None:
    await api.post("/accounts/ada")
    with faults.commit_result_unknown() as fault:  # committed, but the reply is lost
        response = await api.post("/accounts/ada/deposit", params={"amount": 5})
    assert fault.fired == 1
    assert response.status_code == 200
    assert (await api.get("/accounts/ada")).json()["balance"] == 5


# --8<-- [end:faults]
