"""The async engine, :class:`AIOEngine`, and the names of the engine module.

The engines are ODMantic 1.1's, running on pymongo's native async client
(preferred) or on motor for :class:`AIOEngine`, and on ``MongoClient`` for
:class:`SyncEngine` (in ``_sync_engine``, exported here). Beyond ODMantic
they take transaction options, give a retry helper
(:meth:`AIOEngine.run_transaction`), and operations called without
``session=`` join the session the caller's context has opened (see
``_request_session``). What a call sends is planned in ``_query_plan`` and
``_save_plan``; results come back through the cursors of ``cursor``.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar, Unpack, cast, overload

from bson import Timestamp
from pydantic import BaseModel
from pymongo import AsyncMongoClient
from pymongo.client_session import ClientSession

from ._driver import (
    AsyncDriverSession,
    TransactionOptions,
    TransactionSettings,
    driver_client_of,
    unwrap_client,
)
from ._engine_base import BaseEngine
from ._query_plan import (
    aggregate_plan,
    fetch_plan,
    fetched_in_order,
    find_plan,
    is_model_class,
    model_filter,
    update_plan,
)
from ._request_session import joined_session
from ._retry import DEFAULT_TRANSACTION_SECONDS, transaction_steps
from ._save_plan import WriteSession, delete_steps, plan_saves, save_steps
from ._steps import run_async
from ._sync_engine import SyncEngine
from .change_stream import (
    AIOChangeStream,
    FullDocument,
    FullDocumentBeforeChange,
    watch_options,
)
from .cursor import PARSE_BATCH, AIOCursor, SyncCursor
from .model import Model
from .query import QueryDictBool, _to_bson
from .reference import LazyReference
from .session import (
    AIOSession,
    AIOSessionType,
    AIOTransaction,
    SyncSession,
    SyncSessionType,
    transaction_of,
)
from .typing import ModelType

__all__ = [
    "AIOCursor",
    "AIOEngine",
    "AIOSessionType",
    "ModelType",
    "SyncCursor",
    "SyncEngine",
    "SyncSessionType",
    "TransactionOptions",
]

OutputType = TypeVar("OutputType", bound=BaseModel)
T = TypeVar("T")


class AIOEngine(BaseEngine):
    """Async database operations on a pymongo ``AsyncMongoClient`` or a motor client.

    Args:
        client: the client; a default ``AsyncMongoClient()`` (localhost:27017) when None.
        database: the database to use.
        transaction_options: defaults for transactions opened by this engine
            (snapshot read concern and majority write concern unless given).
    """

    def __init__(
        self,
        client: Any = None,
        database: str = "test",
        *,
        transaction_options: TransactionOptions | None = None,
    ) -> None:
        super().__init__(database, transaction_options)
        self.client = client if client is not None else AsyncMongoClient()
        self.database = self.client[database]

    def _get_session(self, session: AIOSessionType) -> "AsyncDriverSession | None":
        if session is None:
            joined = joined_session()
            if joined is None or joined.session is None:
                return None
            return joined.get_driver_session()
        if isinstance(session, AIOSession):
            driver = session.get_driver_session()
            if session.engine is self:
                return driver  # started on this engine's client
        else:
            driver = session
            if isinstance(driver, SyncSession | ClientSession):
                raise TypeError("AIOEngine needs an async session, not a synchronous one")
        if driver_client_of(driver) is not unwrap_client(self.client):
            raise ValueError("the session belongs to another client than this engine's")
        return driver

    def _write_session(self, session: AIOSessionType) -> WriteSession:
        """The session of a save or delete as the save plan takes it (joined when not given)."""
        driver = self._get_session(session)
        return WriteSession(driver, transaction_of(driver))

    async def configure_database(
        self,
        models: Sequence[type[Model]],
        *,
        update_existing_indexes: bool = False,
        session: AIOSessionType = None,
    ) -> None:
        """Create the indexes the models declare.

        Args:
            models: the models to set up.
            update_existing_indexes: drop and recreate an index whose definition changed.
            session: an optional session.
        """
        await run_async(
            self._configure_steps(models, update_existing_indexes, self._get_session(session))
        )

    def session(self) -> AIOSession:
        """A new session; use it as ``async with engine.session() as session``."""
        return AIOSession(self)

    def transaction(self, **options: Unpack[TransactionSettings]) -> AIOTransaction:
        """A new transaction on a session of its own: ``async with engine.transaction() as txn``."""
        joined = joined_session()
        if isinstance(joined, AIOTransaction) and joined.is_started:
            raise RuntimeError(
                "the session that calls without session= join already has a transaction; "
                "pass it as session= instead of opening a second, conflicting one"
            )
        return AIOTransaction(self, TransactionOptions(**options))

    async def run_transaction(
        self,
        callback: Callable[[AIOTransaction], Awaitable[T]],
        *,
        timeout: float = DEFAULT_TRANSACTION_SECONDS,
        **options: Unpack[TransactionSettings],
    ) -> T:
        """Run ``callback(txn)`` in a transaction, retrying it as MongoDB advises.

        The whole callback is retried on TransientTransactionError (a write
        conflict, say), and the commit alone on UnknownTransactionCommitResult,
        until ``timeout`` seconds have passed, like pymongo's ``with_transaction``.
        Instances saved in an aborted attempt are marked modified again, so the
        retry writes them again.

        Example:
            >>> async def transfer(txn: AIOTransaction) -> None:
            ...     src = await engine.find_one(Account, Account.id == a, session=txn)
            ...     ...
            >>> await engine.run_transaction(transfer)
        """
        settings = TransactionOptions(**options)
        steps = transaction_steps(
            lambda: AIOTransaction(self, settings), callback, timeout, asyncio.sleep
        )
        return cast(T, await run_async(steps))

    @overload
    def find(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        sort: Any | None = None,
        skip: int = 0,
        limit: int | None = None,
        session: AIOSessionType = None,
        projection: None = None,
    ) -> AIOCursor[ModelType]: ...

    @overload
    def find(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        sort: Any | None = None,
        skip: int = 0,
        limit: int | None = None,
        session: AIOSessionType = None,
        projection: type[OutputType],
    ) -> AIOCursor[OutputType]: ...

    @overload
    def find(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        sort: Any | None = None,
        skip: int = 0,
        limit: int | None = None,
        session: AIOSessionType = None,
        projection: Sequence[Any],
    ) -> AIOCursor[dict[str, Any]]: ...

    def find(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        sort: Any | None = None,
        skip: int = 0,
        limit: int | None = None,
        session: AIOSessionType = None,
        projection: Any = None,
    ) -> AIOCursor[Any]:
        """Instances of ``model`` matching the queries (all of them when none).

        Args:
            projection: beyond ODMantic, read only part of each document: a
                pydantic model class (its field names pick the fields, and
                results are its instances) or a sequence of ``model``'s fields
                (results are the projected documents, as dicts).

        Raises:
            DocumentParsingError: a document could not be parsed into the model.
        """
        plan = find_plan(model, *queries, sort=sort, skip=skip, limit=limit, projection=projection)
        collection, driver = self.get_collection(model), self._get_session(session)
        return AIOCursor(model, plan.send(collection, driver, PARSE_BATCH), plan.parse)

    @overload
    async def find_one(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        sort: Any | None = None,
        session: AIOSessionType = None,
        projection: None = None,
    ) -> ModelType | None: ...

    @overload
    async def find_one(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        sort: Any | None = None,
        session: AIOSessionType = None,
        projection: type[OutputType],
    ) -> OutputType | None: ...

    @overload
    async def find_one(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        sort: Any | None = None,
        session: AIOSessionType = None,
        projection: Sequence[Any],
    ) -> dict[str, Any] | None: ...

    async def find_one(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        sort: Any | None = None,
        session: AIOSessionType = None,
        projection: Any = None,
    ) -> Any:
        """The first instance matching the queries, or None (``projection`` as in :meth:`find`)."""
        if not is_model_class(model):
            raise TypeError("Can only call find_one with a Model class")
        plan = find_plan(model, *queries, sort=sort, limit=1, projection=projection)
        collection, driver = self.get_collection(model), self._get_session(session)
        if plan.pipeline is None:
            docs = await plan.send_one(collection, driver).to_list(1)
            return plan.parse(docs[0]) if docs else None
        results: list[Any] = await AIOCursor(model, plan.send(collection, driver), plan.parse)
        return results[0] if results else None

    async def save(self, instance: ModelType, *, session: AIOSessionType = None) -> ModelType:
        """Insert or update the instance (only its changed fields), references first.

        Raises:
            DuplicateKeyError: a unique index already holds one of its values.
            RevisionConflictError: the model has a ``revision_field`` and the
                stored document is newer (a transaction in use is aborted).
        """
        if not isinstance(instance, Model):
            raise TypeError("Can only call save with a Model instance")
        await run_async(
            save_steps(
                plan_saves([instance]), self.get_collection, self._write_session(session), True
            )
        )
        return instance

    async def save_all(
        self,
        instances: Sequence[ModelType],
        *,
        session: AIOSessionType = None,
        ordered: bool = True,
    ) -> list[ModelType]:
        """Save the instances with one bulk write per collection (ODMantic sends one each).

        Referenced instances are written first. With ``ordered`` (the default)
        a collection's writes stop at the first failure, as ODMantic's loop
        does; unordered, the others are still written. Instances that were
        written count as saved either way.
        """
        await run_async(
            save_steps(
                plan_saves(instances), self.get_collection, self._write_session(session), ordered
            )
        )
        return list(instances)

    async def delete(self, instance: ModelType, *, session: AIOSessionType = None) -> None:
        """Delete the instance's document.

        Raises:
            DocumentNotFoundError: no document has the instance's primary key.
            RevisionConflictError: the model has a ``revision_field`` and the
                stored document is newer (a transaction in use is aborted).
        """
        await run_async(
            delete_steps(
                instance, self.get_collection(type(instance)), self._write_session(session)
            )
        )

    async def remove(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        just_one: bool = False,
        session: AIOSessionType = None,
    ) -> int:
        """Delete the documents matching the queries; returns how many were deleted."""
        query = model_filter(model, *queries)
        collection = self.get_collection(model)
        driver_session = self._get_session(session)
        if just_one:
            result = await collection.delete_one(query, session=driver_session)
        else:
            result = await collection.delete_many(query, session=driver_session)
        return int(result.deleted_count)

    async def update(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        update: Any,
        just_one: bool = False,
        session: AIOSessionType = None,
    ) -> int:
        """Apply an update to the documents matching the queries; returns how many changed.

        Beyond ODMantic. ``update`` is built from the model's fields, e.g.
        ``set_(Account.frozen, True) & inc(Account.balance, -5)``, or a list of
        such expressions; a model's revision is counted up as well.

        Example:
            >>> await engine.update(Account, Account.owner == owner.id, update=set_(Account.frozen, True))
        """
        query, document = update_plan(model, queries, update)
        collection = self.get_collection(model)
        driver_session = self._get_session(session)
        if just_one:
            result = await collection.update_one(query, document, session=driver_session)
        else:
            result = await collection.update_many(query, document, session=driver_session)
        return int(result.modified_count)

    @overload
    def aggregate(
        self,
        model: type[ModelType],
        pipeline: Sequence[Any],
        *,
        output: type[OutputType],
        session: AIOSessionType = None,
    ) -> AIOCursor[OutputType]: ...

    @overload
    def aggregate(
        self,
        model: type[ModelType],
        pipeline: Sequence[Any],
        *,
        output: None = None,
        session: AIOSessionType = None,
    ) -> AIOCursor[dict[str, Any]]: ...

    def aggregate(
        self,
        model: type[ModelType],
        pipeline: Sequence[Any],
        *,
        output: type[BaseModel] | None = None,
        session: AIOSessionType = None,
    ) -> AIOCursor[Any]:
        """Run an aggregation pipeline on ``model``'s collection.

        Beyond ODMantic. Query expressions in the pipeline are $match stages;
        results are ``output`` instances (an ODM model reads them as documents,
        another pydantic model by field name), or dicts without ``output``.

        Example:
            >>> totals = await engine.aggregate(
            ...     Account,
            ...     [Account.currency == "EUR", {"$group": {"_id": "$owner", "total": {"$sum": "$balance"}}}],
            ...     output=OwnerTotal,
            ... )
        """
        stages, parse = aggregate_plan(model, pipeline, output)
        cursor = self.get_collection(model).aggregate(stages, session=self._get_session(session))
        return AIOCursor(model, cursor, parse)

    def watch(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        full_document: FullDocument | None = None,
        full_document_before_change: FullDocumentBeforeChange | None = None,
        resume_after: Mapping[str, Any] | None = None,
        start_after: Mapping[str, Any] | None = None,
        start_at_operation_time: Timestamp | None = None,
        max_await_time_ms: int | None = None,
        batch_size: int | None = None,
    ) -> AIOChangeStream[ModelType]:
        """Changes to ``model``'s collection as typed events, in commit order.

        Queries select the changed documents (an update is matched by its
        document, looked up as ``full_document="updateLookup"`` unless told
        otherwise). The stream opens at its first use or ``async with``.

        Args:
            model: the model whose collection to watch.
            queries: filters on the changed document, as for ``find``.
            full_document: ``"updateLookup"``, ``"whenAvailable"`` or ``"required"``
                to give updates their document.
            full_document_before_change: ``"whenAvailable"`` or ``"required"`` for
                the document before an update, replace or delete (the collection
                must record pre-images: ``collMod`` ``changeStreamPreAndPostImages``).
            resume_after: a resume token; the stream starts after that event.
            start_after: like ``resume_after``, and also past an invalidate event.
            start_at_operation_time: start at this cluster time.
            max_await_time_ms: how long the server waits for an event per round trip.
            batch_size: events per round trip.

        Example:
            >>> async with engine.watch(Account, Account.owner == "ada") as stream:
            ...     async for event in stream:
            ...         print(event.operation_type, event.document)
        """
        pipeline, options = watch_options(
            model_filter(model, *queries),
            full_document=full_document,
            full_document_before_change=full_document_before_change,
            resume_after=resume_after,
            start_after=start_after,
            start_at_operation_time=start_at_operation_time,
            max_await_time_ms=max_await_time_ms,
            batch_size=batch_size,
        )
        return AIOChangeStream(model, self.get_collection(model), pipeline, options)

    async def fetch(
        self, reference: LazyReference[ModelType], *, session: AIOSessionType = None
    ) -> ModelType | None:
        """The instance a lazy reference points at (None if it was deleted); fetched once.

        Beyond ODMantic.
        """
        if reference.instance is not None:
            return reference.instance
        found = await self.find_one(
            reference.model, {"_id": _to_bson(reference.id)}, session=session
        )
        return reference._fetched(found)

    async def fetch_all(
        self, references: Sequence[LazyReference[ModelType]], *, session: AIOSessionType = None
    ) -> list[ModelType]:
        """The instances of several lazy references to one model, in one query, in their order.

        Deleted documents are left out. Beyond ODMantic.
        """
        if not references:
            return []
        model, keys = fetch_plan(references)
        found = await self.find(model, {"_id": {"$in": keys}}, session=session)
        return fetched_in_order(references, cast(list[ModelType], found))

    async def count(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        session: AIOSessionType = None,
    ) -> int:
        """How many documents match the queries."""
        if not is_model_class(model):
            raise TypeError("Can only call count with a Model class")
        query = model_filter(model, *queries)
        return int(
            await self.get_collection(model).count_documents(
                query, session=self._get_session(session)
            )
        )
