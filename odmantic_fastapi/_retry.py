"""The retry policy of transactions: which failures are worth another try, and the waits between.

One classification and one backoff serve every retry loop of the package:
``engine.run_transaction`` (a 120 s budget by default) and the commit of a
request's transaction (the FastAPI layer's, a 10 s budget). Following
MongoDB's drivers (the ``with_transaction`` helper of the transactions
specification):

- a **transient** failure (label ``TransientTransactionError``, or a
  ``WriteConflict`` (112) reported without it) means the whole transaction
  may succeed if run again;
- an **unknown commit result** (label ``UnknownTransactionCommitResult``,
  which the driver puts on network errors and timeouts during a commit) means
  the commit alone is retried, unless the server says the commit ran out of
  its own time (``MaxTimeMSExpired``, 50);
- a **network error** (``ConnectionFailure`` and its subclasses) is the
  database being out of reach: during a transaction the driver labels it with
  one of the two labels above; alone, a caller answers it as an outage.

Usage, for any transaction object with ``commit()`` (async or sync)::

    retry = Retry(budget=10.0)
    await run_async(commit_steps(txn, retry, asyncio.sleep))   # or commit_with_retry(txn, 10.0)
    ...
    if retry.may_rerun(exc):
        await asyncio.sleep(retry.delay())
"""

import asyncio
import enum
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, TypeVar

from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from ._steps import Steps, run_async

__all__ = [
    "DEFAULT_TRANSACTION_SECONDS",
    "ErrorCode",
    "ErrorLabel",
    "Retry",
    "backoff",
    "commit_steps",
    "commit_with_retry",
    "is_network_error",
    "is_transient",
    "is_unknown_commit",
    "transaction_steps",
]

#: How long ``run_transaction`` retries by default, as pymongo's ``with_transaction`` does.
DEFAULT_TRANSACTION_SECONDS = 120.0

#: The first wait and the longest one between two attempts (before jitter).
_FIRST_DELAY = 0.005
_MAX_DELAY = 0.5


class ErrorCode(enum.IntEnum):
    """The server error codes the policy looks at."""

    MAX_TIME_MS_EXPIRED = 50
    WRITE_CONFLICT = 112


class ErrorLabel(enum.StrEnum):
    """The error labels MongoDB (and the driver) put on transaction failures."""

    TRANSIENT_TRANSACTION = "TransientTransactionError"
    UNKNOWN_COMMIT_RESULT = "UnknownTransactionCommitResult"


def is_transient(exc: BaseException) -> bool:
    """Whether running the whole transaction again may succeed (a write conflict, say)."""
    if not isinstance(exc, PyMongoError):
        return False
    if isinstance(exc, OperationFailure) and exc.code == ErrorCode.WRITE_CONFLICT:
        return True
    return exc.has_error_label(ErrorLabel.TRANSIENT_TRANSACTION)


def is_unknown_commit(exc: BaseException) -> bool:
    """Whether a failed commit may have applied, so committing again is the way to know."""
    return (
        isinstance(exc, PyMongoError)
        and exc.has_error_label(ErrorLabel.UNKNOWN_COMMIT_RESULT)
        and not (isinstance(exc, OperationFailure) and exc.code == ErrorCode.MAX_TIME_MS_EXPIRED)
    )


def is_network_error(exc: BaseException) -> bool:
    """Whether the database could not be reached (or stopped answering)."""
    return isinstance(exc, ConnectionFailure)


def backoff(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1, 2, ...): capped, full jitter.

    The cap grows from 10 ms and doubles each attempt up to 0.5 s; the wait is
    drawn uniformly below it, so clients that conflicted do not retry in step.
    """
    return min(_MAX_DELAY, _FIRST_DELAY * 2.0**attempt) * random.random()


class Retry:
    """One retried run: its time budget, its attempts, and whether another one is allowed.

    Args:
        budget: seconds from now after which no failure is retried.
        clock: the monotonic clock (a parameter for tests).
    """

    def __init__(self, budget: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.deadline = clock() + budget
        self.attempt = 0

    def next_attempt(self) -> int:
        """Count an attempt starting; returns its number (1 for the first)."""
        self.attempt += 1
        return self.attempt

    def time_left(self) -> bool:
        return self._clock() < self.deadline

    def may_rerun(self, exc: BaseException) -> bool:
        """Whether to run the whole transaction again after ``exc``."""
        return is_transient(exc) and self.time_left()

    def may_recommit(self, exc: BaseException) -> bool:
        """Whether to send the commit again after ``exc``."""
        return is_unknown_commit(exc) and self.time_left()

    def delay(self) -> float:
        """The wait before the next attempt (see :func:`backoff`)."""
        return backoff(max(self.attempt, 1))


class _Committable(Protocol):
    def commit(self) -> Any: ...


class _Transaction(_Committable, Protocol):
    @property
    def is_started(self) -> bool: ...

    def start(self) -> Any: ...

    def abort(self) -> Any: ...


TxnT = TypeVar("TxnT", bound=_Transaction)


def commit_steps(txn: _Committable, retry: Retry, sleep: Callable[[float], Any]) -> Steps[None]:
    """Commit ``txn``, again while its outcome is unknown and ``retry`` has time left.

    Written as steps (see ``_steps``) so one loop serves async and sync
    transactions; ``sleep`` is ``asyncio.sleep`` or ``time.sleep`` to match.

    Raises:
        PyMongoError: the commit's last failure, when it is not retried.
    """
    commits = 0
    while True:
        try:
            yield txn.commit
            return
        except PyMongoError as exc:
            if not retry.may_recommit(exc):
                raise
        commits += 1
        yield partial(sleep, backoff(commits))


async def commit_with_retry(txn: _Committable, budget: float) -> None:
    """Commit an async transaction, retrying an unknown outcome for ``budget`` seconds."""
    await run_async(commit_steps(txn, Retry(budget), asyncio.sleep))


def transaction_steps(
    new_transaction: Callable[[], TxnT],
    callback: Callable[[TxnT], Any],
    budget: float,
    sleep: Callable[[float], Any],
) -> Steps[Any]:
    """Run ``callback(txn)`` in a new transaction until it commits, as MongoDB advises.

    The whole callback runs again, after a backoff, on a transient failure;
    the commit alone on an unknown commit result; both until ``budget``
    seconds have passed (``run_transaction`` of both engines).
    """
    retry = Retry(budget)
    while True:
        retry.next_attempt()
        txn = new_transaction()
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
        except PyMongoError as exc:
            if txn.is_started:
                yield txn.abort
            if not retry.may_rerun(exc):
                raise
        yield partial(sleep, retry.delay())
