"""The demo application: ``create_app()`` wires the routes onto odmantic_fastapi."""

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from odmantic_fastapi import install
from odmantic_fastapi.settings import MongoSettings

from .errors import install_validation_handler
from .limits import DEFAULT_MAX_BODY_BYTES, BodySizeLimit
from .models import Account, IdempotencyRecord, Owner, Transfer
from .routes import accounts, feed, health, owners, transfers

__all__ = ["create_app"]

DESCRIPTION = """
Move money between accounts safely. Every write runs in one MongoDB transaction
per request, committed only if the response is a success. Amounts are integers
in minor units (cents). Send `Idempotency-Key` on deposits, withdrawals and
transfers to make retries safe.
"""


def create_app(
    settings: MongoSettings | None = None, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> FastAPI:
    """The API, on the given database settings (the environment by default).

    Request bodies over ``max_body_bytes`` are answered 413 without being read.
    """
    # Swagger UI and ReDoc assets are served from the installed fastapi-offline
    # package, so /docs and /redoc work without internet access.
    app = FastAPIOffline(
        title="odmantic_fastapi money transfers", version="0.1.0", description=DESCRIPTION
    )
    install(app, models=[Owner, Account, Transfer, IdempotencyRecord], settings=settings)
    install_validation_handler(app)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    for module in (owners, accounts, feed, transfers, health):
        app.include_router(module.router)
    return app
