"""The one module that relies on pydantic's internals; everything version-sensitive is here.

- ``PydanticModelMetaclass``: pydantic's model metaclass, which the ODM's metaclass extends.
- ``own_schema_validator``: a validator built from a given core schema of a model class.
  pydantic-core reuses a complete class's own ``__pydantic_validator__`` whenever a
  schema names that class ("prebuilt" validators), which would ignore the schema we
  pass; marking the class incomplete while building makes it compile ours.
"""

from typing import Any

from pydantic._internal._model_construction import ModelMetaclass as PydanticModelMetaclass
from pydantic_core import CoreSchema, SchemaValidator

__all__ = ["PydanticModelMetaclass", "own_schema_validator"]


def own_schema_validator(cls: type[Any], schema: CoreSchema) -> SchemaValidator:
    """Compile ``schema`` (a model schema for ``cls``) into a validator of its own."""
    was_complete = cls.__dict__.get("__pydantic_complete__", False)
    type.__setattr__(cls, "__pydantic_complete__", False)
    try:
        return SchemaValidator(schema, schema.get("config"))
    finally:
        type.__setattr__(cls, "__pydantic_complete__", was_complete)
