"""The model metaclass: what a class statement of a Model or EmbeddedModel sets up.

Before pydantic builds the class, it reads each field's ODM options, picks
key names, adds the ``id`` primary field when none is declared, names the
collection and checks the hierarchy options; after, it binds the fields to
pydantic's and builds the class's :class:`~odmantic_fastapi._doc_codec.DocCodec`.
"""

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, cast, dataclass_transform, get_origin

import pydantic
from pydantic import PydanticUserError, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ._compat import PydanticModelMetaclass as _PydanticMetaclass
from ._doc_codec import DocCodec
from ._model_types import (
    embedded_generic,
    is_mutable,
    is_type_forbidden,
    optional_model,
    reference_target,
    should_touch_field,
    substitute,
)
from ._pydantic_mirror import pydantic_mirror
from .bson import ObjectId, _get_bson_serializer
from .config import validate_config
from .field import (
    Field,
    FieldProxy,
    ODMBaseField,
    ODMEmbedded,
    ODMEmbeddedGeneric,
    ODMField,
    ODMFieldInfo,
    ODMReference,
)
from .reference import ODMReferenceInfo
from .utils import raise_on_invalid_collection_name, raise_on_invalid_key_name, to_snake_case

if TYPE_CHECKING:
    from .model import Model, _BaseODMModel

__all__ = [
    "BaseModelMetaclass",
    "EmbeddedModelMetaclass",
    "ModelMetaclass",
    "is_embedded_class",
    "is_model_class",
]

#: The module defining the ODM's own base classes, which the metaclass builds as pydantic does.
_BASES_MODULE = f"{__package__}.model"


def is_model_class(value: Any) -> bool:
    """Whether ``value`` is ``Model`` or one of its subclasses."""
    return isinstance(value, ModelMetaclass)


def is_embedded_class(value: Any) -> bool:
    """Whether ``value`` is ``EmbeddedModel`` or one of its subclasses."""
    return isinstance(value, EmbeddedModelMetaclass)


def _revision_field(
    config: Mapping[str, Any], odm_fields: Mapping[str, ODMBaseField], cls_name: str
) -> str | None:
    """The validated ``revision_field`` option: an int field that is not the primary key."""
    name = config.get("revision_field")
    if name is None:
        return None
    field = odm_fields.get(name)
    if not isinstance(field, ODMField) or isinstance(field, ODMEmbedded) or field.primary_field:
        raise TypeError(
            f"revision_field {name!r} of {cls_name} must name a plain int field, "
            "such as `revision: int = 0`"
        )
    return cast(str, name)


def _register_in_hierarchy(cls: type["Model"], value: str) -> None:
    root = cls.__polymorphic_root__
    if root is None:
        type.__setattr__(cls, "__polymorphic_root__", cls)
        type.__setattr__(cls, "__hierarchy__", {value: cls})
        return
    known = root.__hierarchy__.get(value)
    if known is not None and known.__qualname__ != cls.__qualname__:
        raise TypeError(
            f"{cls.__name__} and {known.__name__} have the same discriminator_value {value!r}"
        )
    root.__hierarchy__[value] = cls


def _config(name: str, bases: tuple[type[Any], ...], namespace: dict[str, Any]) -> dict[str, Any]:
    """The class's validated ODM options, inheriting its bases' unless it has its own."""
    config = validate_config(cast(dict[str, Any], namespace.get("model_config", {}) or {}), name)
    for base in bases:
        base_config = getattr(base, "model_config", None)
        if isinstance(base_config, dict) and "model_config" not in namespace:
            config = {**config, **{k: v for k, v in base_config.items() if k in config}}
    return config


class _Fields:
    """The ODM's view of a class's fields, inherited ones first, as the class statement declares them."""

    def __init__(self, bases: tuple[type[Any], ...]) -> None:
        self.odm: dict[str, ODMBaseField] = {}
        for base in reversed(bases):
            self.odm.update(getattr(base, "__odm_fields__", {}))
        self.serializers: dict[str, Callable[[Any], Any]] = {}
        for base in bases:
            self.serializers.update(getattr(base, "__bson_serializers__", {}))
        self.mutable: set[str] = set()
        for base in bases:
            self.mutable.update(getattr(base, "__mutable_fields__", ()))
        self.references: list[str] = [n for n, f in self.odm.items() if isinstance(f, ODMReference)]

    def declare(
        self, name: str, namespace: dict[str, Any], annotations: dict[str, Any], config: Any
    ) -> None:
        """Read the ODM options of each annotated field of the class statement."""
        _refuse_untyped(namespace, annotations)
        for field_name, annotation in list(annotations.items()):
            if field_name.startswith("_") or get_origin(annotation) is ClassVar:
                continue
            if annotation is ClassVar or (isinstance(annotation, str) and "ClassVar" in annotation):
                continue
            value = namespace.get(field_name, PydanticUndefined)
            if isinstance(value, property | classmethod | staticmethod) or (
                callable(value)
                and not isinstance(value, FieldInfo | ODMFieldInfo | ODMReferenceInfo)
            ):
                continue
            if is_type_forbidden(annotation):
                raise TypeError(f"{annotation} fields are not supported")
            if isinstance(value, FieldInfo):
                raise TypeError("please use odmantic.Field instead of pydantic.Field")
            annotation = substitute(annotation)
            annotations[field_name] = annotation
            serializer = _get_bson_serializer(annotation)
            if serializer is not None:
                self.serializers[field_name] = serializer
            if isinstance(value, ODMReferenceInfo):
                self._reference(name, namespace, field_name, annotation, value, config)
                continue
            if is_model_class(annotation):
                raise TypeError(
                    f"cannot define a reference {field_name} (in {name}) without a Reference "
                    "assigned to it"
                )
            self.odm[field_name] = _field(name, namespace, field_name, annotation, value, config)
            if is_mutable(annotation, is_embedded_class):
                self.mutable.add(field_name)

    def _reference(
        self,
        name: str,
        namespace: dict[str, Any],
        field_name: str,
        annotation: Any,
        info: ODMReferenceInfo,
        config: Any,
    ) -> None:
        target, optional, many = reference_target(annotation, is_model_class)
        if target is None:
            raise TypeError(
                f"cannot define a reference {field_name} (in {name}) on a model not created with odmantic.Model"
            )
        self.odm[field_name] = ODMReference(
            key_name=info.key_name or field_name,
            model_config=config,
            model=target,
            optional=optional,
            many=many,
        )
        if optional:
            namespace[field_name] = None
        elif many:
            namespace[field_name] = pydantic.Field(default_factory=list)
        else:
            namespace.pop(field_name)
        self.references.append(field_name)


def _refuse_untyped(namespace: Mapping[str, Any], annotations: Mapping[str, Any]) -> None:
    """Refuse a class attribute holding a value but no annotation (ODMantic's TypeError)."""
    for attr, value in namespace.items():
        if (
            attr not in annotations
            and not attr.startswith(("_", "model_"))
            and not isinstance(value, type)
            # methods, properties, validators: anything bound through the descriptor protocol
            and not hasattr(value, "__get__")
            and should_touch_field(value=value)
        ):
            raise TypeError(f"field {attr} is defined without type annotation")


def _refuse_invalid_default(name: str, annotation: Any, value: Any) -> None:
    """A plain default the annotation refuses is a definition error, raised at class creation."""
    try:
        TypeAdapter(annotation).validate_python(value)
    except ValidationError:
        raise TypeError(f"Unhandled field definition {name}: {annotation!r} = {value!r}") from None
    except (PydanticUserError, NameError, TypeError):
        return  # a forward reference, or a type pydantic itself rejects later with its own error


def _field(
    name: str,
    namespace: dict[str, Any],
    field_name: str,
    annotation: Any,
    value: Any,
    config: Any,
) -> ODMBaseField:
    """The ODM field of a plain or embedded field (``Field()`` options read, if given)."""
    if isinstance(value, ODMFieldInfo):
        key_name = "_id" if value.primary_field else (value.key_name or field_name)
        primary, index, unique = value.primary_field, value.index, value.unique
        namespace[field_name] = value.pydantic_field_info
    else:
        key_name, primary, index, unique = field_name, False, False, False
        if value is not PydanticUndefined:
            _refuse_invalid_default(name, annotation, value)
    raise_on_invalid_key_name(key_name)
    generic = embedded_generic(annotation, is_embedded_class)
    if generic is not None:
        if primary:
            raise TypeError(
                "Declaring a generic type of embedded models as a primary field is not "
                f"allowed: {field_name} in {name}"
            )
        if generic[0].__references__:
            raise TypeError(
                "Declaring a generic type of embedded models containing references is not "
                f"allowed: {field_name} in {name}"
            )
    annotation_model = optional_model(annotation, is_embedded_class)
    if annotation_model is not None:
        return ODMEmbedded(
            primary_field=primary,
            key_name=key_name,
            model_config=config,
            model=annotation_model,
            index=index,
            unique=unique,
        )
    if generic is not None:
        return ODMEmbeddedGeneric(
            key_name=key_name,
            model_config=config,
            model=generic[0],
            generic_origin=generic[1],
            index=index,
            unique=unique,
        )
    return ODMField(
        primary_field=primary, key_name=key_name, model_config=config, index=index, unique=unique
    )


def _primary_field(name: str, fields: _Fields, namespace: dict[str, Any], config: Any) -> str:
    """The primary field's name; an ``id`` ObjectId field is added when none is declared."""
    primaries = [n for n, f in fields.odm.items() if isinstance(f, ODMField) and f.primary_field]
    if len(primaries) > 1:
        raise TypeError(f"Duplicated key_name: _id in {name}")
    if primaries:
        return primaries[0]
    if "id" in fields.odm:
        raise TypeError(
            "can't automatically generate a primary field since an 'id' field already exists"
        )
    fields.odm = {
        "id": ODMField(primary_field=True, key_name="_id", model_config=config),
        **fields.odm,
    }
    namespace["id"] = pydantic.Field(default_factory=ObjectId)
    namespace["__annotations__"] = {"id": ObjectId, **namespace["__annotations__"]}
    return "id"


def _collection_options(
    name: str, bases: tuple[type[Any], ...], namespace: dict[str, Any], config: Any
) -> None:
    """Set a Model's collection and, in a hierarchy, its root and discriminator."""
    collection = config.get("collection")
    if collection is None:
        base_name = name[:-5] if name.endswith("Model") and name != "Model" else name
        collection = to_snake_case(base_name)
    root = next(
        (r for b in bases if (r := getattr(b, "__polymorphic_root__", None)) is not None),
        None,
    )
    own_config = cast(dict[str, Any], namespace.get("model_config", {}))
    discriminator_key = (
        root.__discriminator__[0] if root is not None else config.get("discriminator_key")
    )
    if root is not None:
        if own_config.get("collection") not in (None, root.__collection__):
            raise TypeError(
                f"{name} is stored with {root.__name__} in {root.__collection__!r}: "
                "a subclass in a hierarchy cannot name another collection"
            )
        collection = root.__collection__
    raise_on_invalid_collection_name(collection, name)
    namespace["__collection__"] = collection
    namespace["__discriminator__"] = (
        (discriminator_key, own_config.get("discriminator_value") or name)
        if discriminator_key
        else None
    )
    namespace["__polymorphic_root__"] = root


def _check_keys(name: str, fields: _Fields, discriminator: tuple[str, str] | None) -> None:
    """Refuse two fields with one key name, or a field keyed like the discriminator."""
    seen: set[str] = set()
    for field in fields.odm.values():
        if field.key_name in seen:
            raise TypeError(f"Duplicated key_name: {field.key_name} in {name}")
        seen.add(field.key_name)
    if discriminator is not None and discriminator[0] in seen:
        raise TypeError(f"discriminator_key {discriminator[0]!r} is a field key in {name}")


@dataclass_transform(kw_only_default=True, field_specifiers=(Field, ODMFieldInfo))
class BaseModelMetaclass(_PydanticMetaclass):
    """Reads ODM field options before pydantic builds the class, then prepares the codec."""

    @staticmethod
    def _is_odm_base(namespace: Mapping[str, Any]) -> bool:
        return namespace.get("__module__") == _BASES_MODULE and namespace.get("__qualname__") in (
            "_BaseODMModel",
            "Model",
            "EmbeddedModel",
        )

    def __new__(
        mcs,
        name: str,
        bases: tuple[type[Any], ...],
        namespace: dict[str, Any],
        **kwargs: Any,
    ) -> type:
        if mcs._is_odm_base(namespace) or namespace.get("__pydantic_generic_metadata__"):
            return super().__new__(mcs, name, bases, namespace, **kwargs)
        config = namespace["model_config"] = _config(name, bases, namespace)
        if namespace.get("__doc__") is None:
            # Not the base's docstring in the class's JSON schema (ODMantic empties it too).
            namespace["__doc__"] = ""
        annotations: dict[str, Any] = dict(namespace.get("__annotations__", {}))
        fields = _Fields(bases)
        fields.declare(name, namespace, annotations, config)
        namespace["__annotations__"] = annotations
        if any(isinstance(b, ModelMetaclass) for b in bases) or mcs is ModelMetaclass:
            namespace["__primary_field__"] = _primary_field(name, fields, namespace, config)
            _collection_options(name, bases, namespace, config)
            namespace["__revision_field__"] = _revision_field(config, fields.odm, name)
        else:
            for field in fields.odm.values():
                if isinstance(field, ODMField) and field.primary_field:
                    raise TypeError(f"cannot define a primary field in {name} embedded document")
        discriminator = namespace.get("__discriminator__")
        _check_keys(name, fields, discriminator)
        namespace["__odm_fields__"] = fields.odm
        namespace["__references__"] = tuple(fields.references)
        namespace["__mutable_fields__"] = frozenset(fields.mutable)
        namespace["__bson_serializers__"] = fields.serializers
        cls = cast(type["_BaseODMModel"], super().__new__(mcs, name, bases, namespace, **kwargs))
        for field_name, field in fields.odm.items():
            pydantic_field = cls.model_fields.get(field_name)
            if pydantic_field is not None:
                field.bind_pydantic_field(pydantic_field)
        cls.__doc_codec__ = DocCodec(cls)
        if discriminator is not None:
            _register_in_hierarchy(cast(type["Model"], cls), discriminator[1])
        cls.__all_field_names__ = frozenset(fields.odm)
        # Only now may class attribute access build query proxies: while pydantic
        # collects fields it probes class attributes for defaults.
        type.__setattr__(cls, "__odm_ready__", True)
        return cls

    @property
    def __pydantic_model__(cls) -> type[pydantic.BaseModel]:
        """ODMantic's plain pydantic mirror of the model (see ``_pydantic_mirror``)."""
        mirror = cls.__dict__.get("__pydantic_mirror__")
        if mirror is None:
            mirror = pydantic_mirror(cast(type[pydantic.BaseModel], cls))
            type.__setattr__(cls, "__pydantic_mirror__", mirror)
        return cast(type[pydantic.BaseModel], mirror)

    def __getattr__(cls, name: str) -> Any:
        odm_fields = cls.__dict__.get("__odm_fields__")
        if odm_fields is not None and name in odm_fields and cls.__dict__.get("__odm_ready__"):
            return FieldProxy(None, odm_fields[name])
        raise AttributeError(f"type object '{cls.__name__}' has no attribute '{name}'")


@dataclass_transform(kw_only_default=True, field_specifiers=(Field, ODMFieldInfo))
class ModelMetaclass(BaseModelMetaclass):
    """The metaclass of ``Model``: ``+Book`` is the collection's name, as in ODMantic."""

    def __pos__(cls) -> str:
        return cast(str, cls.__dict__.get("__collection__", ""))


@dataclass_transform(kw_only_default=True, field_specifiers=(Field, ODMFieldInfo))
class EmbeddedModelMetaclass(BaseModelMetaclass):
    """The metaclass of ``EmbeddedModel``: no collection and no primary field."""
