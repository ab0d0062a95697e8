"""``Model.__pydantic_model__``: a plain pydantic copy of a model's fields, built on first use.

ODMantic 1.1 gives each model this mirror (a ``BaseBSONModel`` subclass, no ODM
behaviour, models inside it replaced by their own mirrors), which FastAPI code
uses as a ``response_model``. ODMantic builds it with every class; we build it
the first time it is asked for, so defining models costs nothing extra.
"""

import copy
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from .bson import BaseBSONModel

__all__ = ["pydantic_mirror"]


def _mirrored(annotation: Any) -> Any:
    """The annotation with every ODM model in it replaced by its mirror."""
    if isinstance(annotation, type) and "__odm_fields__" in annotation.__dict__:
        return annotation.__pydantic_model__  # type: ignore[attr-defined]  # an ODM model
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is None or not args:
        return annotation
    new_args = tuple(_mirrored(arg) for arg in args)
    if new_args == args:
        return annotation
    if origin is Union or type(annotation).__name__ == "UnionType":
        return Union[new_args]  # noqa: UP007 - built from a runtime tuple
    try:
        return annotation.copy_with(new_args)
    except AttributeError:
        return origin[new_args]


def pydantic_mirror(cls: type[BaseModel]) -> type[BaseModel]:
    """A ``BaseBSONModel`` with ``cls``'s fields, titled like ``cls``."""
    annotations: dict[str, Any] = {}
    namespace: dict[str, Any] = {
        "__module__": cls.__module__,
        "__qualname__": f"{cls.__qualname__}.__pydantic_model__",
        "__doc__": cls.__doc__,
        "__annotations__": annotations,
        "model_config": {"title": cls.model_config.get("title") or cls.__name__},
    }
    for name, info in cls.model_fields.items():
        annotations[name] = _mirrored(info.annotation)
        field = copy.copy(info)
        field.annotation = annotations[name]
        namespace[name] = field
    metaclass: Any = type(BaseBSONModel)
    mirror: type[BaseModel] = metaclass(
        f"{cls.__name__}.__pydantic_model__", (BaseBSONModel,), namespace
    )
    return mirror
