"""The demo as users run it: a real ``python -m demo_app`` process over HTTP (see conftest)."""

import asyncio
import random
from typing import Any

import httpx
import pytest


@pytest.mark.slow
async def test_fifty_clients_making_random_transfers_keep_every_promise(demo_url: str) -> None:
    """50 clients x 20 random transfers among 20 accounts: money conserved, each 2xx recorded once."""
    async with httpx.AsyncClient(base_url=demo_url, timeout=30) as api:
        token = (await api.post("/owners", json={"name": "Ada"})).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        accounts: list[str] = []
        for _ in range(20):
            accounts.append(
                (await api.post("/accounts", json={"currency": "EUR"}, headers=auth)).json()["id"]
            )
            await api.post(
                f"/accounts/{accounts[-1]}/deposit", json={"amount": 10_000}, headers=auth
            )
        rng = random.Random(11)
        plans = [
            [(*rng.sample(accounts, 2), rng.randint(1, 2_000)) for _ in range(20)]
            for _ in range(50)
        ]
        succeeded: list[dict[str, Any]] = []
        statuses: list[int] = []

        async def client(n: int) -> None:
            for i, (src, dst, amount) in enumerate(plans[n]):
                headers = {**auth, "Idempotency-Key": f"client{n}-{i}"}
                body = {"from_account": src, "to_account": dst, "amount": amount}
                for _ in range(50):
                    response = await api.post("/transfers", json=body, headers=headers)
                    if response.status_code != 409 or "retry" not in response.json()["detail"]:
                        break
                    await asyncio.sleep(0.01)
                statuses.append(response.status_code)
                if response.status_code == 201:
                    succeeded.append(response.json())

        await asyncio.gather(*(client(n) for n in range(50)))
        assert set(statuses) <= {201, 409}
        assert len(statuses) == 1000
        page = (await api.get("/accounts?limit=100", headers=auth)).json()
        balances = [item["balance"] for item in page["items"]]
        assert sum(balances) == 200_000 and min(balances) >= 0
        recorded: dict[str, dict[str, Any]] = {}
        for account_id in accounts:
            offset = 0
            while True:
                history = (
                    await api.get(
                        f"/accounts/{account_id}/transfers?limit=100&offset={offset}", headers=auth
                    )
                ).json()
                for item in history["items"]:
                    if item["kind"] == "transfer":
                        recorded[item["id"]] = item
                offset += 100
                if offset >= history["total"]:
                    break
        assert set(recorded) == {t["id"] for t in succeeded}
        assert len(succeeded) == len({t["id"] for t in succeeded})


async def test_the_money_flow_over_real_http(demo_url: str) -> None:
    async with httpx.AsyncClient(base_url=demo_url) as api:
        token = (await api.post("/owners", json={"name": "Bo"})).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        a = (await api.post("/accounts", json={"currency": "USD"}, headers=auth)).json()["id"]
        b = (await api.post("/accounts", json={"currency": "USD"}, headers=auth)).json()["id"]
        assert (
            await api.post(f"/accounts/{a}/deposit", json={"amount": 90}, headers=auth)
        ).status_code == 201
        moved = await api.post(
            "/transfers", json={"from_account": a, "to_account": b, "amount": 40}, headers=auth
        )
        assert moved.status_code == 201
        # The 2xx means committed: another connection sees it at once.
        async with httpx.AsyncClient(base_url=demo_url) as other:
            assert (await other.get(f"/accounts/{b}", headers=auth)).json()["balance"] == 40
