"""Catalog commands: databases, collections and indexes."""

import dataclasses
from typing import Any

import bson
from bson import Int64

from ..change_events import collection_uuid
from ..errors import CommandError
from ..evaluation.matcher import compile_filter
from ..storage.index_build import IndexBuild
from ..storage.indexes import IndexSpec, check_conflict, parse_index_spec
from ..storage.store import Collection
from ..wire import CODEC_OPTIONS
from ._base import Context, collection_name, command, get_bool, get_document
from ._collection_options import clustered_index_document, collection_options
from ._documents import create_in_transaction, open_collection, transaction_write_set
from ._validation import check_validation_options
from ._views import check_view_options, is_view, refuse_view
from ._writing import Turns

__all__: list[str] = []


@command("create")
async def create(ctx: Context) -> dict[str, Any]:
    name = collection_name(ctx)
    options = collection_options(ctx.cmd)
    if "viewOn" in options:
        check_view_options(options)
    ws = transaction_write_set(ctx)
    if ctx.server.store.collection_in(ctx.db, name, ws) is not None:
        raise CommandError(48, f"Collection {ctx.db}.{name} already exists.")
    if ws is not None:
        create_in_transaction(ctx, ws, name, options)
        return {"ok": 1.0}
    ctx.server.store.ensure_collection(ctx.db, name, options)
    ctx.catalog.append({"op": "create", "db": ctx.db, "name": name, "options": options})
    return {"ok": 1.0}


@command("drop")
async def drop(ctx: Context) -> dict[str, Any]:
    name = collection_name(ctx)
    coll = ctx.server.store.collection(ctx.db, name)
    if coll is None:
        return {"ok": 1.0}
    n_indexes = len(coll.indexes)
    ctx.server.store.drop_collection(ctx.db, name)
    ctx.catalog.append({"op": "drop", "db": ctx.db, "name": name})
    return {"nIndexesWas": n_indexes, "ns": f"{ctx.db}.{name}", "ok": 1.0}


@command("dropDatabase")
async def drop_database(ctx: Context) -> dict[str, Any]:
    ctx.server.store.drop_database(ctx.db)
    ctx.catalog.append({"op": "dropDatabase", "db": ctx.db})
    return {"dropped": ctx.db, "ok": 1.0}


def _collection_info(db: str, name: str, options: dict[str, Any]) -> dict[str, Any]:
    if "viewOn" in options:
        return {"name": name, "type": "view", "options": options, "info": {"readOnly": True}}
    info: dict[str, Any] = {
        "name": name,
        "type": "timeseries" if "timeseries" in options else "collection",
        "options": options,
        "info": {
            "readOnly": False,
            "uuid": collection_uuid(db, name),
        },
    }
    if "clusteredIndex" not in options and "timeseries" not in options:
        info["idIndex"] = {"v": 2, "key": {"_id": 1}, "name": "_id_"}
    return info


@command("listCollections")
async def list_collections(ctx: Context) -> dict[str, Any]:
    filter = get_document(ctx.cmd, "filter") or {}
    name_only = get_bool(ctx.cmd, "nameOnly")
    matcher = compile_filter(filter)
    docs = []
    for name, coll in sorted(ctx.server.store.databases.get(ctx.db, {}).items()):
        info = _collection_info(ctx.db, name, coll.options)
        if not matcher.matches(info):
            continue
        docs.append({"name": name, "type": "collection"} if name_only else info)
    cursor = ctx.server.cursors.first_batch(f"{ctx.db}.$cmd.listCollections", docs, None)
    return {"cursor": cursor, "ok": 1.0}


def _database_size(ctx: Context, db: str) -> int:
    total = 0
    for coll in ctx.server.store.databases.get(db, {}).values():
        for _, doc in coll.iter_latest():
            total += len(bson.encode(doc, codec_options=CODEC_OPTIONS))
    return total


@command("listDatabases")
async def list_databases(ctx: Context) -> dict[str, Any]:
    filter = get_document(ctx.cmd, "filter") or {}
    name_only = get_bool(ctx.cmd, "nameOnly")
    matcher = compile_filter(filter)
    databases = []
    total = 0
    for db in sorted(ctx.server.store.databases):
        entry: dict[str, Any] = {"name": db}
        if not name_only:
            size = _database_size(ctx, db)
            total += size
            entry |= {"sizeOnDisk": Int64(size), "empty": size == 0}
        if matcher.matches(entry):
            databases.append(entry)
    reply: dict[str, Any] = {"databases": databases, "ok": 1.0}
    if not name_only:
        reply["totalSize"] = Int64(total)
    return reply


@command("createIndexes")
async def create_indexes(ctx: Context) -> dict[str, Any]:
    name = collection_name(ctx)
    raw_specs = ctx.cmd.get("indexes")
    if not isinstance(raw_specs, list) or not raw_specs:
        raise CommandError(9, "Must specify at least one index to create")
    specs = []
    for raw in raw_specs:
        if not isinstance(raw, dict):
            raise CommandError(14, "index specification must be an object")
        specs.append(parse_index_spec(raw))
    ws = transaction_write_set(ctx)
    if ws is not None and ctx.server.store.collection(ctx.db, name) is not None:
        raise CommandError(
            263,
            f"Cannot create new indexes on existing collection {ctx.db}.{name} in a "
            "multi-document transaction.",
        )
    refuse_view(ctx.server.store.collection_in(ctx.db, name, ws))
    created_automatically = ctx.server.store.collection_in(ctx.db, name, ws) is None
    coll = open_collection(ctx, name, create=True)
    assert coll is not None
    # Inside a transaction the collection is its own: the commit journals its indexes.
    catalog = ws.catalog if ws is not None else ctx.catalog
    before = len(coll.indexes)
    new_specs: list[IndexSpec] = []
    for spec in specs:
        existing = [idx.spec for idx in coll.indexes.values()] + new_specs
        if check_conflict(existing, spec):
            continue
        new_specs.append(spec)
    built: list[IndexSpec] = []
    for spec in new_specs:
        if ws is not None or len(coll.versions) <= _BUILT_AT_ONCE:
            coll.add_index(spec)
        elif not await _build_in_steps(ctx, coll, spec):
            continue
        built.append(spec)
        catalog.append(
            {"op": "createIndex", "db": ctx.db, "name": name, "spec": spec.to_document()}
        )
    new_specs = built
    reply: dict[str, Any] = {
        "numIndexesBefore": before,
        "numIndexesAfter": len(coll.indexes),
        "createdCollectionAutomatically": created_automatically,
        "ok": 1.0,
    }
    if not new_specs:
        reply["note"] = "all indexes already exist"
    return reply


# Collections up to this many documents get their index in one go (a few milliseconds).
_BUILT_AT_ONCE = 4096
# Documents indexed between two checks of the command's turn.
_STEP = 256


async def _build_in_steps(ctx: Context, coll: Collection, spec: IndexSpec) -> bool:
    """Build ``spec`` a slice at a time, letting other clients run between slices.

    Returns False when an equal index was published meanwhile (nothing to add).
    Raises DuplicateKey for a unique index that two documents share, and 175
    when the collection is dropped during the build.
    """
    turns = Turns(ctx, coll)
    build = IndexBuild(coll, spec)
    try:
        while not build.step(_STEP):
            await turns.tick()
        if check_conflict([idx.spec for idx in coll.indexes.values()], spec):
            return False
        build.publish()
        return True
    finally:
        build.end()


@command("listIndexes")
async def list_indexes(ctx: Context) -> dict[str, Any]:
    name = collection_name(ctx)
    coll = ctx.server.store.collection(ctx.db, name)
    if coll is None:
        raise CommandError(26, f"ns does not exist: {ctx.db}.{name}")
    refuse_view(coll)
    docs = [idx.spec.to_document() for idx in coll.indexes.values()]
    clustered = clustered_index_document(coll.options)
    if clustered is not None or "timeseries" in coll.options:
        # A clustered collection shows its _id index as clustered; a time-series one has none.
        docs = [clustered] if clustered is not None else []
        docs += [idx.spec.to_document() for idx in coll.secondary_indexes]
    cursor = ctx.server.cursors.first_batch(f"{ctx.db}.$cmd.listIndexes.{name}", docs, None)
    return {"cursor": cursor, "ok": 1.0}


@command("dropIndexes", "deleteIndexes")
async def drop_indexes(ctx: Context) -> dict[str, Any]:
    name = collection_name(ctx)
    coll = ctx.server.store.collection(ctx.db, name)
    if coll is None:
        raise CommandError(26, f"ns not found {ctx.db}.{name}")
    target = ctx.cmd.get("index")
    n_before = len(coll.indexes)
    if target == "*":
        names = [n for n in coll.indexes if n != "_id_"]
    elif isinstance(target, str):
        names = [target]
    elif isinstance(target, list):
        names = [str(t) for t in target]
    elif isinstance(target, dict):
        matches = [n for n, idx in coll.indexes.items() if dict(idx.spec.key) == target]
        if not matches:
            raise CommandError(27, f"can't find index with key: {target}")
        names = matches
    else:
        raise CommandError(14, "BSON field 'index' must be a string, an array or an object")
    for index_name in names:
        if index_name == "_id_":
            raise CommandError(72, "cannot drop _id index")
        if index_name not in coll.indexes:
            raise CommandError(27, f"index not found with name [{index_name}]")
    for index_name in names:
        spec = coll.indexes.pop(index_name).spec.to_document()
        ctx.catalog.append(
            {"op": "dropIndex", "db": ctx.db, "name": name, "index": index_name, "spec": spec}
        )
    return {"nIndexesWas": n_before, "ok": 1.0}


@command("renameCollection")
async def rename_collection(ctx: Context) -> dict[str, Any]:
    source, target = ctx.arg, ctx.cmd.get("to")
    if ctx.db != "admin":
        raise CommandError(13, "renameCollection may only be run against the admin database.")
    if not isinstance(source, str) or not isinstance(target, str):
        raise CommandError(14, "renameCollection and to must be namespace strings")
    src_db, _, src_name = source.partition(".")
    dst_db, _, dst_name = target.partition(".")
    store = ctx.server.store
    coll = store.collection(src_db, src_name)
    if coll is None:
        raise CommandError(26, "source namespace does not exist")
    dropped_target = store.collection(dst_db, dst_name) is not None
    if dropped_target:
        if not get_bool(ctx.cmd, "dropTarget"):
            raise CommandError(48, "target namespace exists")
        store.drop_collection(dst_db, dst_name)
    if store.open_write_sets and any(source in ws.writes for ws in store.open_write_sets):
        raise CommandError(46, "collection is in use by an open transaction")
    store.databases[src_db].pop(src_name)
    if not store.databases[src_db]:
        del store.databases[src_db]
    coll.db, coll.name = dst_db, dst_name
    store.databases.setdefault(dst_db, {})[dst_name] = coll
    ctx.catalog.append({"op": "rename", "from": source, "to": target, "dropTarget": dropped_target})
    return {"ok": 1.0}


@command("dbStats")
async def db_stats(ctx: Context) -> dict[str, Any]:
    colls = ctx.server.store.databases.get(ctx.db, {})
    objects = sum(c.live_count for c in colls.values())
    size = _database_size(ctx, ctx.db)
    return {
        "db": ctx.db,
        "collections": len(colls),
        "views": 0,
        "objects": Int64(objects),
        "dataSize": float(size),
        "storageSize": float(size),
        "indexes": sum(len(c.indexes) for c in colls.values()),
        "ok": 1.0,
    }


@command("collStats")
async def coll_stats(ctx: Context) -> dict[str, Any]:
    name = collection_name(ctx)
    coll = ctx.server.store.collection(ctx.db, name)
    if coll is None:
        raise CommandError(26, f"Collection [{ctx.db}.{name}] not found.")
    size = sum(len(bson.encode(d, codec_options=CODEC_OPTIONS)) for _, d in coll.iter_latest())
    return {
        "ns": coll.namespace,
        "count": coll.live_count,
        "size": size,
        "nindexes": len(coll.indexes),
        "indexSizes": {n: 0 for n in coll.indexes},
        "ok": 1.0,
    }


# -- collMod -------------------------------------------------------------

_COLL_MOD_GENERIC = frozenset(
    {"collMod", "lsid", "txnNumber", "writeConcern", "comment", "autocommit", "startTransaction"}
)


@command("collMod")
async def coll_mod(ctx: Context) -> dict[str, Any]:
    """collMod: pre- and post-images, an index's hidden flag or TTL, expiry, a view's definition."""
    name = collection_name(ctx)
    coll = ctx.server.store.collection(ctx.db, name)
    if coll is None:
        raise CommandError(26, f"ns does not exist: {ctx.db}.{name}")
    options = dict(coll.options)
    reply: dict[str, Any] = {}
    changed_specs: list[IndexSpec] = []
    for key, value in ctx.cmd.items():
        if key in _COLL_MOD_GENERIC or key.startswith("$"):
            continue
        if key == "changeStreamPreAndPostImages":
            if not isinstance(value, dict) or not isinstance(value.get("enabled"), bool):
                raise CommandError(14, "changeStreamPreAndPostImages must be {enabled: <bool>}")
            options[key] = {"enabled": value["enabled"]}
        elif key == "index":
            spec, changes = _modified_index(coll, value)
            changed_specs.append(spec)
            reply.update(changes)
        elif key == "expireAfterSeconds" and (
            "clusteredIndex" in options or "timeseries" in options
        ):
            if value == "off":
                options.pop(key, None)
            elif isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                options[key] = int(value)
            else:
                raise CommandError(2, "expireAfterSeconds must be a number of seconds or 'off'")
        elif key in ("viewOn", "pipeline") and is_view(coll):
            options[key] = value
        elif key in ("validator", "validationLevel", "validationAction") and not is_view(coll):
            options[key] = value
            check_validation_options(options)
        else:
            raise CommandError(
                72, f"collMod option '{key}' is not supported by the embedded server"
            )
    if is_view(coll):
        check_view_options(options)
    coll.options = options
    for spec in changed_specs:
        coll.indexes[spec.name].spec = spec
    changed = {k: v for k, v in ctx.cmd.items() if k not in _COLL_MOD_GENERIC and k[0] != "$"}
    ctx.server.change_streams.record_modify(ctx.db, name, changed)
    ctx.catalog.append(
        {
            "op": "collMod",
            "db": ctx.db,
            "name": name,
            "options": options,
            "indexes": [spec.to_document() for spec in changed_specs],
        }
    )
    return {**reply, "ok": 1.0}


def _modified_index(coll: Any, value: Any) -> tuple[IndexSpec, dict[str, Any]]:
    """collMod's ``index``: the index named (by name or keyPattern) with its new hidden flag or TTL."""
    if not isinstance(value, dict):
        raise CommandError(14, "BSON field 'collMod.index' is the wrong type, expected 'object'")
    if "name" in value:
        index = coll.indexes.get(value["name"])
    elif isinstance(value.get("keyPattern"), dict):
        wanted = list(value["keyPattern"].items())
        index = next((i for i in coll.indexes.values() if list(i.spec.key) == wanted), None)
    else:
        raise CommandError(72, "collMod's index must name the index: name or keyPattern")
    if index is None:
        raise CommandError(27, f"cannot find index {value.get('name', value.get('keyPattern'))}")
    spec: IndexSpec = index.spec
    changes: dict[str, Any] = {}
    for option, new in value.items():
        if option in ("name", "keyPattern"):
            continue
        if option == "hidden":
            if not isinstance(new, bool):
                raise CommandError(14, "collMod's index.hidden must be a boolean")
            if spec.name == "_id_":
                raise CommandError(72, "can't hide _id index")
            changes |= {"hidden_old": spec.hidden, "hidden_new": new}
            spec = dataclasses.replace(spec, hidden=new)
        elif option == "expireAfterSeconds":
            if isinstance(new, bool) or not isinstance(new, int | float) or new < 0:
                raise CommandError(2, "expireAfterSeconds must be a non-negative number")
            if len(spec.key) != 1 or spec.name == "_id_" or spec.is_text:
                raise CommandError(72, "only a single-field index other than _id can expire")
            if spec.expire_after_seconds is not None:
                changes["expireAfterSeconds_old"] = spec.expire_after_seconds
            changes["expireAfterSeconds_new"] = int(new)
            spec = dataclasses.replace(spec, expire_after_seconds=int(new))
        else:
            raise CommandError(
                72, f"collMod index option '{option}' is not supported by the embedded server"
            )
    if not changes:
        raise CommandError(72, "no collMod index option given: hidden or expireAfterSeconds")
    return spec, changes
