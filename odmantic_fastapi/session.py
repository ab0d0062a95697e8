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

import enum
import weakref
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, Self, TypeAlias, Unpack

from pymongo.client_session import ClientSession
from pymongo.errors import PyMongoError

from ._driver import (
    AsyncDriverSession,
    TransactionOptions,
    TransactionSettings,
    start_driver_session,
    start_driver_transaction,
)
from .query import QueryDictBool
from .typing import ModelType

if TYPE_CHECKING:
    from .cursor import AIOCursor, SyncCursor
    from .engine import AIOEngine, SyncEngine
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


class TransactionState(enum.Enum):
    """Where a transaction is in its life."""

    NEW = "new"
    ACTIVE = "active"
    COMMITTED = "committed"
    ABORTED = "aborted"


class _Rollback:
    """Things to undo on the Python side when a transaction aborts."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[], None]] = []

    def add(self, callback: Callable[[], None]) -> None:
        self._callbacks.append(callback)

    def run(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in reversed(callbacks):
            callback()

    def clear(self) -> None:
        self._callbacks.clear()


# The open transaction of each driver session (by id, checked by identity on
# lookup). Session methods hand the engine the driver session, as ODMantic's do,
# and so may user code; the engine finds the transaction through it, so a write
# made in a transaction is undone on the Python side when it aborts, whichever
# form of the session the write was given.
_open_transactions: "dict[int, weakref.ref[_TransactionCore]]" = {}


def transaction_of(driver: object) -> "AIOTransaction | SyncTransaction | None":
    """The open transaction of a driver session, if one of ours runs on it."""
    if driver is None:
        return None
    ref = _open_transactions.get(id(driver))
    transaction = ref() if ref is not None else None
    if not isinstance(transaction, AIOTransaction | SyncTransaction):
        return None
    return transaction if transaction._driver_session() is driver else None


class _TransactionCore:
    """What async and sync transactions share: their options, state and rollback hooks."""

    state: TransactionState
    options: TransactionOptions
    _open_key: int | None
    _rollback: _Rollback

    def _setup(self, engine: "AIOEngine | SyncEngine", options: TransactionOptions | None) -> None:
        self.options = (options or TransactionOptions()).merged_over(engine.transaction_options)
        self.state = TransactionState.NEW
        self._rollback = _Rollback()
        self._open_key: int | None = None

    @property
    def is_started(self) -> bool:
        """True while the transaction is open (started, not yet committed or aborted)."""
        return self.state is TransactionState.ACTIVE

    def _driver_session(self) -> object:
        raise NotImplementedError

    def _register_open(self) -> None:
        key = id(self._driver_session())

        def forget(ref: "weakref.ref[_TransactionCore]") -> None:
            if _open_transactions.get(key) is ref:
                del _open_transactions[key]

        self._open_key = key
        _open_transactions[key] = weakref.ref(self, forget)

    def _forget_open(self) -> None:
        if self._open_key is None:
            return
        ref = _open_transactions.get(self._open_key)
        if ref is not None and ref() is self:
            del _open_transactions[self._open_key]
        self._open_key = None

    def on_abort(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` if this transaction aborts (used to re-mark saved instances)."""
        self._rollback.add(callback)

    def _check_startable(self) -> None:
        if self.state is TransactionState.ACTIVE:
            raise RuntimeError("Transaction already started")
        if self.state is not TransactionState.NEW:
            raise RuntimeError(f"Transaction already {self.state.value}; create a new one")

    def _require_active(self, action: str) -> None:
        if self.state is TransactionState.NEW:
            raise RuntimeError("Transaction not started")
        if self.state is not TransactionState.ACTIVE:
            raise RuntimeError(f"cannot {action}: transaction already {self.state.value}")

    def transaction(self, **_: Unpack[TransactionSettings]) -> NoReturn:
        raise RuntimeError("cannot start a transaction inside another transaction")


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

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
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

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self.state is TransactionState.ACTIVE:
                if exc_type is None:
                    await self.commit()
                else:
                    await self.abort()
        finally:
            await self._end_own_session()


# -- sync ----------------------------------------------------------------


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

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
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

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self.state is TransactionState.ACTIVE:
                if exc_type is None:
                    self.commit()
                else:
                    self.abort()
        finally:
            self._end_own_session()


#: What ``session=`` of an :class:`~odmantic_fastapi.engine.AIOEngine` operation accepts.
AIOSessionType: TypeAlias = "AIOSession | AsyncDriverSession | None"
#: What ``session=`` of a :class:`~odmantic_fastapi.engine.SyncEngine` operation accepts.
SyncSessionType: TypeAlias = "SyncSession | ClientSession | None"
