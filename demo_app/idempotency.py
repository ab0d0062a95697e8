"""Idempotency-Key: a retried request with the same key and body gets the first response."""

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from odmantic_fastapi import AIOTransaction

from .models import IdempotencyRecord, Owner

__all__ = ["run_idempotent"]

MAX_KEY_LENGTH = 200


def _request_hash(route: str, body: Any) -> str:
    payload = json.dumps({"route": route, "body": jsonable_encoder(body)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


async def run_idempotent(
    tx: AIOTransaction,
    owner: Owner,
    key: str | None,
    route: str,
    body: Any,
    status_code: int,
    operation: Callable[[], Awaitable[dict[str, Any]]],
) -> JSONResponse:
    """Run ``operation`` once per (owner, key); replay its response for identical retries.

    ``operation`` returns the response body ready for JSON (a
    ``model_dump(mode="json")``), sent and stored as it is.

    The record is written in the request's transaction, so it exists exactly
    when the operation's effects were committed. Two retries racing each other
    conflict on the record's unique index: one commits, the other gets 409
    with Retry-After and, retried, reads the stored response.
    """
    if key is None:
        return JSONResponse(await operation(), status_code=status_code)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise HTTPException(
            422,
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters",
        )
    request_hash = _request_hash(route, body)
    existing = await tx.find_one(
        IdempotencyRecord,
        (IdempotencyRecord.owner_id == owner.id) & (IdempotencyRecord.key == key),
    )
    if existing is not None:
        if existing.request_hash != request_hash:
            raise HTTPException(
                422,
                "This Idempotency-Key was used with a different request",
            )
        return JSONResponse(existing.body, status_code=existing.status_code)
    body_out = await operation()
    await tx.save(
        IdempotencyRecord(
            owner_id=owner.id,
            key=key,
            request_hash=request_hash,
            status_code=status_code,
            body=body_out,
        )
    )
    return JSONResponse(body_out, status_code=status_code)
