"""The server's command handlers, one module per family; importing this registers them all."""

from . import admin, aggregation, catalog, crud, reads, sessions
from ._base import COMMANDS, Context

__all__ = ["COMMANDS", "Context", "admin", "aggregation", "catalog", "crud", "reads", "sessions"]
