"""What every document command shares: its collection (in or out of a transaction), its filter and ``let``, and the checks a stored document passes."""

from collections.abc import Mapping
from typing import Any

import bson
from bson import ObjectId

from ..errors import CommandError
from ..evaluation.expressions import MISSING, evaluate, validate_expression
from ..evaluation.matcher import Matcher
from ..storage.store import Collection, WriteSet
from ..wire import CODEC_OPTIONS, MAX_BSON_OBJECT_SIZE
from ._base import Context
from ._views import refuse_view

__all__ = [
    "check_document",
    "create_in_transaction",
    "filter_arg",
    "let_variables",
    "matching_documents",
    "open_collection",
    "text_fields",
    "transaction_write_set",
    "with_id",
]

_MAX_ID_TYPES = (list, bson.Regex)


def open_collection(ctx: Context, name: str, *, create: bool) -> Collection | None:
    """The named collection; created (and journalled) on first write as MongoDB does.

    Inside a transaction a new collection belongs to the transaction until it
    commits (see ``create_in_transaction``).
    """
    store = ctx.server.store
    ws = transaction_write_set(ctx)
    coll = store.collection_in(ctx.db, name, ws)
    if create:
        refuse_view(coll)
    if coll is None and create:
        if ws is not None:
            return create_in_transaction(ctx, ws, name, {})
        coll, created = store.ensure_collection(ctx.db, name)
        if created:
            ctx.catalog.append({"op": "create", "db": ctx.db, "name": name, "options": {}})
    return coll


def transaction_write_set(ctx: Context) -> WriteSet | None:
    """The write set of the transaction the command runs in (None outside one)."""
    session = ctx.txn.session
    return session.write_set if ctx.txn.in_transaction and session is not None else None


def create_in_transaction(
    ctx: Context, ws: WriteSet, name: str, options: dict[str, Any]
) -> Collection:
    """A collection the transaction creates: invisible to others, published by the commit."""
    coll = Collection(ctx.db, name, options)
    ws.created[coll.namespace] = coll
    ws.catalog.append({"op": "create", "db": ctx.db, "name": name, "options": options})
    return coll


def text_fields(coll: Collection | None) -> dict[str, float] | None:
    if coll is None:
        return None
    index = coll.text_index
    if index is None:
        return None
    weights = index.spec.weights or {}
    return {
        path: float(weights.get(path, 1))
        for path, direction in index.spec.key
        if direction == "text"
    } | {path: float(w) for path, w in weights.items()}


def filter_arg(value: Any, what: str = "filter") -> dict[str, Any]:
    """A command's filter argument: an object, or empty when absent."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise CommandError(
            14, f"BSON field '{what}' is the wrong type '{type(value).__name__}', expected 'object'"
        )
    return value


def let_variables(ctx: Context) -> dict[str, Any]:
    """A command's ``let``: constants its filters (``$expr``) and pipelines read as ``$$name``."""
    raw = ctx.cmd.get("let")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise CommandError(
            14, f"BSON field 'let' is the wrong type '{type(raw).__name__}', expected type 'object'"
        )
    variables: dict[str, Any] = {}
    for name, expr in raw.items():
        if not name or not (name[0].islower() or not name[0].isascii()):
            raise CommandError(
                16870, f"'{name}' starts with an invalid character for a user variable name"
            )
        validate_expression(expr)
        value = evaluate(expr, {}, {})
        variables[name] = None if value is MISSING else value
    return variables


def matching_documents(
    ctx: Context, coll: Collection | None, filter: Mapping[str, Any], matcher: Matcher
) -> list[dict[str, Any]]:
    """Every document of ``coll`` matching, as this command's snapshot sees it."""
    if coll is None:
        return []
    scan = ctx.server.store.scan(coll, filter, matcher, ctx.read_view)
    return [doc for doc in scan if doc is not None]


def check_document(doc: Mapping[str, Any]) -> None:
    """What storage refuses: since MongoDB 5.0 only an _id holding ``$``-prefixed names.

    ``$``-prefixed and dotted field names are stored anywhere else; an update
    document's own ``$`` keys are operators and never reach here.
    """
    id_value = doc.get("_id")
    if isinstance(id_value, Mapping):
        for key in id_value:
            if key.startswith("$"):
                raise CommandError(
                    52,
                    f"_id fields may not contain '$'-prefixed fields: {key} is not valid for storage.",
                )
    if "_id" in doc and isinstance(doc["_id"], _MAX_ID_TYPES):
        kind = "array" if isinstance(doc["_id"], list) else "regex"
        raise CommandError(2, f"The '_id' value cannot be of type {kind}")
    if len(bson.encode(doc, codec_options=CODEC_OPTIONS)) > MAX_BSON_OBJECT_SIZE:
        raise CommandError(10334, "object to insert exceeds maxBsonObjectSize")


def with_id(doc: dict[str, Any]) -> dict[str, Any]:
    if "_id" in doc:
        if next(iter(doc)) == "_id":
            return doc
        return {"_id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}
    return {"_id": ObjectId(), **doc}
