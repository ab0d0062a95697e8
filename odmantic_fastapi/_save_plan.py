"""The save plan: what ``save``, ``save_all`` and ``delete`` write, and the driver calls writing it.

Both engines plan here, and send through the steps of this module (run by
``_steps``'s async or sync runner), so saves behave the same on every client.
The session of a write arrives once, as a :class:`WriteSession`: the driver
session every driver call below is given, and the transaction in use (if
any), whose abort marks the saved instances modified again. The plan

* walks ``Reference()`` fields first (single, optional and list ones), so a
  referenced instance is written before the instance that points at it (lazy
  references are not saved with their holder);
* writes only the fields changed since the instance was loaded or last saved,
  as an upsert on the primary key, as ODMantic's save does;
* inserts an instance never saved, read, copied or changed, whose document
  no stored one can hold yet: at once when its id is automatic, and first
  when its id was given and the write is not part of a transaction, with an
  upsert in its place when the insert finds the id taken (see ``save_steps``);
* groups the writes of one collection into one ``bulk_write`` (ordered or
  not), where ODMantic sends one update per instance;
* checks the revision of models that opt in (``revision_field``), one write
  at a time, so a save never overwrites a newer version of the document.
"""

from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import pymongo.errors
from pymongo import InsertOne, UpdateOne
from pymongo.results import UpdateResult

from ._driver import DriverSession
from ._gc_pause import paused_collector
from ._steps import Steps
from .bson import ObjectId
from .exceptions import DocumentNotFoundError, DuplicateKeyError, RevisionConflictError
from .model import _CLEAN, Model, _BaseODMModel

__all__ = [
    "Rollback",
    "SaveBatch",
    "SaveWrite",
    "WriteSession",
    "delete_steps",
    "plan_saves",
    "save_steps",
]


class Rollback(Protocol):
    """What a write needs of the transaction in use: undo hooks, and ending it on a conflict."""

    @property
    def is_started(self) -> bool: ...

    def on_abort(self, callback: Callable[[], None]) -> None: ...

    def abort(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class WriteSession:
    """The one form a write's session takes on its way to the driver."""

    driver: "DriverSession | None"
    """Given to every driver call (None: no session)."""
    transaction: Rollback | None
    """The transaction in use, whose abort undoes what the write marked saved."""


def referenced_instances(instance: _BaseODMModel) -> Iterator[Model]:
    """The Model instances ``instance`` points at through its reference fields."""
    for name in type(instance).__references__:
        value = instance.__dict__.get(name)
        items = value if isinstance(value, list | tuple) else (value,)
        for item in items:
            if isinstance(item, Model):
                yield item


def _walk(instance: Model, seen: set[int], out: list[Model]) -> None:
    if id(instance) in seen:
        return
    seen.add(id(instance))
    if type(instance).__references__:
        for referenced in referenced_instances(instance):
            _walk(referenced, seen, out)
    out.append(instance)


@dataclass(slots=True)
class SaveWrite:
    """The upsert (or, for a new document, the insert) persisting one instance's changes."""

    instance: Model
    filter: dict[str, Any]
    update: dict[str, Any]
    upsert: bool
    fields: AbstractSet[str]
    revision: tuple[str, int] | None = None
    """The revision field and the revision the instance was read at."""
    insert: dict[str, Any] | None = None
    """The whole document, for an instance never materialized (see ``_unsaved_fields``)."""
    guess: bool = False
    """Whether ``insert`` only guesses that no stored document has the (given) id.

    The insert is then worth trying outside transactions only, and the upsert
    (``upsert_parts``) takes its place where the id is taken.
    """

    def operation(self) -> InsertOne[Any] | UpdateOne:
        if self.insert is not None:
            return InsertOne(self.insert)
        return UpdateOne(self.filter, self.update, upsert=self.upsert)

    def upsert_parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The upsert's filter and update (built from the document for a guessed insert)."""
        if self.insert is None:
            return self.filter, self.update
        key = self.insert["_id"]
        fields = {name: value for name, value in self.insert.items() if name != "_id"}
        # The filter gives the upsert its _id already, but a $set needs a field.
        return {"_id": key}, {"$set": fields or {"_id": key}}

    def succeeded(self, txn: Rollback | None) -> None:
        """Mark the instance clean; an aborted transaction marks it changed again."""
        instance, fields, revision = self.instance, self.fields, self.revision
        object.__setattr__(instance, "__fields_modified__", _CLEAN)
        if revision is not None:
            instance.__dict__[revision[0]] = revision[1] + 1
        if txn is not None:

            def undo() -> None:
                instance._modified().update(fields)
                if revision is not None:
                    instance.__dict__[revision[0]] = revision[1]

            txn.on_abort(undo)

    def check(self, result: Any) -> None:
        """Raise if a revision-checked write matched no document at its revision."""
        if (
            self.revision is not None
            and isinstance(result, UpdateResult)
            and result.matched_count == 0
            and result.upserted_id is None
        ):
            raise RevisionConflictError(self.instance, self.revision[1])

    def duplicate_key(self, exc: pymongo.errors.DuplicateKeyError) -> Exception:
        """The ODM error for a duplicate key: a revision conflict when the key is the id."""
        details = exc.details or {}
        on_id = set(details.get("keyPattern", {})) == {"_id"}
        if self.revision is not None and on_id:
            return RevisionConflictError(self.instance, self.revision[1])
        return DuplicateKeyError(self.instance, exc)


@dataclass
class SaveBatch:
    """The writes to one collection, sent as one bulk write unless revisions need checking."""

    model: type[Model]
    writes: list[SaveWrite] = field(default_factory=list)
    operations: list[InsertOne[Any] | UpdateOne] = field(default_factory=list)
    """The bulk write's operations, one per write (built with the plan, see ``plan_saves``)."""

    @property
    def one_by_one(self) -> bool:
        return len(self.writes) == 1 or self.model.__revision_field__ is not None

    @property
    def guesses(self) -> bool:
        """Whether the bulk write tries inserts of given ids (see ``SaveWrite.guess``)."""
        return any(write.guess for write in self.writes)

    def head(self, count: int) -> "SaveBatch":
        """The batch's first ``count`` writes, as a batch of their own."""
        return SaveBatch(self.model, self.writes[:count], self.operations[:count])

    def tail(self, start: int) -> "SaveBatch":
        """The batch's writes from ``start`` on, as a batch of their own."""
        return SaveBatch(self.model, self.writes[start:], self.operations[start:])

    def as_upserts(self, start: int = 0) -> "SaveBatch":
        """The batch's writes from ``start`` on, each guessed insert turned into its upsert."""
        writes = self.writes[start:]
        for write in writes:
            if write.guess:
                write.filter, write.update = write.upsert_parts()
                write.insert, write.guess = None, False
        return SaveBatch(self.model, writes, [write.operation() for write in writes])

    def bulk_failed(
        self, exc: pymongo.errors.BulkWriteError, ordered: bool, txn: Rollback | None
    ) -> Exception:
        """Mark what the server wrote despite ``exc``; the error to raise for the rest."""
        errors = exc.details.get("writeErrors", [])
        failed = {error["index"] for error in errors}
        first = min(failed) if failed else len(self.writes)
        for index, write in enumerate(self.writes):
            if index not in failed and (not ordered or index < first):
                write.succeeded(txn)
        for error in errors:
            if error.get("code") == 11000:
                failed_write: SaveWrite = self.writes[int(error["index"])]
                driver_error = pymongo.errors.DuplicateKeyError(
                    str(error.get("errmsg", "duplicate key")), 11000, error
                )
                return failed_write.duplicate_key(driver_error)
        return exc


def _unsaved_fields(instance: Model) -> AbstractSet[str] | None:
    """The instance's modified-field set, or None while it was never materialized.

    An instance as its constructor made it has no set yet: every field counts
    as unsaved then, and reading ``__fields_modified__`` would build that set
    only for the save to throw it away.
    """
    try:
        modified: AbstractSet[str] = object.__getattribute__(instance, "__fields_modified__")
    except AttributeError:
        return None
    return modified


def _has_automatic_id(instance: Model) -> bool:
    """Whether the primary key is the automatic ObjectId of the default factory, never given.

    A fresh ObjectId is unique, so no stored document can have it: for an
    instance never saved, read, copied or changed (its modified-field set was
    never materialized), an insert equals the upsert.
    """
    cls = type(instance)
    auto = cls.__dict__.get("__automatic_id__")
    if auto is None:
        auto = cls.__pydantic_fields__[cls.__primary_field__].default_factory is ObjectId
        type.__setattr__(cls, "__automatic_id__", auto)
    return bool(auto) and cls.__primary_field__ not in instance.__pydantic_fields_set__


def _write_for(instance: Model) -> SaveWrite | None:
    cls = type(instance)
    revision_field = cls.__revision_field__
    modified = _unsaved_fields(instance)
    if modified is None:
        if revision_field is None:
            key, doc = instance._save_doc(None)
            doc["_id"] = key  # bson writes _id first in any case
            return SaveWrite(
                instance,
                {"_id": key},
                {},
                True,
                cls.__all_field_names__,
                insert=doc,
                guess=not _has_automatic_id(instance),
            )
        # Every field unsaved (mutable fields are among them): the whole document.
        fields: AbstractSet[str] = cls.__all_field_names__
    else:
        fields = modified | cls.__mutable_fields__
        if not fields:
            return None
    # An instance changed everywhere writes every field: no include filter to apply then.
    key, doc = instance._save_doc(None if fields >= cls.__all_field_names__ else fields)
    filter_: dict[str, Any] = {"_id": key}
    if not doc:
        # The filter gives the upsert its _id already, and setting it again to the same
        # value changes nothing; but a $set needs a field.
        doc["_id"] = key
    if revision_field is None:
        return SaveWrite(instance, filter_, {"$set": doc}, True, fields)
    key = cls.__odm_fields__[revision_field].key_name
    current = int(getattr(instance, revision_field))
    # A document saved before the model had a revision field counts as revision 0.
    filter_[key] = current if current else {"$in": [0, None]}
    doc[key] = current + 1
    return SaveWrite(
        instance, filter_, {"$set": doc}, current == 0, fields, (revision_field, current)
    )


def plan_saves(instances: Sequence[Model]) -> list[SaveBatch]:
    """The batches that save ``instances`` and what they reference, in dependency order.

    Raises:
        TypeError: one of ``instances`` is not a Model instance.
    """
    with paused_collector(len(instances)):
        return _plan(instances)


def _plan(instances: Sequence[Model]) -> list[SaveBatch]:
    ordered: list[Model] = []
    seen: set[int] = set()
    for instance in instances:
        if not isinstance(instance, Model):
            raise TypeError("Can only call save with a Model instance")
        if type(instance).__references__:
            _walk(instance, seen, ordered)
        elif id(instance) not in seen:
            seen.add(id(instance))
            ordered.append(instance)
    batches: dict[str, SaveBatch] = {}
    for instance in ordered:
        write = _write_for(instance)
        if write is None:
            continue
        cls = type(instance)
        collection = cls.__collection__
        batch = batches.get(collection)
        if batch is None:
            batch = batches[collection] = SaveBatch(cls)
        elif batch.model is not cls and cls.__revision_field__ is not None:
            batch.model = cls
        batch.writes.append(write)
    for batch in batches.values():
        if not batch.one_by_one:
            batch.operations = [write.operation() for write in batch.writes]
    return list(batches.values())


def save_steps(
    batches: list[SaveBatch],
    collection_of: Callable[[type[Model]], Any],
    session: WriteSession,
    ordered: bool,
) -> Steps[None]:
    """Send the batches: one bulk write a collection, or one write at a time where revisions count.

    Inserts of given ids (``SaveWrite.guess``) are tried in bulk writes
    outside transactions only: there a write error would abort the
    transaction, so its upserts are sent instead. A single instance is
    upserted at once too, where a taken id would cost a second round trip.

    Raises:
        DuplicateKeyError: a unique index already holds a value of an instance.
        RevisionConflictError: a stored document is newer than its instance
            (the transaction in use is aborted first).
    """
    driver, txn = session.driver, session.transaction
    in_transaction = txn is not None or (driver is not None and driver.in_transaction)
    try:
        for batch in batches:
            collection = collection_of(batch.model)
            if batch.one_by_one:
                for write in batch.writes:
                    yield from _write_one_steps(write, collection, driver)
                    write.succeeded(txn)
                continue
            if in_transaction and batch.guesses:
                batch = batch.as_upserts()
            yield from _bulk_steps(batch, collection, driver, txn, ordered)
    except RevisionConflictError:
        yield from _abort_steps(txn)
        raise


def _write_one_steps(
    write: SaveWrite, collection: Any, driver: "DriverSession | None"
) -> Steps[None]:
    if write.insert is not None and not write.guess:
        send = partial(collection.insert_one, write.insert, session=driver)
    else:
        filter_, update = write.upsert_parts()
        send = partial(collection.update_one, filter_, update, upsert=write.upsert, session=driver)
    try:
        result = yield send
    except pymongo.errors.DuplicateKeyError as exc:
        raise write.duplicate_key(exc) from exc
    write.check(result)


# A batch guessing inserts sends this many first: when the ids turn out to be taken,
# the server has decoded only these before the upserts take over.
_FIRST_GUESSES = 64


def _bulk_steps(
    batch: SaveBatch,
    collection: Any,
    driver: "DriverSession | None",
    txn: Rollback | None,
    ordered: bool,
) -> Steps[None]:
    """One bulk write; where it tried inserts of given ids, the upserts after the first failure.

    The guessed inserts go in ordered bulk writes whatever ``ordered`` asks:
    they stop at the first write error, and from that write on the rest of
    the batch is sent again, guessed inserts turned into upserts, in the order
    asked for. So the outcome is the upserts' (a write failing for another
    reason fails again, the same way). A large batch sends its first
    ``_FIRST_GUESSES`` writes on their own: a batch whose ids are all taken
    then costs one small failed bulk write more, not the whole batch twice.
    """
    probing = batch.guesses
    pending = batch
    if probing and len(batch.writes) > 2 * _FIRST_GUESSES:
        pending = batch.head(_FIRST_GUESSES)
    sent = 0
    while True:
        try:
            yield partial(
                collection.bulk_write,
                pending.operations,
                ordered=ordered or probing,
                session=driver,
            )
        except pymongo.errors.BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not probing or not errors:
                raise pending.bulk_failed(exc, ordered or probing, txn) from exc
            first = min(int(error["index"]) for error in errors)
            for write in pending.writes[:first]:
                write.succeeded(txn)
            rest = batch.as_upserts(sent + first)
            yield from _bulk_steps(rest, collection, driver, txn, ordered)
            return
        for write in pending.writes:
            write.succeeded(txn)
        sent += len(pending.writes)
        if sent == len(batch.writes):
            return
        pending = batch.tail(sent)


def delete_steps(instance: Model, collection: Any, session: WriteSession) -> Steps[None]:
    """Delete the instance's document (at the revision it was read at, for revisioned models).

    Raises:
        DocumentNotFoundError: no document has the instance's primary key.
        RevisionConflictError: the stored document is newer (the transaction in use is aborted).
    """
    target = _delete_filter(instance)
    result = yield partial(collection.delete_many, target, session=session.driver)
    if result.deleted_count:
        return
    if len(target) > 1:
        exists = yield partial(
            collection.count_documents, {"_id": target["_id"]}, limit=1, session=session.driver
        )
        if exists:
            yield from _abort_steps(session.transaction)
            revision = type(instance).__revision_field__
            read = int(getattr(instance, revision)) if revision is not None else 0
            raise RevisionConflictError(instance, read)
    raise DocumentNotFoundError(instance)


def _abort_steps(txn: Rollback | None) -> Steps[None]:
    """Abort the transaction in use, if any: a revision conflict ends it."""
    if txn is not None and txn.is_started:
        yield txn.abort


def _delete_filter(instance: Model) -> dict[str, Any]:
    """The primary key, and for revisioned models the revision the instance was read at."""
    cls = type(instance)
    target = {"_id": instance.model_dump_doc(include={cls.__primary_field__})["_id"]}
    revision = cls.__revision_field__
    if revision is not None:
        current = int(getattr(instance, revision))
        key = cls.__odm_fields__[revision].key_name
        target[key] = current if current else {"$in": [0, None]}
    return target
