"""Sessions and transactions: AIOSession, AIOTransaction, SyncSession, SyncTransaction.

They behave as ODMantic 1.1's, with these guarantees on top:

- a transaction is a session (``isinstance(txn, AIOSession)``), usable wherever one is;
- every driver session a block starts is ended when the block ends, whatever
  happened inside (ODMantic 1.1 leaks the session of a transaction block that
  is not explicitly committed);
- after an abort, the instances saved in the transaction are marked modified
  again, so saving them in a retry writes them again;
- misuse (using a session after it ended, committing twice) raises a clear
  ``RuntimeError``.

State of a transaction::

    new --start()--> active --commit()--> committed
                        \\--abort()---> aborted
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self, TypeAlias, Unpack

from pymongo.client_session import ClientSession
from pymongo.errors import PyMongoError

from ._driver import (
    AsyncDriverSession,
    TransactionOptions,
    TransactionSettings,
    start_driver_session,
    start_driver_transaction,
)
from ._sync_session import SyncSession, SyncTransaction
from ._transaction_core import (
    ExcType,
    ExcValue,
    Traceback,
    TransactionState,
    _TransactionCore,
    transaction_of,
)
from .query import QueryDictBool
from .typing import ModelType

if TYPE_CHECKING:
    from .cursor import AIOCursor
    from .engine import AIOEngine
    from .reference import LazyReference

__all__ = [
    "AIOSession",
    "AIOSessionType",
    "AIOTransaction",
    "SyncSession",
    "SyncSessionType",
    "SyncTransaction",
    "TransactionState",
    "transaction_of",
]


# -- async ---------------------------------------------------------------


class AIOSession:
    """An async MongoDB session: operations given ``session=`` run in order on it.

    Example:
        >>> async with engine.session() as session:
        ...     await session.save(user)
        ...     users = await session.find(User)
    """

    def __init__(self, engine: "AIOEngine") -> None:
        self.engine = engine
        self.session: AsyncDriverSession | None = None

    @property
    def is_started(self) -> bool:
        return self.session is not None

    def get_driver_session(self) -> AsyncDriverSession:
        """The driver's session (pymongo ``AsyncClientSession`` or motor's)."""
        if self.session is None:
            raise RuntimeError("session not started")
        return self.session

    async def start(self) -> None:
        """Start the logical session."""
        if self.is_started:
            raise RuntimeError("Session is already started")
        self.session = await start_driver_session(self.engine.client)

    async def end(self) -> None:
        """End the logical session, aborting any transaction still open on it."""
        if self.session is None:
            raise RuntimeError("Session is not started")
        session, self.session = self.session, None
        await session.end_session()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: ExcType, exc: ExcValue, traceback: Traceback) -> None:
        if self.session is not None:
            await self.end()

    def transaction(self, **options: Unpack[TransactionSettings]) -> "AIOTransaction":
        """A transaction on this (started) session."""
        return AIOTransaction(self, TransactionOptions(**options))

    # The session-level CRUD methods ODMantic has; each hands the engine the driver
    # session, as ODMantic's do (the engine finds an open transaction through it).

    def find(
        self,
        model: type[ModelType],
        *queries: QueryDictBool,
        sort: Any | None = None,
        skip: int = 0,
        limit: int | None = None,
    ) -> "AIOCursor[ModelType]":
        return self.engine.find(
            model,
            *queries,
            sort=sort,
            skip=skip,
            limit=limit,
            session=self.engine._get_session(self),
        )

    async def find_one(
        self, model: type[ModelType], *queries: QueryDictBool, sort: Any | None = None
    ) -> ModelType | None:
        return await self.engine.find_one(
            model, *queries, sort=sort, session=self.engine._get_session(self)
        )

    async def count(self, model: type[ModelType], *queries: QueryDictBool) -> int:
        return await self.engine.count(model, *queries, session=self.engine._get_session(self))

    async def save(self, instance: ModelType) -> ModelType:
        return await self.engine.save(instance, session=self.engine._get_session(self))

    async def save_all(
        self, instances: Sequence[ModelType], *, ordered: bool = True
    ) -> list[ModelType]:
        return await self.engine.save_all(
            instances, session=self.engine._get_session(self), ordered=ordered
        )

    async def delete(self, instance: ModelType) -> None:
        await self.engine.delete(instance, session=self.engine._get_session(self))

    async def remove(
        self, model: type[ModelType], *queries: QueryDictBool, just_one: bool = False
    ) -> int:
        return await self.engine.remove(
            model, *queries, just_one=just_one, session=self.engine._get_session(self)
        )

    # Beyond ODMantic: the engine's additions, on this session.

    async def update(
        self, model: type[ModelType], *queries: QueryDictBool, update: Any, just_one: bool = False
    ) -> int:
        return await self.engine.update(
            model,
            *queries,
            update=update,
            just_one=just_one,
            session=self.engine._get_session(self),
        )

    def aggregate(
        self, model: type[ModelType], pipeline: Sequence[Any], *, output: Any = None
    ) -> "AIOCursor[Any]":
        return self.engine.aggregate(
            model, pipeline, output=output, session=self.engine._get_session(self)
        )

    async def fetch(self, reference: "LazyReference[ModelType]") -> ModelType | None:
        return await self.engine.fetch(reference, session=self.engine._get_session(self))

    async def fetch_all(self, references: "Sequence[LazyReference[ModelType]]") -> list[ModelType]:
        return await self.engine.fetch_all(references, session=self.engine._get_session(self))


class AIOTransaction(_TransactionCore, AIOSession):
    """An async multi-document transaction: commits on normal exit, aborts on exception.

    Created by ``engine.transaction()`` (with a session of its own, ended with
    the block) or ``session.transaction()`` (on that session, left open).

    Example:
        >>> async with engine.transaction() as txn:
        ...     await engine.save(order, session=txn)
    """

    def __init__(
        self,
        context: "AIOEngine | AIOSession",
        options: TransactionOptions | None = None,
    ) -> None:
        self._session_provided = isinstance(context, AIOSession)
        if isinstance(context, AIOSession):
            if not context.is_started:
                raise RuntimeError("provided session is not started")
            if isinstance(context, AIOTransaction):
                raise RuntimeError("cannot start a transaction inside another transaction")
            self._owner: AIOSession = context
            engine = context.engine
        else:
            engine = context
            self._owner = AIOSession(engine)
        super().__init__(engine)
        self._setup(engine, options)

    def get_driver_session(self) -> AsyncDriverSession:
        if self.state is not TransactionState.ACTIVE:
            raise RuntimeError("transaction not started")
        return self._owner.get_driver_session()

    def _driver_session(self) -> object:
        return self._owner.session

    @property  # type: ignore[override]  # ODMantic's shape: the owning session, not the driver's
    def session(self) -> AIOSession:
        """The session the transaction runs on (its own one when made by ``engine.transaction()``)."""
        return self._owner

    @session.setter
    def session(self, value: Any) -> None:
        # AIOSession.__init__ clears its driver session; a transaction has none of its own.
        if value is not None:
            raise AttributeError("a transaction's session is the one it was created on")

    async def start(self) -> None:
        """Start the transaction (and its own session, when created from the engine)."""
        self._check_startable()
        if not self._session_provided:
            await self._owner.start()
        try:
            await start_driver_transaction(self._owner.get_driver_session(), self.options)
        except BaseException:
            await self._end_own_session()
            raise
        self.state = TransactionState.ACTIVE
        self._register_open()

    async def commit(self) -> None:
        """Commit; the transaction's writes become visible to everyone at once."""
        self._require_active("commit")
        try:
            await self.get_driver_session().commit_transaction()
        except PyMongoError as exc:
            if not exc.has_error_label("UnknownTransactionCommitResult"):
                await self._mark_aborted()
            # An unknown outcome leaves the transaction active so commit() can be retried.
            raise
        self.state = TransactionState.COMMITTED
        self._forget_open()
        self._rollback.clear()
        await self._end_own_session()

    async def abort(self) -> None:
        """Discard every write of the transaction."""
        self._require_active("abort")
        driver = self.get_driver_session()
        try:
            if driver.in_transaction:
                await driver.abort_transaction()
        finally:
            await self._mark_aborted()

    async def _mark_aborted(self) -> None:
        self.state = TransactionState.ABORTED
        self._forget_open()
        self._rollback.run()
        await self._end_own_session()

    async def end(self) -> None:
        """Abort if still open, and end the session the transaction started."""
        if self.state is TransactionState.ACTIVE:
            await self.abort()
        else:
            await self._end_own_session()

    async def _end_own_session(self) -> None:
        if not self._session_provided and self._owner.is_started:
            await self._owner.end()

    # Entering is the session's: start() (this class's) and return self.

    async def __aexit__(self, exc_type: ExcType, exc: ExcValue, traceback: Traceback) -> None:
        try:
            if self.state is TransactionState.ACTIVE:
                if exc_type is None:
                    await self.commit()
                else:
                    await self.abort()
        finally:
            await self._end_own_session()


#: What ``session=`` of an :class:`~odmantic_fastapi.engine.AIOEngine` operation accepts.
AIOSessionType: TypeAlias = "AIOSession | AsyncDriverSession | None"
#: What ``session=`` of a :class:`~odmantic_fastapi.engine.SyncEngine` operation accepts.
SyncSessionType: TypeAlias = "SyncSession | ClientSession | None"
