"""Where the demo's data lives: the embedded server locally, MONGODB_URL in production."""

from pathlib import Path

import pytest

from demo_app.config import DemoSettings, mongo_settings


def test_without_mongodb_url_the_demo_uses_the_embedded_server_in_dot_data() -> None:
    settings = mongo_settings(DemoSettings(), {})
    assert settings.uses_embedded_server
    assert settings.embedded_data_dir == Path(".data")


def test_mongodb_url_wins_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URL", "mongodb://db.example:27017/?replicaSet=rs0")
    settings = mongo_settings(
        DemoSettings(), {"MONGODB_URL": "mongodb://db.example:27017/?replicaSet=rs0"}
    )
    assert not settings.uses_embedded_server


def test_a_required_but_missing_mongodb_url_fails_fast_with_a_clear_message() -> None:
    with pytest.raises(SystemExit, match="MONGODB_URL is required"):
        mongo_settings(DemoSettings(require_mongodb_url=True), {})
