"""Tutorial step 6, end to end: the app on a real uvicorn server, called over HTTP."""

import httpx
import pytest

from docs_src.tutorial.fastapi_app import app
from odmantic_fastapi.testing import serve_with_uvicorn


def test_account_over_http(
    mongodb_url: str, mongodb_database_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONGODB_URL", mongodb_url)
    monkeypatch.setenv("MONGODB_DATABASE", mongodb_database_name)
    with serve_with_uvicorn(app) as base_url, httpx.Client(base_url=base_url) as client:
        assert client.post("/accounts/ada").status_code == 201
        assert client.post("/accounts/ada").status_code == 409  # unique owner
        assert client.get("/accounts/ada").json()["balance"] == 0
