"""What a save writes: one upsert per changed instance, grouped into one bulk write per collection.

Both engines plan saves here and only send the plan, so ``save`` and
``save_all`` behave the same on every client. The plan

* walks ``Reference()`` fields first (single, optional and list ones), so a
  referenced instance is written before the instance that points at it (lazy
  references are not saved with their holder);
* writes only the fields changed since the instance was loaded or last saved,
  as an upsert on the primary key, as ODMantic's save does;
* groups the writes of one collection into one ``bulk_write`` (ordered or
  not), where ODMantic sends one update per instance;
* checks the revision of models that opt in (``revision_field``), one write
  at a time, so a save never overwrites a newer version of the document.
"""

from collections.abc import Callable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import pymongo.errors
from pymongo import InsertOne, UpdateOne
from pymongo.results import UpdateResult

from .bson import ObjectId
from .exceptions import DuplicateKeyError, RevisionConflictError
from .model import _CLEAN, Model, _BaseODMModel
from .session import AIOTransaction, SyncTransaction

__all__ = ["SaveBatch", "SaveWrite", "plan_saves"]


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
    """The whole document, when no stored document can have its id (see ``_is_new``)."""

    def operation(self) -> InsertOne[Any] | UpdateOne:
        if self.insert is not None:
            return InsertOne(self.insert)
        return UpdateOne(self.filter, self.update, upsert=self.upsert)

    def send(self, collection: Any, session: Any) -> Callable[[], Any]:
        """The driver call making this write on its own."""
        if self.insert is not None:
            return partial(collection.insert_one, self.insert, session=session)
        return partial(
            collection.update_one, self.filter, self.update, upsert=self.upsert, session=session
        )

    def succeeded(self, txn: Any) -> None:
        """Mark the instance clean; an aborted transaction marks it changed again."""
        instance, fields, revision = self.instance, self.fields, self.revision
        object.__setattr__(instance, "__fields_modified__", _CLEAN)
        if revision is not None:
            instance.__dict__[revision[0]] = revision[1] + 1
        if isinstance(txn, AIOTransaction | SyncTransaction):

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

    @property
    def one_by_one(self) -> bool:
        return len(self.writes) == 1 or self.model.__revision_field__ is not None

    def bulk_failed(self, exc: pymongo.errors.BulkWriteError, ordered: bool, txn: Any) -> Exception:
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


def _is_new(instance: Model) -> bool:
    """Whether no stored document can have this instance's id, so an insert equals the upsert.

    True for an instance as its constructor made it, never saved, read, copied or
    changed (its modified-field set was never materialized), whose primary key is
    the automatic ObjectId from the default factory: a fresh ObjectId is unique.
    Anything else is written with ODMantic's upsert.
    """
    try:
        object.__getattribute__(instance, "__fields_modified__")
    except AttributeError:
        cls = type(instance)
        auto = cls.__dict__.get("__automatic_id__")
        if auto is None:
            auto = cls.__pydantic_fields__[cls.__primary_field__].default_factory is ObjectId
            type.__setattr__(cls, "__automatic_id__", auto)
        return bool(auto) and cls.__primary_field__ not in instance.__pydantic_fields_set__
    return False


def _write_for(instance: Model) -> SaveWrite | None:
    cls = type(instance)
    revision_field = cls.__revision_field__
    # Before reading __fields_modified__, which materializes it.
    if revision_field is None and _is_new(instance):
        doc = instance.model_dump_doc()
        return SaveWrite(
            instance, {"_id": doc["_id"]}, {}, True, cls.__all_field_names__, insert=doc
        )
    fields = set(instance.__fields_modified__) | instance.__mutable_fields__
    if not fields:
        return None
    # An instance changed everywhere writes every field: no include filter to apply then.
    doc = instance.model_dump_doc(include=None if fields >= cls.__all_field_names__ else fields)
    primary_doc = doc if "_id" in doc else instance.model_dump_doc(include={cls.__primary_field__})
    filter_: dict[str, Any] = {"_id": primary_doc["_id"]}
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
    return list(batches.values())
