"""AIOEngine and SyncEngine: the ODM's database operations, and their cursors.

The engines are ODMantic 1.1's, running on pymongo's native async client
(preferred) or on motor for :class:`AIOEngine`, and on ``MongoClient`` for
:class:`SyncEngine`. Beyond ODMantic they take transaction options, give a
retry helper (:meth:`AIOEngine.run_transaction`), and join the transaction of
the current FastAPI request when an operation is called without ``session=``.
"""

import asyncio
import contextvars
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from typing import Any, Generic, TypeVar, cast

import pymongo
import pymongo.errors
from pymongo import IndexModel
from pymongo.client_session import ClientSession
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from ._driver import TransactionOptions, driver_client_of, unwrap_client
from .exceptions import DocumentNotFoundError, DuplicateKeyError
from .index import ODMBaseIndex
from .model import Model
from .query import QueryExpression, SortExpression, and_
from .session import AIOSession, AIOTransaction, SyncSession, SyncTransaction

__all__ = [
    "AIOCursor",
    "AIOEngine",
    "AIOSessionType",
    "ModelType",
    "SyncCursor",
    "SyncEngine",
    "SyncSessionType",
]

ModelType = TypeVar("ModelType", bound=Model)
T = TypeVar("T")

AIOSessionType = Any  # AIOSession | AIOTransaction | a driver async session | None
SyncSessionType = SyncSession | SyncTransaction | ClientSession | None

_FORBIDDEN_DATABASE_CHARACTERS = set('/\\. "$*<>:|?')
# Money-safe transaction defaults: read a consistent snapshot, and acknowledge
# a commit only once a majority of the replica set has it.
DEFAULT_TRANSACTION_OPTIONS = TransactionOptions(
    read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
)
DEFAULT_RETRY_SECONDS = 120.0

#: The session operations join when called without ``session=`` (set per request).
current_session: contextvars.ContextVar[AIOSession | None] = contextvars.ContextVar(
    "odmantic_fastapi_current_session", default=None
)


def _is_model_class(model: Any) -> bool:
    return isinstance(model, type) and issubclass(model, Model)


class _QueryBuilding:
    """Query, sort and pipeline building shared by both engines."""

    @staticmethod
    def _build_query(*queries: QueryExpression | dict[str, Any] | bool) -> QueryExpression:
        if not queries:
            return QueryExpression()
        for query in queries:
            if isinstance(query, bool):
                raise TypeError("cannot build query using booleans")
        typed = cast(tuple[QueryExpression | dict[str, Any], ...], queries)
        if len(typed) == 1:
            return QueryExpression(typed[0])
        return and_(*typed)

    @staticmethod
    def _validate_sort_argument(sort: Any) -> SortExpression | None:
        from .field import FieldProxy

        if sort is None:
            return None
        items = sort if isinstance(sort, tuple) else (sort,)
        expression: dict[str, Any] = {}
        for item in items:
            if isinstance(item, SortExpression):
                expression.update(item)
            elif isinstance(item, FieldProxy):
                expression[+item] = 1
            else:
                raise TypeError(
                    "sort elements have to be Model fields or asc, desc descriptors"
                    if isinstance(sort, tuple)
                    else "sort has to be a Model field or asc, desc descriptors or a tuple of these"
                )
        return SortExpression(expression)

    @staticmethod
    def _reference_pipeline(model: type[Model], prefix: str = "") -> list[dict[str, Any]]:
        """$lookup stages that fetch ``model``'s references, nested ones included."""
        pipeline: list[dict[str, Any]] = []
        for name in model.__references__:
            reference = model.__odm_fields__[name]
            target = cast(type[Model], reference.model)  # type: ignore[attr-defined]
            key = reference.key_name
            pipeline.append(
                {
                    "$lookup": {
                        "from": target.__collection__,
                        "let": {"foreign_id": f"${key}"},
                        "pipeline": [
                            {"$match": {"$expr": {"$eq": ["$_id", "$$foreign_id"]}}},
                            *_QueryBuilding._reference_pipeline(target, f"{prefix}{name}."),
                        ],
                        "as": key,
                    }
                }
            )
            pipeline.append({"$unwind": {"path": f"${key}", "preserveNullAndEmptyArrays": True}})
        return pipeline

    def _find_arguments(
        self,
        model: type[Model],
        *queries: QueryExpression | dict[str, Any] | bool,
        sort: Any = None,
        skip: int = 0,
        limit: int | None = None,
    ) -> tuple[QueryExpression, SortExpression | None, list[dict[str, Any]]]:
        """Validated filter and sort, plus the aggregation pipeline when references need it."""
        if not _is_model_class(model):
            raise TypeError("Can only call find with a Model class")
        sort_expression = self._validate_sort_argument(sort)
        if limit is not None and limit <= 0:
            raise ValueError("limit has to be a strict positive value or None")
        if skip < 0:
            raise ValueError("skip has to be a positive integer")
        query = self._build_query(*queries)
        references = self._reference_pipeline(model)
        if not references:
            return query, sort_expression, []
        pipeline: list[dict[str, Any]] = [{"$match": query}]
        if sort_expression is not None:
            pipeline.append({"$sort": sort_expression})
        if skip:
            pipeline.append({"$skip": skip})
        if limit:
            pipeline.append({"$limit": limit})
        pipeline.extend(references)
        return query, sort_expression, pipeline

    @staticmethod
    def _pymongo_indexes(model: type[Model]) -> list[IndexModel]:
        indexes: list[IndexModel] = []
        for index in model.__indexes__():
            indexes.append(index.get_pymongo_index() if isinstance(index, ODMBaseIndex) else index)
        return indexes


def _check_database_name(database: str) -> None:
    forbidden = _FORBIDDEN_DATABASE_CHARACTERS & set(database)
    if forbidden:
        raise ValueError(f"database name cannot contain: {' '.join(sorted(forbidden))}")


def _save_plan(instance: Model) -> tuple[dict[str, Any], dict[str, Any], set[str]] | None:
    """The filter and $set document that persist an instance's changes, or None if unchanged."""
    fields = set(instance.__fields_modified__) | set(instance.__mutable_fields__)
    if not fields:
        return None
    doc = instance.model_dump_doc(include=fields)
    key = instance.model_dump_doc(include={instance.__primary_field__})
    return key, doc, fields


def _mark_saved(instance: Model, fields: set[str], txn: Any) -> None:
    object.__setattr__(instance, "__fields_modified__", set())
    if isinstance(txn, AIOTransaction | SyncTransaction):
        txn.on_abort(lambda: instance.__fields_modified__.update(fields))


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, pymongo.errors.PyMongoError) and exc.has_error_label(
        "TransientTransactionError"
    )


def _unknown_commit(exc: BaseException) -> bool:
    return (
        isinstance(exc, pymongo.errors.PyMongoError)
        and exc.has_error_label("UnknownTransactionCommitResult")
        and not (isinstance(exc, pymongo.errors.OperationFailure) and exc.code == 50)
    )


def _backoff(attempt: int) -> float:
    return min(0.5, 0.005 * 2.0**attempt) * random.random()


# -- async ---------------------------------------------------------------


class AIOCursor(Generic[ModelType]):
    """Results of :meth:`AIOEngine.find`: ``await`` it for a list, or ``async for`` over it."""

    def __init__(self, model: type[ModelType], cursor: Any) -> None:
        self._model = model
        self._cursor = cursor
        self._results: list[ModelType] | None = None

    def _parse(self, raw: dict[str, Any]) -> ModelType:
        return self._model.model_validate_doc(raw)

    def __await__(self) -> Generator[None, None, list[ModelType]]:
        return self._all().__await__()

    async def _all(self) -> list[ModelType]:
        if self._results is None:
            raw = await self._cursor.to_list(length=None)
            self._results = [self._parse(doc) for doc in raw]
        return self._results

    async def __aiter__(self) -> AsyncIterator[ModelType]:
        if self._results is not None:
            for item in self._results:
                yield item
            return
        results: list[ModelType] = []
        async for raw in self._cursor:
            instance = self._parse(raw)
            results.append(instance)
            yield instance
        self._results = results


class AIOEngine(_QueryBuilding):
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
        _check_database_name(database)
        if client is None:
            from pymongo import AsyncMongoClient

            client = AsyncMongoClient()
        self.client = client
        self.database_name = database
        self.database = client[database]
        self.transaction_options = (transaction_options or TransactionOptions()).merged_over(
            DEFAULT_TRANSACTION_OPTIONS
        )

    def get_collection(self, model: type[ModelType]) -> Any:
        """The driver collection holding ``model``'s documents."""
        return self.database[model.__collection__]

    def _get_session(self, session: AIOSessionType) -> Any:
        if session is None:
            joined = current_session.get()
            if joined is None or joined.session is None:
                return None
            return joined.get_driver_session()
        if isinstance(session, AIOSession):
            driver = session.get_driver_session()
        else:
            driver = session
            if isinstance(driver, SyncSession | ClientSession):
                raise TypeError("AIOEngine needs an async session, not a synchronous one")
        if driver_client_of(driver) is not unwrap_client(self.client):
            raise ValueError("the session belongs to another client than this engine's")
        return driver

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
        driver_session = self._get_session(session)
        for model in models:
            collection = self.get_collection(model)
            for index in self._pymongo_indexes(model):
                try:
                    await collection.create_indexes([index], session=driver_session)
                except pymongo.errors.OperationFailure as exc:
                    if not update_existing_indexes or exc.code not in (85, 86):
                        raise
                    await collection.drop_index(index.document["name"], session=driver_session)
                    await collection.create_indexes([index], session=driver_session)

    def session(self) -> AIOSession:
        """A new session; use it as ``async with engine.session() as session``."""
        return AIOSession(self)

    def transaction(
        self,
        *,
        read_concern: ReadConcern | None = None,
        write_concern: WriteConcern | None = None,
        read_preference: Any = None,
        max_commit_time_ms: int | None = None,
    ) -> AIOTransaction:
        """A new transaction on a session of its own: ``async with engine.transaction() as txn``."""
        joined = current_session.get()
        if isinstance(joined, AIOTransaction) and joined.is_started:
            raise RuntimeError(
                "this request already has a transaction (from get_transaction); pass it as "
                "session= instead of opening a second, conflicting one"
            )
        return AIOTransaction(
            self,
            read_concern=read_concern,
            write_concern=write_concern,
            read_preference=read_preference,
            max_commit_time_ms=max_commit_time_ms,
        )

    async def run_transaction(
        self,
        callback: Callable[[AIOTransaction], Awaitable[T]],
        *,
        timeout: float = DEFAULT_RETRY_SECONDS,
        read_concern: ReadConcern | None = None,
        write_concern: WriteConcern | None = None,
        read_preference: Any = None,
        max_commit_time_ms: int | None = None,
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
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            attempt += 1
            txn = AIOTransaction(
                self,
                read_concern=read_concern,
                write_concern=write_concern,
                read_preference=read_preference,
                max_commit_time_ms=max_commit_time_ms,
            )
            await txn.start()
            try:
                result = await callback(txn)
            except BaseException as exc:
                if txn.is_started:
                    await txn.abort()
                if _transient(exc) and time.monotonic() < deadline:
                    await asyncio.sleep(_backoff(attempt))
                    continue
                raise
            if not txn.is_started:
                return result  # the callback committed or aborted itself
            while True:
                try:
                    await txn.commit()
                    return result
                except pymongo.errors.PyMongoError as exc:
                    if _unknown_commit(exc) and time.monotonic() < deadline:
                        continue
                    if txn.is_started:
                        await txn.abort()
                    if _transient(exc) and time.monotonic() < deadline:
                        break
                    raise
            await asyncio.sleep(_backoff(attempt))

    def find(
        self,
        model: type[ModelType],
        *queries: QueryExpression | dict[str, Any] | bool,
        sort: Any | None = None,
        skip: int = 0,
        limit: int | None = None,
        session: AIOSessionType = None,
    ) -> AIOCursor[ModelType]:
        """Instances of ``model`` matching the queries (all of them when none).

        Raises:
            DocumentParsingError: a document could not be parsed into the model.
        """
        query, sort_expression, pipeline = self._find_arguments(
            model, *queries, sort=sort, skip=skip, limit=limit
        )
        collection = self.get_collection(model)
        driver_session = self._get_session(session)
        if pipeline:
            cursor = collection.aggregate(pipeline, session=driver_session)
        else:
            cursor = collection.find(
                query,
                sort=list(sort_expression.items()) if sort_expression else None,
                skip=skip,
                limit=limit or 0,
                session=driver_session,
            )
        return AIOCursor(model, _AwaitableCursor(cursor))

    async def find_one(
        self,
        model: type[ModelType],
        *queries: QueryExpression | dict[str, Any] | bool,
        sort: Any | None = None,
        session: AIOSessionType = None,
    ) -> ModelType | None:
        """The first instance matching the queries, or None."""
        if not _is_model_class(model):
            raise TypeError("Can only call find_one with a Model class")
        results = await self.find(model, *queries, sort=sort, limit=1, session=session)
        return results[0] if results else None

    async def _save(self, instance: ModelType, driver_session: Any, txn: Any) -> ModelType:
        for name in instance.__references__:
            referenced = getattr(instance, name)
            if referenced is not None:
                await self._save(referenced, driver_session, txn)
        plan = _save_plan(instance)
        if plan is None:
            return instance
        key, doc, fields = plan
        try:
            await self.get_collection(type(instance)).update_one(
                key, {"$set": doc}, upsert=True, session=driver_session
            )
        except pymongo.errors.DuplicateKeyError as exc:
            raise DuplicateKeyError(instance, exc) from exc
        _mark_saved(instance, fields, txn)
        return instance

    def _transaction_of(self, session: AIOSessionType) -> Any:
        return session if session is not None else current_session.get()

    async def save(self, instance: ModelType, *, session: AIOSessionType = None) -> ModelType:
        """Insert or update the instance (only its changed fields), references first.

        Raises:
            DuplicateKeyError: a unique index already holds one of its values.
        """
        if not isinstance(instance, Model):
            raise TypeError("Can only call save with a Model instance")
        driver_session = self._get_session(session)
        return await self._save(instance, driver_session, self._transaction_of(session))

    async def save_all(
        self, instances: Sequence[ModelType], *, session: AIOSessionType = None
    ) -> list[ModelType]:
        """Save each instance, in order, on one session."""
        driver_session = self._get_session(session)
        txn = self._transaction_of(session)
        return [await self._save(instance, driver_session, txn) for instance in instances]

    async def delete(self, instance: ModelType, *, session: AIOSessionType = None) -> None:
        """Delete the instance's document.

        Raises:
            DocumentNotFoundError: no document has the instance's primary key.
        """
        collection = self.get_collection(type(instance))
        pk = getattr(instance, instance.__primary_field__)
        result = await collection.delete_many({"_id": pk}, session=self._get_session(session))
        if result.deleted_count == 0:
            raise DocumentNotFoundError(instance)

    async def remove(
        self,
        model: type[ModelType],
        *queries: QueryExpression | dict[str, Any] | bool,
        just_one: bool = False,
        session: AIOSessionType = None,
    ) -> int:
        """Delete the documents matching the queries; returns how many were deleted."""
        query = self._build_query(*queries)
        collection = self.get_collection(model)
        driver_session = self._get_session(session)
        if just_one:
            result = await collection.delete_one(query, session=driver_session)
        else:
            result = await collection.delete_many(query, session=driver_session)
        return int(result.deleted_count)

    async def count(
        self,
        model: type[ModelType],
        *queries: QueryExpression | dict[str, Any] | bool,
        session: AIOSessionType = None,
    ) -> int:
        """How many documents match the queries."""
        if not _is_model_class(model):
            raise TypeError("Can only call count with a Model class")
        query = self._build_query(*queries)
        return int(
            await self.get_collection(model).count_documents(
                query, session=self._get_session(session)
            )
        )


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


# -- sync ----------------------------------------------------------------


class SyncCursor(Generic[ModelType]):
    """Results of :meth:`SyncEngine.find`, iterated lazily."""

    def __init__(self, model: type[ModelType], cursor: Any) -> None:
        self._model = model
        self._cursor = cursor
        self._results: list[ModelType] | None = None

    def __iter__(self) -> Iterator[ModelType]:
        if self._results is not None:
            yield from self._results
            return
        results: list[ModelType] = []
        for raw in self._cursor:
            instance = self._model.model_validate_doc(raw)
            results.append(instance)
            yield instance
        self._results = results


class SyncEngine(_QueryBuilding):
    """Synchronous database operations on a pymongo ``MongoClient``."""

    def __init__(
        self,
        client: pymongo.MongoClient[Any] | None = None,
        database: str = "test",
        *,
        transaction_options: TransactionOptions | None = None,
    ) -> None:
        _check_database_name(database)
        self.client: pymongo.MongoClient[Any] = (
            client if client is not None else pymongo.MongoClient()
        )
        self.database_name = database
        self.database = self.client[database]
        self.transaction_options = (transaction_options or TransactionOptions()).merged_over(
            DEFAULT_TRANSACTION_OPTIONS
        )

    def get_collection(self, model: type[ModelType]) -> Any:
        return self.database[model.__collection__]

    def _get_session(self, session: SyncSessionType) -> ClientSession | None:
        if session is None:
            return None
        driver = session.get_driver_session() if isinstance(session, SyncSession) else session
        if not isinstance(driver, ClientSession):
            raise TypeError("SyncEngine needs a pymongo ClientSession or a SyncSession")
        if driver.client is not self.client:
            raise ValueError("the session belongs to another client than this engine's")
        return driver

    def configure_database(
        self,
        models: Sequence[type[Model]],
        *,
        update_existing_indexes: bool = False,
        session: SyncSessionType = None,
    ) -> None:
        driver_session = self._get_session(session)
        for model in models:
            collection = self.get_collection(model)
            for index in self._pymongo_indexes(model):
                try:
                    collection.create_indexes([index], session=driver_session)
                except pymongo.errors.OperationFailure as exc:
                    if not update_existing_indexes or exc.code not in (85, 86):
                        raise
                    collection.drop_index(index.document["name"], session=driver_session)
                    collection.create_indexes([index], session=driver_session)

    def session(self) -> SyncSession:
        return SyncSession(self)

    def transaction(
        self,
        *,
        read_concern: ReadConcern | None = None,
        write_concern: WriteConcern | None = None,
        read_preference: Any = None,
        max_commit_time_ms: int | None = None,
    ) -> SyncTransaction:
        return SyncTransaction(
            self,
            read_concern=read_concern,
            write_concern=write_concern,
            read_preference=read_preference,
            max_commit_time_ms=max_commit_time_ms,
        )

    def run_transaction(
        self,
        callback: Callable[[SyncTransaction], T],
        *,
        timeout: float = DEFAULT_RETRY_SECONDS,
        read_concern: ReadConcern | None = None,
        write_concern: WriteConcern | None = None,
        read_preference: Any = None,
        max_commit_time_ms: int | None = None,
    ) -> T:
        """Synchronous :meth:`AIOEngine.run_transaction`."""
        deadline = time.monotonic() + timeout
        attempt = 0
        while True:
            attempt += 1
            txn = self.transaction(
                read_concern=read_concern,
                write_concern=write_concern,
                read_preference=read_preference,
                max_commit_time_ms=max_commit_time_ms,
            )
            txn.start()
            try:
                result = callback(txn)
            except BaseException as exc:
                if txn.is_started:
                    txn.abort()
                if _transient(exc) and time.monotonic() < deadline:
                    time.sleep(_backoff(attempt))
                    continue
                raise
            if not txn.is_started:
                return result
            while True:
                try:
                    txn.commit()
                    return result
                except pymongo.errors.PyMongoError as exc:
                    if _unknown_commit(exc) and time.monotonic() < deadline:
                        continue
                    if txn.is_started:
                        txn.abort()
                    if _transient(exc) and time.monotonic() < deadline:
                        break
                    raise
            time.sleep(_backoff(attempt))

    def find(
        self,
        model: type[ModelType],
        *queries: QueryExpression | dict[str, Any] | bool,
        sort: Any | None = None,
        skip: int = 0,
        limit: int | None = None,
        session: SyncSessionType = None,
    ) -> SyncCursor[ModelType]:
        query, sort_expression, pipeline = self._find_arguments(
            model, *queries, sort=sort, skip=skip, limit=limit
        )
        collection = self.get_collection(model)
        driver_session = self._get_session(session)
        if pipeline:
            cursor = collection.aggregate(pipeline, session=driver_session)
        else:
            cursor = collection.find(
                query,
                sort=list(sort_expression.items()) if sort_expression else None,
                skip=skip,
                limit=limit or 0,
                session=driver_session,
            )
        return SyncCursor(model, cursor)

    def find_one(
        self,
        model: type[ModelType],
        *queries: QueryExpression | dict[str, Any] | bool,
        sort: Any | None = None,
        session: SyncSessionType = None,
    ) -> ModelType | None:
        if not _is_model_class(model):
            raise TypeError("Can only call find_one with a Model class")
        results = list(self.find(model, *queries, sort=sort, limit=1, session=session))
        return results[0] if results else None

    def _save(self, instance: ModelType, driver_session: Any, txn: Any) -> ModelType:
        for name in instance.__references__:
            referenced = getattr(instance, name)
            if referenced is not None:
                self._save(referenced, driver_session, txn)
        plan = _save_plan(instance)
        if plan is None:
            return instance
        key, doc, fields = plan
        try:
            self.get_collection(type(instance)).update_one(
                key, {"$set": doc}, upsert=True, session=driver_session
            )
        except pymongo.errors.DuplicateKeyError as exc:
            raise DuplicateKeyError(instance, exc) from exc
        _mark_saved(instance, fields, txn)
        return instance

    def save(self, instance: ModelType, *, session: SyncSessionType = None) -> ModelType:
        if not isinstance(instance, Model):
            raise TypeError("Can only call save with a Model instance")
        return self._save(instance, self._get_session(session), session)

    def save_all(
        self, instances: Sequence[ModelType], *, session: SyncSessionType = None
    ) -> list[ModelType]:
        driver_session = self._get_session(session)
        return [self._save(instance, driver_session, session) for instance in instances]

    def delete(self, instance: ModelType, *, session: SyncSessionType = None) -> None:
        collection = self.get_collection(type(instance))
        pk = getattr(instance, instance.__primary_field__)
        result = collection.delete_many({"_id": pk}, session=self._get_session(session))
        if result.deleted_count == 0:
            raise DocumentNotFoundError(instance)

    def remove(
        self,
        model: type[ModelType],
        *queries: QueryExpression | dict[str, Any] | bool,
        just_one: bool = False,
        session: SyncSessionType = None,
    ) -> int:
        query = self._build_query(*queries)
        collection = self.get_collection(model)
        driver_session = self._get_session(session)
        if just_one:
            return int(collection.delete_one(query, session=driver_session).deleted_count)
        return int(collection.delete_many(query, session=driver_session).deleted_count)

    def count(
        self,
        model: type[ModelType],
        *queries: QueryExpression | dict[str, Any] | bool,
        session: SyncSessionType = None,
    ) -> int:
        if not _is_model_class(model):
            raise TypeError("Can only call count with a Model class")
        query = self._build_query(*queries)
        return int(
            self.get_collection(model).count_documents(query, session=self._get_session(session))
        )
