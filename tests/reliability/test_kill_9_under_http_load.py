"""kill -9 of the database under HTTP load: the demo keeps every promise it made.

The embedded server runs as a child process with a data directory; the demo
runs as ``python -m demo_app`` on it. Eight clients move money between the
accounts of three owners (transfers, deposits, withdrawals), each request
carrying an Idempotency-Key and retried with that key until it gets a final
answer (201, or 409 Insufficient funds). Meanwhile the server is SIGKILLed at
random moments and restarted on the same port and data directory, so the
demo's driver reconnects by itself. At the end, read straight from the
database:

- every 201 the clients received is stored (its Transfer document exists and
  GET /transfers/{id} returns it), and nothing else is: no ghost movements;
- every account's balance equals its deposits, minus withdrawals, plus what it
  received, minus what it sent, according to the stored movements, and no
  balance is negative;
- the sum of balances equals acknowledged deposits minus acknowledged
  withdrawals.
"""

import asyncio
import collections
import datetime
import itertools
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from odmantic_fastapi.embedded import ServerProcess

from ._support import free_port, open_account, record_figures, running_demo, scaled, sign_up

CLIENTS = 8
OWNERS = 3
ACCOUNTS_PER_OWNER = 4
OPENING_DEPOSIT = 50_000
KILLS = scaled(5)
# Load between two kills, seconds (a seeded draw in this range), and the final stretch.
LOAD_BETWEEN_KILLS = (0.8, 1.6)
# A request without a final answer this long after it was first sent fails the test.
GIVE_UP_AFTER = 45.0


@dataclass
class Ledger:
    """What the clients were told, and what they saw on the way."""

    acknowledged: dict[str, dict[str, Any]] = field(default_factory=dict)
    insufficient_funds: int = 0
    unresolved: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    retried: collections.Counter[str] = field(default_factory=collections.Counter)
    success_times: list[float] = field(default_factory=list)


@dataclass
class Owner:
    auth: dict[str, str]
    accounts: list[str]


async def _final_answer(
    api: httpx.AsyncClient, ledger: Ledger, path: str, body: dict[str, Any], headers: dict[str, str]
) -> None:
    """Send (and resend, same key) until a final answer; record it."""
    key = headers["Idempotency-Key"]
    deadline = time.monotonic() + GIVE_UP_AFTER
    while True:
        try:
            response = await api.post(path, json=body, headers=headers)
        except httpx.TransportError as exc:
            ledger.retried[f"transport:{type(exc).__name__}"] += 1
        else:
            status = response.status_code
            if status == 201:
                ledger.acknowledged[key] = response.json()
                ledger.success_times.append(time.monotonic())
                return
            if status == 409 and "retry-after" not in response.headers:
                ledger.insufficient_funds += 1
                return
            if status < 500 and status != 409:
                ledger.unexpected.append(f"{path} {body} -> {status} {response.text}")
                return
            ledger.retried[str(status)] += 1
        if time.monotonic() > deadline:
            ledger.unresolved.append(f"{path} {body} key={key}")
            return
        await asyncio.sleep(0.05)


async def _client(
    number: int, api: httpx.AsyncClient, owners: list[Owner], ledger: Ledger, stop: asyncio.Event
) -> None:
    rng = random.Random(number)
    owner = owners[number % len(owners)]
    sent = 0
    while not stop.is_set():
        headers = {**owner.auth, "Idempotency-Key": f"client{number}-{sent}"}
        sent += 1
        roll = rng.random()
        if roll < 0.7:
            source, target = rng.sample(owner.accounts, 2)
            body: dict[str, Any] = {
                "from_account": source,
                "to_account": target,
                "amount": rng.randint(1, 20_000),
            }
            await _final_answer(api, ledger, "/transfers", body, headers)
        else:
            kind = "deposit" if roll < 0.85 else "withdraw"
            account = rng.choice(owner.accounts)
            body = {"amount": rng.randint(1, 20_000)}
            await _final_answer(api, ledger, f"/accounts/{account}/{kind}", body, headers)


async def _open_accounts(api: httpx.AsyncClient, ledger: Ledger) -> list[Owner]:
    owners: list[Owner] = []
    for n in range(OWNERS):
        auth = await sign_up(api, f"owner{n}")
        accounts = []
        for _ in range(ACCOUNTS_PER_OWNER):
            accounts.append(await open_account(api, auth))
            headers = {**auth, "Idempotency-Key": f"opening-{accounts[-1]}"}
            body = {"amount": OPENING_DEPOSIT}
            await _final_answer(api, ledger, f"/accounts/{accounts[-1]}/deposit", body, headers)
        owners.append(Owner(auth=auth, accounts=accounts))
    return owners


def _check_the_database(url: str, ledger: Ledger) -> dict[str, int]:
    """The invariants, read from the database itself; returns a few counts."""
    client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=10_000)
    try:
        db = client.bank
        movements = {str(m["_id"]): m for m in db.transfer.find()}
        acknowledged_ids = {body["id"] for body in ledger.acknowledged.values()}
        missing = acknowledged_ids - set(movements)
        assert not missing, f"{len(missing)} acknowledged movements are gone: {sorted(missing)[:5]}"
        ghosts = set(movements) - acknowledged_ids
        assert not ghosts, f"{len(ghosts)} stored movements nobody was told about"
        assert db.idempotency_keys.count_documents({}) == len(ledger.acknowledged)

        expected: collections.Counter[str] = collections.Counter()
        for m in movements.values():
            if m["kind"] in ("deposit", "transfer"):
                expected[str(m["to_account"])] += m["amount"]
            if m["kind"] in ("withdrawal", "transfer"):
                expected[str(m["from_account"])] -= m["amount"]
        balances = {str(a["_id"]): a["balance"] for a in db.account.find()}
        assert balances == {account: expected[account] for account in balances}
        assert min(balances.values()) >= 0

        told = collections.Counter(body["kind"] for body in ledger.acknowledged.values())
        deposited = sum(b["amount"] for b in ledger.acknowledged.values() if b["kind"] == "deposit")
        withdrawn = sum(
            b["amount"] for b in ledger.acknowledged.values() if b["kind"] == "withdrawal"
        )
        assert sum(balances.values()) == deposited - withdrawn
        return {
            "acknowledged_transfers": told["transfer"],
            "acknowledged_deposits": told["deposit"],
            "acknowledged_withdrawals": told["withdrawal"],
            "total_balance": sum(balances.values()),
        }
    finally:
        client.close()


async def _every_acknowledged_movement_is_served(
    api: httpx.AsyncClient, owners: list[Owner], ledger: Ledger, rng: random.Random
) -> None:
    """GET /transfers/{id} returns each of a sample of acknowledged movements as first answered."""
    auth_of = {account: owner.auth for owner in owners for account in owner.accounts}
    sample = rng.sample(sorted(ledger.acknowledged), min(50, len(ledger.acknowledged)))
    for key in sample:
        body = ledger.acknowledged[key]
        auth = auth_of[body["to_account"] or body["from_account"]]
        fetched = await api.get(f"/transfers/{body['id']}", headers=auth)
        assert fetched.status_code == 200, fetched.text
        assert _instants(fetched.json()) == _instants(body)


def _instants(movement: dict[str, Any]) -> dict[str, Any]:
    """The movement with created_at as a datetime: 'Z' and '+00:00' name the same instant."""
    return {**movement, "created_at": datetime.datetime.fromisoformat(movement["created_at"])}


@pytest.mark.slow
async def test_kill_9_under_http_load_keeps_every_acknowledged_movement(tmp_path: Path) -> None:
    rng = random.Random(9)
    port = free_port()
    data_dir = tmp_path / "data"
    server = ServerProcess(port=port, data_dir=data_dir)
    mongodb_url = await asyncio.to_thread(server.start)
    ledger = Ledger()
    restart_seconds: list[float] = []
    restarted_at: list[float] = []
    started = time.monotonic()
    try:
        with running_demo(mongodb_url, "bank", tmp_path / "demo.log") as demo:
            async with httpx.AsyncClient(base_url=demo.url, timeout=30) as api:
                owners = await _open_accounts(api, ledger)
                stop = asyncio.Event()
                clients = [
                    asyncio.create_task(_client(n, api, owners, ledger, stop))
                    for n in range(CLIENTS)
                ]
                load_began = time.monotonic()
                for _ in range(KILLS):
                    await asyncio.sleep(rng.uniform(*LOAD_BETWEEN_KILLS))
                    await asyncio.to_thread(server.kill)
                    killed = time.monotonic()
                    # Same port and data directory: the demo's driver finds it again.
                    server = ServerProcess(port=port, data_dir=data_dir)
                    await asyncio.to_thread(server.start)
                    restarted_at.append(time.monotonic())
                    restart_seconds.append(restarted_at[-1] - killed)
                await asyncio.sleep(LOAD_BETWEEN_KILLS[1])
                stop.set()
                await asyncio.gather(*clients)
                await _every_acknowledged_movement_is_served(api, owners, ledger, rng)
        assert not ledger.unresolved, ledger.unresolved[:5]
        assert not ledger.unexpected, ledger.unexpected[:5]
        # Money moved before the first kill and again after every restart.
        rounds = [load_began, *restarted_at, float("inf")]
        per_round = [
            sum(begin < t <= end for t in ledger.success_times)
            for begin, end in itertools.pairwise(rounds)
        ]
        assert all(per_round), per_round
        counts = await asyncio.to_thread(_check_the_database, server.url, ledger)
    finally:
        await asyncio.to_thread(server.stop)
    back_after = [
        min(t for t in ledger.success_times if t > restart) - restart for restart in restarted_at
    ]
    record_figures(
        "kill_9_under_http_load",
        {
            "kills": KILLS,
            "clients": CLIENTS,
            "seconds": round(time.monotonic() - started, 1),
            "restart_seconds_max": round(max(restart_seconds), 2),
            "first_201_after_restart_seconds_max": round(max(back_after), 2),
            "successes_per_round": per_round,
            "insufficient_funds": ledger.insufficient_funds,
            "retried": dict(sorted(ledger.retried.items())),
            **counts,
        },
    )
