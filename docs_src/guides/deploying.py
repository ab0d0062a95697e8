"""Guide: connection settings from the environment, and an app wired with them."""

from fastapi import FastAPI

from odmantic_fastapi import install
from odmantic_fastapi.settings import MongoSettings


def production_app() -> FastAPI:
    # Every field reads MONGODB_<NAME>: MONGODB_URL, MONGODB_MAX_POOL_SIZE, MONGODB_TLS...
    settings = MongoSettings()
    app = FastAPI()
    install(app, settings=settings)
    return app


def pool_and_timeouts(url: str) -> MongoSettings:
    # The same settings in code; unset options keep pymongo's defaults.
    return MongoSettings(
        url=url,
        database="shop",
        app_name="shop-api",
        max_pool_size=50,
        min_pool_size=5,
        server_selection_timeout_ms=5_000,
        connect_timeout_ms=2_000,
    )
