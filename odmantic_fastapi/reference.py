"""References between models: ``Reference()`` (eager) and ``LazyReference[T]`` (on demand).

``author: Author = Reference()`` stores the author's primary key and fetches
the author with ``$lookup`` whenever the referring model is read, as in
ODMantic. Beyond ODMantic, ``Reference()`` also accepts ``Author | None``
(an optional reference) and ``list[Author]`` (a list of references, read back
in the stored order); and ``author: LazyReference[Author]`` stores the same
key but fetches nothing until ``await engine.fetch(post.author)``, for
references that most reads do not need.
"""

from typing import Any, Generic, TypeVar, get_args

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

__all__ = ["LazyReference", "ODMReferenceInfo", "Reference"]

T = TypeVar("T")


class ODMReferenceInfo:
    """Marks a field as a reference; ``key_name`` is the key storing the referenced id."""

    __slots__ = ("key_name",)

    def __init__(self, key_name: str | None) -> None:
        self.key_name = key_name


def Reference(*, key_name: str | None = None) -> Any:
    """Declare a reference field: ``author: Author = Reference()``.

    The document stores the referenced instance's primary key under
    ``key_name`` (the field name by default); finds fetch it back with $lookup
    and saves save the referenced instance first. The field may also be
    ``Author | None`` or ``list[Author]``.
    """
    return ODMReferenceInfo(key_name=key_name)


class LazyReference(Generic[T]):
    """The primary key of another model's document, fetched only when asked.

    Assign the referenced instance or its primary key; the document stores the
    key. ``await engine.fetch(reference)`` reads the instance (once; later
    calls return the fetched one). Saving the referring instance does not save
    the referenced one: save it yourself. In JSON the field is the key itself.

    Example:
        >>> class Post(Model):
        ...     author: LazyReference[Author]
        >>> post = Post(author=author)
        >>> (await engine.fetch(post.author)).name
    """

    __slots__ = ("_instance", "id", "model")

    def __init__(self, model: type[T], id: Any, instance: T | None = None) -> None:
        self.model = model
        self.id = id
        self._instance = instance

    @classmethod
    def of(cls, instance: T) -> "LazyReference[T]":
        """A reference to ``instance`` (assigning the instance itself works too, untyped)."""
        from .model import Model

        if not isinstance(instance, Model):
            raise TypeError(f"a LazyReference points at a Model instance, not {instance!r}")
        return LazyReference(
            type(instance), getattr(instance, instance.__primary_field__), instance
        )

    @property
    def instance(self) -> T | None:
        """The referenced instance, once assigned or fetched."""
        return self._instance

    @property
    def is_fetched(self) -> bool:
        return self._instance is not None

    def _fetched(self, instance: T | None) -> T | None:
        self._instance = instance
        return instance

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyReference):
            return bool(self.model is other.model and self.id == other.id)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.model, self.id))

    def __repr__(self) -> str:
        return f"LazyReference({self.model.__name__}, id={self.id!r})"

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        from .model import Model

        args = get_args(source)
        model = args[0] if args else None
        if not (isinstance(model, type) and issubclass(model, Model)):
            raise TypeError(
                f"LazyReference needs the Model it refers to, as in LazyReference[Author]; got {source!r}"
            )
        key_type: Any = model.model_fields[model.__primary_field__].annotation
        key_schema = handler.generate_schema(key_type)

        def from_key(key: Any) -> LazyReference[Any]:
            return LazyReference(model, key)

        def from_python(value: Any) -> LazyReference[Any]:
            if isinstance(value, LazyReference):
                if not issubclass(value.model, model):
                    raise ValueError(
                        f"a reference to {value.model.__name__} is not one to {model.__name__}"
                    )
                return value
            if isinstance(value, model):
                return LazyReference(model, getattr(value, model.__primary_field__), value)
            if isinstance(value, Model):
                raise ValueError(f"a {type(value).__name__} is not a {model.__name__}")
            return LazyReference(model, validate_key(value))

        key_validator: Any = None

        def validate_key(value: Any) -> Any:
            nonlocal key_validator
            if key_validator is None:
                from pydantic import TypeAdapter

                key_validator = TypeAdapter(key_type)
            return key_validator.validate_python(value)

        return core_schema.json_or_python_schema(
            json_schema=core_schema.no_info_after_validator_function(from_key, key_schema),
            python_schema=core_schema.no_info_plain_validator_function(from_python),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda reference: reference.id, return_schema=key_schema
            ),
        )
