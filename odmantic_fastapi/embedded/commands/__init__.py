"""The server's command handlers, one module per family; importing this registers them all."""

from . import admin, aggregation, auth, catalog, crud, reads, search_indexes, sessions
from ._base import COMMANDS, Context

__all__ = [
    "COMMANDS",
    "Context",
    "admin",
    "aggregation",
    "auth",
    "catalog",
    "crud",
    "reads",
    "search_indexes",
    "sessions",
]
