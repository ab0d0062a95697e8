"""Cursors: the results of ``find`` and ``aggregate``, parsed one document at a time.

:class:`AIOCursor` is awaited for a list or iterated with ``async for``;
:class:`SyncCursor` is iterated. Both parse each document as they receive it
(a model instance, a projection or an aggregation output) and keep the parsed
results, so iterating again does not query again.
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Any, Generic, TypeVar, cast

from pydantic import ValidationError

from ._doc_codec import doc_list_validator
from ._gc_pause import paused_collector
from .model import _CLEAN, _BaseODMModel
from .projection import Parser

__all__ = ["AIOCursor", "SyncCursor"]

R = TypeVar("R")


class AIOCursor(Generic[R]):
    """Results of :meth:`AIOEngine.find`: ``await`` it for a list, or ``async for`` over it.

    Each document becomes a ``model`` instance, or whatever ``parse`` makes of
    it (projections and aggregations). ``cursor`` is the driver's async cursor
    (pymongo's or motor's), or a coroutine of one.
    """

    def __init__(self, model: type[Any], cursor: Any, parse: Parser | None = None) -> None:
        self._model = model
        self._cursor = _AwaitableCursor(cursor)
        self._parse: Callable[[dict[str, Any]], R] = parse or model.model_validate_doc
        self._results: list[R] | None = None

    def __await__(self) -> Generator[None, None, list[R]]:
        return self._all().__await__()

    async def _all(self) -> list[R]:
        if self._results is None:
            raw = await self._cursor.to_list(length=None)
            parsed = _parse_all(self._model, self._parse, raw)
            if parsed is None:
                parse = self._parse
                parsed = [parse(doc) for doc in raw]
            self._results = parsed
        return self._results

    async def __aiter__(self) -> AsyncIterator[R]:
        if self._results is not None:
            for item in self._results:
                yield item
            return
        results: list[R] = []
        async for raw in self._cursor:
            instance = self._parse(raw)
            results.append(instance)
            yield instance
        self._results = results


def _parse_all(model: type[Any], parse: Callable[[Any], Any], raw: list[Any]) -> list[Any] | None:
    """All of a find's documents as instances, validated in one call; None: parse one by one.

    Only for what ``model_validate_doc``'s fast path would take, document by
    document (plain dicts, of a class whose documents are validation input as
    they are; the validator refuses a missing key), and only when ``parse`` is that method,
    not overridden. Any invalid document sends the whole list back to the
    per-document path, which reports it as it always does. The instances all
    stay alive, so the garbage collector is paused meanwhile (see ``_gc_pause``).
    """
    if (
        len(raw) < 2
        or getattr(parse, "__func__", None) is not _MODEL_VALIDATE_DOC
        or getattr(parse, "__self__", None) is not model
    ):
        return None
    codec = model.__doc_codec__
    if not codec.direct or not all(type(doc) is dict for doc in raw):
        return None
    validator = codec.list_validator
    if validator is None:
        validator = codec.list_validator = doc_list_validator(model)
    with paused_collector(len(raw)):
        try:
            instances: list[Any] = validator.validate_python(raw)
        except ValidationError:
            return None
        for instance in instances:
            object.__setattr__(instance, "__fields_modified__", _CLEAN)
    return instances


_MODEL_VALIDATE_DOC = _BaseODMModel.model_validate_doc.__func__  # type: ignore[attr-defined]  # a classmethod's function


class _AwaitableCursor:
    """Gives motor's and pymongo's async cursors (and aggregate coroutines) one shape."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    async def _resolved(self) -> Any:
        if asyncio.iscoroutine(self._cursor):
            self._cursor = await self._cursor
        return self._cursor

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        cursor = await self._resolved()
        return cast(list[dict[str, Any]], await cursor.to_list(length))

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        cursor = await self._resolved()
        async for doc in cursor:
            yield doc


class SyncCursor(Generic[R]):
    """Results of :meth:`SyncEngine.find`, iterated lazily."""

    def __init__(self, model: type[Any], cursor: Any, parse: Parser | None = None) -> None:
        self._model = model
        self._cursor = cursor
        self._parse: Callable[[dict[str, Any]], R] = parse or model.model_validate_doc
        self._results: list[R] | None = None

    def __iter__(self) -> Iterator[R]:
        if self._results is not None:
            yield from self._results
            return
        results: list[R] = []
        for raw in self._cursor:
            instance = self._parse(raw)
            results.append(instance)
            yield instance
        self._results = results
