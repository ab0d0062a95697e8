"""Exceptions of the ODM, all below one root so ``except ODMError`` catches them.

    ODMError
    ├── BaseEngineException            (raised by the engines; carries ``model``)
    │   ├── DocumentNotFoundError      (delete() of an instance that is not stored)
    │   ├── DuplicateKeyError          (a unique index refused the write)
    │   └── RevisionConflictError      (a save or delete found a newer revision; beyond ODMantic)
    └── DocumentParsingError           (also a ValueError: a stored document does not fit the model)

``KeyNotFoundInDocumentError`` and friends build the pydantic error details
that ``DocumentParsingError`` reports.
"""

from abc import ABCMeta
from typing import TYPE_CHECKING, Any

import pymongo.errors
from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from .typing import ModelType

if TYPE_CHECKING:
    from .model import Model, _BaseODMModel


__all__ = [
    "BaseEngineException",
    "DocumentNotFoundError",
    "DocumentParsingError",
    "DuplicateKeyError",
    "ErrorList",
    "IncorrectGenericEmbeddedModelValue",
    "KeyNotFoundInDocumentError",
    "ModelType",
    "ODMError",
    "ODManticCustomError",
    "ReferencedDocumentNotFoundError",
    "RevisionConflictError",
]

ErrorList = list[InitErrorDetails]


class ODMError(Exception):
    """Root of every error this library raises on purpose."""


class BaseEngineException(ODMError, metaclass=ABCMeta):
    """Raised by an engine while operating on the database."""

    def __init__(self, message: str, model: type["Model"]) -> None:
        self.model: type[Model] = model
        super().__init__(message)


class DocumentNotFoundError(BaseEngineException):
    """The instance's document is not in the database (it was never saved, or was deleted)."""

    def __init__(self, instance: "Model") -> None:
        self.instance: Model = instance
        super().__init__(
            f"Document not found for : {type(instance).__name__}. Instance: {instance}",
            type(instance),
        )


class DuplicateKeyError(BaseEngineException):
    """A unique index already holds one of the instance's values."""

    def __init__(self, instance: "Model", driver_error: pymongo.errors.DuplicateKeyError) -> None:
        self.instance: Model = instance
        self.driver_error = driver_error
        super().__init__(
            f"Duplicate key error for: {type(instance).__name__}. Instance: {instance} "
            f"Driver error: {driver_error}",
            type(instance),
        )


class RevisionConflictError(BaseEngineException):
    """The stored document changed since the instance was read: saving would lose that change.

    Raised for models with a ``revision_field``. Read the document again,
    reapply the change and save again; inside a transaction the transaction
    has been aborted, so retry it whole.
    """

    def __init__(self, instance: "Model", revision: int) -> None:
        self.instance: Model = instance
        self.revision = revision
        primary = getattr(instance, instance.__primary_field__, None)
        super().__init__(
            f"Revision conflict for {type(instance).__name__} {primary!r}: it was read at "
            f"revision {revision}, and the stored document is at another revision or was "
            "deleted; read it again and retry",
            type(instance),
        )


def ODManticCustomError(
    error_type: str, message_template: str, context: dict[str, Any] | None = None
) -> PydanticCustomError:
    return PydanticCustomError(f"odmantic::{error_type}", message_template, context)


def KeyNotFoundInDocumentError(key_name: str) -> PydanticCustomError:
    return ODManticCustomError(
        "key_not_found_in_document",
        "Key '{key_name}' not found in document",
        {"key_name": key_name},
    )


def ReferencedDocumentNotFoundError(foreign_key_name: str) -> PydanticCustomError:
    return ODManticCustomError(
        "referenced_document_not_found",
        "Referenced document not found for foreign key '{foreign_key_name}'",
        {"foreign_key_name": foreign_key_name},
    )


def IncorrectGenericEmbeddedModelValue(value: Any) -> PydanticCustomError:
    return ODManticCustomError(
        "incorrect_generic_embedded_model_value",
        "Incorrect generic embedded model value '{value}'",
        {"value": value},
    )


class DocumentParsingError(ODMError, ValueError):
    """A document read from the database does not fit the model.

    The message is ODMantic's: the model and each failing field. The document's
    ``_id``, when known, is in ``primary_value``, to find and fix the document.
    """

    def __init__(
        self,
        errors: ErrorList,
        model: type["_BaseODMModel"],
        primary_value: Any = None,
    ) -> None:
        self.model = model
        self.primary_value = primary_value
        self.inner = ValidationError.from_exception_data(title=model.__name__, line_errors=errors)
        super().__init__(str(self))

    def errors(self) -> list[Any]:
        return list(self.inner.errors())

    def __str__(self) -> str:
        return str(self.inner)

    def __repr__(self) -> str:
        return f"DocumentParsingError({self!s})"
