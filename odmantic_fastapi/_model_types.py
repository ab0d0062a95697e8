"""Type analysis for the model metaclass: what a field's annotation means to the ODM.

It swaps bson/stdlib types for the ODM's annotated ones, tells whether values
of a type can change in place, and finds the model class inside ``X``,
``X | None``, ``list[X]`` or ``dict[str, X]``. Which classes count as models
is the metaclass's knowledge: the functions that need it take a predicate.
"""

import datetime
import decimal
import enum
import pathlib
import re
import types
import typing
import uuid
from collections.abc import Callable, Iterable
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

import bson
from pydantic import BaseModel

from .bson import _BSON_SUBSTITUTED_FIELDS
from .field import ODMBaseField

__all__ = [
    "ClassTest",
    "embedded_generic",
    "find_duplicate_key",
    "is_mutable",
    "is_subclass",
    "is_type_forbidden",
    "optional_model",
    "reference_target",
    "should_touch_field",
    "substitute",
]

#: Tells whether a value is one kind of model class (an embedded model, say).
ClassTest = Callable[[Any], bool]

_IMMUTABLE_TYPES: tuple[type[Any], ...] = (
    type(None),
    bool,
    int,
    float,
    str,
    bytes,
    tuple,
    frozenset,
    datetime.date,
    datetime.time,
    datetime.datetime,
    datetime.timedelta,
    enum.Enum,
    decimal.Decimal,
    pathlib.Path,
    uuid.UUID,
    bson.ObjectId,
    bson.Decimal128,
    bson.Int64,
    bson.Binary,
    bson.Regex,
    re.Pattern,
)


def is_subclass(value: Any, parent: type[Any] | tuple[type[Any], ...]) -> bool:
    """``issubclass`` that answers False for what is not a class."""
    return isinstance(value, type) and issubclass(value, parent)


def substitute(annotation: Any) -> Any:
    """Replace bson/stdlib types with the ODM's annotated versions, through generics."""
    if isinstance(annotation, str) or is_subclass(annotation, BaseModel):
        return annotation
    if annotation is typing.Pattern:  # the bare typing alias means re.Pattern
        annotation = re.Pattern
    replacement = _BSON_SUBSTITUTED_FIELDS.get(annotation)
    if replacement is not None:
        return replacement
    origin = get_origin(annotation)
    if origin is None or origin is Literal or origin is ClassVar:
        return annotation
    args = get_args(annotation)
    if origin is Annotated:
        return Annotated[(substitute(args[0]), *args[1:])]
    new_args = tuple(substitute(a) for a in args)
    if new_args == args:
        return annotation
    if origin is Union or origin is types.UnionType:
        return Union[new_args]  # noqa: UP007 - built from a runtime tuple
    try:
        return annotation.copy_with(new_args)
    except AttributeError:
        return origin[new_args]


def is_mutable(annotation: Any, is_embedded: ClassTest) -> bool:
    """Whether values of this type can change in place (so saves always write them)."""
    origin = get_origin(annotation)
    if origin is not None:
        args = [a for a in get_args(annotation) if a is not ...]
        if origin is Annotated:
            return is_mutable(args[0], is_embedded)
        if any(
            is_mutable(a, is_embedded) or is_embedded(a) for a in args if not isinstance(a, str)
        ):
            return True
        if origin is Union or origin is types.UnionType or origin is Literal:
            return False
        return not is_subclass(origin, _IMMUTABLE_TYPES)
    if annotation is None or isinstance(annotation, str):
        return False
    if is_embedded(annotation):
        return True
    return not is_subclass(annotation, (*_IMMUTABLE_TYPES, BaseModel))


def optional_model(annotation: Any, is_kind: ClassTest) -> Any | None:
    """The model class of ``X`` or ``X | None`` when ``is_kind(X)`` (an ODMantic gap we close)."""
    if is_kind(annotation):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and is_kind(args[0]):
            return args[0]
    return None


def embedded_generic(annotation: Any, is_embedded: ClassTest) -> tuple[Any, Any] | None:
    """The embedded model of ``list[X]`` (or tuple, set) or ``dict[str, X]``, and the container."""
    origin = get_origin(annotation)
    args = [a for a in get_args(annotation) if a is not ...]
    if origin in (list, tuple, set, frozenset) and len(args) == 1 and is_embedded(args[0]):
        return args[0], list
    if origin is dict and len(args) == 2 and is_embedded(args[1]):
        return args[1], dict
    return None


def reference_target(annotation: Any, is_model: ClassTest) -> tuple[Any | None, bool, bool]:
    """The Model a ``Reference()`` field points at, and whether it is optional or a list."""
    if is_model(annotation):
        return annotation, False, False
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2 and is_model(rest[0]):
            return rest[0], True, False
    if origin is list and len(args) == 1 and is_model(args[0]):
        return args[0], False, True
    return None, False, False


def find_duplicate_key(fields: Iterable[ODMBaseField]) -> str | None:
    """The first key name two of ``fields`` share, if any."""
    seen: set[str] = set()
    for field in fields:
        if field.key_name in seen:
            return field.key_name
        seen.add(field.key_name)
    return None


def is_type_forbidden(type_: Any) -> bool:
    """Whether a field of this type cannot be stored (a callable, bare or parametrized)."""
    return type_ is Callable or type_ is typing.Callable or get_origin(type_) is Callable


def should_touch_field(value: Any = None, type_: Any = None) -> bool:
    """Whether a class attribute is a field (not a method, property or ClassVar)."""
    untouched = (property, classmethod, staticmethod, types.FunctionType)
    return not (
        is_subclass(type_, untouched)
        or isinstance(value, untouched)
        or get_origin(type_) is ClassVar
    )
