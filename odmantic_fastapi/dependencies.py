"""FastAPI integration: ``install(app)``, and the get_engine/get_session/get_transaction dependencies.

A request gets one session, and at most one transaction on it. Whether that
transaction commits is decided by the response status, at the moment the
response starts and before any byte of it reaches the client: below 400 it
commits, otherwise it aborts. The decision is taken in a small ASGI middleware
because a ``yield`` dependency's exit code runs too late (after the response
is produced) and cannot see a status the route set by returning a Response.

    app = FastAPI()
    odmantic_fastapi.install(app, models=[Account])

    @app.post("/transfers")
    async def transfer(body: TransferIn, tx: TransactionDep) -> TransferOut: ...

This is the only module, with :mod:`odmantic_fastapi.lifespan`, that imports FastAPI.
"""

from typing import Annotated

from fastapi import Depends, Request

from .engine import AIOEngine
from .lifespan import RequestDatabase, install, install_exception_handlers, open_engine
from .session import AIOSession, AIOTransaction

__all__ = [
    "RETRY_ATTEMPTS",
    "EngineDep",
    "RetryingTransactionDep",
    "SessionDep",
    "TransactionDep",
    "get_engine",
    "get_retrying_transaction",
    "get_session",
    "get_transaction",
    "install",
    "install_exception_handlers",
    "open_engine",
]

_NOT_INSTALLED = (
    "{name} needs odmantic_fastapi's wiring: call odmantic_fastapi.install(app, ...) when you "
    "create the FastAPI app (and run the app's lifespan, e.g. with asgi-lifespan in tests), so "
    "the request's transaction is committed or aborted from the response status"
)


def _request_database(request: Request, name: str) -> RequestDatabase:
    state = request.scope.get(RequestDatabase.SCOPE_KEY)
    if not isinstance(state, RequestDatabase):
        raise RuntimeError(_NOT_INSTALLED.format(name=name))
    return state


def get_engine(request: Request) -> AIOEngine:
    """The application's engine, opened by ``install``'s lifespan."""
    return _request_database(request, "get_engine").engine


async def get_session(request: Request) -> AIOSession:
    """The request's session, started on first use and ended when the response starts."""
    return await _request_database(request, "get_session").session()


async def get_transaction(request: Request) -> AIOTransaction:
    """The request's transaction: committed if the response status is below 400, else aborted."""
    return await _request_database(request, "get_transaction").transaction()


RETRY_ATTEMPTS = 3


async def get_retrying_transaction(request: Request) -> AIOTransaction:
    """Like :func:`get_transaction`, for routes that are safe to run again from the start.

    On a write conflict (TransientTransactionError) the whole request, its
    dependencies included, runs again with its body replayed, up to
    ``RETRY_ATTEMPTS`` times, before the client sees anything. Use it only for
    routes whose only effects go through the transaction.
    """
    state = _request_database(request, "get_retrying_transaction")
    state.max_attempts = RETRY_ATTEMPTS
    return await state.transaction()


EngineDep = Annotated[AIOEngine, Depends(get_engine)]
SessionDep = Annotated[AIOSession, Depends(get_session)]
TransactionDep = Annotated[AIOTransaction, Depends(get_transaction)]
RetryingTransactionDep = Annotated[AIOTransaction, Depends(get_retrying_transaction)]
