"""The live feed of an account's movements, over real HTTP to ``python -m demo_app``."""

import json
from typing import Any

import httpx


async def _owner_with_account(api: httpx.AsyncClient, name: str) -> tuple[dict[str, str], str]:
    token = (await api.post("/owners", json={"name": name})).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    account = (await api.post("/accounts", json={"currency": "EUR"}, headers=auth)).json()["id"]
    return auth, account


async def _read_events(response: httpx.Response) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async for line in response.aiter_lines():
        if not line:
            if "data" in current:
                events.append(current)
            current = {}
        elif line.startswith(":"):
            continue
        else:
            key, _, value = line.partition(": ")
            current[key] = json.loads(value) if key == "data" else value
    return events


async def test_the_feed_streams_each_movement_once_committed_and_resumes(demo_url: str) -> None:
    async with httpx.AsyncClient(base_url=demo_url, timeout=30) as api:
        auth, account = await _owner_with_account(api, "Ada")
        other_auth, other_account = await _owner_with_account(api, "Bob")
        feed_url = f"/accounts/{account}/feed"
        async with api.stream("GET", feed_url, params={"max_events": 2}, headers=auth) as feed:
            assert feed.status_code == 200
            assert feed.headers["content-type"].startswith("text/event-stream")
            await api.post(f"/accounts/{account}/deposit", json={"amount": 500}, headers=auth)
            await api.post(
                f"/accounts/{other_account}/deposit", json={"amount": 7}, headers=other_auth
            )
            await api.post(f"/accounts/{account}/withdraw", json={"amount": 200}, headers=auth)
            events = await _read_events(feed)
        assert [e["event"] for e in events] == ["movement", "movement"]
        assert [(e["data"]["kind"], e["data"]["amount"]) for e in events] == [
            ("deposit", 500),
            ("withdrawal", 200),
        ]
        resume = {**auth, "Last-Event-ID": events[0]["id"]}
        async with api.stream("GET", feed_url, params={"max_events": 1}, headers=resume) as again:
            (replayed,) = await _read_events(again)
        assert replayed["id"] == events[1]["id"]
        assert replayed["data"] == events[1]["data"]


async def test_the_feed_is_owner_scoped_checks_its_resume_position_and_is_documented(
    demo_url: str,
) -> None:
    async with httpx.AsyncClient(base_url=demo_url, timeout=30) as api:
        auth, account = await _owner_with_account(api, "Ada")
        other_auth, _ = await _owner_with_account(api, "Bob")
        assert (await api.get(f"/accounts/{account}/feed", headers=other_auth)).status_code == 404
        assert (await api.get(f"/accounts/{account}/feed")).status_code == 401
        bad = {**auth, "Last-Event-ID": "not-a-position"}
        assert (await api.get(f"/accounts/{account}/feed", headers=bad)).status_code == 400
        spec = (await api.get("/openapi.json")).json()
    operation = spec["paths"]["/accounts/{account_id}/feed"]["get"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    assert {p["name"] for p in operation["parameters"]} >= {"account_id", "Last-Event-ID"}
