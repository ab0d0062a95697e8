"""The aggregate command: runs a pipeline over a collection as the caller's snapshot sees it."""

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import CommandError
from ..evaluation.aggregate import run_pipeline, validate_pipeline
from ..evaluation.matcher import compile_filter
from ._base import Context, command, get_document, get_int
from ._reading import read_matching, read_snapshot
from .crud import let_variables, matching_documents, open_collection, text_fields
from .search_indexes import LIST_SEARCH_INDEXES_ERROR

__all__: list[str] = []


class _SnapshotContext:
    """Lets $lookup and $unionWith read other collections, as read in the command's snapshot."""

    def __init__(self, ctx: Context, names: set[str]) -> None:
        self.allow_disk_use = bool(ctx.cmd.get("allowDiskUse"))
        self._documents: dict[str, list[dict[str, Any]]] = {}
        for name in names:
            coll = ctx.server.store.collection(ctx.db, name)
            self._documents[name] = (
                [] if coll is None else matching_documents(ctx, coll, {}, compile_filter({}))
            )

    def collection_documents(self, collection: str) -> Iterable[Mapping[str, Any]]:
        return self._documents.get(collection, [])


def _collections_read(pipeline: Any) -> set[str]:
    """The collections that $lookup and $unionWith stages read, nested pipelines included."""
    names: set[str] = set()
    if isinstance(pipeline, list):
        for item in pipeline:
            names |= _collections_read(item)
    elif isinstance(pipeline, Mapping):
        for key, value in pipeline.items():
            if (
                key == "$lookup"
                and isinstance(value, Mapping)
                and isinstance(value.get("from"), str)
            ):
                names.add(value["from"])
            elif key == "$unionWith":
                source = value if isinstance(value, str) else value.get("coll")
                if isinstance(source, str):
                    names.add(source)
            names |= _collections_read(value)
    return names


@command("aggregate")
async def aggregate(ctx: Context) -> dict[str, Any]:
    name = ctx.arg
    if not isinstance(name, str):
        raise CommandError(
            73,
            "aggregate with no collection (aggregate: 1) is not supported by the embedded server",
        )
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
    validate_pipeline(pipeline)
    coll = open_collection(ctx, name, create=False)
    # A leading $match narrows the input through the collection's indexes.
    first_match: dict[str, Any] = {}
    rest = pipeline
    if pipeline and "$match" in pipeline[0] and isinstance(pipeline[0]["$match"], dict):
        first_match = pipeline[0]["$match"]
        rest = pipeline[1:]
    variables = let_variables(ctx)
    matcher = compile_filter(first_match, text_fields=text_fields(coll), variables=variables)
    with read_snapshot(ctx):
        source = await read_matching(ctx, coll, first_match, matcher)
        if rest:
            # Every collection a stage reads is read now, on the event loop, in
            # this snapshot; the pipeline then runs in a worker thread.
            context = _SnapshotContext(ctx, _collections_read(rest))
            docs = await asyncio.to_thread(run_pipeline, source, rest, context, variables)
        else:
            docs = source
    cursor = ctx.server.cursors.first_batch(
        f"{ctx.db}.{name}",
        docs,
        batch_size,
        session=ctx.txn.session.lsid if ctx.txn.session else None,
    )
    return {"cursor": cursor, "ok": 1.0}
