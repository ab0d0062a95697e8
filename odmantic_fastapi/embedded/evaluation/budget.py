"""The time a command may still spend (its maxTimeMS), checked from inside long evaluation loops.

The server sets the deadline around each command (a context variable, so every
connection's task has its own, and a worker thread running part of the
command inherits it); loops over documents, array elements and pipeline stages
call :func:`check` every so often, which raises MaxTimeMSExpired (50) once the
deadline has passed, or InterruptedAtShutdown (11600) once the server stops.
"""

import threading
import time
from contextvars import ContextVar, Token

from ..errors import CommandError

__all__ = ["check", "remaining", "reset_deadline", "set_deadline"]

_Limits = tuple[float | None, threading.Event | None]
_LIMITS: ContextVar[_Limits] = ContextVar("odmantic_fastapi_embedded_limits", default=(None, None))


def set_deadline(deadline: float | None, stopping: threading.Event | None = None) -> Token[_Limits]:
    """Enforce ``deadline`` (a ``time.monotonic()`` value, or None) and the server's stop."""
    return _LIMITS.set((deadline, stopping))


def reset_deadline(token: Token[_Limits]) -> None:
    _LIMITS.reset(token)


def remaining() -> float | None:
    """Seconds left before the deadline, or None when the command has no time limit."""
    deadline = _LIMITS.get()[0]
    return None if deadline is None else deadline - time.monotonic()


def check() -> None:
    """Raise MaxTimeMSExpired when the command's time is up, InterruptedAtShutdown on stop."""
    deadline, stopping = _LIMITS.get()
    if deadline is not None and time.monotonic() >= deadline:
        raise CommandError(50, "operation exceeded time limit")
    if stopping is not None and stopping.is_set():
        raise CommandError(11600, "interrupted at shutdown")
