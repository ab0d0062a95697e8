"""``Model`` and ``EmbeddedModel``: pydantic models that know their documents.

The class statement is where the work happens: the metaclass reads each
field's ODM options, picks key names, adds the ``id`` primary field when none
is declared, names the collection, and prepares the two conversions between
instances and documents. Those conversions stay on pydantic-core's compiled
paths (``model_validate`` / ``model_dump``); the Python around them only
renames the few keys whose document name differs (``id`` -> ``_id``) and
swaps referenced instances for their ids, using lists built once per class.
"""

import datetime
import decimal
import enum
import pathlib
import re
import types
import typing
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    ClassVar,
    Literal,
    Self,
    TypeVar,
    Union,
    cast,
    dataclass_transform,
    get_args,
    get_origin,
)

import bson
import pydantic
import pymongo
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticUndefined

from ._compat import PydanticModelMetaclass as _PydanticMetaclass
from ._compat import own_schema_serializer, own_schema_validator
from .bson import (
    _BSON_SUBSTITUTED_FIELDS,
    BaseBSONModel,
    ObjectId,
    _get_bson_serializer,
    _to_mongo_datetime,
)
from .config import ODMConfigDict, validate_config
from .exceptions import (
    DocumentParsingError,
    IncorrectGenericEmbeddedModelValue,
    KeyNotFoundInDocumentError,
    ODManticCustomError,
    ReferencedDocumentNotFoundError,
)
from .field import (
    Field,
    FieldProxy,
    ODMBaseField,
    ODMBaseIndexableField,
    ODMEmbedded,
    ODMEmbeddedGeneric,
    ODMField,
    ODMFieldInfo,
    ODMReference,
)
from .index import Index, ODMBaseIndex, ODMSingleFieldIndex
from .reference import ODMReferenceInfo
from .typing import get_first_type_argument_subclassing, is_type_argument_subclass
from .utils import (
    Undefined,
    is_dunder,
    raise_on_invalid_collection_name,
    raise_on_invalid_key_name,
    to_snake_case,
)

__all__ = ["EmbeddedModel", "Model"]

# Re-exported for code written against ODMantic's model module.
_ODMANTIC_REEXPORTS = (
    BaseBSONModel,
    IncorrectGenericEmbeddedModelValue,
    Undefined,
    get_first_type_argument_subclassing,
    is_dunder,
    is_type_argument_subclass,
    raise_on_invalid_collection_name,
    raise_on_invalid_key_name,
)

BaseT = TypeVar("BaseT", bound="_BaseODMModel")

#: The unsaved fields of every clean instance (see ``_BaseODMModel._modified``).
_CLEAN: frozenset[str] = frozenset()

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


def _subclass(value: Any, parent: type[Any] | tuple[type[Any], ...]) -> bool:
    return isinstance(value, type) and issubclass(value, parent)


def _substitute(annotation: Any) -> Any:
    """Replace bson/stdlib types with the ODM's annotated versions, through generics."""
    if isinstance(annotation, str) or _subclass(annotation, BaseModel):
        return annotation
    replacement = _BSON_SUBSTITUTED_FIELDS.get(annotation)
    if replacement is not None:
        return replacement
    origin = get_origin(annotation)
    if origin is None or origin is Literal or origin is ClassVar:
        return annotation
    args = get_args(annotation)
    if origin is Annotated:
        return Annotated[(_substitute(args[0]), *args[1:])]
    new_args = tuple(_substitute(a) for a in args)
    if new_args == args:
        return annotation
    if origin is Union or origin is types.UnionType:
        return Union[new_args]  # noqa: UP007 - built from a runtime tuple
    try:
        return annotation.copy_with(new_args)
    except AttributeError:
        return origin[new_args]


def _is_mutable(annotation: Any) -> bool:
    """Whether values of this type can change in place (so saves always write them)."""
    origin = get_origin(annotation)
    if origin is not None:
        args = [a for a in get_args(annotation) if a is not ...]
        if origin is Annotated:
            return _is_mutable(args[0])
        if any(
            _is_mutable(a) or _subclass(a, EmbeddedModel) for a in args if not isinstance(a, str)
        ):
            return True
        if origin is Union or origin is types.UnionType or origin is Literal:
            return False
        return not _subclass(origin, _IMMUTABLE_TYPES)
    if annotation is None or isinstance(annotation, str):
        return False
    if _subclass(annotation, EmbeddedModel):
        return True
    return not _subclass(annotation, (*_IMMUTABLE_TYPES, BaseModel))


def _optional_embedded(annotation: Any) -> type["EmbeddedModel"] | None:
    """The EmbeddedModel of ``Address`` or ``Address | None`` (an ODMantic gap we close)."""
    if _subclass(annotation, EmbeddedModel):
        return cast(type[EmbeddedModel], annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and _subclass(args[0], EmbeddedModel):
            return cast(type[EmbeddedModel], args[0])
    return None


def _embedded_generic(annotation: Any) -> tuple[type["EmbeddedModel"], Any] | None:
    origin = get_origin(annotation)
    args = [a for a in get_args(annotation) if a is not ...]
    if (
        origin in (list, tuple, set, frozenset)
        and len(args) == 1
        and _subclass(args[0], EmbeddedModel)
    ):
        return args[0], list
    if origin is dict and len(args) == 2 and _subclass(args[1], EmbeddedModel):
        return args[1], dict
    return None


def find_duplicate_key(fields: Iterable[ODMBaseField]) -> str | None:
    seen: set[str] = set()
    for field in fields:
        if field.key_name in seen:
            return field.key_name
        seen.add(field.key_name)
    return None


def is_type_forbidden(type_: Any) -> bool:
    return type_ is Callable or type_ is typing.Callable


def should_touch_field(value: Any = None, type_: Any = None) -> bool:
    untouched = (property, classmethod, staticmethod, types.FunctionType)
    return not (
        _subclass(type_, untouched) or isinstance(value, untouched) or get_origin(type_) is ClassVar
    )


def is_type_mutable(type_: Any) -> bool:
    return _is_mutable(type_)


def validate_type(type_: Any) -> Any:
    if is_type_forbidden(type_):
        raise TypeError(f"{type_} fields are not supported")
    return _substitute(type_)


def _copy_schema(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {key: _copy_schema(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_copy_schema(item) for item in schema]
    return schema


def _model_fields_of(schema: Any, cls: type[Any]) -> dict[str, Any]:
    """The fields of ``cls``'s own model schema inside ``schema`` (maybe among definitions)."""
    if isinstance(schema, dict):
        if schema.get("type") == "model" and schema.get("cls") is cls:
            return cast(dict[str, Any], schema.get("schema", {}).get("fields", {}))
        children: Iterable[Any] = schema.values()
    elif isinstance(schema, list):
        children = schema
    else:
        return {}
    for child in children:
        found = _model_fields_of(child, cls)
        if found:
            return found
    return {}


def _without_redundant_checks(schema: Any, cls: type[Any]) -> Any:
    """A copy of a core schema for values read from BSON, where some checks cannot fail.

    Dates decoded from BSON are already naive and millisecond-precise, so the
    Python after-validator that enforces it is dropped; the post-init hook that
    marks a new instance as entirely modified is dropped for ``cls`` itself,
    since a parsed document starts with nothing modified, and its primary
    field reads the document's ``_id``. Everything else is validated exactly
    as for user input.
    """
    if isinstance(schema, dict):
        if (
            schema.get("type") == "function-after"
            and schema.get("function", {}).get("function") is _to_mongo_datetime
        ):
            return _without_redundant_checks(schema["schema"], cls)
        copied = {key: _without_redundant_checks(value, cls) for key, value in schema.items()}
        if copied.get("type") == "model" and copied.get("cls") is cls:
            copied.pop("post_init", None)
            primary = getattr(cls, "__primary_field__", None)
            fields = copied.get("schema", {}).get("fields", {})
            if primary in fields:
                # Documents hold the primary key as "_id": read it there, with no renaming copy.
                # (Nested models keep their own validators, which pydantic-core reuses.)
                fields[primary] = {**fields[primary], "validation_alias": "_id"}
        return copied
    if isinstance(schema, list):
        return [_without_redundant_checks(item, cls) for item in schema]
    return schema


def _attach_referenced(
    data: dict[str, Any],
    name: str,
    field: ODMReference,
    loc: tuple[str | int, ...],
    raw: Mapping[str, Any],
) -> list[InitErrorDetails]:
    """Put the documents $lookup fetched for an optional or list reference in place of its keys."""
    key = field.key_name
    fetched = data.pop(field.lookup_key, None) or []
    by_id: dict[Any, Any] = {}
    for doc in fetched:
        if isinstance(doc, Mapping):
            by_id[_hashable(doc.get("_id"))] = doc
    keys = data.get(key)
    wanted = (keys if isinstance(keys, list) else []) if field.many else [keys]
    errors: list[InitErrorDetails] = []
    found: list[Any] = []
    codec = field.model.__doc_codec__
    for position, item in enumerate(wanted):
        if item is None and not field.many:
            data[key] = None
            return errors
        doc = by_id.get(_hashable(item))
        item_loc = (*loc, name, position) if field.many else (*loc, name)
        if doc is None:
            errors.append(
                InitErrorDetails(
                    type=ReferencedDocumentNotFoundError(key), loc=item_loc, input=dict(raw)
                )
            )
            continue
        sub_errors, converted = codec.from_doc(field.model, doc, item_loc)
        errors.extend(sub_errors)
        found.append(converted)
    data[key] = found if field.many else (found[0] if found else None)
    return errors


def _hashable(value: Any) -> Any:
    return value if getattr(type(value), "__hash__", None) is not None else repr(value)


class _DocCodec:
    """The per-class plan for turning dumps into documents and documents into inputs."""

    def __init__(self, cls: type["_BaseODMModel"]) -> None:
        fields = cls.__odm_fields__
        self.renames = [(name, f.key_name) for name, f in fields.items() if name != f.key_name]
        primary_name = getattr(cls, "__primary_field__", None)
        # Beyond the primary key's "_id", key names rarely differ; only then is a
        # key-by-key copy needed to keep the document's field order.
        self.custom_renames = any(name != primary_name for name, _ in self.renames)
        self.key_of = dict(self.renames)
        # Doc validators read the primary key from "_id" themselves (_without_redundant_checks).
        self.doc_renames = [(name, key) for name, key in self.renames if name != primary_name]
        self.references: list[tuple[str, str, type[_BaseODMModel]]] = [
            (name, f.key_name, f.model)
            for name, f in fields.items()
            if isinstance(f, ODMReference) and not f.keeps_keys
        ]
        self.kept_references: list[tuple[str, ODMReference]] = [
            (name, f) for name, f in fields.items() if isinstance(f, ODMReference) and f.keeps_keys
        ]
        self.embedded: list[tuple[str, str, type[_BaseODMModel]]] = [
            (name, f.key_name, f.model)
            for name, f in fields.items()
            if isinstance(f, ODMEmbedded) and f.model.__doc_codec__.changes_shape
        ]
        self.embedded_generic: list[tuple[str, str, type[_BaseODMModel], Any]] = [
            (name, f.key_name, f.model, f.generic_origin)
            for name, f in fields.items()
            if isinstance(f, ODMEmbeddedGeneric) and f.model.__doc_codec__.changes_shape
        ]
        self.serializers = dict(cls.__bson_serializers__)
        self.changes_shape: bool = bool(
            self.renames
            or self.references
            or self.kept_references
            or self.embedded
            or self.embedded_generic
        )
        self.primary_key: str | None = getattr(cls, "__primary_field__", None)
        self.required_keys = frozenset(
            f.key_name for name, f in fields.items() if f.is_required_in_doc()
        )
        self.field_of_key = {f.key_name: name for name, f in fields.items()}
        discriminator = cls.__discriminator__
        self.discriminator_key = discriminator[0] if discriminator is not None else None
        #: The document validator, built on first use (see ``_BaseODMModel._doc_validator``).
        self.validator: Any = None
        # Such an instance dumps straight to its document when its primary key is
        # serialized as "_id" (see _BaseODMModel._doc_serializer).
        self.direct_dump = not (
            self.custom_renames
            or self.references
            or self.kept_references
            or self.embedded
            or self.embedded_generic
            or self.serializers
        )
        # A document of such a class is validation input as it is: the fast path.
        self.direct = not (
            self.doc_renames
            or self.references
            or self.kept_references
            or self.embedded
            or self.embedded_generic
            or discriminator
        )
        self.optional_defaults = [
            (name, f)
            for name, f in fields.items()
            if not f.is_required_in_doc() and not isinstance(f, ODMReference)
        ]

    def to_doc(self, raw: dict[str, Any]) -> dict[str, Any]:
        """A python-mode dump (field names) as a document (key names, reference ids)."""
        for name, serializer in self.serializers.items():
            if name in raw:
                raw[name] = serializer(raw[name])
        if not self.changes_shape:
            return raw
        for name, _key, model in self.references:
            if name in raw:
                value = raw[name]
                primary = getattr(model, "__primary_field__", "id")
                raw[name] = value[primary] if isinstance(value, dict) else value
        for name, field in self.kept_references:
            if name in raw:
                primary = getattr(field.model, "__primary_field__", "id")
                value = raw[name]
                if field.many:
                    raw[name] = [v[primary] if isinstance(v, dict) else v for v in value]
                elif isinstance(value, dict):
                    raw[name] = value[primary]
        for name, _key, model in self.embedded:
            value = raw.get(name)
            if isinstance(value, dict):
                raw[name] = model.__doc_codec__.to_doc(value)
        for name, _key, model, origin in self.embedded_generic:
            value = raw.get(name)
            codec = model.__doc_codec__
            if origin is dict and isinstance(value, dict):
                raw[name] = {k: codec.to_doc(v) for k, v in value.items()}
            elif isinstance(value, list | tuple | set):
                raw[name] = [codec.to_doc(v) for v in value]
        if not self.renames:
            return raw
        primary = self.primary_key
        if self.custom_renames:
            key_of = self.key_of
            return {key_of.get(k, k): v for k, v in raw.items()}
        doc: dict[str, Any] = {}
        if primary is not None and primary in raw and primary != "_id":
            doc["_id"] = raw.pop(primary)
        doc.update(raw)
        return doc

    def from_doc(
        self,
        model: type["_BaseODMModel"],
        raw: Mapping[str, Any],
        loc: tuple[str | int, ...],
        *,
        top: bool = False,
    ) -> tuple[list[InitErrorDetails], dict[str, Any]]:
        """A document as validation input (field names), with ODMantic's missing-key errors.

        ``top``: for the doc validator of ``model`` itself, which reads ``_id``;
        nested models are validated by their own validators, which read ``id``.
        """
        errors: list[InitErrorDetails] = []
        missing = self.required_keys - raw.keys()
        for key in missing:
            name = self.field_of_key[key]
            field = model.__odm_fields__[name]
            error = (
                ReferencedDocumentNotFoundError(key)
                if isinstance(field, ODMReference)
                else KeyNotFoundInDocumentError(key)
            )
            errors.append(InitErrorDetails(type=error, loc=(*loc, name), input=dict(raw)))
        data = dict(raw)
        if self.discriminator_key is not None:
            data.pop(self.discriminator_key, None)
        for _, field in self.optional_defaults:
            if field.key_name not in data:
                value = field.get_default_importing_value()
                if value is not PydanticUndefined:
                    data[field.key_name] = value
        if not self.changes_shape:
            return errors, data
        for name, key, ref_model in self.references:
            sub = data.get(key)
            if sub is None:
                if key not in missing:
                    errors.append(
                        InitErrorDetails(
                            type=ReferencedDocumentNotFoundError(key),
                            loc=(*loc, name),
                            input=dict(raw),
                        )
                    )
                continue
            if isinstance(sub, Mapping):
                sub_errors, data[key] = ref_model.__doc_codec__.from_doc(
                    ref_model, sub, (*loc, name)
                )
                errors.extend(sub_errors)
        for name, field in self.kept_references:
            errors.extend(_attach_referenced(data, name, field, loc, raw))
        for name, key, emb_model in self.embedded:
            sub = data.get(key)
            if isinstance(sub, Mapping):
                sub_errors, data[key] = emb_model.__doc_codec__.from_doc(
                    emb_model, sub, (*loc, name)
                )
                errors.extend(sub_errors)
        for name, key, emb_model, origin in self.embedded_generic:
            sub = data.get(key)
            codec = emb_model.__doc_codec__
            if origin is dict and isinstance(sub, Mapping):
                converted: dict[str, Any] = {}
                for k, v in sub.items():
                    sub_errors, converted[k] = codec.from_doc(emb_model, v, (*loc, name, k))
                    errors.extend(sub_errors)
                data[key] = converted
            elif isinstance(sub, list):
                items = []
                for i, v in enumerate(sub):
                    sub_errors, item = codec.from_doc(emb_model, v, (*loc, name, i))
                    errors.extend(sub_errors)
                    items.append(item)
                data[key] = items
        for name, key in self.doc_renames if top else self.renames:
            if key in data:
                data[name] = data.pop(key)
        return errors, data


def _reference_target(annotation: Any) -> tuple[type["Model"] | None, bool, bool]:
    """The Model a ``Reference()`` field points at, and whether it is optional or a list."""
    if _subclass(annotation, Model):
        return annotation, False, False
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2 and _subclass(rest[0], Model):
            return rest[0], True, False
    if origin is list and len(args) == 1 and _subclass(args[0], Model):
        return args[0], False, True
    return None, False, False


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


@dataclass_transform(kw_only_default=True, field_specifiers=(Field, ODMFieldInfo))
class BaseModelMetaclass(_PydanticMetaclass):
    """Reads ODM field options before pydantic builds the class, then prepares the codec."""

    @staticmethod
    def _is_odm_base(namespace: Mapping[str, Any]) -> bool:
        return namespace.get("__module__") == __name__ and namespace.get("__qualname__") in (
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
        config = validate_config(
            cast(dict[str, Any], namespace.get("model_config", {}) or {}), name
        )
        for base in bases:
            base_config = getattr(base, "model_config", None)
            if isinstance(base_config, dict) and "model_config" not in namespace:
                config = {**config, **{k: v for k, v in base_config.items() if k in config}}
        namespace["model_config"] = config
        annotations: dict[str, Any] = dict(namespace.get("__annotations__", {}))
        odm_fields: dict[str, ODMBaseField] = {}
        for base in reversed(bases):
            odm_fields.update(getattr(base, "__odm_fields__", {}))
        serializers: dict[str, Callable[[Any], Any]] = {}
        for base in bases:
            serializers.update(getattr(base, "__bson_serializers__", {}))
        mutable: set[str] = set()
        for base in bases:
            mutable.update(getattr(base, "__mutable_fields__", ()))
        references: list[str] = [n for n, f in odm_fields.items() if isinstance(f, ODMReference)]
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
            annotation = _substitute(annotation)
            annotations[field_name] = annotation
            serializer = _get_bson_serializer(annotation) if isinstance(annotation, type) else None
            if serializer is not None:
                serializers[field_name] = serializer
            if isinstance(value, ODMReferenceInfo):
                target, optional, many = _reference_target(annotation)
                if target is None:
                    raise TypeError(
                        f"cannot define a reference {field_name} (in {name}) on a model not created with odmantic.Model"
                    )
                odm_fields[field_name] = ODMReference(
                    key_name=value.key_name or field_name,
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
                references.append(field_name)
                continue
            if _subclass(annotation, Model):
                raise TypeError(
                    f"cannot define a reference {field_name} (in {name}) without a Reference "
                    "assigned to it"
                )
            if isinstance(value, ODMFieldInfo):
                key_name = "_id" if value.primary_field else (value.key_name or field_name)
                primary, index, unique = value.primary_field, value.index, value.unique
                namespace[field_name] = value.pydantic_field_info
            else:
                key_name, primary, index, unique = field_name, False, False, False
            if key_name.startswith("$") or "." in key_name:
                raise TypeError(f"invalid key_name {key_name!r} for field {field_name} in {name}")
            generic = _embedded_generic(annotation)
            annotation_model = _optional_embedded(annotation)
            if annotation_model is not None:
                odm_fields[field_name] = ODMEmbedded(
                    primary_field=primary,
                    key_name=key_name,
                    model_config=config,
                    model=annotation_model,
                    index=index,
                    unique=unique,
                )
            elif generic is not None:
                odm_fields[field_name] = ODMEmbeddedGeneric(
                    key_name=key_name,
                    model_config=config,
                    model=generic[0],
                    generic_origin=generic[1],
                    index=index,
                    unique=unique,
                )
            else:
                odm_fields[field_name] = ODMField(
                    primary_field=primary,
                    key_name=key_name,
                    model_config=config,
                    index=index,
                    unique=unique,
                )
            if _is_mutable(annotation):
                mutable.add(field_name)
        namespace["__annotations__"] = annotations
        is_model = any(isinstance(b, ModelMetaclass) for b in bases) or mcs is ModelMetaclass
        if is_model:
            primaries = [
                n for n, f in odm_fields.items() if isinstance(f, ODMField) and f.primary_field
            ]
            if len(primaries) > 1:
                raise TypeError(f"multiple primary fields defined for {name}")
            if not primaries:
                if "id" in odm_fields:
                    raise TypeError(
                        "can't automatically generate a primary field since an 'id' field already exists"
                    )
                odm_fields = {
                    "id": ODMField(primary_field=True, key_name="_id", model_config=config),
                    **odm_fields,
                }
                namespace["id"] = pydantic.Field(default_factory=ObjectId)
                annotations = {"id": ObjectId, **annotations}
                namespace["__annotations__"] = annotations
                primaries = ["id"]
            namespace["__primary_field__"] = primaries[0]
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
            if "$" in collection or not collection or collection.startswith("system."):
                raise TypeError(f"Invalid collection name for {name}: {collection!r}")
            namespace["__collection__"] = collection
            namespace["__discriminator__"] = (
                (discriminator_key, own_config.get("discriminator_value") or name)
                if discriminator_key
                else None
            )
            namespace["__polymorphic_root__"] = root
            namespace["__revision_field__"] = _revision_field(config, odm_fields, name)
        else:
            for field in odm_fields.values():
                if isinstance(field, ODMField) and field.primary_field:
                    raise TypeError(f"cannot define a primary field in {name} embedded document")
        seen: set[str] = set()
        for field in odm_fields.values():
            if field.key_name in seen:
                raise TypeError(f"Duplicated key_name: {field.key_name} in {name}")
            seen.add(field.key_name)
        discriminator = namespace.get("__discriminator__")
        if discriminator is not None and discriminator[0] in seen:
            raise TypeError(f"discriminator_key {discriminator[0]!r} is a field key in {name}")
        namespace["__odm_fields__"] = odm_fields
        namespace["__references__"] = tuple(references)
        namespace["__mutable_fields__"] = frozenset(mutable)
        namespace["__bson_serializers__"] = serializers
        cls = cast(type["_BaseODMModel"], super().__new__(mcs, name, bases, namespace, **kwargs))
        for field_name, field in odm_fields.items():
            pydantic_field = cls.model_fields.get(field_name)
            if pydantic_field is not None:
                field.bind_pydantic_field(pydantic_field)
        cls.__doc_codec__ = _DocCodec(cls)
        if discriminator is not None:
            _register_in_hierarchy(cast(type["Model"], cls), discriminator[1])
        cls.__all_field_names__ = frozenset(odm_fields)
        # Only now may class attribute access build query proxies: while pydantic
        # collects fields it probes class attributes for defaults.
        type.__setattr__(cls, "__odm_ready__", True)
        return cls

    def __getattr__(cls, name: str) -> Any:
        odm_fields = cls.__dict__.get("__odm_fields__")
        if odm_fields is not None and name in odm_fields and cls.__dict__.get("__odm_ready__"):
            return FieldProxy(None, odm_fields[name])
        raise AttributeError(f"type object '{cls.__name__}' has no attribute '{name}'")


@dataclass_transform(kw_only_default=True, field_specifiers=(Field, ODMFieldInfo))
class ModelMetaclass(BaseModelMetaclass):
    def __pos__(cls) -> str:
        return cast(str, cls.__dict__.get("__collection__", ""))


@dataclass_transform(kw_only_default=True, field_specifiers=(Field, ODMFieldInfo))
class EmbeddedModelMetaclass(BaseModelMetaclass):
    pass


class _BaseODMModel(BaseModel):
    """What Model and EmbeddedModel share: change tracking and document conversion."""

    if TYPE_CHECKING:
        __odm_fields__: ClassVar[dict[str, ODMBaseField]]
        __bson_serializers__: ClassVar[dict[str, Callable[[Any], Any]]]
        __mutable_fields__: ClassVar[frozenset[str]]
        __references__: ClassVar[tuple[str, ...]]
        __doc_codec__: ClassVar[_DocCodec]
        __all_field_names__: ClassVar[frozenset[str]]
        __fields_modified__: ClassVar[set[str] | frozenset[str]]
        model_config: ClassVar[ODMConfigDict]

    # Set per Model class by the metaclass (beyond ODMantic: hierarchies, revisions).
    __discriminator__: ClassVar[tuple[str, str] | None] = None

    __slots__ = ("__fields_modified__",)

    def __getattr__(self, name: str) -> Any:
        # Set lazily rather than in a post-init hook, which would cost a Python call
        # for every validated instance: a new instance has every field unsaved, and
        # model_validate_doc marks parsed documents clean explicitly.
        if name == "__fields_modified__":
            modified = set(self.__all_field_names__)
            object.__setattr__(self, "__fields_modified__", modified)
            return modified
        # pydantic defines __getattr__ only outside type checking (for private attributes).
        return super().__getattr__(name)  # type: ignore[misc]

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        self._modified().add(name)

    def _modified(self) -> set[str]:
        """The instance's own set of unsaved fields, to add to.

        A parsed or saved instance shares one empty frozenset until a field
        changes: a set per instance would be one more object for the garbage
        collector to track, for every document read.
        """
        current = self.__fields_modified__
        if isinstance(current, set):
            return current
        modified: set[str] = set(current)
        object.__setattr__(self, "__fields_modified__", modified)
        return modified

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy whose fields all count as modified, so saving it writes the whole document."""
        copied = super().model_copy(update=dict(update) if update else None, deep=deep)
        copied._post_copy_update()
        return copied

    def copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False, **kwargs: Any
    ) -> Self:
        if kwargs.get("include") is not None or kwargs.get("exclude") is not None:
            raise NotImplementedError(
                "copy with include or exclude is not supported anymore, please use `model_copy` instead"
            )
        return self.model_copy(update=update, deep=deep)

    def _post_copy_update(self) -> None:
        object.__setattr__(self, "__fields_modified__", set(self.__all_field_names__))
        for name, field in self.__odm_fields__.items():
            if isinstance(field, ODMEmbedded):
                value = getattr(self, name)
                if value is not None:
                    value._post_copy_update()

    def model_update(
        self,
        patch_object: BaseModel | Mapping[str, Any] | None = None,
        /,
        *,
        include: Any = None,
        exclude: Any = None,
        exclude_unset: bool = True,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        **fields: Any,
    ) -> None:
        """Update fields from a pydantic model, a dict, or keyword arguments.

        ``instance.model_update(patch)`` applies a pydantic model's set fields
        (or a dict's known keys), as ODMantic does; ``instance.model_update(balance=10)``
        sets the named fields and rejects names the model does not have. The
        whole instance is validated before anything changes.

        Raises:
            ValidationError: the update would make the instance invalid.
            ValueError: a keyword names no field of the model.
        """
        if patch_object is not None and fields:
            raise TypeError("model_update takes a patch object or keyword arguments, not both")
        if isinstance(patch_object, BaseModel):
            patch = patch_object.model_dump(
                include=include,
                exclude=exclude,
                exclude_unset=exclude_unset,
                exclude_defaults=exclude_defaults,
                exclude_none=exclude_none,
            )
        elif patch_object is not None:
            patch = {
                k: v
                for k, v in patch_object.items()
                if k in self.__odm_fields__
                and (include is None or k in include)
                and (exclude is None or k not in exclude)
            }
        else:
            unknown = sorted(set(fields) - set(self.__odm_fields__))
            if unknown:
                raise ValueError(
                    f"{type(self).__name__} has no field named {', '.join(map(repr, unknown))}"
                )
            patch = fields
        patch = {k: v for k, v in patch.items() if k in self.__odm_fields__}
        primary = getattr(self, "__primary_field__", None)
        if primary is not None and primary in patch and patch[primary] != getattr(self, primary):
            raise NotImplementedError("Reassigning a new primary key is not supported yet")
        current = {name: getattr(self, name) for name in type(self).model_fields}
        patched = type(self).model_validate({**current, **patch})
        for name in patch:
            new_value = patched.__dict__[name]
            if self.__dict__.get(name) != new_value or type(self.__dict__.get(name)) is not type(
                new_value
            ):
                self.__dict__[name] = new_value
                self.model_fields_set.add(name)
                self._modified().add(name)

    def update(self, patch_object: BaseModel | Mapping[str, Any], **kwargs: Any) -> None:
        """Deprecated spelling of :meth:`model_update`, kept for ODMantic code."""
        self.model_update(patch_object, **kwargs)

    def model_dump_doc(self, include: Iterable[str] | None = None) -> dict[str, Any]:
        """The document stored for this instance (key names, BSON values, reference ids)."""
        selected = include if include is None or isinstance(include, set) else set(include)
        if self.__doc_codec__.direct_dump:
            serializer = type(self).__dict__.get("__doc_serializer__") or self._doc_serializer()
            doc: dict[str, Any] = serializer.to_python(self, include=selected, by_alias=True)
        else:
            doc = self.__doc_codec__.to_doc(self.model_dump(include=selected))
        discriminator = self.__discriminator__
        if discriminator is not None:
            doc[discriminator[0]] = discriminator[1]
        return doc

    def doc(self, include: Iterable[str] | None = None) -> dict[str, Any]:
        """Deprecated spelling of :meth:`model_dump_doc`."""
        return self.model_dump_doc(include=include)

    @classmethod
    def model_validate_doc(cls, raw_doc: Mapping[str, Any]) -> Self:
        """The instance a stored document describes.

        Raises:
            DocumentParsingError: the document lacks a key or holds an invalid value.
        """
        codec = cls.__doc_codec__
        validator = codec.validator or cls._doc_validator()
        if codec.direct and type(raw_doc) is dict and raw_doc.keys() >= codec.required_keys:
            # The hot path: pydantic-core reads the document as it is. A failure
            # goes through the general path below, which reports it ODMantic's way.
            try:
                parsed: Self = validator.validate_python(raw_doc)
            except ValidationError:
                pass
            else:
                object.__setattr__(parsed, "__fields_modified__", _CLEAN)
                return parsed
        if cls.__discriminator__ is not None:
            target = cls._class_of_doc(raw_doc)
            if target is not cls:
                return cast(Self, target.model_validate_doc(raw_doc))
        errors, data = codec.from_doc(cls, raw_doc, (), top=True)
        primary_value = raw_doc.get("_id")
        if errors:
            raise DocumentParsingError(errors, cls, primary_value)
        try:
            instance = validator.validate_python(data)
        except ValidationError as exc:
            raise DocumentParsingError(
                cast(list[InitErrorDetails], exc.errors()), cls, primary_value
            ) from None
        instance._mark_clean()
        return cast(Self, instance)

    @classmethod
    def _doc_serializer(cls) -> Any:
        """The serializer of documents: the model's, with the primary key written as ``_id``.

        Only used for classes whose dump needs no other change (``direct_dump``).
        """
        schema = _copy_schema(cls.__pydantic_core_schema__)
        primary = getattr(cls, "__primary_field__", None)
        fields = _model_fields_of(schema, cls)
        if primary is not None and primary not in fields:
            raise RuntimeError(f"no model schema of {cls.__name__} in its core schema")
        for name, field in fields.items():
            field.pop("serialization_alias", None)  # key names come from the ODM, not aliases
            if name == primary:
                field["serialization_alias"] = "_id"
        serializer = own_schema_serializer(cls, schema)
        type.__setattr__(cls, "__doc_serializer__", serializer)
        return serializer

    @classmethod
    def _doc_validator(cls) -> Any:
        """The validator of documents, built on first use (see ``_without_redundant_checks``)."""
        validator = own_schema_validator(
            cls, _without_redundant_checks(cls.__pydantic_core_schema__, cls)
        )
        cls.__doc_codec__.validator = validator
        return validator

    @classmethod
    def _class_of_doc(cls, raw_doc: Mapping[str, Any]) -> type["_BaseODMModel"]:
        """The class of a hierarchy a document was saved from (``cls`` for unmarked ones)."""
        key, own = cast(tuple[str, str], cls.__discriminator__)
        value = raw_doc.get(key, own)
        if value == own:
            return cls
        hierarchy = cast(type[Model], cls).__polymorphic_root__.__hierarchy__  # type: ignore[union-attr]
        target = hierarchy.get(value) if isinstance(value, str) else None
        if target is None or not issubclass(target, cls):
            error = ODManticCustomError(
                "unknown_discriminator",
                "'{value}' is not {model} or one of its subclasses",
                {"value": value, "model": cls.__name__},
            )
            raise DocumentParsingError(
                [InitErrorDetails(type=error, loc=(key,), input=value)], cls, raw_doc.get("_id")
            )
        return target

    @classmethod
    def parse_doc(cls, raw_doc: Mapping[str, Any]) -> Self:
        """Deprecated spelling of :meth:`model_validate_doc`."""
        return cls.model_validate_doc(raw_doc)

    def _mark_clean(self) -> None:
        object.__setattr__(self, "__fields_modified__", _CLEAN)
        for name in self.__references__:
            value = self.__dict__.get(name)
            if isinstance(value, _BaseODMModel):
                value._mark_clean()


class Model(_BaseODMModel, metaclass=ModelMetaclass):
    """A document stored in its own collection, with a primary key (``id`` by default).

    Example:
        >>> class Book(Model):
        ...     title: str
        ...     year: int = Field(index=True)
    """

    if TYPE_CHECKING:
        __collection__: ClassVar[str] = ""
        __primary_field__: ClassVar[str] = ""
        id: ObjectId | Any = Field(default_factory=ObjectId)

    __polymorphic_root__: ClassVar[type["Model"] | None] = None
    __hierarchy__: ClassVar[dict[str, type["Model"]]] = {}
    __revision_field__: ClassVar[str | None] = None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == self.__primary_field__:
            raise NotImplementedError("Reassigning a new primary key is not supported yet")
        super().__setattr__(name, value)

    @classmethod
    def __indexes__(cls) -> tuple[ODMBaseIndex | pymongo.IndexModel, ...]:
        """The indexes ``configure_database`` creates: field options, then ``indexes`` config."""
        indexes: list[ODMBaseIndex | pymongo.IndexModel] = []
        for field in cls.__odm_fields__.values():
            if isinstance(field, ODMBaseIndexableField) and (field.index or field.unique):
                indexes.append(ODMSingleFieldIndex(key_name=field.key_name, unique=field.unique))
        extra = cls.model_config.get("indexes")
        if extra is not None:
            for index in extra():
                indexes.append(index.to_odm_index() if isinstance(index, Index) else index)
        return tuple(indexes)


class EmbeddedModel(_BaseODMModel, metaclass=EmbeddedModelMetaclass):
    """A document stored inside another one (no collection, no primary key)."""
