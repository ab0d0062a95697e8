"""AIOEngine and SyncEngine: the ODM's database operations, and their cursors.

The engines are ODMantic 1.1's, running on pymongo's native async client
(preferred) or on motor for :class:`AIOEngine`, and on ``MongoClient`` for
:class:`SyncEngine`. Beyond ODMantic they take transaction options, give a
retry helper (:meth:`AIOEngine.run_transaction`), and join the transaction of
the current FastAPI request when an operation is called without ``session=``.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar, cast, overload

import pymongo
import pymongo.errors
from pydantic import BaseModel
from pymongo import IndexModel
from pymongo.client_session import ClientSession
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from ._driver import TransactionOptions, driver_client_of, unwrap_client
from ._request_session import joined_session
from ._retry import DEFAULT_TRANSACTION_SECONDS, Retry, commit_steps
from ._steps import Steps, run_async, run_sync
from .bulk import SaveBatch, plan_saves
from .exceptions import DocumentNotFoundError, RevisionConflictError
from .field import ODMReference
from .index import ODMBaseIndex
from .model import Model
from .projection import Parser, output_parser, projection_plan
from .query import QueryExpression, SortExpression, _to_bson, and_
from .reference import LazyReference
from .session import AIOSession, AIOTransaction, SyncSession, SyncTransaction
from .update import update_document

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
OutputType = TypeVar("OutputType", bound=BaseModel)
T = TypeVar("T")
R = TypeVar("R")
Query = QueryExpression | dict[str, Any] | bool

AIOSessionType = Any  # AIOSession | AIOTransaction | a driver async session | None
SyncSessionType = SyncSession | SyncTransaction | ClientSession | None

_FORBIDDEN_DATABASE_CHARACTERS = set('/\\. "$*<>:|?')
# Money-safe transaction defaults: read a consistent snapshot, and acknowledge
# a commit only once a majority of the replica set has it.
DEFAULT_TRANSACTION_OPTIONS = TransactionOptions(
    read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
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
            reference = cast(ODMReference, model.__odm_fields__[name])
            target = cast(type[Model], reference.model)
            key = reference.key_name
            if reference.keeps_keys:
                keys = {"$cond": [{"$isArray": "$$keys"}, "$$keys", ["$$keys"]]}
                pipeline.append(
                    {
                        "$lookup": {
                            "from": target.__collection__,
                            "let": {"keys": {"$ifNull": [f"${key}", []]}},
                            "pipeline": [
                                {"$match": {"$expr": {"$in": ["$_id", keys]}}},
                                *_QueryBuilding._reference_pipeline(target, f"{prefix}{name}."),
                            ],
                            "as": reference.lookup_key,
                        }
                    }
                )
                continue
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

    @staticmethod
    def _class_filter(model: type[Model]) -> dict[str, Any] | None:
        """The filter selecting a subclass's documents in a hierarchy's collection."""
        root = model.__polymorphic_root__
        if root is None or root is model or model.__discriminator__ is None:
            return None
        values = [value for value, cls in root.__hierarchy__.items() if issubclass(cls, model)]
        key = model.__discriminator__[0]
        return {key: values[0]} if len(values) == 1 else {key: {"$in": values}}

    def _filter(self, model: type[Model], *queries: Query) -> QueryExpression:
        """The queries combined, restricted to ``model``'s class in a hierarchy."""
        query = self._build_query(*queries)
        class_filter = self._class_filter(model)
        if class_filter is None:
            return query
        return QueryExpression(class_filter) if not query else and_(class_filter, query)

    def _find_plan(
        self,
        model: type[Model],
        *queries: Query,
        sort: Any = None,
        skip: int = 0,
        limit: int | None = None,
        projection: Any = None,
    ) -> "_FindPlan":
        """The find command or aggregation pipeline a find sends, and how results are parsed."""
        if not _is_model_class(model):
            raise TypeError("Can only call find with a Model class")
        sort_expression = self._validate_sort_argument(sort)
        if limit is not None and limit <= 0:
            raise ValueError("limit has to be a strict positive value or None")
        if skip < 0:
            raise ValueError("skip has to be a positive integer")
        query = self._filter(model, *queries)
        spec: dict[str, Any] | None = None
        parse: Parser = model.model_validate_doc
        fetching: type[Model] | None = model
        if projection is not None:
            spec, parse, fetching = projection_plan(model, projection)
        references = self._reference_pipeline(fetching) if fetching is not None else []
        plan = _FindPlan(query, sort_expression, skip, limit, spec, None, parse)
        if references:
            pipeline: list[dict[str, Any]] = [{"$match": query}]
            if sort_expression is not None:
                pipeline.append({"$sort": sort_expression})
            if skip:
                pipeline.append({"$skip": skip})
            if limit:
                pipeline.append({"$limit": limit})
            if spec is not None:
                pipeline.append({"$project": spec})
            pipeline.extend(references)
            plan.pipeline = pipeline
        return plan

    def _aggregate_plan(
        self, model: type[Model], pipeline: Sequence[Any], output: type[BaseModel] | None
    ) -> tuple[list[dict[str, Any]], Parser]:
        """The stages sent for ``aggregate``: query expressions become $match stages."""
        if not _is_model_class(model):
            raise TypeError("Can only call aggregate with a Model class")
        stages: list[dict[str, Any]] = []
        class_filter = self._class_filter(model)
        if class_filter is not None:
            stages.append({"$match": class_filter})
        for stage in pipeline:
            if isinstance(stage, QueryExpression):
                stages.append({"$match": dict(stage)})
            elif isinstance(stage, dict):
                stages.append(stage)
            else:
                raise TypeError(
                    f"a pipeline holds stage documents or query expressions, not {stage!r}"
                )
        return stages, output_parser(output)

    def _update_plan(
        self, model: type[Model], queries: Sequence[Query], updates: Sequence[Any]
    ) -> tuple[QueryExpression, dict[str, Any]]:
        """The filter and update document of ``update``; it counts a revision up, too."""
        if not _is_model_class(model):
            raise TypeError("Can only call update with a Model class")
        document = update_document(updates)
        revision = model.__revision_field__
        if revision is not None:
            key = model.__odm_fields__[revision].key_name
            if any(key in fields for fields in document.values()):
                raise ValueError(f"the revision field {revision!r} is counted by the engine")
            document = document & {"$inc": {key: 1}}
        discriminator = model.__discriminator__
        if discriminator is not None and any(
            discriminator[0] in fields for fields in document.values()
        ):
            raise ValueError(f"an update cannot change the class key {discriminator[0]!r}")
        return self._filter(model, *queries), dict(document)

    @staticmethod
    def _fetch_plan(
        references: Sequence[LazyReference[ModelType]],
    ) -> tuple[type[Model], list[Any]]:
        models = {reference.model for reference in references}
        if len(models) != 1:
            raise ValueError("fetch_all takes references to one model")
        return models.pop(), [_to_bson(reference.id) for reference in references]

    @staticmethod
    def _pymongo_indexes(model: type[Model]) -> list[IndexModel]:
        indexes: list[IndexModel] = []
        for index in model.__indexes__():
            indexes.append(index.get_pymongo_index() if isinstance(index, ODMBaseIndex) else index)
        return indexes

    # Operations of several round trips, written once for both engines (see _steps.py).

    def get_collection(self, model: type[ModelType]) -> Any:
        raise NotImplementedError

    def _get_session(self, session: Any) -> Any:
        raise NotImplementedError

    def _transaction_of(self, session: Any) -> Any:
        raise NotImplementedError

    def _new_transaction(self, **options: Any) -> AIOTransaction | SyncTransaction:
        raise NotImplementedError

    def _configure_steps(
        self, models: Sequence[type[Model]], update_existing_indexes: bool, session: Any
    ) -> Steps[None]:
        driver_session = self._get_session(session)
        for model in models:
            collection = self.get_collection(model)
            for index in self._pymongo_indexes(model):
                try:
                    yield partial(collection.create_indexes, [index], session=driver_session)
                except pymongo.errors.OperationFailure as exc:
                    if not update_existing_indexes or exc.code not in (85, 86):
                        raise
                    name = index.document["name"]
                    yield partial(collection.drop_index, name, session=driver_session)
                    yield partial(collection.create_indexes, [index], session=driver_session)

    def _transaction_steps(
        self,
        callback: Callable[[Any], Any],
        timeout: float,
        sleep: Callable[[float], Any],
        options: dict[str, Any],
    ) -> Steps[Any]:
        retry = Retry(timeout)
        while True:
            retry.next_attempt()
            txn = self._new_transaction(**options)
            yield txn.start
            try:
                result = yield partial(callback, txn)
            except BaseException as exc:
                if txn.is_started:
                    yield txn.abort
                if retry.may_rerun(exc):
                    yield partial(sleep, retry.delay())
                    continue
                raise
            if not txn.is_started:
                return result  # the callback committed or aborted itself
            try:
                yield from commit_steps(txn, retry, sleep)
                return result
            except pymongo.errors.PyMongoError as exc:
                if txn.is_started:
                    yield txn.abort
                if not retry.may_rerun(exc):
                    raise
            yield partial(sleep, retry.delay())

    def _abort_steps(self, session: Any) -> Steps[None]:
        """Abort the transaction in use, if any (a revision conflict ends it)."""
        txn = self._transaction_of(session)
        if isinstance(txn, AIOTransaction | SyncTransaction) and txn.is_started:
            yield txn.abort

    def _write_steps(self, batches: list[SaveBatch], session: Any, ordered: bool) -> Steps[None]:
        driver_session = self._get_session(session)
        txn = self._transaction_of(session)
        try:
            for batch in batches:
                collection = self.get_collection(batch.model)
                if batch.one_by_one:
                    for write in batch.writes:
                        try:
                            result = yield write.send(collection, driver_session)
                        except pymongo.errors.DuplicateKeyError as exc:
                            raise write.duplicate_key(exc) from exc
                        write.check(result)
                        write.succeeded(txn)
                    continue
                operations = [write.operation() for write in batch.writes]
                try:
                    yield partial(
                        collection.bulk_write, operations, ordered=ordered, session=driver_session
                    )
                except pymongo.errors.BulkWriteError as exc:
                    raise batch.bulk_failed(exc, ordered, txn) from exc
                for write in batch.writes:
                    write.succeeded(txn)
        except RevisionConflictError:
            yield from self._abort_steps(session)
            raise

    def _delete_steps(self, instance: Model, session: Any) -> Steps[None]:
        collection = self.get_collection(type(instance))
        driver_session = self._get_session(session)
        target = _delete_filter(instance)
        result = yield partial(collection.delete_many, target, session=driver_session)
        if result.deleted_count:
            return
        if len(target) > 1:
            exists = yield partial(
                collection.count_documents, {"_id": target["_id"]}, limit=1, session=driver_session
            )
            if exists:
                yield from self._abort_steps(session)
                raise RevisionConflictError(instance, _revision_read(instance))
        raise DocumentNotFoundError(instance)


@dataclass
class _FindPlan:
    query: QueryExpression
    sort: SortExpression | None
    skip: int
    limit: int | None
    projection: dict[str, Any] | None
    pipeline: list[dict[str, Any]] | None
    parse: Parser

    def send(self, collection: Any, session: Any) -> Any:
        """The driver cursor (or, on motor, a coroutine of one) for this find."""
        if self.pipeline is not None:
            return collection.aggregate(self.pipeline, session=session)
        return collection.find(
            self.query,
            self.projection,
            sort=list(self.sort.items()) if self.sort else None,
            skip=self.skip,
            limit=self.limit or 0,
            session=session,
        )


def _fetched_in_order(
    references: Sequence[LazyReference[ModelType]], found: Sequence[ModelType]
) -> list[ModelType]:
    """The fetched instances in the references' order; each reference keeps its instance."""
    by_key: dict[Any, ModelType] = {}
    for instance in found:
        by_key[_to_bson(getattr(instance, instance.__primary_field__))] = instance
    ordered: list[ModelType] = []
    for reference in references:
        match = by_key.get(_to_bson(reference.id))
        if match is not None:
            reference._fetched(match)
            ordered.append(match)
    return ordered


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


def _revision_read(instance: Model) -> int:
    revision = type(instance).__revision_field__
    return int(getattr(instance, revision)) if revision is not None else 0


def _check_database_name(database: str) -> None:
    forbidden = _FORBIDDEN_DATABASE_CHARACTERS & set(database)
    if forbidden:
        raise ValueError(f"database name cannot contain: {' '.join(sorted(forbidden))}")


# -- async ---------------------------------------------------------------


class AIOCursor(Generic[R]):
    """Results of :meth:`AIOEngine.find`: ``await`` it for a list, or ``async for`` over it.

    Each document becomes a ``model`` instance, or whatever ``parse`` makes of
    it (projections and aggregations).
    """

    def __init__(self, model: type[Any], cursor: Any, parse: Parser | None = None) -> None:
        self._model = model
        self._cursor = cursor
        self._parse: Callable[[dict[str, Any]], R] = parse or model.model_validate_doc
        self._results: list[R] | None = None

    def __await__(self) -> Generator[None, None, list[R]]:
        return self._all().__await__()

    async def _all(self) -> list[R]:
        if self._results is None:
            raw = await self._cursor.to_list(length=None)
            parse = self._parse
            self._results = [parse(doc) for doc in raw]
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
            joined = joined_session()
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
        await run_async(self._configure_steps(models, update_existing_indexes, session))

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
        joined = joined_session()
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
        timeout: float = DEFAULT_TRANSACTION_SECONDS,
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
        options = {
            "read_concern": read_concern,
            "write_concern": write_concern,
            "read_preference": read_preference,
            "max_commit_time_ms": max_commit_time_ms,
        }
        return cast(
            T,
            await run_async(self._transaction_steps(callback, timeout, asyncio.sleep, options)),
        )

    @overload
    def find(
        self,
        model: type[ModelType],
        *queries: Query,
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
        *queries: Query,
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
        *queries: Query,
        sort: Any | None = None,
        skip: int = 0,
        limit: int | None = None,
        session: AIOSessionType = None,
        projection: Sequence[Any],
    ) -> AIOCursor[dict[str, Any]]: ...

    def find(
        self,
        model: type[ModelType],
        *queries: Query,
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
        plan = self._find_plan(
            model, *queries, sort=sort, skip=skip, limit=limit, projection=projection
        )
        cursor = plan.send(self.get_collection(model), self._get_session(session))
        return AIOCursor(model, _AwaitableCursor(cursor), plan.parse)

    @overload
    async def find_one(
        self,
        model: type[ModelType],
        *queries: Query,
        sort: Any | None = None,
        session: AIOSessionType = None,
        projection: None = None,
    ) -> ModelType | None: ...

    @overload
    async def find_one(
        self,
        model: type[ModelType],
        *queries: Query,
        sort: Any | None = None,
        session: AIOSessionType = None,
        projection: type[OutputType],
    ) -> OutputType | None: ...

    @overload
    async def find_one(
        self,
        model: type[ModelType],
        *queries: Query,
        sort: Any | None = None,
        session: AIOSessionType = None,
        projection: Sequence[Any],
    ) -> dict[str, Any] | None: ...

    async def find_one(
        self,
        model: type[ModelType],
        *queries: Query,
        sort: Any | None = None,
        session: AIOSessionType = None,
        projection: Any = None,
    ) -> Any:
        """The first instance matching the queries, or None (``projection`` as in :meth:`find`)."""
        if not _is_model_class(model):
            raise TypeError("Can only call find_one with a Model class")
        results = await self.find(
            model, *queries, sort=sort, limit=1, session=session, projection=projection
        )
        return results[0] if results else None

    def _transaction_of(self, session: AIOSessionType) -> Any:
        return session if session is not None else joined_session()

    def _new_transaction(self, **options: Any) -> AIOTransaction:
        return AIOTransaction(self, **options)

    async def save(self, instance: ModelType, *, session: AIOSessionType = None) -> ModelType:
        """Insert or update the instance (only its changed fields), references first.

        Raises:
            DuplicateKeyError: a unique index already holds one of its values.
            RevisionConflictError: the model has a ``revision_field`` and the
                stored document is newer (a transaction in use is aborted).
        """
        if not isinstance(instance, Model):
            raise TypeError("Can only call save with a Model instance")
        await run_async(self._write_steps(plan_saves([instance]), session, True))
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
        await run_async(self._write_steps(plan_saves(instances), session, ordered))
        return list(instances)

    async def delete(self, instance: ModelType, *, session: AIOSessionType = None) -> None:
        """Delete the instance's document.

        Raises:
            DocumentNotFoundError: no document has the instance's primary key.
            RevisionConflictError: the model has a ``revision_field`` and the
                stored document is newer (a transaction in use is aborted).
        """
        await run_async(self._delete_steps(instance, session))

    async def remove(
        self,
        model: type[ModelType],
        *queries: Query,
        just_one: bool = False,
        session: AIOSessionType = None,
    ) -> int:
        """Delete the documents matching the queries; returns how many were deleted."""
        query = self._filter(model, *queries)
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
        *queries: Query,
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
        updates = update if isinstance(update, list | tuple) else [update]
        query, document = self._update_plan(model, queries, updates)
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
        stages, parse = self._aggregate_plan(model, pipeline, output)
        cursor = self.get_collection(model).aggregate(stages, session=self._get_session(session))
        return AIOCursor(model, _AwaitableCursor(cursor), parse)

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
        model, keys = self._fetch_plan(references)
        found = await self.find(model, {"_id": {"$in": keys}}, session=session)
        return _fetched_in_order(references, cast(list[ModelType], found))

    async def count(
        self,
        model: type[ModelType],
        *queries: Query,
        session: AIOSessionType = None,
    ) -> int:
        """How many documents match the queries."""
        if not _is_model_class(model):
            raise TypeError("Can only call count with a Model class")
        query = self._filter(model, *queries)
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
        run_sync(self._configure_steps(models, update_existing_indexes, session))

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
        timeout: float = DEFAULT_TRANSACTION_SECONDS,
        read_concern: ReadConcern | None = None,
        write_concern: WriteConcern | None = None,
        read_preference: Any = None,
        max_commit_time_ms: int | None = None,
    ) -> T:
        """Synchronous :meth:`AIOEngine.run_transaction`."""
        options = {
            "read_concern": read_concern,
            "write_concern": write_concern,
            "read_preference": read_preference,
            "max_commit_time_ms": max_commit_time_ms,
        }
        return cast(T, run_sync(self._transaction_steps(callback, timeout, time.sleep, options)))

    @overload
    def find(
        self,
        model: type[ModelType],
        *queries: Query,
        sort: Any | None = None,
        skip: int = 0,
        limit: int | None = None,
        session: SyncSessionType = None,
        projection: None = None,
    ) -> SyncCursor[ModelType]: ...

    @overload
    def find(
        self,
        model: type[ModelType],
        *queries: Query,
        sort: Any | None = None,
        skip: int = 0,
        limit: int | None = None,
        session: SyncSessionType = None,
        projection: type[OutputType],
    ) -> SyncCursor[OutputType]: ...

    @overload
    def find(
        self,
        model: type[ModelType],
        *queries: Query,
        sort: Any | None = None,
        skip: int = 0,
        limit: int | None = None,
        session: SyncSessionType = None,
        projection: Sequence[Any],
    ) -> SyncCursor[dict[str, Any]]: ...

    def find(
        self,
        model: type[ModelType],
        *queries: Query,
        sort: Any | None = None,
        skip: int = 0,
        limit: int | None = None,
        session: SyncSessionType = None,
        projection: Any = None,
    ) -> SyncCursor[Any]:
        """Synchronous :meth:`AIOEngine.find`."""
        plan = self._find_plan(
            model, *queries, sort=sort, skip=skip, limit=limit, projection=projection
        )
        cursor = plan.send(self.get_collection(model), self._get_session(session))
        return SyncCursor(model, cursor, plan.parse)

    @overload
    def find_one(
        self,
        model: type[ModelType],
        *queries: Query,
        sort: Any | None = None,
        session: SyncSessionType = None,
        projection: None = None,
    ) -> ModelType | None: ...

    @overload
    def find_one(
        self,
        model: type[ModelType],
        *queries: Query,
        sort: Any | None = None,
        session: SyncSessionType = None,
        projection: type[OutputType],
    ) -> OutputType | None: ...

    @overload
    def find_one(
        self,
        model: type[ModelType],
        *queries: Query,
        sort: Any | None = None,
        session: SyncSessionType = None,
        projection: Sequence[Any],
    ) -> dict[str, Any] | None: ...

    def find_one(
        self,
        model: type[ModelType],
        *queries: Query,
        sort: Any | None = None,
        session: SyncSessionType = None,
        projection: Any = None,
    ) -> Any:
        if not _is_model_class(model):
            raise TypeError("Can only call find_one with a Model class")
        results = list(
            self.find(model, *queries, sort=sort, limit=1, session=session, projection=projection)
        )
        return results[0] if results else None

    def _new_transaction(self, **options: Any) -> SyncTransaction:
        return SyncTransaction(self, **options)

    def _transaction_of(self, session: SyncSessionType) -> Any:
        return session

    def save(self, instance: ModelType, *, session: SyncSessionType = None) -> ModelType:
        if not isinstance(instance, Model):
            raise TypeError("Can only call save with a Model instance")
        run_sync(self._write_steps(plan_saves([instance]), session, True))
        return instance

    def save_all(
        self,
        instances: Sequence[ModelType],
        *,
        session: SyncSessionType = None,
        ordered: bool = True,
    ) -> list[ModelType]:
        """Synchronous :meth:`AIOEngine.save_all`."""
        run_sync(self._write_steps(plan_saves(instances), session, ordered))
        return list(instances)

    def delete(self, instance: ModelType, *, session: SyncSessionType = None) -> None:
        run_sync(self._delete_steps(instance, session))

    def remove(
        self,
        model: type[ModelType],
        *queries: Query,
        just_one: bool = False,
        session: SyncSessionType = None,
    ) -> int:
        query = self._filter(model, *queries)
        collection = self.get_collection(model)
        driver_session = self._get_session(session)
        if just_one:
            return int(collection.delete_one(query, session=driver_session).deleted_count)
        return int(collection.delete_many(query, session=driver_session).deleted_count)

    def update(
        self,
        model: type[ModelType],
        *queries: Query,
        update: Any,
        just_one: bool = False,
        session: SyncSessionType = None,
    ) -> int:
        """Synchronous :meth:`AIOEngine.update`."""
        updates = update if isinstance(update, list | tuple) else [update]
        query, document = self._update_plan(model, queries, updates)
        collection = self.get_collection(model)
        driver_session = self._get_session(session)
        if just_one:
            return int(
                collection.update_one(query, document, session=driver_session).modified_count
            )
        return int(collection.update_many(query, document, session=driver_session).modified_count)

    @overload
    def aggregate(
        self,
        model: type[ModelType],
        pipeline: Sequence[Any],
        *,
        output: type[OutputType],
        session: SyncSessionType = None,
    ) -> SyncCursor[OutputType]: ...

    @overload
    def aggregate(
        self,
        model: type[ModelType],
        pipeline: Sequence[Any],
        *,
        output: None = None,
        session: SyncSessionType = None,
    ) -> SyncCursor[dict[str, Any]]: ...

    def aggregate(
        self,
        model: type[ModelType],
        pipeline: Sequence[Any],
        *,
        output: type[BaseModel] | None = None,
        session: SyncSessionType = None,
    ) -> SyncCursor[Any]:
        """Synchronous :meth:`AIOEngine.aggregate`."""
        stages, parse = self._aggregate_plan(model, pipeline, output)
        cursor = self.get_collection(model).aggregate(stages, session=self._get_session(session))
        return SyncCursor(model, cursor, parse)

    def fetch(
        self, reference: LazyReference[ModelType], *, session: SyncSessionType = None
    ) -> ModelType | None:
        """Synchronous :meth:`AIOEngine.fetch`."""
        if reference.instance is not None:
            return reference.instance
        found = self.find_one(reference.model, {"_id": _to_bson(reference.id)}, session=session)
        return reference._fetched(found)

    def fetch_all(
        self, references: Sequence[LazyReference[ModelType]], *, session: SyncSessionType = None
    ) -> list[ModelType]:
        """Synchronous :meth:`AIOEngine.fetch_all`."""
        if not references:
            return []
        model, keys = self._fetch_plan(references)
        found = list(self.find(model, {"_id": {"$in": keys}}, session=session))
        return _fetched_in_order(references, cast(list[ModelType], found))

    def count(
        self,
        model: type[ModelType],
        *queries: Query,
        session: SyncSessionType = None,
    ) -> int:
        if not _is_model_class(model):
            raise TypeError("Can only call count with a Model class")
        query = self._filter(model, *queries)
        return int(
            self.get_collection(model).count_documents(query, session=self._get_session(session))
        )
