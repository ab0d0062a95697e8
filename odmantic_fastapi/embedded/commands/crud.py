"""Write commands: insert, update, delete and findAndModify."""

import asyncio
import contextlib
import contextvars
import datetime
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from functools import partial
from typing import Any, TypeVar

import bson

from .. import collector
from ..errors import CommandError
from ..evaluation.collation import parse_collation
from ..evaluation.compare import sort_key
from ..evaluation.matcher import Matcher, compile_filter, equality_seed
from ..evaluation.projection import compile_projection
from ..evaluation.sorting import check_sort_memory, compile_sort
from ..evaluation.update import (
    apply_update,
    is_replacement,
    modifies,
    plain_set,
    set_top_level,
    upsert_set,
    validate_replacement,
)
from ..storage.store import Collection, IdKey, LockWait, id_key
from ._base import Context, collection_name, command, get_bool, get_document, get_int
from ._capped import is_capped, trim
from ._documents import (
    check_document,
    filter_arg,
    let_variables,
    open_collection,
    text_fields,
    with_id,
)
from ._reading import sort_documents
from ._views import refuse_view
from ._writing import Turns, matching_for_write, still_matching

__all__ = ["insert_new", "retrying"]

_T = TypeVar("_T")
_R = TypeVar("_R")
_MISSING = object()
# Candidates sorted on the event loop; more go to a worker thread.
_SORT_ON_LOOP = 4096


# -- insert --------------------------------------------------------------


def _is_fatal(ctx: Context, exc: CommandError) -> bool:
    """Whether a statement's error ends the whole command instead of becoming a writeError.

    Write conflicts, time limits, shutdown and a collection dropped under the
    write always do; inside a transaction every error does except a duplicate
    key, which MongoDB reports as a writeError (and the dispatcher then aborts
    the transaction).
    """
    if exc.code in (112, 50, 175, 11600):
        return True
    return ctx.txn.in_transaction and exc.code != 11000


# A write command of this many statements pauses the garbage collector while it
# runs them (see collector.py); fewer allocate too little to set off a collection.
_PAUSE_FROM = 256
# ...and of at most this many. The first young collection after a pause walks
# everything the command allocated, and the full one it then sets off walks all
# that survived: after an insert of 100,000 documents they held every client for
# 0.14 s. Larger commands run with the collector as it is.
_PAUSE_UP_TO = 16_384
# Whether the running command holds a pause (a task's own: commands share the count).
_pausing: contextvars.ContextVar[bool] = contextvars.ContextVar("pausing", default=False)


@contextlib.contextmanager
def _collector_paused(statements: int) -> Iterator[None]:
    """The collector paused while a large write command runs its statements.

    They were decoded before it runs, and live until it answers, as do the
    documents it stores and its reply: a young collection in between frees
    none of them. An update command upserting 10,000 documents spent over a
    quarter of its time in those passes. A statement waiting for a
    transaction's lock lets the collector run meanwhile (see ``retrying``).
    """
    if not _PAUSE_FROM <= statements <= _PAUSE_UP_TO or _pausing.get():
        yield
        return
    collector.hold()
    token = _pausing.set(True)
    try:
        yield
    finally:
        _pausing.reset(token)
        collector.release()


async def _run_statements(
    ctx: Context,
    turns: Turns,
    statements: list[Any],
    what: str,
    ordered: bool,
    run: Callable[[int, dict[str, Any]], Awaitable[_R]],
    count: Callable[[int, _R], None],
) -> list[dict[str, Any]]:
    """Run a write command's statements in order; their errors become writeErrors.

    ``run`` returns what a statement did, and ``count`` adds it to the reply.
    A statement that an earlier attempt of the same retryable write ran (see
    ``Context.statements_done``) is not run again: its recorded result is
    counted instead. ``ordered`` stops at the first failing statement; a fatal
    error (see ``_is_fatal``) ends the whole command instead.
    """
    errors: list[dict[str, Any]] = []
    done = ctx.statements_done()
    with _collector_paused(len(statements)):
        for index, statement in enumerate(statements):
            if index in done:
                count(index, done[index])
                continue
            try:
                await turns.tick()
                if not isinstance(statement, dict):
                    raise CommandError(14, f"{what} must be objects")
                ctx.statement = index
                result = await run(index, statement)
            except CommandError as exc:
                if _is_fatal(ctx, exc):
                    raise
                errors.append(exc.to_write_error(index))
                if ordered:
                    break
                continue
            ctx.statement_done(index, result)
            count(index, result)
    return errors


async def retrying(turns: Turns, attempt: Callable[[], _T]) -> _T:
    """``attempt()``, run again each time a transaction's lock on a document is released."""
    while True:
        try:
            return attempt()
        except LockWait as wait:
            if not _pausing.get():
                await turns.wait_for_lock(wait)
                continue
            # The wait may be long, and other clients run meanwhile.
            collector.release()
            try:
                await turns.wait_for_lock(wait)
            finally:
                collector.hold()


async def insert_new(
    ctx: Context, turns: Turns, coll: Collection, doc: dict[str, Any], key: IdKey | None = None
) -> None:
    """Insert a document whose _id must be new, waiting for a transaction holding it.

    ``key`` is ``id_key(doc["_id"])`` when the caller has it already.
    """
    if key is None:
        key = coll.key_of(doc)

    def attempt() -> None:
        if ctx.server.store.get(coll, key, ctx.write_set) is not None:
            raise CommandError(
                11000,
                f"E11000 duplicate key error collection: {coll.namespace} index: _id_ "
                f"dup key: {{ _id: {bson.json_util.dumps(doc['_id'])} }}",
                extra={"keyPattern": {"_id": 1}, "keyValue": {"_id": doc["_id"]}},
            )
        ctx.write(coll, key, doc, doc["_id"])

    await retrying(turns, attempt)


@command("insert")
async def insert(ctx: Context) -> dict[str, Any]:
    name = collection_name(ctx)
    documents = ctx.cmd.get("documents")
    if not isinstance(documents, list):
        raise CommandError(9, "BSON field 'insert.documents' is missing but a required field")
    ordered = get_bool(ctx.cmd, "ordered", True)
    coll = open_collection(ctx, name, create=True)
    assert coll is not None
    turns = Turns(ctx, coll)
    n = 0

    time_field = (coll.options.get("timeseries") or {}).get("timeField")
    capped = is_capped(coll)
    if capped and ctx.txn.in_transaction:
        raise CommandError(
            263,
            f"Collection '{coll.namespace}' is a capped collection: it takes no writes in a transaction",
        )

    async def run(index: int, raw: dict[str, Any]) -> int:
        check_document(raw)
        if time_field is not None and not isinstance(raw.get(time_field), datetime.datetime):
            raise CommandError(
                2, f"'{time_field}' must be present and contain a valid BSON UTC datetime value"
            )
        await insert_new(ctx, turns, coll, with_id(raw))
        if capped:
            trim(ctx, coll)
        return 1

    def count(index: int, inserted: int) -> None:
        nonlocal n
        n += inserted

    errors = await _run_statements(
        ctx, turns, documents, "documents to insert", ordered, run, count
    )
    reply: dict[str, Any] = {"n": n, "ok": 1.0}
    if errors:
        reply["writeErrors"] = errors
    return reply


# -- update --------------------------------------------------------------


def _array_filters(spec: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    filters = spec.get("arrayFilters")
    if filters is None:
        return None
    if not isinstance(filters, list) or not all(isinstance(f, dict) for f in filters):
        raise CommandError(14, "arrayFilters must be an array of objects")
    return filters


def _new_version(
    old: Mapping[str, Any],
    update: Any,
    matcher: Matcher,
    array_filters: list[dict[str, Any]] | None,
    variables: Mapping[str, Any],
) -> dict[str, Any]:
    if is_replacement(update):
        validate_replacement(update)
        if "_id" in update and sort_key(update["_id"]) != sort_key(old["_id"]):
            raise CommandError(
                66,
                "After applying the update, the (immutable) field '_id' was found to have been "
                f"altered to _id: {bson.json_util.dumps(update['_id'])}",
            )
        return {"_id": old["_id"], **{k: v for k, v in update.items() if k != "_id"}}
    new = apply_update(
        old,
        update,
        array_filters=array_filters,
        positional=matcher.first_array_position(old),
        variables=variables,
    )
    if isinstance(update, list) and "_id" not in new:
        # A pipeline whose $replaceRoot/$replaceWith or $project leaves out _id keeps the old one.
        new = {"_id": old["_id"], **new}
    if sort_key(new.get("_id")) != sort_key(old["_id"]):
        raise CommandError(
            66, "Performing an update on the path '_id' would modify the immutable field '_id'"
        )
    return new


def _upsert_document(
    filter: Mapping[str, Any],
    update: Any,
    array_filters: list[dict[str, Any]] | None,
    variables: Mapping[str, Any],
) -> dict[str, Any]:
    seed = equality_seed(filter)
    if is_replacement(update):
        validate_replacement(update)
        doc = dict(update)
        if "_id" not in doc and "_id" in seed:
            doc["_id"] = seed["_id"]
    else:
        doc = apply_update(
            seed, update, array_filters=array_filters, is_insert=True, variables=variables
        )
    if "_id" in seed:
        # An upsert keeps the _id its filter gives, as an update keeps a stored one.
        _check_id_kept(seed["_id"], doc.get("_id", _MISSING))
    return with_id(doc)


def _check_id_kept(before: Any, after: Any) -> None:
    """An update keeps the _id (``_MISSING`` when the update removed it), by value."""
    # The same object is the common case (the _id carried over), and needs no key.
    if after is not before and (after is _MISSING or sort_key(after) != sort_key(before)):
        raise CommandError(
            66, "Performing an update on the path '_id' would modify the immutable field '_id'"
        )


async def _update_one_statement(
    ctx: Context,
    turns: Turns,
    coll: Collection,
    spec: Mapping[str, Any],
) -> tuple[int, int, Any, dict[str, Any] | None, dict[str, Any] | None]:
    """Run one update statement; returns n, nModified, upserted id, old and new documents."""
    save = _save_by_id(spec)
    if save is not None and "timeseries" not in coll.options:
        return await _set_by_id(ctx, turns, coll, *save)
    filter = filter_arg(spec.get("q"), "q")
    update = spec.get("u")
    if not isinstance(update, dict | list):
        raise CommandError(14, "BSON field 'u' must be an object or an array")
    multi = get_bool(spec, "multi")
    upsert = get_bool(spec, "upsert")
    array_filters = _array_filters(spec)
    if multi and is_replacement(update):
        raise CommandError(9, "multi update is not supported for replacement-style update")
    collation = parse_collation(spec.get("collation"))
    variables = let_variables(ctx)
    matcher = compile_filter(
        filter, text_fields=text_fields(coll), variables=variables, collation=collation
    )
    n = modified = 0
    last_old: dict[str, Any] | None = None
    last_new: dict[str, Any] | None = None

    def update_candidate(candidate: dict[str, Any]) -> bool:
        nonlocal n, modified, last_old, last_new
        old = still_matching(ctx, turns, candidate, matcher)
        if old is None:
            return False
        new = _new_version(old, update, matcher, array_filters, variables)
        if modifies(old, new):
            check_document(new)
            key = coll.key_of(old)
            if coll.key_of(new) != key:
                raise CommandError(
                    72, "an update may not change the time of a time-series measurement"
                )
            ctx.write(coll, key, new, new["_id"])
            modified += 1
        n += 1
        last_old, last_new = old, new
        return True

    for candidate in await matching_for_write(turns, coll, filter, matcher):
        await turns.tick()
        if await retrying(turns, partial(update_candidate, candidate)) and not multi:
            break
    if n or not upsert:
        return n, modified, None, last_old, last_new
    doc = _upsert_document(filter, update, array_filters, variables)
    check_document(doc)
    await insert_new(ctx, turns, coll, doc)
    return 1, 0, doc["_id"], None, doc


def _save_by_id(spec: Mapping[str, Any]) -> tuple[Any, Mapping[str, Any], bool] | None:
    """The _id, fields and upsert flag of a statement shaped as ODM saves are (see
    ``_set_by_id``), else None: ``{q: {_id: v}, u: {$set: {...}}}`` with top-level
    names, an upsert and multi flag if any, and no array filters or collation."""
    filter = spec.get("q")
    if type(filter) is not dict or not _by_id(filter):
        return None
    upsert = spec.get("upsert", False)
    if type(upsert) is not bool or type(spec.get("multi", False)) is not bool:
        return None
    if "arrayFilters" in spec or "collation" in spec:
        return None
    fields = plain_set(spec.get("u"))
    if fields is None:
        return None
    return filter["_id"], fields, upsert


def _by_id(filter: Mapping[str, Any]) -> bool:
    """Whether the filter is ``{"_id": value}`` with a plain value (no operators, arrays, regexes)."""
    return (
        len(filter) == 1
        and "_id" in filter
        and not isinstance(filter["_id"], dict | list | bson.Regex | re.Pattern)
    )


async def _set_by_id(
    ctx: Context,
    turns: Turns,
    coll: Collection,
    id_value: Any,
    fields: Mapping[str, Any],
    upsert: bool,
) -> tuple[int, int, Any, dict[str, Any] | None, dict[str, Any] | None]:
    """``update_one({"_id": v}, {"$set": fields})``, what every ODM save sends, without a scan.

    The same checks and results as the general path of ``_update_one_statement``:
    ``fields`` are top-level names (see ``plain_set``), so the document is built
    directly, and an upsert is looked up and inserted in one attempt (waiting
    for a transaction that holds the _id looks it up again, as mongod retries an
    upsert by _id that lost a race).
    """
    key = id_key(id_value)
    store = ctx.server.store

    def attempt() -> tuple[int, int, Any, dict[str, Any] | None, dict[str, Any] | None]:
        old = store.get(coll, key, ctx.write_set)
        if old is None:
            if not upsert:
                return 0, 0, None, None, None
            doc = upsert_set(id_value, fields)
            _check_id_kept(id_value, doc["_id"])
            check_document(doc)
            ctx.write(coll, key, doc, doc["_id"])
            return 1, 0, doc["_id"], None, doc
        new, changed = set_top_level(old, fields)
        _check_id_kept(old["_id"], new["_id"])
        if not changed:
            return 1, 0, None, old, new
        check_document(new)
        ctx.write(coll, key, new, new["_id"])
        return 1, 1, None, old, new

    return await retrying(turns, attempt)


@command("update")
async def update(ctx: Context) -> dict[str, Any]:
    name = collection_name(ctx)
    statements = ctx.cmd.get("updates")
    if not isinstance(statements, list):
        raise CommandError(9, "BSON field 'update.updates' is missing but a required field")
    ordered = get_bool(ctx.cmd, "ordered", True)
    for statement in statements:
        if isinstance(statement, dict) and "sort" in statement:
            # MongoDB 7.0 has no sort on update statements (8.0 adds it).
            raise CommandError(40415, "BSON field 'update.updates.sort' is an unknown field.")
    coll = open_collection(ctx, name, create=True)
    assert coll is not None
    turns = Turns(ctx, coll)
    n = modified = 0
    upserted: list[dict[str, Any]] = []

    async def run(index: int, spec: dict[str, Any]) -> list[Any]:
        s_n, s_mod, s_up, _, _ = await _update_one_statement(ctx, turns, coll, spec)
        # A list, as a statement's result is journalled (an upsert's _id last, when one).
        return [s_n, s_mod] if s_up is None else [s_n, s_mod, s_up]

    def count(index: int, result: list[Any]) -> None:
        nonlocal n, modified
        n += result[0]
        modified += result[1]
        if len(result) > 2:
            upserted.append({"index": index, "_id": result[2]})

    errors = await _run_statements(ctx, turns, statements, "update statements", ordered, run, count)
    reply: dict[str, Any] = {"n": n, "nModified": modified, "ok": 1.0}
    if upserted:
        reply["upserted"] = upserted
    if errors:
        reply["writeErrors"] = errors
    return reply


# -- delete --------------------------------------------------------------


async def _delete_statement(
    ctx: Context, turns: Turns, coll: Collection | None, spec: Mapping[str, Any]
) -> int:
    filter = filter_arg(spec.get("q"), "q")
    limit = get_int(spec, "limit", 0)
    if limit not in (0, 1):
        raise CommandError(9, f"The limit field in delete objects must be 0 or 1. Got {limit}")
    collation = parse_collation(spec.get("collation"))
    if coll is None:
        return 0
    matcher = compile_filter(
        filter, text_fields=text_fields(coll), variables=let_variables(ctx), collation=collation
    )

    def delete_candidate(candidate: dict[str, Any]) -> bool:
        doc = still_matching(ctx, turns, candidate, matcher)
        if doc is None:
            return False
        ctx.write(coll, coll.key_of(doc), None, coll.key_value(doc))
        return True

    deleted = 0
    for candidate in await matching_for_write(turns, coll, filter, matcher):
        await turns.tick()
        if await retrying(turns, partial(delete_candidate, candidate)):
            deleted += 1
            if limit == 1:
                break
    return deleted


@command("delete")
async def delete(ctx: Context) -> dict[str, Any]:
    name = collection_name(ctx)
    statements = ctx.cmd.get("deletes")
    if not isinstance(statements, list):
        raise CommandError(9, "BSON field 'delete.deletes' is missing but a required field")
    ordered = get_bool(ctx.cmd, "ordered", True)
    coll = open_collection(ctx, name, create=False)
    refuse_view(coll)
    turns = Turns(ctx, coll)
    n = 0

    async def run(index: int, spec: dict[str, Any]) -> int:
        return await _delete_statement(ctx, turns, coll, spec)

    def count(index: int, deleted: int) -> None:
        nonlocal n
        n += deleted

    errors = await _run_statements(ctx, turns, statements, "delete statements", ordered, run, count)
    reply: dict[str, Any] = {"n": n, "ok": 1.0}
    if errors:
        reply["writeErrors"] = errors
    return reply


# -- findAndModify -------------------------------------------------------


@command("findAndModify", "findandmodify")
async def find_and_modify(ctx: Context) -> dict[str, Any]:
    name = collection_name(ctx)
    filter = filter_arg(ctx.cmd.get("query"), "query")
    remove = get_bool(ctx.cmd, "remove")
    update = ctx.cmd.get("update")
    upsert = get_bool(ctx.cmd, "upsert")
    return_new = get_bool(ctx.cmd, "new")
    if remove and update is not None:
        raise CommandError(9, "Cannot specify both an update and remove=true")
    if not remove and update is None:
        raise CommandError(9, "Either an update or remove=true must be specified")
    if remove and (upsert or return_new):
        raise CommandError(9, "Cannot specify both upsert=true and remove=true")
    projection = compile_projection(get_document(ctx.cmd, "fields"))
    collation = parse_collation(ctx.cmd.get("collation"))
    sort_fn = compile_sort(get_document(ctx.cmd, "sort"), collation)
    coll = open_collection(ctx, name, create=not remove)
    refuse_view(coll)
    turns = Turns(ctx, coll)
    last_error: dict[str, Any]
    value: dict[str, Any] | None = None
    if remove:
        if coll is not None:
            value = await _remove_first(ctx, turns, coll, filter, sort_fn)
        last_error = {"n": 1 if value is not None else 0}
    else:
        assert coll is not None
        spec: dict[str, Any] = {
            "q": filter,
            "u": update,
            "upsert": upsert,
            "multi": False,
        }
        if "arrayFilters" in ctx.cmd:
            spec["arrayFilters"] = ctx.cmd["arrayFilters"]
        if collation is not None:
            spec["collation"] = ctx.cmd["collation"]
        if sort_fn is not None:
            spec = await _sorted_target(ctx, turns, coll, filter, sort_fn, spec)
        n, _, upserted, old, new = await _update_one_statement(ctx, turns, coll, spec)
        value = new if return_new else old
        last_error = {"n": n, "updatedExisting": upserted is None and n > 0}
        if upserted is not None:
            last_error["upserted"] = upserted
    if value is not None and projection is not None:
        value = projection.apply(value)
    return {"lastErrorObject": last_error, "value": value, "ok": 1.0}


async def _sorted_candidates(
    ctx: Context, turns: Turns, coll: Collection, filter: dict[str, Any], sort_fn: Any
) -> tuple[list[dict[str, Any]], Matcher]:
    """The matching documents in sort order, matched and sorted off the event loop when large."""
    matcher = compile_filter(
        filter,
        text_fields=text_fields(coll),
        variables=let_variables(ctx),
        collation=parse_collation(ctx.cmd.get("collation")),
    )
    docs = await matching_for_write(turns, coll, filter, matcher)
    if sort_fn is not None and len(docs) > 1:
        check_sort_memory(docs, get_bool(ctx.cmd, "allowDiskUse"))
        if len(docs) > _SORT_ON_LOOP and turns.may_let_writes_in:
            docs = await turns.in_thread(asyncio.to_thread(sort_documents, docs, sort_fn))
        else:
            docs = sort_documents(docs, sort_fn)
    return docs, matcher


async def _remove_first(
    ctx: Context, turns: Turns, coll: Collection, filter: dict[str, Any], sort_fn: Any
) -> dict[str, Any] | None:
    """findAndModify's remove: the first matching document in sort order, deleted."""
    docs, matcher = await _sorted_candidates(ctx, turns, coll, filter, sort_fn)

    def remove(candidate: dict[str, Any]) -> dict[str, Any] | None:
        doc = still_matching(ctx, turns, candidate, matcher)
        if doc is not None:
            ctx.write(coll, coll.key_of(doc), None, coll.key_value(doc))
        return doc

    for candidate in docs:
        await turns.tick()
        removed = await retrying(turns, partial(remove, candidate))
        if removed is not None:
            return removed
    return None


async def _sorted_target(
    ctx: Context,
    turns: Turns,
    coll: Collection,
    filter: dict[str, Any],
    sort_fn: Any,
    spec: dict[str, Any],
) -> dict[str, Any]:
    """Narrow an update to the first document in sort order, keeping upsert semantics."""
    docs, matcher = await _sorted_candidates(ctx, turns, coll, filter, sort_fn)
    for candidate in docs:
        target = still_matching(ctx, turns, candidate, matcher)
        if target is not None:
            return {**spec, "q": {"$and": [filter, {"_id": target["_id"]}]}}
    return spec
