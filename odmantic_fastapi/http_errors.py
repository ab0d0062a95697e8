"""The HTTP error mapping: which status and JSON body each database failure is answered with.

Used twice: by the exception handlers ``install`` adds (an error raised in a
route), and by the middleware when the request's commit fails.
"""

import logging
from collections.abc import Mapping
from typing import Any

from pymongo.errors import (
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
)

from ._retry import is_network_error, is_transient, is_unknown_commit
from .exceptions import DocumentNotFoundError, DuplicateKeyError

__all__ = [
    "RETRY_AFTER_SECONDS",
    "TRANSIENT_KEY",
    "CommitFailed",
    "commit_failure",
    "install_exception_handlers",
]

log = logging.getLogger("odmantic_fastapi")

RETRY_AFTER_SECONDS = "1"
#: Set in the request's scope when a route failed on a write conflict.
TRANSIENT_KEY = "odmantic_fastapi.transient"
_CONFLICT = "The request conflicted with a concurrent change and was rolled back; retry it."
_UNAVAILABLE = "The database is unavailable; the request was not applied."


class CommitFailed(Exception):
    """The request's commit failed; carries the response to send instead."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


def commit_failure(exc: PyMongoError) -> CommitFailed:
    """The response for a failed commit (or a write conflict raised in the route)."""
    if is_transient(exc) and not is_unknown_commit(exc):
        return CommitFailed(409, _CONFLICT, {"Retry-After": RETRY_AFTER_SECONDS})
    if is_network_error(exc) or is_unknown_commit(exc):
        return CommitFailed(503, _UNAVAILABLE, {"Retry-After": RETRY_AFTER_SECONDS})
    log.error("commit failed: %s", exc)
    return CommitFailed(500, "The request could not be committed and was rolled back.")


def install_exception_handlers(app: Any) -> None:
    """Answer the ODM's errors with clear JSON instead of a 500.

    - DocumentNotFoundError -> 404
    - DuplicateKeyError -> 409
    - a write conflict (TransientTransactionError) -> 409 with Retry-After
    - the database unreachable (ConnectionFailure) -> 503 with Retry-After
    """
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DocumentNotFoundError)
        return JSONResponse({"detail": f"{exc.model.__name__} not found"}, status_code=404)

    async def duplicate(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DuplicateKeyError)
        return JSONResponse(
            {"detail": f"{exc.model.__name__} already exists with one of these unique values"},
            status_code=409,
        )

    async def operation_failed(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OperationFailure)
        if is_transient(exc):
            # The middleware may run a retrying route again instead of sending this.
            request.scope[TRANSIENT_KEY] = True
            failure = commit_failure(exc)
            return JSONResponse(
                {"detail": failure.detail}, status_code=failure.status, headers=failure.headers
            )
        log.error("database operation failed: %s", exc)
        return JSONResponse({"detail": "The database refused the operation."}, status_code=500)

    async def unreachable(request: Request, exc: Exception) -> JSONResponse:
        # An outage is "retry later" (503), never a bug (500): the transaction in
        # use is aborted by the middleware, as for any response of 400 or more.
        log.warning("database unreachable: %s", exc)
        return JSONResponse(
            {"detail": _UNAVAILABLE},
            status_code=503,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )

    app.add_exception_handler(DocumentNotFoundError, not_found)
    app.add_exception_handler(DuplicateKeyError, duplicate)
    app.add_exception_handler(OperationFailure, operation_failed)
    app.add_exception_handler(ConnectionFailure, unreachable)
