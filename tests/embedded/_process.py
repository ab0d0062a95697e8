"""Clients of a server process of a test's own (kill -9, restarts, timing), not of the shared server."""

from typing import Any

from pymongo import MongoClient

__all__ = ["connect"]


def connect(url: str, **options: Any) -> MongoClient[dict[str, Any]]:
    """A blocking client of ``url``; a server that does not answer fails the test within 10 s."""
    return MongoClient(url, **{"serverSelectionTimeoutMS": 10_000, **options})
