"""The demo API end to end: in-process with its lifespan, and over HTTP to a real process."""

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from demo_app import create_app
from odmantic_fastapi.settings import MongoSettings
from tests.demo.conftest import running_demo


@pytest.fixture(params=["in-process", "uvicorn-process"])
async def api(
    request: pytest.FixtureRequest, mongodb_url: str, mongodb_database_name: str
) -> AsyncIterator[httpx.AsyncClient]:
    if request.param == "uvicorn-process":
        with running_demo(mongodb_url, mongodb_database_name) as url:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                yield client
        return
    app = create_app(MongoSettings(url=mongodb_url, database=mongodb_database_name))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            yield client


async def owner(api: httpx.AsyncClient, name: str = "Ada") -> dict[str, str]:
    response = await api.post("/owners", json={"name": name})
    assert response.status_code == 201
    return {"Authorization": f"Bearer {response.json()['token']}"}


async def account(api: httpx.AsyncClient, auth: dict[str, str], currency: str = "EUR") -> str:
    response = await api.post("/accounts", json={"currency": currency}, headers=auth)
    assert response.status_code == 201
    return str(response.json()["id"])


async def balance(api: httpx.AsyncClient, auth: dict[str, str], account_id: str) -> int:
    response = await api.get(f"/accounts/{account_id}", headers=auth)
    assert response.status_code == 200
    return int(response.json()["balance"])


async def test_full_money_flow(api: httpx.AsyncClient) -> None:
    auth = await owner(api)
    a, b = await account(api, auth), await account(api, auth)
    assert (
        await api.post(f"/accounts/{a}/deposit", json={"amount": 1000}, headers=auth)
    ).status_code == 201
    transfer = await api.post(
        "/transfers", json={"from_account": a, "to_account": b, "amount": 300}, headers=auth
    )
    assert transfer.status_code == 201
    assert (
        await api.post(f"/accounts/{b}/withdraw", json={"amount": 100}, headers=auth)
    ).status_code == 201
    assert (await balance(api, auth, a), await balance(api, auth, b)) == (700, 200)
    fetched = await api.get(f"/transfers/{transfer.json()['id']}", headers=auth)
    assert fetched.json() == transfer.json()
    history = (await api.get(f"/accounts/{b}/transfers", headers=auth)).json()
    assert [t["kind"] for t in history["items"]] == ["withdrawal", "transfer"]
    assert (await api.get("/healthz")).json() == {"status": "ok"}


async def test_a_failed_transfer_leaves_balances_and_history_unchanged(
    api: httpx.AsyncClient,
) -> None:
    auth = await owner(api)
    a, b = await account(api, auth), await account(api, auth)
    usd = await account(api, auth, "USD")
    await api.post(f"/accounts/{a}/deposit", json={"amount": 50}, headers=auth)
    cases = [
        ({"from_account": a, "to_account": b, "amount": 51}, 409),
        ({"from_account": a, "to_account": a, "amount": 1}, 422),
        ({"from_account": a, "to_account": usd, "amount": 1}, 422),
        ({"from_account": a, "to_account": "656000000000000000000000", "amount": 1}, 404),
        ({"from_account": a, "to_account": b, "amount": 0}, 422),
        ({"from_account": a, "to_account": b, "amount": 1.5}, 422),
        ({"from_account": a, "to_account": b, "amount": "10"}, 422),
        ({"from_account": a, "to_account": b, "amount": 10**13}, 422),
        ({"from_account": {"$gt": ""}, "to_account": b, "amount": 1}, 422),
    ]
    for body, status in cases:
        response = await api.post("/transfers", json=body, headers=auth)
        assert response.status_code == status, (body, response.text)
    assert (await balance(api, auth, a), await balance(api, auth, b)) == (50, 0)
    history = (await api.get(f"/accounts/{a}/transfers", headers=auth)).json()
    assert [t["kind"] for t in history["items"]] == ["deposit"]


async def test_idempotent_retries_move_money_once_even_when_racing(api: httpx.AsyncClient) -> None:
    auth = await owner(api)
    a, b = await account(api, auth), await account(api, auth)
    await api.post(f"/accounts/{a}/deposit", json={"amount": 100}, headers=auth)
    body = {"from_account": a, "to_account": b, "amount": 10}
    headers = {**auth, "Idempotency-Key": "transfer-1"}
    first = await api.post("/transfers", json=body, headers=headers)
    again = await api.post("/transfers", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    other_body = await api.post("/transfers", json={**body, "amount": 11}, headers=headers)
    assert other_body.status_code == 422
    racing = {**auth, "Idempotency-Key": "transfer-2"}
    responses = await asyncio.gather(
        *(api.post("/transfers", json=body, headers=racing) for _ in range(5))
    )
    statuses = sorted(r.status_code for r in responses)
    assert 201 in statuses and set(statuses) <= {201, 409}
    # A racer that got 409 retries and receives the first response.
    retry = await api.post("/transfers", json=body, headers=racing)
    assert retry.status_code == 201
    assert (await balance(api, auth, a), await balance(api, auth, b)) == (80, 20)


async def test_owners_cannot_see_or_move_each_others_money(api: httpx.AsyncClient) -> None:
    ada, bob = await owner(api, "Ada"), await owner(api, "Bob")
    ada_account = await account(api, ada)
    bob_account = await account(api, bob)
    await api.post(f"/accounts/{ada_account}/deposit", json={"amount": 100}, headers=ada)
    assert (await api.get(f"/accounts/{ada_account}", headers=bob)).status_code == 404
    assert (await api.get(f"/accounts/{ada_account}/transfers", headers=bob)).status_code == 404
    steal = {"from_account": ada_account, "to_account": bob_account, "amount": 100}
    assert (await api.post("/transfers", json=steal, headers=bob)).status_code == 404
    assert (await api.get("/accounts", headers=bob)).json()["total"] == 1
    assert (await api.get("/accounts", headers={"Authorization": "Bearer nope"})).status_code == 401
    assert await balance(api, ada, ada_account) == 100


@pytest.mark.slow
async def test_concurrent_random_transfers_conserve_money(api: httpx.AsyncClient) -> None:
    """10 clients x 20 random transfers among 8 accounts; every 2xx recorded exactly once."""
    auth = await owner(api)
    accounts = [await account(api, auth) for _ in range(8)]
    for a in accounts:
        await api.post(f"/accounts/{a}/deposit", json={"amount": 1_000}, headers=auth)
    rng = random.Random(3)
    succeeded: list[dict[str, Any]] = []

    async def client(n: int) -> None:
        for i in range(20):
            src, dst = rng.sample(accounts, 2)
            body = {"from_account": src, "to_account": dst, "amount": rng.randint(1, 400)}
            headers = {**auth, "Idempotency-Key": f"c{n}-{i}"}
            for _ in range(20):  # retry 409 conflicts with the same key
                response = await api.post("/transfers", json=body, headers=headers)
                if response.status_code != 409 or response.json()["detail"] == "Insufficient funds":
                    break
            if response.status_code == 201:
                succeeded.append(response.json())

    await asyncio.gather(*(client(n) for n in range(10)))
    balances = [await balance(api, auth, a) for a in accounts]
    assert sum(balances) == 8_000 and min(balances) >= 0
    recorded: set[str] = set()
    for a in accounts:
        page = (await api.get(f"/accounts/{a}/transfers?limit=100", headers=auth)).json()
        recorded |= {t["id"] for t in page["items"] if t["kind"] == "transfer"}
    assert recorded == {t["id"] for t in succeeded}


async def test_docs_work_offline_from_installed_assets(api: httpx.AsyncClient) -> None:
    for page, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        html = (await api.get(page)).text
        assert f"/static-offline-docs/{asset}" in html
        assert "cdn.jsdelivr.net" not in html
        assert (await api.get(f"/static-offline-docs/{asset}")).status_code == 200
    schema = (await api.get("/openapi.json")).json()
    transfer = schema["paths"]["/transfers"]["post"]
    assert transfer["requestBody"]["content"]["application/json"]["schema"]
    assert {"201", "404", "409", "422"} <= set(transfer["responses"])
    assert schema["components"]["schemas"]["TransferIn"]["examples"]
