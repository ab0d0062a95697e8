"""The aggregate command: a pipeline over a collection (or a collectionless source), as the caller's snapshot sees it."""

import asyncio
import datetime
import hashlib
import time
from collections.abc import Mapping
from typing import Any

from bson import Binary

from ..errors import CommandError
from ..evaluation.aggregate import run_pipeline, validate_pipeline
from ..evaluation.collation import Collation, collated, parse_collation
from ..evaluation.expressions import evaluate
from ..evaluation.matcher import compile_filter
from ._base import Context, command, get_document, get_int
from ._documents import let_variables, open_collection, text_fields
from ._pipeline_writes import check_output_stage, write_output
from ._reading import read_matching, read_snapshot
from ._views import SnapshotContext
from .search_indexes import LIST_SEARCH_INDEXES_ERROR

__all__: list[str] = []


@command("aggregate")
async def aggregate(ctx: Context) -> dict[str, Any]:
    name = ctx.arg
    pipeline = ctx.cmd.get("pipeline")
    if not isinstance(pipeline, list) or not all(isinstance(s, dict) for s in pipeline):
        raise CommandError(14, "'pipeline' option must be specified as an array")
    if ctx.cmd.get("explain"):
        raise CommandError(2, "explain is not supported by the embedded server")
    cursor_opts = get_document(ctx.cmd, "cursor")
    if cursor_opts is None:
        raise CommandError(
            9, "The 'cursor' option is required, except for aggregate with the explain argument"
        )
    batch_size = get_int(cursor_opts, "batchSize")
    if pipeline and "$listSearchIndexes" in pipeline[0]:
        raise CommandError(*LIST_SEARCH_INDEXES_ERROR)
    output = check_output_stage(ctx, pipeline)
    if output is not None:
        pipeline = pipeline[:-1]
        # The pipeline writes: it takes the write gate as write commands do.
        ctx.gated = True
        await ctx.take_gate()
    variables = let_variables(ctx)
    collation = parse_collation(ctx.cmd.get("collation"))
    if name == 1 and not isinstance(name, bool):
        source, rest = _database_source(ctx, pipeline, variables)
        validate_pipeline(rest)
        namespace = f"{ctx.db}.$cmd.aggregate"
        with read_snapshot(ctx):
            docs = await _run_rest(ctx, source, rest, variables, collation)
    else:
        if not isinstance(name, str):
            raise CommandError(
                73, "aggregate needs a collection name, or 1 for a collectionless pipeline"
            )
        namespace = f"{ctx.db}.{name}"
        coll = open_collection(ctx, name, create=False)
        # A leading $match narrows the input through the collection's indexes;
        # it is the one place $text may appear, so it is checked with them.
        first_match: dict[str, Any] = {}
        rest = pipeline
        if pipeline and "$match" in pipeline[0] and isinstance(pipeline[0]["$match"], dict):
            first_match = pipeline[0]["$match"]
            rest = pipeline[1:]
        matcher = compile_filter(
            first_match, text_fields=text_fields(coll), variables=variables, collation=collation
        )
        validate_pipeline(rest)
        with read_snapshot(ctx):
            source = await read_matching(ctx, coll, first_match, matcher)
            docs = await _run_rest(ctx, source, rest, variables, collation)
    if output is not None:
        await write_output(ctx, output, docs)
        docs = []
    cursor = ctx.server.cursors.first_batch(
        namespace,
        docs,
        batch_size,
        session=ctx.txn.session.lsid if ctx.txn.session else None,
    )
    return {"cursor": cursor, "ok": 1.0}


async def _run_rest(
    ctx: Context,
    source: list[dict[str, Any]],
    rest: list[dict[str, Any]],
    variables: dict[str, Any],
    collation: Collation | None,
) -> list[dict[str, Any]]:
    if not rest:
        return source
    # Every collection a stage reads is read now, on the event loop, in this
    # snapshot; the pipeline then runs in a worker thread.
    context = SnapshotContext(ctx, rest)
    run = collated(collation, run_pipeline)
    return await asyncio.to_thread(run, source, rest, context, variables)


def _database_source(
    ctx: Context, pipeline: list[dict[str, Any]], variables: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A collectionless pipeline's input (its first stage's documents), and the stages after it."""
    first = next(iter(pipeline[0]), "") if pipeline else ""
    if first == "$documents":
        value = evaluate(pipeline[0][first], {}, variables)
        if not isinstance(value, list) or not all(isinstance(d, dict) for d in value):
            raise CommandError(5858203, "an array of documents must be specified to '$documents'")
        return [dict(d) for d in value], pipeline[1:]
    if first == "$listLocalSessions":
        return _local_sessions(ctx, pipeline[0][first]), pipeline[1:]
    if first == "$currentOp":
        if ctx.db != "admin":
            raise CommandError(
                73,
                "$currentOp must be run against the 'admin' database with {aggregate: 1}",
            )
        return [_current_op(ctx)], pipeline[1:]
    stage = first or "an empty pipeline"
    raise CommandError(
        73, f"{{aggregate: 1}} is not valid for '{stage}'; a collection is required."
    )


# Without users, every session belongs to the same unauthenticated user: SHA-256 of "".
_NO_USER_UID = Binary(hashlib.sha256(b"").digest(), 0)


def _local_sessions(ctx: Context, spec: Any) -> list[dict[str, Any]]:
    if not isinstance(spec, Mapping):
        raise CommandError(14, "$listLocalSessions must be given an object")
    now_monotonic, now = time.monotonic(), datetime.datetime.now(datetime.UTC)
    docs = []
    for session in ctx.server.sessions.sessions.values():
        last_use = now - datetime.timedelta(seconds=now_monotonic - session.last_used)
        docs.append(
            {
                "_id": {"id": session.lsid_doc.get("id"), "uid": _NO_USER_UID},
                "lastUse": last_use.replace(
                    tzinfo=None, microsecond=last_use.microsecond // 1000 * 1000
                ),
            }
        )
    return docs


def _current_op(ctx: Context) -> dict[str, Any]:
    """The one operation $currentOp reports: the aggregate asking for it."""
    return {
        "type": "op",
        "active": True,
        "opid": ctx.connection.connection_id,
        "desc": f"conn{ctx.connection.connection_id}",
        "connectionId": ctx.connection.connection_id,
        "op": "command",
        "ns": f"{ctx.db}.$cmd.aggregate",
        "command": {k: v for k, v in ctx.cmd.items() if k not in ("$clusterTime", "lsid")},
    }
