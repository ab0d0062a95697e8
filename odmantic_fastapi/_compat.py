"""The one module that relies on pydantic's internals; everything version-sensitive is here.

- ``PydanticModelMetaclass``: pydantic's model metaclass, which the ODM's metaclass extends.
- ``own_schema_validator`` and ``own_schema_serializer``: a validator (serializer)
  built from a given core schema of a model class.
  pydantic-core reuses a complete class's own ``__pydantic_validator__`` whenever a
  schema names that class ("prebuilt" validators), which would ignore the schema we
  pass; marking the class incomplete while building makes it compile ours.
"""

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic._internal._model_construction import ModelMetaclass as PydanticModelMetaclass
from pydantic_core import CoreSchema, SchemaSerializer, SchemaValidator

__all__ = ["PydanticModelMetaclass", "own_schema_serializer", "own_schema_validator"]

T = TypeVar("T")


def own_schema_validator(cls: type[Any], schema: CoreSchema) -> SchemaValidator:
    """Compile ``schema`` (a model schema for ``cls``) into a validator of its own."""
    return _incomplete_while(cls, lambda: SchemaValidator(schema, schema.get("config")))


def own_schema_serializer(cls: type[Any], schema: CoreSchema) -> SchemaSerializer:
    """Compile ``schema`` (a model schema for ``cls``) into a serializer of its own."""
    return _incomplete_while(cls, lambda: SchemaSerializer(schema, schema.get("config")))


def _incomplete_while(cls: type[Any], build: Callable[[], T]) -> T:
    was_complete = cls.__dict__.get("__pydantic_complete__", False)
    type.__setattr__(cls, "__pydantic_complete__", False)
    try:
        return build()
    finally:
        type.__setattr__(cls, "__pydantic_complete__", was_complete)
