"""The aggregate command: runs a pipeline over a collection as the caller's snapshot sees it."""

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import CommandError
from ..evaluation.aggregate import run_pipeline, validate_pipeline
from ..evaluation.matcher import compile_filter
from ._base import Context, command, get_document, get_int
from .crud import let_variables, matching_documents, open_collection, text_fields
from .search_indexes import LIST_SEARCH_INDEXES_ERROR

__all__: list[str] = []


class _SnapshotContext:
    """Lets $lookup and $unionWith read other collections in the same snapshot."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    def collection_documents(self, collection: str) -> Iterable[Mapping[str, Any]]:
        coll = self._ctx.server.store.collection(self._ctx.db, collection)
        if coll is None:
            return []
        return matching_documents(self._ctx, coll, {}, compile_filter({}))


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
    source = matching_documents(ctx, coll, first_match, matcher)
    docs = run_pipeline(source, rest, _SnapshotContext(ctx), variables) if rest else source
    cursor = ctx.server.cursors.first_batch(
        f"{ctx.db}.{name}",
        docs,
        batch_size,
        session=ctx.txn.session.lsid if ctx.txn.session else None,
    )
    return {"cursor": cursor, "ok": 1.0}
