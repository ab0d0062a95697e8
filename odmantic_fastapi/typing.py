"""Typing helpers ODMantic keeps in ``odmantic.typing``, and the package's ``ModelType``.

ODMantic builds some of these on pydantic's deprecated v1 utilities; these
are plain ``typing`` code with the same behaviour.
"""

from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    ClassVar,
    TypeVar,
    cast,
    dataclass_transform,
    get_args,
    get_origin,
)

if TYPE_CHECKING:
    from .model import Model

__all__ = [
    "Annotated",
    "ModelType",
    "dataclass_transform",
    "get_args",
    "get_first_type_argument_subclassing",
    "get_origin",
    "is_classvar",
    "is_type_argument_subclass",
    "lenient_issubclass",
]

T = TypeVar("T")

#: A Model class's instances, in the engines' and sessions' signatures (the package's one).
ModelType = TypeVar("ModelType", bound="Model")


def lenient_issubclass(cls: Any, class_or_tuple: type[Any] | tuple[type[Any], ...]) -> bool:
    """``issubclass`` that answers False, instead of raising, for what is not a class."""
    return isinstance(cls, type) and issubclass(cls, class_or_tuple)


def is_classvar(annotation: Any) -> bool:
    return annotation is ClassVar or get_origin(annotation) is ClassVar


def is_type_argument_subclass(
    type_: Any, class_or_tuple: type[Any] | tuple[type[Any], ...]
) -> bool:
    """Whether one of ``type_``'s arguments (``X`` in ``list[X]``) subclasses the class."""
    return any(lenient_issubclass(arg, class_or_tuple) for arg in get_args(type_))


def get_first_type_argument_subclassing(type_: Any, cls: type[T]) -> type[T] | None:
    for arg in get_args(type_):
        if lenient_issubclass(arg, cls):
            return cast(type[T], arg)
    return None
