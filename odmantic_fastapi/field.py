"""``Field()``, what the ODM knows about each field, and the proxies that build queries.

``Model.field`` on the class gives a :class:`FieldProxy`; comparing it builds a
:class:`~odmantic_fastapi.query.QueryExpression` on the field's key name, and
attribute access walks into embedded models (``User.address.city``).
"""

from collections.abc import Callable, Iterable
from re import Pattern
from typing import TYPE_CHECKING, Any

import pydantic
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from .config import ODMConfigDict
from .query import (
    QueryExpression,
    SortExpression,
    asc,
    desc,
    eq,
    exists,
    gt,
    gte,
    in_,
    lt,
    lte,
    match,
    ne,
    not_in,
)

if TYPE_CHECKING:
    from .model import _BaseODMModel

__all__ = [
    "Field",
    "FieldProxy",
    "KeyNameProxy",
    "ODMBaseField",
    "ODMBaseIndexableField",
    "ODMConfigDict",
    "ODMEmbedded",
    "ODMEmbeddedGeneric",
    "ODMField",
    "ODMFieldInfo",
    "ODMReference",
]


class ODMFieldInfo:
    """What ``Field()`` returns: pydantic's field info plus the ODM's options."""

    __slots__ = ("index", "key_name", "primary_field", "pydantic_field_info", "unique")

    def __init__(
        self,
        *,
        pydantic_field_info: FieldInfo,
        primary_field: bool,
        key_name: str | None,
        index: bool,
        unique: bool,
    ) -> None:
        self.pydantic_field_info = pydantic_field_info
        self.primary_field = primary_field
        self.key_name = key_name
        self.index = index
        self.unique = unique


def Field(
    default: Any = PydanticUndefined,
    *,
    key_name: str | None = None,
    primary_field: bool = False,
    index: bool = False,
    unique: bool = False,
    default_factory: Callable[[], Any] | None = None,
    title: str | None = None,
    description: str | None = None,
    json_schema_extra: Any = None,
    const: bool | None = None,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    multiple_of: float | None = None,
    min_items: int | None = None,
    max_items: int | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    regex: str | None = None,
    examples: list[Any] | None = None,
    **pydantic_options: Any,
) -> Any:
    """A model field with ODM options on top of pydantic's constraints.

    Args:
        key_name: the key in the stored document (the field name by default).
        primary_field: this field is the primary key, stored as ``_id``.
        index: create an index on this field in ``configure_database``.
        unique: create a unique index on this field.

    Any other pydantic ``Field`` option (``pattern``, ``strict``, ``alias``...)
    is passed through.
    """
    # Keys starting with "$" or holding "." are refused when the class is built
    # (TypeError, naming the field and model), as ODMantic does.
    if primary_field:
        if key_name is not None and key_name != "_id":
            raise ValueError(
                "cannot specify a primary field with a custom key_name,key_name='_id' enforced"
            )
        key_name = "_id"
    elif key_name == "_id":
        raise ValueError("cannot specify key_name='_id' without defining the field as primary")
    if const:
        pydantic_options.setdefault("frozen", True)
    make_field: Any = pydantic.Field  # its overloads cannot type a pass-through of **options
    info = make_field(
        default,
        default_factory=default_factory,
        title=title,
        description=description,
        json_schema_extra=json_schema_extra,
        gt=gt,
        ge=ge,
        lt=lt,
        le=le,
        multiple_of=multiple_of,
        min_length=min_length if min_length is not None else min_items,
        max_length=max_length if max_length is not None else max_items,
        pattern=regex if regex is not None else pydantic_options.pop("pattern", None),
        examples=examples,
        **pydantic_options,
    )
    return ODMFieldInfo(
        pydantic_field_info=info,
        primary_field=primary_field,
        key_name=key_name,
        index=index,
        unique=unique,
    )


class ODMBaseField:
    """What the ODM knows about one field of a model."""

    __slots__ = ("key_name", "model_config", "pydantic_field")
    __allowed_operators__: frozenset[str] = frozenset()

    def __init__(self, key_name: str, model_config: Any) -> None:
        self.key_name = key_name
        self.model_config = model_config
        self.pydantic_field: FieldInfo | None = None

    def bind_pydantic_field(self, field: FieldInfo) -> None:
        self.pydantic_field = field

    def is_required_in_doc(self) -> bool:
        """Whether a stored document must hold this key (no default can fill it)."""
        field = self.pydantic_field
        if field is None:
            return True
        if field.default_factory is not None:
            return not self.model_config.get("parse_doc_with_default_factories", False)
        return field.is_required()

    def get_default_importing_value(self) -> Any:
        field = self.pydantic_field
        assert field is not None
        if field.default_factory is not None:
            return field.default_factory()  # type: ignore[call-arg]  # ODM factories take no data
        return field.default


_COMPARISONS = frozenset(
    {"eq", "ne", "gt", "gte", "lt", "lte", "in_", "not_in", "match", "exists", "asc", "desc"}
)


class ODMBaseIndexableField(ODMBaseField):
    __slots__ = ("index", "unique")

    def __init__(self, key_name: str, model_config: Any, index: bool, unique: bool) -> None:
        super().__init__(key_name, model_config)
        self.index = index
        self.unique = unique


class ODMField(ODMBaseIndexableField):
    """A plain field (including the primary field)."""

    __slots__ = ("primary_field",)
    __allowed_operators__ = _COMPARISONS

    def __init__(
        self,
        *,
        primary_field: bool,
        key_name: str,
        model_config: Any,
        index: bool = False,
        unique: bool = False,
    ) -> None:
        super().__init__(key_name, model_config, index, unique)
        self.primary_field = primary_field


class ODMReference(ODMBaseField):
    """A field referencing another Model, stored as its primary key."""

    __slots__ = ("many", "model", "optional")
    __allowed_operators__ = frozenset({"eq", "ne", "in_", "not_in", "exists"})

    def __init__(
        self,
        key_name: str,
        model_config: Any,
        model: type["_BaseODMModel"],
        *,
        optional: bool = False,
        many: bool = False,
    ) -> None:
        super().__init__(key_name, model_config)
        self.model = model
        self.optional = optional
        """``Author | None``: the document may store null."""
        self.many = many
        """``list[Author]``: the document stores a list of keys."""

    @property
    def lookup_key(self) -> str:
        """Where $lookup puts the fetched documents of optional and list references.

        They keep the stored keys beside the fetched documents, so a missing
        referenced document is told apart from a null reference and a list
        comes back in its stored order.
        """
        return f"__odm_ref_{self.key_name}"

    @property
    def keeps_keys(self) -> bool:
        return self.optional or self.many


class ODMEmbedded(ODMField):
    """A field holding an EmbeddedModel."""

    __slots__ = ("model",)
    __allowed_operators__ = _COMPARISONS

    def __init__(
        self,
        primary_field: bool,
        key_name: str,
        model_config: Any,
        model: type["_BaseODMModel"],
        index: bool = False,
        unique: bool = False,
    ) -> None:
        super().__init__(
            primary_field=primary_field,
            key_name=key_name,
            model_config=model_config,
            index=index,
            unique=unique,
        )
        self.model = model


class ODMEmbeddedGeneric(ODMField):
    """A list, tuple, set or dict of EmbeddedModels."""

    __slots__ = ("generic_origin", "model")
    __allowed_operators__ = _COMPARISONS

    def __init__(
        self,
        key_name: str,
        model_config: Any,
        model: type["_BaseODMModel"],
        generic_origin: Any,
        index: bool = False,
        unique: bool = False,
    ) -> None:
        super().__init__(
            primary_field=False,
            key_name=key_name,
            model_config=model_config,
            index=index,
            unique=unique,
        )
        self.model = model
        self.generic_origin = generic_origin


class KeyNameProxy(str):
    """A key name; ``+proxy`` gives ``"$key"`` for aggregation expressions."""

    __slots__ = ()

    def __pos__(self) -> str:
        return f"${self}"


class FieldProxy:
    """A model field seen from the class, building queries on its key name."""

    __slots__ = ("field", "parent")

    def __init__(self, parent: "FieldProxy | None", field: ODMBaseField) -> None:
        self.parent = parent
        self.field = field

    def _get_key_name(self) -> str:
        parent: FieldProxy | None = object.__getattribute__(self, "parent")
        field: ODMBaseField = object.__getattribute__(self, "field")
        if parent is None:
            return field.key_name
        parent_name: str = object.__getattribute__(parent, "_get_key_name")()
        return f"{parent_name}.{field.key_name}"

    def __getattribute__(self, name: str) -> Any:
        if name == "__class__":
            return super().__getattribute__(name)
        field: ODMBaseField = object.__getattribute__(self, "field")
        if isinstance(field, ODMReference):
            if name in field.model.__odm_fields__:
                raise NotImplementedError("filtering across references is not supported")
        elif isinstance(field, ODMEmbedded | ODMEmbeddedGeneric):
            child = field.model.__odm_fields__.get(name)
            if child is not None:
                return FieldProxy(parent=self, field=child)
        if name.startswith("__") or name in ("_get_key_name", "parent", "field"):
            return super().__getattribute__(name)
        if name not in field.__allowed_operators__:
            model = getattr(field, "model", None)
            where = f" in {model.__name__}" if model is not None else ""
            raise AttributeError(
                f"attribute {name} not found{where}"
                if isinstance(field, ODMEmbedded | ODMEmbeddedGeneric)
                else f"operator {name} not allowed for {type(field).__name__} fields"
            )
        return super().__getattribute__(name)

    def __pos__(self) -> KeyNameProxy:
        return KeyNameProxy(object.__getattribute__(self, "_get_key_name")())

    def __repr__(self) -> str:
        return f"FieldProxy({object.__getattribute__(self, '_get_key_name')()!r})"

    def __hash__(self) -> int:
        return hash(object.__getattribute__(self, "_get_key_name")())

    # Each comparison is a method (``Model.field.gt(3)``) and an operator (``Model.field > 3``).

    def gt(self, value: Any) -> QueryExpression:
        return gt(self, value)

    def gte(self, value: Any) -> QueryExpression:
        return gte(self, value)

    def lt(self, value: Any) -> QueryExpression:
        return lt(self, value)

    def lte(self, value: Any) -> QueryExpression:
        return lte(self, value)

    def eq(self, value: Any) -> QueryExpression:
        return eq(self, value)

    def ne(self, value: Any) -> QueryExpression:
        return ne(self, value)

    __gt__ = gt
    __ge__ = gte
    __lt__ = lt
    __le__ = lte
    __eq__ = eq  # type: ignore[assignment]  # == builds a query, not a bool
    __ne__ = ne  # type: ignore[assignment]  # != builds a query, not a bool

    def in_(self, value: Iterable[Any]) -> QueryExpression:
        return in_(self, value)

    def not_in(self, value: Iterable[Any]) -> QueryExpression:
        return not_in(self, value)

    def exists(self, present: bool = True) -> QueryExpression:
        return exists(self, present)

    def match(self, pattern: "Pattern[str] | str") -> QueryExpression:
        return match(self, pattern)

    def asc(self) -> SortExpression:
        return asc(self)

    def desc(self) -> SortExpression:
        return desc(self)
