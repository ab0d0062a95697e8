"""What async and sync transactions share: their state, options, rollback hooks and registry.

The registry maps each driver session to the open transaction running on it,
so the engine finds the transaction whichever form of the session a write
was given (see :func:`transaction_of`).
"""

import enum
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, NoReturn, TypeAlias, Unpack, cast

from ._driver import TransactionOptions, TransactionSettings

if TYPE_CHECKING:
    from ._sync_session import SyncTransaction
    from .engine import AIOEngine, SyncEngine
    from .session import AIOTransaction

__all__ = ["ExcType", "ExcValue", "Traceback", "TransactionState", "transaction_of"]

#: The arguments of ``__exit__`` and ``__aexit__``, as the ``with`` statement passes them.
ExcType: TypeAlias = type[BaseException] | None
ExcValue: TypeAlias = BaseException | None
Traceback: TypeAlias = TracebackType | None


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
    if transaction is None or transaction._driver_session() is not driver:
        return None
    # Only AIOTransaction and SyncTransaction, the two subclasses, register themselves.
    return cast("AIOTransaction | SyncTransaction", transaction)


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
