"""The API's routers, one module per resource."""

from . import accounts, health, owners, transfers

__all__ = ["accounts", "health", "owners", "transfers"]
