"""Read commands: find, getMore, killCursors, count and distinct."""

import asyncio
from collections.abc import Mapping
from typing import Any

from bson import Int64

from ..errors import CommandError
from ..evaluation.collation import in_collation, parse_collation
from ..evaluation.compare import sort_key
from ..evaluation.matcher import compile_filter
from ..evaluation.paths import get_path_values
from ..evaluation.projection import compile_projection
from ..evaluation.sorting import compile_sort
from ._base import Context, collection_name, command, get_bool, get_document, get_int
from ._capped import is_capped, last_key, tail
from ._documents import filter_arg, let_variables, open_collection, text_fields
from ._find_options import hinted_index, key_index, record_ids, return_key, within_bounds
from ._reading import read_matching, read_snapshot, sort_off_loop
from ._views import is_view

__all__: list[str] = []

# Results up to this many documents are projected on the event loop; more in a worker thread.
_PROJECT_ON_LOOP = 4096


def _batch_size(ctx: Context, source: Mapping[str, Any] | None = None) -> int | None:
    value = get_int(source if source is not None else ctx.cmd, "batchSize")
    if value is not None and value < 0:
        raise CommandError(
            51024, f"BSON field 'batchSize' value must be >= 0, actual value '{value}'"
        )
    return value


@command("find")
async def find(ctx: Context) -> dict[str, Any]:
    name = collection_name(ctx)
    filter = filter_arg(ctx.cmd.get("filter"))
    coll = open_collection(ctx, name, create=False)
    collation = parse_collation(ctx.cmd.get("collation"))
    matcher = compile_filter(
        filter, text_fields=text_fields(coll), variables=let_variables(ctx), collation=collation
    )
    projection = compile_projection(get_document(ctx.cmd, "projection"))
    sort_fn = compile_sort(get_document(ctx.cmd, "sort"), collation)
    skip = get_int(ctx.cmd, "skip") or 0
    limit = get_int(ctx.cmd, "limit") or 0
    if skip < 0:
        raise CommandError(51024, f"BSON field 'skip' value must be >= 0, actual value '{skip}'")
    single_batch = get_bool(ctx.cmd, "singleBatch")
    if limit < 0:
        limit, single_batch = -limit, True
    batch_size = _batch_size(ctx)
    hinted = hinted_index(coll, ctx.cmd.get("hint"))
    low, high = get_document(ctx.cmd, "min"), get_document(ctx.cmd, "max")
    want_key, want_record_id = get_bool(ctx.cmd, "returnKey"), get_bool(ctx.cmd, "showRecordId")
    tailable = get_bool(ctx.cmd, "tailable")
    if tailable and not is_capped(coll):
        raise CommandError(
            2,
            "error processing query: tailable cursor requested on non capped collection",
        )
    if get_bool(ctx.cmd, "awaitData") and not tailable:
        raise CommandError(9, "Cannot set 'awaitData' without also setting 'tailable'")
    with read_snapshot(ctx):
        docs = await read_matching(ctx, coll, filter, matcher)
    more = None
    if tailable and coll is not None:
        # Documents written from now on; awaitData returns at once when there are none.
        more = tail(coll, matcher, last_key(coll))
    docs = within_bounds(hinted, low, high, docs)
    if sort_fn is not None:
        docs = await sort_off_loop(ctx, docs, sort_fn)
    if skip:
        docs = docs[skip:]
    if limit:
        docs = docs[:limit]
    found = docs
    if want_key:
        docs = return_key(key_index(coll, hinted, filter, get_document(ctx.cmd, "sort")), docs)
    elif projection is not None:
        if len(docs) > _PROJECT_ON_LOOP:
            # 200,000 projections held the event loop for half a second.
            apply, found = projection.apply, docs
            docs = await asyncio.to_thread(lambda: [apply(d, matcher=matcher) for d in found])
        else:
            docs = [projection.apply(d, matcher=matcher) for d in docs]
    if want_record_id and not want_key:
        # With returnKey the key is all a document holds, as on MongoDB.
        ids = record_ids(coll, found)
        docs = [
            {**doc, "$recordId": ids.get(coll.key_of(original), Int64(0)) if coll else Int64(0)}
            for doc, original in zip(docs, found, strict=True)
        ]
    if single_batch and batch_size is None:
        batch_size = len(docs)
    cursor = ctx.server.cursors.first_batch(
        f"{ctx.db}.{name}",
        docs,
        batch_size,
        single_batch=single_batch,
        session=ctx.txn.session.lsid if ctx.txn.session else None,
        more=more,
    )
    return {"cursor": cursor, "ok": 1.0}


@command("getMore")
async def get_more(ctx: Context) -> dict[str, Any]:
    cursor_id = ctx.arg
    if isinstance(cursor_id, bool) or not isinstance(cursor_id, int):
        raise CommandError(
            14, "BSON field 'getMore.getMore' is the wrong type, expected type 'long'"
        )
    coll = ctx.cmd.get("collection")
    if not isinstance(coll, str):
        raise CommandError(40414, "BSON field 'getMore.collection' is missing but a required field")
    batch = ctx.server.cursors.get_more(int(cursor_id), f"{ctx.db}.{coll}", _batch_size(ctx))
    return {"cursor": batch, "ok": 1.0}


@command("killCursors")
async def kill_cursors(ctx: Context) -> dict[str, Any]:
    ids = ctx.cmd.get("cursors")
    if not isinstance(ids, list):
        raise CommandError(
            40414, "BSON field 'killCursors.cursors' is missing but a required field"
        )
    killed, not_found = ctx.server.cursors.kill([int(i) for i in ids])
    return {
        "cursorsKilled": [Int64(i) for i in killed],
        "cursorsNotFound": [Int64(i) for i in not_found],
        "cursorsAlive": [],
        "cursorsUnknown": [],
        "ok": 1.0,
    }


@command("count")
async def count(ctx: Context) -> dict[str, Any]:
    name = collection_name(ctx)
    filter = filter_arg(ctx.cmd.get("query"), "query")
    coll = open_collection(ctx, name, create=False)
    skip = get_int(ctx.cmd, "skip") or 0
    limit = abs(get_int(ctx.cmd, "limit") or 0)
    if coll is None:
        return {"n": 0, "ok": 1.0}
    collation = parse_collation(ctx.cmd.get("collation"))
    if not filter and ctx.write_set is None and not is_view(coll):
        n = coll.live_count
    else:
        matcher = compile_filter(filter, text_fields=text_fields(coll), collation=collation)
        with read_snapshot(ctx):
            n = len(await read_matching(ctx, coll, filter, matcher))
    n = max(n - skip, 0)
    if limit:
        n = min(n, limit)
    return {"n": n, "ok": 1.0}


@command("distinct")
async def distinct(ctx: Context) -> dict[str, Any]:
    name = collection_name(ctx)
    key = ctx.cmd.get("key")
    if not isinstance(key, str):
        raise CommandError(
            14, "BSON field 'distinct.key' is the wrong type, expected type 'string'"
        )
    filter = filter_arg(ctx.cmd.get("query"), "query")
    coll = open_collection(ctx, name, create=False)
    collation = parse_collation(ctx.cmd.get("collation"))
    matcher = compile_filter(filter, text_fields=text_fields(coll), collation=collation)
    seen: dict[Any, Any] = {}
    with read_snapshot(ctx):
        docs = await read_matching(ctx, coll, filter, matcher)
    # Values equal under the collation are one value: the first one found.
    with in_collation(collation):
        for doc in docs:
            for value in get_path_values(doc, key):
                values = value if isinstance(value, list) else [value]
                for item in values:
                    seen.setdefault(sort_key(item), item)
        ordered = sorted(seen)
    return {"values": [seen[k] for k in ordered], "ok": 1.0}
