"""The synchronous session and transaction, for :class:`~odmantic_fastapi.engine.SyncEngine`.

Exported by :mod:`odmantic_fastapi.session`, where ODMantic has them; they
mirror :class:`~odmantic_fastapi.session.AIOSession` and
:class:`~odmantic_fastapi.session.AIOTransaction` call for call.
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self, Unpack

from pymongo.client_session import ClientSession
from pymongo.errors import PyMongoError

from ._driver import (
    TransactionOptions,
    TransactionSettings,
)
from ._transaction_core import ExcType, ExcValue, Traceback, TransactionState, _TransactionCore
from .query import QueryDictBool
from .typing import ModelType

if TYPE_CHECKING:
    from .cursor import SyncCursor
    from .engine import SyncEngine
    from .reference import LazyReference

__all__ = ["SyncSession", "SyncTransaction"]


class SyncSession:
    """A synchronous MongoDB session (pymongo ``ClientSession``)."""

    def __init__(self, engine: "SyncEngine") -> None:
        self.engine = engine
        self.session: ClientSession | None = None

    @property
    def is_started(self) -> bool:
        return self.session is not None

    def get_driver_session(self) -> ClientSession:
        if self.session is None:
            raise RuntimeError("session not started")
        return self.session

    def start(self) -> None:
        if self.is_started:
            raise RuntimeError("Session is already started")
        self.session = self.engine.client.start_session()

    def end(self) -> None:
        if self.session is None:
            raise RuntimeError("Session is not started")
        session, self.session = self.session, None
        session.end_session()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: ExcType, exc: ExcValue, traceback: Traceback) -> None:
        if self.session is not None:
            self.end()

    def transaction(self, **options: Unpack[TransactionSettings]) -> "SyncTransaction":
        return SyncTransaction(self, TransactionOptions(**options))

    def find(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        sort: Any | None = None,
        skip: int = 0,
        limit: int | None = None,
    ) -> "SyncCursor[ModelType]":
        return self.engine.find(
            model,
            *queries,
            sort=sort,
            skip=skip,
            limit=limit,
            session=self.engine._get_session(self),
        )

    def find_one(
        self, model: type[ModelType], *queries: QueryDictBool, sort: Any | None = None
    ) -> ModelType | None:
        return self.engine.find_one(
            model, *queries, sort=sort, session=self.engine._get_session(self)
        )

    def count(self, model: type[ModelType], *queries: QueryDictBool) -> int:
        return self.engine.count(model, *queries, session=self.engine._get_session(self))

    def save(self, instance: ModelType) -> ModelType:
        return self.engine.save(instance, session=self.engine._get_session(self))

    def save_all(self, instances: Sequence[ModelType], *, ordered: bool = True) -> list[ModelType]:
        return self.engine.save_all(
            instances, session=self.engine._get_session(self), ordered=ordered
        )

    def delete(self, instance: ModelType) -> None:
        self.engine.delete(instance, session=self.engine._get_session(self))

    def remove(
        self, model: type[ModelType], *queries: QueryDictBool, just_one: bool = False
    ) -> int:
        return self.engine.remove(
            model, *queries, just_one=just_one, session=self.engine._get_session(self)
        )

    def update(
        self, model: type[ModelType], *queries: QueryDictBool, update: Any, just_one: bool = False
    ) -> int:
        return self.engine.update(
            model,
            *queries,
            update=update,
            just_one=just_one,
            session=self.engine._get_session(self),
        )

    def aggregate(
        self, model: type[ModelType], pipeline: Sequence[Any], *, output: Any = None
    ) -> "SyncCursor[Any]":
        return self.engine.aggregate(
            model, pipeline, output=output, session=self.engine._get_session(self)
        )

    def fetch(self, reference: "LazyReference[ModelType]") -> ModelType | None:
        return self.engine.fetch(reference, session=self.engine._get_session(self))

    def fetch_all(self, references: "Sequence[LazyReference[ModelType]]") -> list[ModelType]:
        return self.engine.fetch_all(references, session=self.engine._get_session(self))


class SyncTransaction(_TransactionCore, SyncSession):
    """A synchronous multi-document transaction: commits on normal exit, aborts on exception."""

    def __init__(
        self,
        context: "SyncEngine | SyncSession",
        options: TransactionOptions | None = None,
    ) -> None:
        self._session_provided = isinstance(context, SyncSession)
        if isinstance(context, SyncSession):
            if not context.is_started:
                raise RuntimeError("provided session is not started")
            if isinstance(context, SyncTransaction):
                raise RuntimeError("cannot start a transaction inside another transaction")
            self._owner: SyncSession = context
            engine = context.engine
        else:
            engine = context
            self._owner = SyncSession(engine)
        super().__init__(engine)
        self._setup(engine, options)

    def get_driver_session(self) -> ClientSession:
        if self.state is not TransactionState.ACTIVE:
            raise RuntimeError("transaction not started")
        return self._owner.get_driver_session()

    def _driver_session(self) -> object:
        return self._owner.session

    @property  # type: ignore[override]  # ODMantic's shape: the owning session, not the driver's
    def session(self) -> SyncSession:
        """The session the transaction runs on (its own one when made by ``engine.transaction()``)."""
        return self._owner

    @session.setter
    def session(self, value: ClientSession | None) -> None:
        # SyncSession.__init__ clears its driver session; a transaction has none of its own.
        if value is not None:
            raise AttributeError("a transaction's session is the one it was created on")

    def start(self) -> None:
        self._check_startable()
        if not self._session_provided:
            self._owner.start()
        try:
            self._owner.get_driver_session().start_transaction(**self.options.as_kwargs())
        except BaseException:
            self._end_own_session()
            raise
        self.state = TransactionState.ACTIVE
        self._register_open()

    def commit(self) -> None:
        self._require_active("commit")
        try:
            self.get_driver_session().commit_transaction()
        except PyMongoError as exc:
            if not exc.has_error_label("UnknownTransactionCommitResult"):
                self._mark_aborted()
            raise
        self.state = TransactionState.COMMITTED
        self._forget_open()
        self._rollback.clear()
        self._end_own_session()

    def abort(self) -> None:
        self._require_active("abort")
        driver = self.get_driver_session()
        try:
            if driver.in_transaction:
                driver.abort_transaction()
        finally:
            self._mark_aborted()

    def _mark_aborted(self) -> None:
        self.state = TransactionState.ABORTED
        self._forget_open()
        self._rollback.run()
        self._end_own_session()

    def end(self) -> None:
        if self.state is TransactionState.ACTIVE:
            self.abort()
        else:
            self._end_own_session()

    def _end_own_session(self) -> None:
        if not self._session_provided and self._owner.is_started:
            self._owner.end()

    # Entering is the session's: start() (this class's) and return self.

    def __exit__(self, exc_type: ExcType, exc: ExcValue, traceback: Traceback) -> None:
        try:
            if self.state is TransactionState.ACTIVE:
                if exc_type is None:
                    self.commit()
                else:
                    self.abort()
        finally:
            self._end_own_session()
