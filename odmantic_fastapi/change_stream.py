"""Typed change streams: ``engine.watch(Model)`` yields events whose documents are Model instances.

A stream wraps the driver's change stream on the model's collection (pymongo's
async client, motor, or pymongo's sync client), so it resumes after a network
error as the driver does, and its :attr:`resume_token` lets a new stream pick
up where an old one stopped. Each :class:`ChangeEvent` carries the document
parsed into the model, and an update's description with the model's field
names instead of the stored key names.
"""

import asyncio
import datetime
import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Self, TypeVar

from bson import Timestamp

from .model import Model

__all__ = [
    "AIOChangeStream",
    "ChangeEvent",
    "FullDocument",
    "FullDocumentBeforeChange",
    "OperationType",
    "SyncChangeStream",
    "UpdateDescription",
    "parse_event",
    "watch_options",
]

ModelT = TypeVar("ModelT", bound=Model)

OperationType = Literal[
    "insert", "update", "replace", "delete", "drop", "rename", "dropDatabase", "invalidate"
]
FullDocument = Literal["default", "updateLookup", "whenAvailable", "required"]
FullDocumentBeforeChange = Literal["off", "whenAvailable", "required"]


@dataclass(frozen=True)
class UpdateDescription:
    """What an update changed, by model field name (``"address.city"`` for nested paths)."""

    updated_fields: dict[str, Any]
    removed_fields: list[str]
    truncated_arrays: list[tuple[str, int]] = field(default_factory=list)


@dataclass(frozen=True)
class ChangeEvent(Generic[ModelT]):
    """One change to a model's collection.

    Attributes:
        operation_type: ``insert``, ``update``, ``replace``, ``delete``, ``drop``,
            ``rename``, ``dropDatabase`` or ``invalidate``.
        resume_token: pass it as ``resume_after`` to continue after this event.
        id: the primary key of the changed document (None for collection events).
        document: the document after the change, parsed into the model, when the
            stream has it (inserts and replaces always; updates per ``full_document``).
        document_before_change: the document before the change, with pre-images.
        update_description: for updates, the changed and removed fields.
        raw: the event as the server sent it.
    """

    operation_type: OperationType
    resume_token: dict[str, Any]
    cluster_time: Timestamp | None
    wall_time: datetime.datetime | None
    id: Any
    document: ModelT | None
    document_before_change: ModelT | None
    update_description: UpdateDescription | None
    raw: dict[str, Any]


def _key_to_field(model: type[Model]) -> dict[str, str]:
    return {f.key_name: name for name, f in model.__odm_fields__.items()}


def _field_path(keys: Mapping[str, str], path: str) -> str:
    head, dot, rest = path.partition(".")
    return keys.get(head, head) + dot + rest


def _parse(model: type[ModelT], doc: Any) -> ModelT | None:
    if not isinstance(doc, Mapping):
        return None
    return model.model_validate_doc(doc)


def parse_event(model: type[ModelT], raw: dict[str, Any]) -> ChangeEvent[ModelT]:
    """Turn a raw change event into a typed one for ``model``."""
    keys = _key_to_field(model)
    description = None
    raw_description = raw.get("updateDescription")
    if isinstance(raw_description, Mapping):
        description = UpdateDescription(
            updated_fields={
                _field_path(keys, path): value
                for path, value in (raw_description.get("updatedFields") or {}).items()
            },
            removed_fields=[
                _field_path(keys, path) for path in raw_description.get("removedFields") or []
            ],
            truncated_arrays=[
                (_field_path(keys, t["field"]), int(t["newSize"]))
                for t in raw_description.get("truncatedArrays") or []
            ],
        )
    key = raw.get("documentKey")
    return ChangeEvent(
        operation_type=raw["operationType"],
        resume_token=raw["_id"],
        cluster_time=raw.get("clusterTime"),
        wall_time=raw.get("wallTime"),
        id=key.get("_id") if isinstance(key, Mapping) else None,
        document=_parse(model, raw.get("fullDocument")),
        document_before_change=_parse(model, raw.get("fullDocumentBeforeChange")),
        update_description=description,
        raw=raw,
    )


def _prefixed(query: Any, prefix: str) -> Any:
    """A document query rewritten to apply to the event's ``prefix`` document."""
    if not isinstance(query, Mapping):
        return query
    out: dict[str, Any] = {}
    for key, value in query.items():
        if key in ("$and", "$or", "$nor"):
            out[key] = [_prefixed(q, prefix) for q in value]
        elif key.startswith("$"):
            raise ValueError(f"{key} cannot filter a change stream; filter on fields instead")
        else:
            out[prefix + key] = value
    return out


def watch_options(
    query: Mapping[str, Any],
    *,
    full_document: FullDocument | None,
    full_document_before_change: FullDocumentBeforeChange | None,
    resume_after: Mapping[str, Any] | None,
    start_after: Mapping[str, Any] | None,
    start_at_operation_time: Timestamp | None,
    max_await_time_ms: int | None,
    batch_size: int | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The pipeline and driver options of ``watch``: the query matches the changed document.

    An update only carries its document with ``full_document``, so a stream
    with a query defaults to ``"updateLookup"``; a delete matches by its
    pre-image (``full_document_before_change``), when the collection keeps them.
    """
    pipeline: list[dict[str, Any]] = []
    if query:
        if full_document is None:
            full_document = "updateLookup"
        pipeline.append(
            {
                "$match": {
                    "$or": [
                        _prefixed(query, "fullDocument."),
                        _prefixed(query, "fullDocumentBeforeChange."),
                    ]
                }
            }
        )
    options: dict[str, Any] = {
        "full_document": full_document,
        "full_document_before_change": full_document_before_change,
        "resume_after": resume_after,
        "start_after": start_after,
        "start_at_operation_time": start_at_operation_time,
        "max_await_time_ms": max_await_time_ms,
        "batch_size": batch_size,
    }
    return pipeline, {k: v for k, v in options.items() if v is not None}


def _check_watchable(model: type[Model]) -> None:
    if model.__references__:
        raise TypeError(
            f"{model.__name__} holds references ({', '.join(model.__references__)}): a change "
            "event carries only the referenced ids, so it cannot be parsed into the model; "
            "watch a model without Reference() fields (LazyReference fields are fine)"
        )


class _ChangeStreamBase(Generic[ModelT]):
    """What both streams hold: the model, the driver's stream once opened, and its position."""

    def __init__(
        self,
        model: type[ModelT],
        collection: Any,
        pipeline: list[dict[str, Any]],
        options: dict[str, Any],
    ) -> None:
        _check_watchable(model)
        self.model = model
        self._collection = collection
        self._pipeline = pipeline
        self._options = options
        self._stream: Any = None
        self._closed = False

    @property
    def resume_token(self) -> dict[str, Any] | None:
        """Where the stream is: pass it as ``resume_after`` to a new stream to go on from here."""
        return None if self._stream is None else self._stream.resume_token

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this change stream is closed")


class AIOChangeStream(_ChangeStreamBase[ModelT]):
    """An async iterator of :class:`ChangeEvent`; use it with ``async with`` to close it.

    Example:
        >>> async with engine.watch(Account, Account.owner == "ada") as stream:
        ...     async for event in stream:
        ...         print(event.operation_type, event.document)
    """

    async def _open(self) -> Any:
        self._check_open()
        if self._stream is None:
            stream = self._collection.watch(self._pipeline, **self._options)
            stream = await stream if inspect.isawaitable(stream) else stream
            lazy_init = getattr(stream, "_lazy_init", None)
            if lazy_init is not None:
                # motor runs the aggregate on the first read; run it now, so that
                # no change between opening and the first read is missed.
                await asyncio.to_thread(lazy_init)
            self._stream = stream
        return self._stream

    async def try_next(self) -> ChangeEvent[ModelT] | None:
        """The next event, or None when none arrived within the server's wait."""
        raw = await (await self._open()).try_next()
        return None if raw is None else parse_event(self.model, raw)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> ChangeEvent[ModelT]:
        stream = await self._open()
        while stream.alive:
            raw = await stream.try_next()
            if raw is not None:
                return parse_event(self.model, raw)
        raise StopAsyncIteration

    async def close(self) -> None:
        self._closed = True
        if self._stream is not None:
            closed = self._stream.close()
            if inspect.isawaitable(closed):
                await closed

    async def __aenter__(self) -> Self:
        await self._open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class SyncChangeStream(_ChangeStreamBase[ModelT]):
    """The synchronous :class:`AIOChangeStream`, for :class:`SyncEngine`."""

    def _open(self) -> Any:
        self._check_open()
        if self._stream is None:
            self._stream = self._collection.watch(self._pipeline, **self._options)
        return self._stream

    def try_next(self) -> ChangeEvent[ModelT] | None:
        raw = self._open().try_next()
        return None if raw is None else parse_event(self.model, raw)

    def __iter__(self) -> Iterator[ChangeEvent[ModelT]]:
        stream = self._open()
        while stream.alive:
            raw = stream.try_next()
            if raw is not None:
                yield parse_event(self.model, raw)

    def close(self) -> None:
        self._closed = True
        if self._stream is not None:
            self._stream.close()

    def __enter__(self) -> Self:
        self._open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
