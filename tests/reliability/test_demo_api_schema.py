"""The demo's OpenAPI schema, fuzzed with schemathesis against a real uvicorn server.

Every operation gets schema-valid and schema-violating requests (schemathesis
4: examples, coverage and fuzzing phases, positive and negative modes),
authenticated with the bearer token of a real signup. Path parameters and
transfer bodies are sometimes swapped for ids of real accounts and movements,
so the success paths (201, 409 insufficient funds) are reached and not only
404s. Each response must:

- not be a server error (5xx);
- have a status code the schema documents for the operation;
- match the documented content type, headers and body schema.

The deviations this found (401 and 400 undocumented, created_at without a
UTC offset) are fixed in the demo; the tests at the end keep them fixed. No
response-time check: the machine is shared.
"""

import collections
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import strategies as st
from pymongo import MongoClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from demo_app import create_app
from odmantic_fastapi.settings import MongoSettings
from odmantic_fastapi.testing import serve_with_uvicorn

from ._support import FULL, record_figures, scaled

# The schema the demo serves at /openapi.json; building the app does not connect.
_OPENAPI = create_app(MongoSettings(url="mongodb://127.0.0.1:9", database="unused")).openapi()

schema = schemathesis.openapi.from_dict(
    _OPENAPI,
    config=schemathesis.Config.from_dict(
        {
            "generation": {
                "mode": "all",
                "max-examples": scaled(25),
                # CI replays the same cases; full runs draw new ones every time.
                "deterministic": not FULL,
                "database": "none",
                # The token is always sent (below); stripping it only yields 401s, which
                # test_every_secured_operation_documents_401 checks are documented.
                "with-security-parameters": False,
            }
        }
    ),
).exclude(
    # The live feed is an endless event stream: tests/demo/test_feed.py covers it.
    path="/accounts/{account_id}/feed"
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

_OBJECT_ID = re.compile(r"[0-9a-f]{24}")

# Real ids, filled in by the `demo` fixture before any case is generated.
_LIVE: dict[str, list[str]] = {"account": [], "transfer": []}
_STATUSES: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)


def _live(kind: str, value: Any) -> st.SearchStrategy[Any]:
    """One of the real ids, or the generated one (only replaces a well-formed id)."""
    if not _LIVE[kind] or not isinstance(value, str) or not _OBJECT_ID.fullmatch(value):
        return st.just(value)
    return st.sampled_from([*_LIVE[kind], value])


def _affordable(value: Any) -> st.SearchStrategy[Any]:
    """A small amount, or the generated one (only replaces a valid amount)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 10**12:
        return st.just(value)
    return st.sampled_from([1, 250, value])


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: Any) -> st.SearchStrategy[Any]:
    if not isinstance(path_parameters, dict):
        return st.just(path_parameters)
    kinds = {"account_id": "account", "transfer_id": "transfer"}
    return st.fixed_dictionaries(
        {
            name: _live(kinds[name], value) if name in kinds else st.just(value)
            for name, value in path_parameters.items()
        }
    )


@schema.hook
def flatmap_headers(context: Any, headers: Any) -> st.SearchStrategy[Any]:
    """A fresh Idempotency-Key at times: short generated keys collide across bodies (422)."""
    if not isinstance(headers, dict) or not isinstance(headers.get("Idempotency-Key"), str):
        return st.just(headers)
    fresh = st.uuids().map(lambda key: {**headers, "Idempotency-Key": str(key)})
    return st.one_of(st.just(headers), fresh)


@schema.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    if not isinstance(body, dict):
        return st.just(body)
    amount: st.SearchStrategy[Any] = st.just(body)
    if "amount" in body:
        amount = _affordable(body["amount"]).map(lambda value: {**body, "amount": value})
    ends = (body.get("from_account"), body.get("to_account"))
    if not _LIVE["account"] or not all(
        isinstance(e, str) and _OBJECT_ID.fullmatch(e) for e in ends
    ):
        return amount
    # Two different real accounts: the same one twice is only ever a 422.
    pairs = st.lists(st.sampled_from(_LIVE["account"]), min_size=2, max_size=2, unique=True)
    return st.one_of(
        st.tuples(pairs, amount).map(
            lambda drawn: {**drawn[1], "from_account": drawn[0][0], "to_account": drawn[0][1]}
        ),
        amount,
    )


@pytest.fixture(scope="module")
def demo(
    mongodb_url: str, mongodb_client: MongoClient[dict[str, object]]
) -> Iterator[tuple[str, dict[str, str]]]:
    """The demo on uvicorn with an owner, accounts, money and movements; (url, auth headers)."""
    database = f"test_{uuid.uuid4().hex[:20]}"
    app = create_app(MongoSettings(url=mongodb_url, database=database))
    try:
        with serve_with_uvicorn(app) as url, httpx.Client(base_url=url, timeout=30) as api:
            assert api.get("/openapi.json").json() == _OPENAPI
            token = api.post("/owners", json={"name": "fuzz"}).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            for currency in ("EUR", "EUR", "EUR", "USD"):
                account = api.post("/accounts", json={"currency": currency}, headers=auth).json()
                _LIVE["account"].append(account["id"])
                moved = api.post(
                    f"/accounts/{account['id']}/deposit", json={"amount": 10_000}, headers=auth
                )
                _LIVE["transfer"].append(moved.json()["id"])
            yield url, auth
            record_figures(
                "demo_api_schema",
                {
                    "max_examples_per_operation": scaled(25),
                    "cases": sum(sum(c.values()) for c in _STATUSES.values()),
                    "statuses_by_operation": {
                        operation: " ".join(f"{code}x{n}" for code, n in sorted(counts.items()))
                        for operation, counts in sorted(_STATUSES.items())
                    },
                },
            )
    finally:
        _LIVE["account"].clear()
        _LIVE["transfer"].clear()
        mongodb_client.drop_database(database)


@schema.parametrize()
def test_every_response_is_documented_and_no_server_error(
    case: Any, demo: tuple[str, dict[str, str]]
) -> None:
    url, auth = demo
    response = case.call_and_validate(base_url=url, headers=auth, checks=CHECKS)
    _STATUSES[f"{case.operation.method.upper()} {case.operation.path}"][response.status_code] += 1


# -- deviations found once, kept fixed -----------------------------------------


def _secured_operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in _OPENAPI["paths"].items():
        for method, operation in methods.items():
            if operation.get("security"):
                yield method, path, operation


def test_every_secured_operation_documents_401() -> None:
    undocumented = [
        f"{method.upper()} {path}"
        for method, path, operation in _secured_operations()
        if "401" not in operation["responses"]
    ]
    assert not undocumented


def test_an_unreadable_body_gets_a_documented_400(demo: tuple[str, dict[str, str]]) -> None:
    url, auth = demo
    headers = {**auth, "Content-Type": "application/json"}
    response = httpx.post(f"{url}/accounts", content=b"\xff", headers=headers)
    assert str(response.status_code) in _OPENAPI["paths"]["/accounts"]["post"]["responses"]


def test_created_at_carries_its_utc_offset(
    demo: tuple[str, dict[str, str]],
) -> None:
    url, auth = demo
    account = httpx.post(f"{url}/accounts", json={"currency": "EUR"}, headers=auth).json()
    assert re.search(r"(Z|[+-]\d\d:\d\d)$", account["created_at"]), account["created_at"]
