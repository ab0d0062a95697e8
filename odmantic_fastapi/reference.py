"""``Reference()``: a field holding another Model, stored as that document's primary key."""

from typing import Any

__all__ = ["ODMReferenceInfo", "Reference"]


class ODMReferenceInfo:
    """Marks a field as a reference; ``key_name`` is the key storing the referenced id."""

    __slots__ = ("key_name",)

    def __init__(self, key_name: str | None) -> None:
        self.key_name = key_name


def Reference(*, key_name: str | None = None) -> Any:
    """Declare a reference field: ``author: Author = Reference()``.

    The document stores the referenced instance's primary key under
    ``key_name`` (the field name by default); finds fetch it back with $lookup
    and saves save the referenced instance first.
    """
    return ODMReferenceInfo(key_name=key_name)
