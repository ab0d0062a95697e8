"""Views: a name whose documents are another collection's (or view's) run through a pipeline.

A view is kept as a collection without documents whose options hold
``viewOn`` and ``pipeline``; reads of it read its source and run the
pipeline, writes and index commands are refused as MongoDB refuses them.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import CommandError
from ..evaluation.aggregate import run_pipeline, validate_pipeline
from ..evaluation.matcher import compile_filter
from ..storage.store import Collection
from ._base import Context

__all__ = [
    "SnapshotContext",
    "check_view_options",
    "is_view",
    "refuse_view",
    "view_documents",
]

# As MongoDB: a view may rest on views, up to this depth.
_MAX_DEPTH = 20


def is_view(coll: Collection | None) -> bool:
    return coll is not None and "viewOn" in coll.options


def refuse_view(coll: Collection | None) -> None:
    """Writes and index commands do not apply to a view."""
    if is_view(coll):
        assert coll is not None
        raise CommandError(166, f"Namespace {coll.namespace} is a view, not a collection")


def check_view_options(options: Mapping[str, Any]) -> None:
    """``create``'s viewOn and pipeline, checked before the view exists."""
    view_on = options.get("viewOn")
    if not isinstance(view_on, str) or not view_on:
        raise CommandError(2, "'viewOn' must be a non-empty collection name")
    pipeline = options.get("pipeline", [])
    if not isinstance(pipeline, list) or not all(isinstance(s, dict) for s in pipeline):
        raise CommandError(14, "'pipeline' of a view must be an array of stages")
    for stage in pipeline:
        if next(iter(stage), "") in ("$out", "$merge"):
            raise CommandError(166, f"{next(iter(stage))} cannot be used in a view definition")
    validate_pipeline(pipeline)


def _stored_documents(ctx: Context, coll: Collection) -> list[dict[str, Any]]:
    scan = ctx.server.store.scan(coll, {}, compile_filter({}), ctx.read_view)
    return [doc for doc in scan if doc is not None]


def view_documents(ctx: Context, coll: Collection, depth: int = 0) -> list[dict[str, Any]]:
    """What a view holds now, as the command's snapshot sees its sources."""
    if depth > _MAX_DEPTH:
        raise CommandError(
            13, f"View depth too deep or view cycle detected; maximum depth is {_MAX_DEPTH}"
        )
    store = ctx.server.store
    session = ctx.txn.session
    ws = session.write_set if ctx.txn.in_transaction and session is not None else None
    source = store.collection_in(coll.db, coll.options["viewOn"], ws)
    if source is None:
        docs: list[dict[str, Any]] = []
    elif is_view(source):
        docs = view_documents(ctx, source, depth + 1)
    else:
        docs = _stored_documents(ctx, source)
    pipeline = coll.options.get("pipeline") or []
    if not pipeline:
        return docs
    return run_pipeline(docs, pipeline, SnapshotContext(ctx, pipeline), {})


def _read_by(pipeline: Any) -> set[str]:
    """The collections that $lookup and $unionWith stages read, nested pipelines included."""
    names: set[str] = set()
    if isinstance(pipeline, list):
        for item in pipeline:
            names |= _read_by(item)
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
            names |= _read_by(value)
    return names


class SnapshotContext:
    """Lets $lookup and $unionWith read other collections (or views) in the command's snapshot."""

    def __init__(self, ctx: Context, pipeline: Any) -> None:
        self.allow_disk_use = bool(ctx.cmd.get("allowDiskUse"))
        self._documents: dict[str, list[dict[str, Any]]] = {}
        session = ctx.txn.session
        ws = session.write_set if ctx.txn.in_transaction and session is not None else None
        for name in _read_by(pipeline):
            coll = ctx.server.store.collection_in(ctx.db, name, ws)
            if coll is None:
                self._documents[name] = []
            elif is_view(coll):
                self._documents[name] = view_documents(ctx, coll)
            else:
                self._documents[name] = _stored_documents(ctx, coll)

    def collection_documents(self, collection: str) -> Iterable[Mapping[str, Any]]:
        return self._documents.get(collection, [])
