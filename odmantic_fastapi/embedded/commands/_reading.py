"""How read commands share the server: a snapshot, and matching and sorting in a worker thread.

A read command outside a transaction takes a read snapshot (a write set that
never writes). The documents a scan will test are named on the event loop
(they are immutable; see ``Store.scan``), then read, matched, sorted and run through a pipeline in a
worker thread, so the event loop keeps serving other clients meanwhile (the
interpreter hands it the GIL every few milliseconds). Write commands never
leave the event loop, so each stays atomic.
"""

import asyncio
import contextlib
import heapq
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .. import collector
from ..evaluation import budget
from ..evaluation.matcher import Matcher
from ..evaluation.sorting import check_sort_memory
from ..storage.store import Collection
from ._base import Context
from ._views import is_view, view_documents

__all__ = ["read_matching", "read_snapshot", "sort_documents", "sort_off_loop"]

# Documents sorted in one go (a C sort that holds the GIL); longer inputs are
# sorted in runs and merged, so the event loop gets its turns.
_RUN = 4096


@contextlib.contextmanager
def read_snapshot(ctx: Context) -> Iterator[None]:
    """Hold a snapshot of the committed state for this read (a transaction has its own)."""
    if ctx.write_set is not None:
        yield
        return
    store = ctx.server.store
    snapshot = store.begin()
    ctx.read_snapshot = snapshot
    try:
        yield
    finally:
        ctx.read_snapshot = None
        store.abort(snapshot)


async def read_matching(
    ctx: Context, coll: Collection | None, filter: Mapping[str, Any], matcher: Matcher
) -> list[dict[str, Any]]:
    """The matching documents of ``coll`` in the read's view, matched off the event loop."""
    if coll is None:
        return []
    if is_view(coll):
        return await asyncio.to_thread(
            lambda: [doc for doc in view_documents(ctx, coll) if matcher.matches(doc)]
        )
    scan = ctx.server.store.scan(coll, filter, matcher, ctx.read_view)
    if _point_lookup(coll, filter, matcher):
        # One candidate to test: the hand-off to a worker thread would cost far more.
        return [doc for doc in scan if doc is not None]
    return await asyncio.to_thread(lambda: [doc for doc in scan if doc is not None])


def _point_lookup(coll: Collection, filter: Mapping[str, Any], matcher: Matcher) -> bool:
    """Whether the scan reads one document by its ``_id`` (as ``Store._candidates`` decides)."""
    if len(filter) != 1 or "_id" not in filter:
        return False
    value = filter["_id"]
    return (
        not isinstance(value, Mapping | list)
        and (matcher.collation is None or not isinstance(value, str))
        and "timeseries" not in coll.options
    )


def sort_documents(
    docs: list[dict[str, Any]], key: Callable[[Mapping[str, Any]], Any]
) -> list[dict[str, Any]]:
    """``docs`` sorted stably by ``key``, in runs so that a worker thread shares the GIL."""
    # The keys die with the sort: collections in the middle would only promote them.
    with collector.paused():
        return _sorted_runs(docs, key)


def _sorted_runs(
    docs: list[dict[str, Any]], key: Callable[[Mapping[str, Any]], Any]
) -> list[dict[str, Any]]:
    keyed: list[tuple[Any, int]] = []
    for index, doc in enumerate(docs):
        keyed.append((key(doc), index))
        if index & 1023 == 1023:
            budget.check()
    runs = [sorted(keyed[start : start + _RUN]) for start in range(0, len(keyed), _RUN)]
    ordered: list[dict[str, Any]] = []
    for position, (_, index) in enumerate(heapq.merge(*runs)):
        ordered.append(docs[index])
        if position & 1023 == 1023:
            budget.check()
    return ordered


async def sort_off_loop(
    ctx: Context, docs: list[dict[str, Any]], key: Callable[[Mapping[str, Any]], Any]
) -> list[dict[str, Any]]:
    """``docs`` sorted stably by ``key`` in a worker thread.

    A sort over 100 MB fails with 292 unless the command sets ``allowDiskUse``.
    """
    check_sort_memory(docs, bool(ctx.cmd.get("allowDiskUse")))
    return await asyncio.to_thread(sort_documents, docs, key)
