"""Server-side cursors: first batches, getMore, killCursors and idle expiry.

A cursor holds the (immutable) documents its query produced, so later writes
never change what an open cursor returns and no snapshot has to stay pinned.
"""

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import bson

from .errors import CommandError
from .wire import CODEC_OPTIONS, MAX_BSON_OBJECT_SIZE

__all__ = ["DEFAULT_FIRST_BATCH", "Cursor", "CursorRegistry"]

DEFAULT_FIRST_BATCH = 101
# A getMore without batchSize: mongod fills 16 MiB; we stop earlier too, so that
# encoding one reply never keeps the event loop from other clients for long.
DEFAULT_GET_MORE_BATCH = 4096
# Replies stay within 16 MiB of documents per batch, as mongod's do.
_BATCH_BYTES = MAX_BSON_OBJECT_SIZE
IDLE_TIMEOUT_SECONDS = 600


@dataclass(eq=False)
class Cursor:
    cursor_id: int
    namespace: str
    documents: Sequence[dict[str, Any]]
    position: int = 0
    session: bytes | None = None
    last_used: float = field(default_factory=time.monotonic)
    # A tailable cursor's source of the documents written after its last batch.
    more: Callable[[], tuple[list[dict[str, Any]], Any]] | None = None

    @property
    def exhausted(self) -> bool:
        return self.position >= len(self.documents)


def _take(docs: Sequence[dict[str, Any]], start: int, limit: int | None) -> list[dict[str, Any]]:
    """Up to ``limit`` documents from ``start`` whose encoded size fits one reply."""
    end = min(len(docs), start + (DEFAULT_GET_MORE_BATCH if limit is None else limit))
    batch = list(docs[start:end])
    if len(batch) <= 1:
        return batch
    size = len(bson.encode({"b": batch}, codec_options=CODEC_OPTIONS))
    while size > _BATCH_BYTES and len(batch) > 1:
        batch = batch[: len(batch) // 2]
        size = len(bson.encode({"b": batch}, codec_options=CODEC_OPTIONS))
    return batch


class CursorRegistry:
    """Open cursors by id."""

    def __init__(self) -> None:
        self.cursors: dict[int, Cursor] = {}
        self.total_opened = 0
        self.timed_out = 0

    def first_batch(
        self,
        namespace: str,
        documents: Sequence[dict[str, Any]],
        batch_size: int | None,
        *,
        single_batch: bool = False,
        session: bytes | None = None,
        more: Callable[[], tuple[list[dict[str, Any]], Any]] | None = None,
    ) -> dict[str, Any]:
        """The ``cursor`` document of a find/aggregate reply, registering the rest.

        A tailable cursor (``more``) stays open when it has returned everything.
        """
        limit = DEFAULT_FIRST_BATCH if batch_size is None else batch_size
        batch = _take(documents, 0, limit)
        cursor_id = 0
        if not single_batch and (len(batch) < len(documents) or more is not None):
            cursor_id = secrets.randbits(62) or 1
            self.cursors[cursor_id] = Cursor(
                cursor_id,
                namespace,
                documents,
                position=len(batch),
                session=session,
                more=more,
            )
            self.total_opened += 1
        return {"firstBatch": batch, "id": bson.Int64(cursor_id), "ns": namespace}

    def get_more(self, cursor_id: int, namespace: str, batch_size: int | None) -> dict[str, Any]:
        cursor = self.cursors.get(cursor_id)
        if cursor is None:
            raise CommandError(43, f"cursor id {cursor_id} not found")
        if cursor.namespace != namespace:
            raise CommandError(
                13,
                f"Requested getMore on namespace '{namespace}', but cursor belongs to a "
                f"different namespace {cursor.namespace}",
            )
        if cursor.exhausted and cursor.more is not None:
            try:
                newer, _ = cursor.more()
            except CommandError:
                del self.cursors[cursor_id]
                raise
            cursor.documents = list(cursor.documents[cursor.position :]) + newer
            cursor.position = 0
        batch = _take(cursor.documents, cursor.position, batch_size)
        cursor.position += len(batch)
        cursor.last_used = time.monotonic()
        next_id = cursor_id
        if cursor.exhausted and cursor.more is None:
            del self.cursors[cursor_id]
            next_id = 0
        return {"nextBatch": batch, "id": bson.Int64(next_id), "ns": namespace}

    def kill(self, cursor_ids: list[int]) -> tuple[list[int], list[int]]:
        killed, not_found = [], []
        for cursor_id in cursor_ids:
            if self.cursors.pop(int(cursor_id), None) is None:
                not_found.append(cursor_id)
            else:
                killed.append(cursor_id)
        return killed, not_found

    def kill_session(self, lsid: bytes) -> None:
        for cursor_id, cursor in list(self.cursors.items()):
            if cursor.session == lsid:
                del self.cursors[cursor_id]

    def reap(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        expired = [
            c for c, cur in self.cursors.items() if now - cur.last_used > IDLE_TIMEOUT_SECONDS
        ]
        for cursor_id in expired:
            del self.cursors[cursor_id]
        self.timed_out += len(expired)
        return len(expired)
