"""$out and $merge: an aggregation's last stage writing its results to a collection.

Both run after the rest of the pipeline, in the aggregate command, with the
server's write gate held as any write command holds it. ``$out`` replaces the
target's documents (its indexes stay); ``$merge`` folds each result into the
target by its ``on`` fields. Neither runs in a transaction, as on MongoDB.
"""

from collections.abc import Mapping
from functools import partial
from typing import Any

import bson

from ..errors import CommandError
from ..evaluation.compare import sort_key
from ..evaluation.expressions import MISSING, evaluate
from ..evaluation.matcher import compile_filter
from ..evaluation.update import apply_update
from ..storage.store import Collection
from ._base import Context
from ._documents import check_document, matching_documents, with_id
from ._views import refuse_view
from ._writing import Turns
from .crud import insert_new, retrying

__all__ = ["OUTPUT_STAGES", "check_output_stage", "write_output"]

OUTPUT_STAGES = ("$out", "$merge")
_WHEN_MATCHED = ("replace", "keepExisting", "merge", "fail")
_WHEN_NOT_MATCHED = ("insert", "discard", "fail")


def check_output_stage(ctx: Context, pipeline: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The pipeline's $out or $merge stage (None without one), checked before anything runs."""
    for position, stage in enumerate(pipeline):
        name = next(iter(stage), "")
        if name in OUTPUT_STAGES and position != len(pipeline) - 1:
            raise CommandError(40601, f"{name} can only be the final stage in the pipeline")
    if not pipeline or next(iter(pipeline[-1])) not in OUTPUT_STAGES:
        return None
    stage = pipeline[-1]
    name = next(iter(stage))
    if ctx.txn.in_transaction:
        raise CommandError(263, f"{name} cannot be used in a transaction")
    read_concern = ctx.cmd.get("readConcern")
    if isinstance(read_concern, Mapping) and read_concern.get("level") == "linearizable":
        raise CommandError(72, f"{name} cannot be used with a 'linearizable' read concern level")
    _target(ctx, name, stage[name])
    if name == "$merge":
        _merge_options(stage[name])
    return stage


def _target(ctx: Context, stage: str, arg: Any) -> tuple[str, str]:
    """The database and collection a $out or $merge writes to."""
    target = arg.get("into") if stage == "$merge" and isinstance(arg, Mapping) else arg
    if stage == "$out" and isinstance(arg, Mapping):
        target = {"db": arg.get("db", ctx.db), "coll": arg.get("coll")}
    db: Any
    name: Any
    if isinstance(target, str):
        db, name = ctx.db, target
    elif isinstance(target, Mapping):
        db, name = target.get("db", ctx.db), target.get("coll")
    else:
        raise CommandError(
            13111 if stage == "$merge" else 16990,
            f"{stage} needs a collection name, or an object with 'db' and 'coll'",
        )
    if not isinstance(db, str) or not isinstance(name, str) or not name or "$" in name:
        raise CommandError(73, f"{stage}: invalid target namespace {db!r}.{name!r}")
    if name.startswith("system."):
        raise CommandError(73, f"{stage} cannot write to the system collection {db}.{name}")
    return db, name


def _merge_options(arg: Any) -> tuple[list[str], Any, str, Mapping[str, Any] | None]:
    """$merge's ``on`` fields, whenMatched, whenNotMatched and ``let``."""
    if isinstance(arg, str):
        return ["_id"], "merge", "insert", None
    on = arg.get("on", "_id")
    fields = [on] if isinstance(on, str) else on
    if not isinstance(fields, list) or not fields or not all(isinstance(f, str) for f in fields):
        raise CommandError(51186, "$merge 'on' must be a field name or an array of field names")
    when_matched = arg.get("whenMatched", "merge")
    if not (when_matched in _WHEN_MATCHED or isinstance(when_matched, list)):
        raise CommandError(
            2, f"Enumeration value '{when_matched}' for field 'whenMatched' is not a valid value."
        )
    when_not_matched = arg.get("whenNotMatched", "insert")
    if when_not_matched not in _WHEN_NOT_MATCHED:
        raise CommandError(
            2,
            f"Enumeration value '{when_not_matched}' for field 'whenNotMatched' is not a "
            "valid value.",
        )
    let = arg.get("let")
    if let is not None and not isinstance(let, Mapping):
        raise CommandError(14, "$merge 'let' must be an object")
    return fields, when_matched, when_not_matched, let


def _open_target(ctx: Context, db: str, name: str) -> Collection:
    refuse_view(ctx.server.store.collection(db, name))
    coll, created = ctx.server.store.ensure_collection(db, name)
    if created:
        ctx.catalog.append({"op": "create", "db": db, "name": name, "options": {}})
    return coll


def _still_there(ctx: Context, coll: Collection) -> None:
    if ctx.server.store.collection(coll.db, coll.name) is not coll:
        raise CommandError(175, f"collection {coll.namespace} was dropped or renamed")


def _duplicate(coll: Collection, fields: list[str], doc: Mapping[str, Any]) -> CommandError:
    key_value = {f: doc.get(f) for f in fields}
    shown = ", ".join(f"{f}: {bson.json_util.dumps(v)}" for f, v in key_value.items())
    index = "_id_" if fields == ["_id"] else "_".join(f"{f}_1" for f in fields)
    return CommandError(
        11000,
        f"E11000 duplicate key error collection: {coll.namespace} index: {index} "
        f"dup key: {{ {shown} }}",
        extra={"keyPattern": {f: 1 for f in fields}, "keyValue": key_value},
    )


async def write_output(ctx: Context, stage: dict[str, Any], docs: list[dict[str, Any]]) -> None:
    """Write the pipeline's results as its $out or $merge stage says."""
    name = next(iter(stage))
    db, target = _target(ctx, name, stage[name])
    coll = _open_target(ctx, db, target)
    turns = Turns(ctx, coll if db == ctx.db else None)
    if name == "$out":
        await _out(ctx, turns, coll, docs)
    else:
        await _merge(ctx, turns, coll, docs, stage[name])


async def _out(ctx: Context, turns: Turns, coll: Collection, docs: list[dict[str, Any]]) -> None:
    """Replace every document of ``coll`` with ``docs``, refusing duplicates before writing."""
    new_docs = [with_id(dict(doc)) for doc in docs]
    seen: set[Any] = set()
    for doc in new_docs:
        check_document(doc)
        key = sort_key(doc["_id"])
        if key in seen:
            raise _duplicate(coll, ["_id"], doc)
        seen.add(key)
    for old in matching_documents(ctx, coll, {}, compile_filter({})):
        await turns.tick()
        _still_there(ctx, coll)
        await retrying(turns, partial(ctx.write, coll, coll.key_of(old), None, coll.key_value(old)))
    for doc in new_docs:
        await turns.tick()
        _still_there(ctx, coll)
        await insert_new(ctx, turns, coll, doc)


async def _merge(
    ctx: Context, turns: Turns, coll: Collection, docs: list[dict[str, Any]], arg: Any
) -> None:
    fields, when_matched, when_not_matched, let = _merge_options(arg)
    if fields != ["_id"] and not any(
        idx.spec.unique and sorted(path for path, _ in idx.spec.key) == sorted(fields)
        for idx in coll.indexes.values()
    ):
        raise CommandError(
            51183,
            "Cannot find index to verify that join fields will be unique: "
            f"{coll.namespace} needs a unique index on {fields}",
        )
    for source in docs:
        await turns.tick()
        _still_there(ctx, coll)
        doc = dict(source)
        if fields == ["_id"] and "_id" not in doc:
            doc = with_id(doc)
        for field in fields:
            value = doc.get(field, MISSING)
            if value is MISSING or value is None or isinstance(value, list):
                raise CommandError(
                    51132,
                    "$merge write error: 'on' field cannot be missing, null, undefined or an array",
                )
        on = {f: doc[f] for f in fields}
        found = matching_documents(ctx, coll, on, compile_filter(on))
        if not found:
            if when_not_matched == "fail":
                raise CommandError(
                    13113,
                    "$merge could not find a matching document in the target collection for "
                    "at least one document in the source collection",
                )
            if when_not_matched == "insert":
                new = with_id(doc)
                check_document(new)
                await insert_new(ctx, turns, coll, new)
            continue
        old = found[0]
        if when_matched == "fail":
            raise _duplicate(coll, fields, doc)
        if when_matched == "keepExisting":
            continue
        if when_matched == "merge":
            new = {**old, **doc}
        elif when_matched == "replace":
            new = {"_id": old["_id"], **{k: v for k, v in doc.items() if k != "_id"}}
            if "_id" in doc and sort_key(doc["_id"]) != sort_key(old["_id"]):
                raise _immutable_id()
        else:
            variables = {"new": doc} if let is None else _let(let, doc)
            new = apply_update(old, when_matched, variables=variables)
            if "_id" not in new:
                new = {"_id": old["_id"], **new}
        if sort_key(new["_id"]) != sort_key(old["_id"]):
            raise _immutable_id()
        check_document(new)
        await retrying(turns, partial(ctx.write, coll, coll.key_of(old), new, new["_id"]))


def _let(let: Mapping[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """$merge's ``let``: expressions over the result document, for its whenMatched pipeline."""
    out: dict[str, Any] = {}
    for name, expr in let.items():
        value = evaluate(expr, doc, {})
        out[name] = None if value is MISSING else value
    return out


def _immutable_id() -> CommandError:
    return CommandError(
        66, "$merge failed to update the matching document, the (immutable) field '_id' changed"
    )
