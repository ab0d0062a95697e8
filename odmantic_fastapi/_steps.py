"""One algorithm for both engines: generators of driver calls, run by an async or a sync driver.

An engine operation with several round trips (a bulk save, a revision-checked
delete, a retried transaction) is written once, as a generator that yields
zero-argument calls and receives their results (or has their exceptions
thrown in). :func:`run_async` awaits what a call returns when it is
awaitable; :func:`run_sync` does not. The async and sync engines so share the
logic, and differ only in which runner they use.
"""

import inspect
from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar

__all__ = ["Steps", "run_async", "run_sync"]

T = TypeVar("T")
Steps = Generator[Callable[[], Any], Any, T]


class _Runner(Generic[T]):
    """Feeds each call's result (or exception) back into the steps; keeps what they return."""

    def __init__(self, steps: Steps[T]) -> None:
        self._steps = steps
        self._result: Any = None
        self._error: BaseException | None = None
        self.returned: T

    def next_call(self) -> Callable[[], Any] | None:
        """The next call to make, or None once the steps have returned."""
        try:
            if self._error is not None:
                call = self._steps.throw(self._error)
            else:
                call = self._steps.send(self._result)
        except StopIteration as stop:
            self.returned = stop.value
            return None
        self._result, self._error = None, None
        return call

    def succeeded(self, result: Any) -> None:
        self._result = result

    def failed(self, error: BaseException) -> None:
        self._error = error


async def run_async(steps: Steps[T]) -> T:
    """Run ``steps``, awaiting each call's result when it is awaitable."""
    runner = _Runner(steps)
    while (call := runner.next_call()) is not None:
        try:
            result = call()
            runner.succeeded(await result if inspect.isawaitable(result) else result)
        except BaseException as exc:
            runner.failed(exc)
    return runner.returned


def run_sync(steps: Steps[T]) -> T:
    """Run ``steps``, calling each call in turn."""
    runner = _Runner(steps)
    while (call := runner.next_call()) is not None:
        try:
            runner.succeeded(call())
        except BaseException as exc:
            runner.failed(exc)
    return runner.returned
