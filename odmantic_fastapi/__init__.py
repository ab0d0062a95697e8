"""Async MongoDB ODM for FastAPI with ODMantic's API, sessions, transactions and an embedded server.

The ODM names are ODMantic 1.1's (``Model``, ``Field``, ``AIOEngine``...); the
FastAPI names (``install``, ``get_transaction``, ``TransactionDep``...) load
FastAPI only when first used, so the ODM works without it.
"""

import importlib
import importlib.metadata
from typing import TYPE_CHECKING, Any

from .bson import ObjectId, WithBsonSerializer
from .engine import AIOEngine, SyncEngine
from .exceptions import (
    DocumentNotFoundError,
    DocumentParsingError,
    DuplicateKeyError,
    ODMError,
    RevisionConflictError,
)
from .field import Field
from .index import Index
from .model import EmbeddedModel, Model
from .reference import LazyReference, Reference
from .session import AIOSession, AIOTransaction, SyncSession, SyncTransaction

if TYPE_CHECKING:
    from .dependencies import (
        EngineDep,
        RetryingTransactionDep,
        SessionDep,
        SyncEngineDep,
        SyncSessionDep,
        SyncTransactionDep,
        TransactionDep,
        get_engine,
        get_retrying_transaction,
        get_session,
        get_sync_engine,
        get_sync_session,
        get_sync_transaction,
        get_transaction,
        install,
        install_exception_handlers,
    )

__all__ = [
    "AIOEngine",
    "AIOSession",
    "AIOTransaction",
    "DocumentNotFoundError",
    "DocumentParsingError",
    "DuplicateKeyError",
    "EmbeddedModel",
    "EngineDep",
    "Field",
    "Index",
    "LazyReference",
    "Model",
    "ODMError",
    "ObjectId",
    "Reference",
    "RetryingTransactionDep",
    "RevisionConflictError",
    "SessionDep",
    "SyncEngine",
    "SyncEngineDep",
    "SyncSession",
    "SyncSessionDep",
    "SyncTransaction",
    "SyncTransactionDep",
    "TransactionDep",
    "WithBsonSerializer",
    "get_engine",
    "get_retrying_transaction",
    "get_session",
    "get_sync_engine",
    "get_sync_session",
    "get_sync_transaction",
    "get_transaction",
    "install",
    "install_exception_handlers",
]

__version__ = importlib.metadata.version("odmantic-fastapi")


def __getattr__(name: str) -> Any:
    # The names of __all__ not bound above are dependencies.__all__, the FastAPI list.
    if name in __all__:
        return getattr(importlib.import_module(".dependencies", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
