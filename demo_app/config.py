"""Demo settings: where to serve, and where the data lives (embedded server by default)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from odmantic_fastapi.settings import EMBEDDED_URL, MongoSettings

from .limits import DEFAULT_MAX_BODY_BYTES

__all__ = ["DemoSettings", "mongo_settings"]


class DemoSettings(BaseSettings):
    """``DEMO_*`` variables; ``MONGODB_URL`` unset means the embedded server in ``./.data``.

    ``DEMO_MAX_BODY_BYTES`` bounds request bodies (413 above it; 64 KiB by default).
    Set ``DEMO_REQUIRE_MONGODB_URL=true`` (the Docker image does) to make a
    missing ``MONGODB_URL`` a startup error instead of a silent fallback.
    """

    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    data_dir: Path = Path(".data")
    require_mongodb_url: bool = False
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1)


def mongo_settings(demo: DemoSettings, environ: dict[str, str]) -> MongoSettings:
    """The database settings: from the environment, or the embedded server for local use."""
    if environ.get("MONGODB_URL"):
        return MongoSettings()
    if demo.require_mongodb_url:
        raise SystemExit(
            "MONGODB_URL is required (DEMO_REQUIRE_MONGODB_URL is set): point it at a MongoDB "
            "replica set, e.g. mongodb://mongo:27017/?replicaSet=rs0"
        )
    return MongoSettings(
        url=EMBEDDED_URL,
        database=environ.get("MONGODB_DATABASE", "bank"),
        embedded_data_dir=demo.data_dir,
    )
