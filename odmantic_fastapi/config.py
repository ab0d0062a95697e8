"""Model configuration: ODMantic's options on top of pydantic's ``ConfigDict``."""

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pymongo
from pydantic.config import ConfigDict

if TYPE_CHECKING:
    from .index import Index

__all__ = ["ENFORCED_PYDANTIC_CONFIG", "ODMConfigDict", "validate_config"]


class ODMConfigDict(ConfigDict, total=False):
    collection: str | None
    """The collection name (by default the class name in snake_case, without a Model suffix)."""
    parse_doc_with_default_factories: bool
    """Fill fields with a default factory when the stored document lacks them."""
    indexes: "Callable[[], Iterable[Index | pymongo.IndexModel]] | None"
    """Extra indexes of the model."""
    revision_field: str | None
    """An ``int`` field counting saves; a save or delete of an older revision is refused.

    Beyond ODMantic: optimistic concurrency, so read-modify-write is safe
    outside transactions too (see :class:`RevisionConflictError`).
    """
    discriminator_key: str | None
    """Makes this model the root of a hierarchy sharing its collection.

    Beyond ODMantic: each document stores its class's ``discriminator_value``
    under this key, and finds return instances of the right subclass.
    """
    discriminator_value: str | None
    """The value stored for this class in a hierarchy (the class name by default)."""


PYDANTIC_ALLOWED_CONFIG_OPTIONS = frozenset(
    {
        "title",
        "json_schema_extra",
        "str_strip_whitespace",
        "arbitrary_types_allowed",
        "extra",
        "json_encoders",
        "populate_by_name",
        "use_enum_values",
        "str_to_lower",
        "str_to_upper",
        "str_max_length",
        "str_min_length",
        "protected_namespaces",
    }
)
ODM_CONFIG_OPTIONS = frozenset(
    {
        "collection",
        "parse_doc_with_default_factories",
        "indexes",
        "revision_field",
        "discriminator_key",
        "discriminator_value",
    }
)
_PYDANTIC_CONFIG_OPTIONS = frozenset(ConfigDict.__annotations__)
ENFORCED_PYDANTIC_CONFIG = ConfigDict(validate_default=True, validate_assignment=True)


def validate_config(config: ODMConfigDict | dict[str, Any], cls_name: str) -> dict[str, Any]:
    """The configuration with ODMantic's defaults, rejecting options the ODM cannot honour."""
    out: dict[str, Any] = {
        "title": None,
        "json_schema_extra": None,
        "str_strip_whitespace": False,
        "arbitrary_types_allowed": False,
        "extra": None,
        **ENFORCED_PYDANTIC_CONFIG,
        "collection": None,
        "parse_doc_with_default_factories": False,
        "indexes": None,
        "revision_field": None,
        "discriminator_key": None,
        "discriminator_value": None,
    }
    for key, value in config.items():
        if key in ENFORCED_PYDANTIC_CONFIG:
            raise ValueError(
                f"'{cls_name}': configuration attribute '{key}' is enforced to "
                f"{ENFORCED_PYDANTIC_CONFIG.get(key, 'unknown')} by ODMantic and cannot be changed"
            )
        if key in PYDANTIC_ALLOWED_CONFIG_OPTIONS or key in ODM_CONFIG_OPTIONS:
            out[key] = value
        elif key in _PYDANTIC_CONFIG_OPTIONS:
            raise ValueError(
                f"'{cls_name}': configuration attribute '{key}' from Pydantic is not supported"
            )
        else:
            raise ValueError(f"'{cls_name}': unknown configuration attribute '{key}'")
    return out
