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
from typing import Any, TypeVar

__all__ = ["Steps", "run_async", "run_sync"]

T = TypeVar("T")
Steps = Generator[Callable[[], Any], Any, T]


async def run_async(steps: Steps[T]) -> T:
    """Run ``steps``, awaiting each call's result when it is awaitable."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            call = steps.throw(error) if error is not None else steps.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        error = None
        try:
            result = call()
            if inspect.isawaitable(result):
                result = await result
        except BaseException as exc:
            error, result = exc, None


def run_sync(steps: Steps[T]) -> T:
    """Run ``steps``, calling each call in turn."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            call = steps.throw(error) if error is not None else steps.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        error = None
        try:
            result = call()
        except BaseException as exc:
            error, result = exc, None
