"""Hostile input to the demo API: every answer is a clear 4xx, small, and nothing is stored.

Each test counts the owners through a separate client afterwards: a refused
request must leave the database exactly as it was.
"""

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pymongo import MongoClient

from demo_app import create_app
from demo_app.errors import ECHO_CHARACTERS
from odmantic_fastapi.settings import MongoSettings
from odmantic_fastapi.testing import serve_with_uvicorn

LIMIT = 4096


@pytest.fixture
async def api(mongodb_url: str, mongodb_database_name: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = MongoSettings(url=mongodb_url, database=mongodb_database_name)
    app = create_app(settings, max_body_bytes=LIMIT)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            yield client


@pytest.fixture
def owners_stored(
    mongodb_client: MongoClient[dict[str, object]], mongodb_database_name: str
) -> Iterator[Callable[[], int]]:
    """Counts the stored owners through a client of its own."""
    collection = mongodb_client[mongodb_database_name]["owner"]
    yield lambda: collection.count_documents({})


JSON = {"content-type": "application/json"}


async def test_a_lone_surrogate_is_a_422_that_shows_it_escaped(
    api: httpx.AsyncClient, owners_stored: Callable[[], int]
) -> None:
    response = await api.post("/owners", content=b'{"name": "Ada\\ud800"}', headers=JSON)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "name"]
    assert error["input"] == "Ada\\ud800"
    assert owners_stored() == 0


async def test_bytes_that_are_not_utf8_are_refused_with_a_4xx(
    api: httpx.AsyncClient, owners_stored: Callable[[], int]
) -> None:
    response = await api.post("/owners", content=b'{"name": "\xff"}', headers=JSON)
    assert response.status_code == 400
    assert response.json() == {"detail": "There was an error parsing the body"}
    # A surrogate encoded as if it were a character (CESU-8): not UTF-8 either.
    response = await api.post("/owners", content=b'{"name": "\xed\xa0\x80"}', headers=JSON)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "name"]
    assert owners_stored() == 0


async def test_a_declared_body_over_the_limit_is_a_413_before_it_is_read(
    api: httpx.AsyncClient, owners_stored: Callable[[], int]
) -> None:
    body = b'{"name": "' + b"x" * LIMIT + b'"}'
    response = await api.post("/owners", content=body, headers=JSON)
    assert response.status_code == 413
    assert response.json() == {"detail": f"The request body is larger than {LIMIT} bytes."}
    assert owners_stored() == 0


async def test_a_streamed_body_is_cut_off_with_a_413_once_it_passes_the_limit(
    api: httpx.AsyncClient, owners_stored: Callable[[], int]
) -> None:
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        # No Content-Length: the limit must be enforced while the body arrives.
        nonlocal sent
        yield b'{"name": "'
        for _ in range(64):
            sent += 1024
            yield b"x" * 1024
        yield b'"}'

    response = await api.post("/owners", content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert owners_stored() == 0


async def test_a_body_at_the_limit_is_read(api: httpx.AsyncClient) -> None:
    name = "Ada"
    padding = LIMIT - len(f'{{"name": "{name}", "x": ""}}'.encode())
    body = f'{{"name": "{name}", "x": "{"y" * padding}"}}'.encode()
    assert len(body) == LIMIT
    response = await api.post("/owners", content=body, headers=JSON)
    # Read in full: refused by validation (an extra field), not by size.
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "extra_forbidden"


async def test_a_422_echoes_at_most_a_few_dozen_characters_of_each_input(
    api: httpx.AsyncClient, owners_stored: Callable[[], int]
) -> None:
    big = "z" * 1000  # three of them and the list stay under the 4 KiB limit
    response = await api.post(
        "/owners", json={"name": big, big: [1] * 100, "nested": {"a": big}}, headers=JSON
    )
    assert response.status_code == 422
    assert len(response.content) < 1000
    by_type = {error["type"]: error for error in response.json()["detail"]}
    too_long = by_type["string_too_long"]
    assert too_long["input"] == "z" * ECHO_CHARACTERS + "… (1000 characters)"
    extra_locations = [
        e["loc"] for e in response.json()["detail"] if e["type"] == "extra_forbidden"
    ]
    assert ["body", "z" * ECHO_CHARACTERS + "… (1000 characters)"] in extra_locations
    extra_inputs = {
        str(e["input"]) for e in response.json()["detail"] if e["type"] == "extra_forbidden"
    }
    assert extra_inputs == {"<array of 100 items>", "<object of 1 keys>"}
    assert owners_stored() == 0


def test_under_uvicorn_an_oversized_body_is_a_413_and_the_server_keeps_serving(
    mongodb_url: str, mongodb_database_name: str, owners_stored: Callable[[], int]
) -> None:
    app = create_app(MongoSettings(url=mongodb_url, database=mongodb_database_name))
    with serve_with_uvicorn(app) as url:
        huge = httpx.post(f"{url}/owners", content=b"x" * (1 << 20), headers=JSON, timeout=30)
        assert huge.status_code == 413
        assert owners_stored() == 0
        assert httpx.post(f"{url}/owners", json={"name": "Ada"}, timeout=30).status_code == 201
        assert owners_stored() == 1


def test_an_unreachable_database_stops_the_demo_with_one_line_naming_the_host() -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "demo_app"],
        env={
            "PATH": "/usr/bin:/bin",
            "MONGODB_URL": "mongodb://bob:s3cret@127.0.0.1:1/?serverSelectionTimeoutMS=500",
            "DEMO_PORT": "0",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("demo_app: cannot reach MongoDB at 127.0.0.1:1 within 0.5 s (")
    assert "MONGODB_URL" in line
    assert "s3cret" not in line and "bob" not in line
    assert time.monotonic() - started < 30
