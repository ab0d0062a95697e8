"""The synchronous engine, :class:`SyncEngine`: :class:`AIOEngine`'s operations on ``MongoClient``.

Exported by ``odmantic_fastapi.engine``, where ODMantic has it. It plans
with the same modules as the async engine (``_query_plan``, ``_save_plan``)
and runs the same multi-step algorithms with ``_steps``'s sync runner.
"""

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, Unpack, cast, overload

import pymongo
from bson import Timestamp
from pydantic import BaseModel
from pymongo.client_session import ClientSession

from ._driver import TransactionOptions, TransactionSettings
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
from ._retry import DEFAULT_TRANSACTION_SECONDS, transaction_steps
from ._save_plan import WriteSession, delete_steps, plan_saves, save_steps
from ._steps import run_sync
from .change_stream import (
    FullDocument,
    FullDocumentBeforeChange,
    SyncChangeStream,
    watch_options,
)
from .cursor import SyncCursor
from .model import Model
from .query import QueryDictBool, _to_bson
from .reference import LazyReference
from .session import SyncSession, SyncSessionType, SyncTransaction, transaction_of
from .typing import ModelType

__all__ = ["SyncEngine"]

OutputType = TypeVar("OutputType", bound=BaseModel)
T = TypeVar("T")


class SyncEngine(BaseEngine):
    """Synchronous database operations on a pymongo ``MongoClient``."""

    def __init__(
        self,
        client: pymongo.MongoClient[Any] | None = None,
        database: str = "test",
        *,
        transaction_options: TransactionOptions | None = None,
    ) -> None:
        super().__init__(database, transaction_options)
        self.client: pymongo.MongoClient[Any] = (
            client if client is not None else pymongo.MongoClient()
        )
        self.database = self.client[database]

    def _get_session(self, session: SyncSessionType) -> ClientSession | None:
        if session is None:
            return None
        driver = session.get_driver_session() if isinstance(session, SyncSession) else session
        if not isinstance(driver, ClientSession):
            raise TypeError("SyncEngine needs a pymongo ClientSession or a SyncSession")
        if driver.client is not self.client:
            raise ValueError("the session belongs to another client than this engine's")
        return driver

    def _write_session(self, session: SyncSessionType) -> WriteSession:
        """The session of a save or delete as the save plan takes it."""
        driver = self._get_session(session)
        return WriteSession(driver, transaction_of(driver))

    def configure_database(
        self,
        models: Sequence[type[Model]],
        *,
        update_existing_indexes: bool = False,
        session: SyncSessionType = None,
    ) -> None:
        run_sync(self._configure_steps(models, update_existing_indexes, self._get_session(session)))

    def session(self) -> SyncSession:
        return SyncSession(self)

    def transaction(self, **options: Unpack[TransactionSettings]) -> SyncTransaction:
        return SyncTransaction(self, TransactionOptions(**options))

    def run_transaction(
        self,
        callback: Callable[[SyncTransaction], T],
        *,
        timeout: float = DEFAULT_TRANSACTION_SECONDS,
        **options: Unpack[TransactionSettings],
    ) -> T:
        """Synchronous :meth:`AIOEngine.run_transaction`."""
        settings = TransactionOptions(**options)
        steps = transaction_steps(
            lambda: SyncTransaction(self, settings), callback, timeout, time.sleep
        )
        return cast(T, run_sync(steps))

    @overload
    def find(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
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
        *queries: QueryDictBool,
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
        *queries: QueryDictBool,
        sort: Any | None = None,
        skip: int = 0,
        limit: int | None = None,
        session: SyncSessionType = None,
        projection: Sequence[Any],
    ) -> SyncCursor[dict[str, Any]]: ...

    def find(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        sort: Any | None = None,
        skip: int = 0,
        limit: int | None = None,
        session: SyncSessionType = None,
        projection: Any = None,
    ) -> SyncCursor[Any]:
        """Synchronous :meth:`AIOEngine.find`."""
        plan = find_plan(model, *queries, sort=sort, skip=skip, limit=limit, projection=projection)
        cursor = plan.send(self.get_collection(model), self._get_session(session))
        return SyncCursor(model, cursor, plan.parse)

    @overload
    def find_one(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        sort: Any | None = None,
        session: SyncSessionType = None,
        projection: None = None,
    ) -> ModelType | None: ...

    @overload
    def find_one(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        sort: Any | None = None,
        session: SyncSessionType = None,
        projection: type[OutputType],
    ) -> OutputType | None: ...

    @overload
    def find_one(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        sort: Any | None = None,
        session: SyncSessionType = None,
        projection: Sequence[Any],
    ) -> dict[str, Any] | None: ...

    def find_one(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        sort: Any | None = None,
        session: SyncSessionType = None,
        projection: Any = None,
    ) -> Any:
        if not is_model_class(model):
            raise TypeError("Can only call find_one with a Model class")
        plan = find_plan(model, *queries, sort=sort, limit=1, projection=projection)
        collection, driver = self.get_collection(model), self._get_session(session)
        if plan.pipeline is None:
            doc = next(plan.send_one(collection, driver), None)
            return None if doc is None else plan.parse(doc)
        results: list[Any] = list(SyncCursor(model, plan.send(collection, driver), plan.parse))
        return results[0] if results else None

    def save(self, instance: ModelType, *, session: SyncSessionType = None) -> ModelType:
        if not isinstance(instance, Model):
            raise TypeError("Can only call save with a Model instance")
        run_sync(
            save_steps(
                plan_saves([instance]), self.get_collection, self._write_session(session), True
            )
        )
        return instance

    def save_all(
        self,
        instances: Sequence[ModelType],
        *,
        session: SyncSessionType = None,
        ordered: bool = True,
    ) -> list[ModelType]:
        """Synchronous :meth:`AIOEngine.save_all`."""
        run_sync(
            save_steps(
                plan_saves(instances), self.get_collection, self._write_session(session), ordered
            )
        )
        return list(instances)

    def delete(self, instance: ModelType, *, session: SyncSessionType = None) -> None:
        run_sync(
            delete_steps(
                instance, self.get_collection(type(instance)), self._write_session(session)
            )
        )

    def remove(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        just_one: bool = False,
        session: SyncSessionType = None,
    ) -> int:
        query = model_filter(model, *queries)
        collection = self.get_collection(model)
        driver_session = self._get_session(session)
        if just_one:
            return int(collection.delete_one(query, session=driver_session).deleted_count)
        return int(collection.delete_many(query, session=driver_session).deleted_count)

    def update(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        update: Any,
        just_one: bool = False,
        session: SyncSessionType = None,
    ) -> int:
        """Synchronous :meth:`AIOEngine.update`."""
        query, document = update_plan(model, queries, update)
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
        stages, parse = aggregate_plan(model, pipeline, output)
        cursor = self.get_collection(model).aggregate(stages, session=self._get_session(session))
        return SyncCursor(model, cursor, parse)

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
    ) -> SyncChangeStream[ModelType]:
        """Synchronous :meth:`AIOEngine.watch`: an iterator of typed change events."""
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
        return SyncChangeStream(model, self.get_collection(model), pipeline, options)

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
        model, keys = fetch_plan(references)
        found = list(self.find(model, {"_id": {"$in": keys}}, session=session))
        return fetched_in_order(references, cast(list[ModelType], found))

    def count(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        session: SyncSessionType = None,
    ) -> int:
        if not is_model_class(model):
            raise TypeError("Can only call count with a Model class")
        query = model_filter(model, *queries)
        return int(
            self.get_collection(model).count_documents(query, session=self._get_session(session))
        )
