"""The document codec: how instances of one model class become documents, and back.

``DocCodec`` is built once per class by the metaclass. It lists the few keys
whose document name differs, the reference and embedded fields to convert,
and whether a class needs any of it: most need none, and their dumps and
documents go through pydantic-core unchanged. The document validator and
serializer compiled here are the class's own schemas with the checks BSON
values cannot fail taken out, and the primary key read and written as ``_id``.
"""

import decimal
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

import bson.decimal128
from pydantic_core import InitErrorDetails, PydanticUndefined, SchemaSerializer, SchemaValidator

from ._compat import own_schema_serializer, own_schema_validator
from .bson import _to_mongo_datetime
from .exceptions import (
    IncorrectGenericEmbeddedModelValue,
    KeyNotFoundInDocumentError,
    ReferencedDocumentNotFoundError,
)
from .field import ODMEmbedded, ODMEmbeddedGeneric, ODMReference

if TYPE_CHECKING:
    from .model import _BaseODMModel

__all__ = ["DocCodec", "doc_list_validator", "doc_serializer", "doc_validator", "document_errors"]


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
    field reads the document's ``_id``. A field whose key a document must hold
    although a default factory could fill it (``is_required_in_doc``) loses the
    factory, so that pydantic-core itself refuses a document without the key.
    Everything else is validated exactly as for user input.
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
            codec = cls.__dict__.get("__doc_codec__")
            required = {codec.field_of_key[key] for key in codec.required_keys} if codec else set()
            for name in required & fields.keys():
                inner = fields[name].get("schema", {})
                if inner.get("type") == "default" and "default_factory" in inner:
                    fields[name] = {**fields[name], "schema": inner["schema"]}
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


class DocCodec:
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
        #: The document validator, built on first use (see :func:`doc_validator`).
        self.validator: Any = None
        #: The validator of a list of documents, built on first use (see :func:`doc_list_validator`).
        self.list_validator: Any = None
        # Such an instance dumps straight to its document when its primary key is
        # serialized as "_id" (see doc_serializer).
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
        # Containers of embedded models are arrays in documents, whatever the Python
        # container (ODMantic stores a tuple as a list too).
        self.list_keys = [
            f.key_name
            for f in fields.values()
            if isinstance(f, ODMEmbeddedGeneric) and f.generic_origin is not dict
        ]
        # Extra fields have no schema to dump them as BSON; a Decimal becomes a Decimal128.
        self.allows_extra = cls.model_config.get("extra") == "allow"
        #: Whether a dump needs :meth:`finish_doc` (rare: most classes never pay for it).
        self.post_dump = bool(self.list_keys) or self.allows_extra
        self.optional_defaults = [
            (name, f)
            for name, f in fields.items()
            if not f.is_required_in_doc() and not isinstance(f, ODMReference)
        ]

    def finish_doc(self, instance: "_BaseODMModel", doc: dict[str, Any]) -> None:
        """Make a dumped document storable: containers as lists, extra Decimals as Decimal128."""
        for key in self.list_keys:
            value = doc.get(key)
            if isinstance(value, tuple | set | frozenset):
                doc[key] = list(value)
        if self.allows_extra and instance.__pydantic_extra__:
            for key, value in instance.__pydantic_extra__.items():
                if isinstance(value, decimal.Decimal) and key in doc:
                    doc[key] = bson.decimal128.Decimal128(value)

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


def document_errors(
    model: type["_BaseODMModel"], raw: Mapping[str, Any], loc: tuple[str | int, ...] = ()
) -> list[InitErrorDetails]:
    """What a document lacks for ``model``, reported as ODMantic reports it.

    Missing keys and references down through embedded models, with ODMantic's
    locations for items of containers (``f.[0].e``, ``f.["key"].e``). Only
    called once validating a document has failed, so it costs nothing on reads.
    """
    errors: list[InitErrorDetails] = []
    for name, field in model.__odm_fields__.items():
        key = field.key_name
        value = raw.get(key, PydanticUndefined)
        here = (*loc, name)
        if isinstance(field, ODMReference):
            if field.keeps_keys:
                continue  # optional and list references: reported by from_doc
            if value is None or value is PydanticUndefined:
                error = ReferencedDocumentNotFoundError(key)
                errors.append(InitErrorDetails(type=error, loc=here, input=dict(raw)))
            elif isinstance(value, Mapping):
                errors.extend(document_errors(field.model, value, here))
        elif value is PydanticUndefined:
            if field.is_required_in_doc():
                error = KeyNotFoundInDocumentError(key)
                errors.append(InitErrorDetails(type=error, loc=here, input=dict(raw)))
        elif isinstance(field, ODMEmbedded):
            if isinstance(value, Mapping):
                errors.extend(document_errors(field.model, value, here))
        elif isinstance(field, ODMEmbeddedGeneric):
            errors.extend(_generic_errors(field, value, here, raw))
    return errors


def _generic_errors(
    field: ODMEmbeddedGeneric, value: Any, loc: tuple[str | int, ...], raw: Mapping[str, Any]
) -> list[InitErrorDetails]:
    items: list[tuple[str, Any]]
    if field.generic_origin is dict and isinstance(value, Mapping):
        items = [(f'["{k}"]', v) for k, v in value.items()]
    elif field.generic_origin is not dict and isinstance(value, list):
        items = [(f"[{i}]", v) for i, v in enumerate(value)]
    else:
        error = IncorrectGenericEmbeddedModelValue(value)
        return [InitErrorDetails(type=error, loc=loc, input=dict(raw))]
    errors: list[InitErrorDetails] = []
    for where, item in items:
        if isinstance(item, Mapping):
            errors.extend(document_errors(field.model, item, (*loc, where)))
    return errors


def doc_serializer(cls: type["_BaseODMModel"]) -> SchemaSerializer:
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
    return own_schema_serializer(cls, schema)


def doc_validator(cls: type["_BaseODMModel"]) -> SchemaValidator:
    """The validator of documents (see ``_without_redundant_checks``)."""
    return own_schema_validator(cls, _without_redundant_checks(cls.__pydantic_core_schema__, cls))


def doc_list_validator(cls: type["_BaseODMModel"]) -> SchemaValidator:
    """The validator of a list of documents: :func:`doc_validator`'s schema as its items.

    A find's results are validated in one call, rather than one call per
    document; each item is validated exactly as ``doc_validator`` would.
    """
    schema = _without_redundant_checks(cls.__pydantic_core_schema__, cls)
    if schema.get("type") == "definitions":
        many = {**schema, "schema": {"type": "list", "items_schema": schema["schema"]}}
    else:
        many = {"type": "list", "items_schema": schema}
    return own_schema_validator(cls, cast(Any, many))
