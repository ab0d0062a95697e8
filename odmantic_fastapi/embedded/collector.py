"""How the server keeps Python's cyclic garbage collector from pausing every client.

A full collection walks every container object the process tracks. The
stored documents, their version chains and their index entries are most of
them: at 200,000 documents one full pass holds the GIL (and so the event loop
and every client) for 0.1 to 0.3 s, and writes that add or replace many
documents allocate enough to set off several passes in a row.

Stored data is never garbage in a cycle: a document, a version or an index
entry is freed by its reference count as soon as nothing holds it. So once a
full pass has found the heap large, the server moves what survived it to the
collector's permanent generation (``gc.freeze``), and later passes walk only
what was allocated since. Frozen objects are still freed by reference
counting; only a cycle that was alive at a freeze and dies later is never
reclaimed, and freezes are rare (one each time the unfrozen part of the heap
grows past what a pass walks in ``SLOW_PASS_SECONDS``), so what that can
keep is bounded by what was in flight at those moments.

The policy is process-wide (the collector is): it is installed once, by the
first server started in a process, and it changes nothing while full passes
stay fast, as they do for the small heaps of tests and demos.

Work that allocates many objects which all live until it ends (a large sort's
keys, a large write command's statements and documents) pauses the collector
meanwhile with :func:`paused`: young collections in the middle could free
none of them, and would only walk them on their way to the old generation.
"""

import contextlib
import gc
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = [
    "SLOW_PASS_SECONDS",
    "freeze_survivors",
    "hold",
    "install",
    "paused",
    "release",
]

SLOW_PASS_SECONDS = 0.02
"""A full pass at least this long freezes what survived it."""

_lock = threading.Lock()
_installed = False
_started = 0.0
_holders = 0
_resume = False


def install() -> None:
    """Freeze the survivors of every slow full collection, from now on, in this process."""
    global _installed
    with _lock:
        if not _installed:
            gc.callbacks.append(_on_collection)
            _installed = True


def freeze_survivors() -> None:
    """Collect now, then freeze what is left: after loading a large data directory at startup."""
    gc.collect()
    gc.freeze()


def _on_collection(phase: str, info: dict[str, Any]) -> None:
    # Runs in whichever thread set the collection off, holding the GIL.
    global _started
    if info.get("generation") != 2:
        return
    if phase == "start":
        _started = time.perf_counter()
    elif time.perf_counter() - _started >= SLOW_PASS_SECONDS:
        gc.freeze()


def hold() -> None:
    """Pause the collector until every holder has released it (threads and tasks share one pause)."""
    global _holders, _resume
    with _lock:
        if _holders == 0:
            _resume = gc.isenabled()
            gc.disable()
        _holders += 1


def release() -> None:
    """End one :func:`hold`; the last one leaves the collector as the first found it."""
    global _holders
    with _lock:
        _holders -= 1
        if _holders == 0 and _resume:
            gc.enable()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The collector paused for the block (see :func:`hold`)."""
    hold()
    try:
        yield
    finally:
        release()
