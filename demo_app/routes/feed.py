"""The live feed: an account's movements as Server-Sent Events, from a change stream."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, status
from fastapi.responses import StreamingResponse
from pymongo.errors import OperationFailure

from odmantic_fastapi import EngineDep, ObjectId, SessionDep
from odmantic_fastapi.change_stream import AIOChangeStream
from odmantic_fastapi.query import or_

from ..models import Transfer
from ..security import CurrentOwner
from ._common import AUTHENTICATED, owned_account, transfer_out

__all__ = ["router"]

router = APIRouter(prefix="/accounts", tags=["accounts"], responses=AUTHENTICATED)
# How long the server waits for a movement before sending a keep-alive comment,
# which is also how soon a feed notices that its client went away.
KEEP_ALIVE_MS = 15_000
_FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "A Server-Sent Events stream: one `movement` event per deposit, withdrawal or "
            "transfer touching the account, its data a transfer as JSON, its id the position "
            "to resume from with `Last-Event-ID`."
        ),
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    400: {"description": "Last-Event-ID is not a position of this feed, or too old"},
    404: {"description": "No such account for this owner"},
}


async def _movements(
    stream: AIOChangeStream[Transfer], max_events: int | None
) -> AsyncIterator[bytes]:
    sent = 0
    try:
        while max_events is None or sent < max_events:
            event = await stream.try_next()
            if event is None:
                yield b": keep-alive\n\n"
                continue
            if event.operation_type != "insert" or event.document is None:
                continue
            body = transfer_out(event.document).model_dump_json()
            position = event.resume_token["_data"]
            yield f"id: {position}\nevent: movement\ndata: {body}\n\n".encode()
            sent += 1
    finally:
        await stream.close()


@router.get(
    "/{account_id}/feed",
    response_class=StreamingResponse,
    responses=_FEED_RESPONSES,
    summary="Live feed of the account's movements (Server-Sent Events)",
)
async def account_feed(
    account_id: ObjectId,
    owner: CurrentOwner,
    session: SessionDep,
    engine: EngineDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    max_events: Annotated[
        int | None, Query(ge=1, description="Close the stream after this many movements")
    ] = None,
) -> StreamingResponse:
    """Movements as they are committed; reconnect with `Last-Event-ID` to miss none."""
    account = await owned_account(session, owner, account_id)
    stream = engine.watch(
        Transfer,
        or_(Transfer.from_account == account.id, Transfer.to_account == account.id),
        resume_after={"_data": last_event_id} if last_event_id else None,
        max_await_time_ms=KEEP_ALIVE_MS,
    )
    try:
        # Opened before the response starts: a client that has the headers misses nothing.
        await stream.__aenter__()
    except (OperationFailure, ValueError) as exc:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "Last-Event-ID is not a position of this feed, or too old to resume from",
        ) from exc
    return StreamingResponse(
        _movements(stream, max_events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )
