"""``Model`` and ``EmbeddedModel``: pydantic models that know their documents.

The class statement is where the work happens: the metaclass
(``_model_meta``) reads each field's ODM options with the type analysis of
``_model_types``, and prepares the two conversions between instances and
documents (``_doc_codec``). Those conversions stay on pydantic-core's
compiled paths (``model_validate`` / ``model_dump``); the Python around them
only renames the few keys whose document name differs (``id`` -> ``_id``) and
swaps referenced instances for their ids, using lists built once per class.
This module holds the classes users subclass, and keeps ODMantic's names.
"""

import warnings
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar, cast

import bson
import pymongo
from pydantic import BaseModel, ValidationError
from pydantic_core import InitErrorDetails

from ._doc_codec import DocCodec, doc_serializer, doc_validator, document_errors
from ._model_meta import (
    BaseModelMetaclass,
    EmbeddedModelMetaclass,
    ModelMetaclass,
    is_embedded_class,
)
from ._model_types import (
    find_duplicate_key,
    is_mutable,
    is_type_forbidden,
    should_touch_field,
    substitute,
)
from .bson import BaseBSONModel, ObjectId
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
    BaseModelMetaclass,
    DocumentParsingError,
    EmbeddedModelMetaclass,
    Field,
    FieldProxy,
    IncorrectGenericEmbeddedModelValue,
    KeyNotFoundInDocumentError,
    ModelMetaclass,
    ODMBaseField,
    ODMConfigDict,
    ODMEmbeddedGeneric,
    ODMField,
    ODMFieldInfo,
    ODMReference,
    ODMReferenceInfo,
    ReferencedDocumentNotFoundError,
    Undefined,
    find_duplicate_key,
    get_first_type_argument_subclassing,
    is_dunder,
    is_type_argument_subclass,
    is_type_forbidden,
    raise_on_invalid_collection_name,
    raise_on_invalid_key_name,
    should_touch_field,
    to_snake_case,
    validate_config,
)

BaseT = TypeVar("BaseT", bound="_BaseODMModel")

#: The unsaved fields of every clean instance (see ``_BaseODMModel._modified``).
_CLEAN: frozenset[str] = frozenset()


def _deprecated(name: str, replacement: str) -> None:
    warnings.warn(
        f"{name} is deprecated, please use {replacement} instead", DeprecationWarning, stacklevel=3
    )


def is_type_mutable(type_: Any) -> bool:
    """Whether values of this type can change in place (so saves always write them)."""
    return is_mutable(type_, is_embedded_class)


def validate_type(type_: Any) -> Any:
    """The annotation the ODM uses for ``type_`` (bson types swapped for the ODM's)."""
    if is_type_forbidden(type_):
        raise TypeError(f"{type_} fields are not supported")
    return substitute(type_)


class _BaseODMModel(BaseModel):
    """What Model and EmbeddedModel share: change tracking and document conversion."""

    if TYPE_CHECKING:
        __odm_fields__: ClassVar[dict[str, ODMBaseField]]
        __bson_serializers__: ClassVar[dict[str, Callable[[Any], Any]]]
        __mutable_fields__: ClassVar[frozenset[str]]
        __references__: ClassVar[tuple[str, ...]]
        __doc_codec__: ClassVar[DocCodec]
        __all_field_names__: ClassVar[frozenset[str]]
        __fields_modified__: ClassVar[set[str] | frozenset[str]]
        __pydantic_model__: ClassVar[type[BaseModel]]
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
        if name == "__pydantic_model__":
            return type(self).__pydantic_model__
        return super().__getattr__(name)  # type: ignore[misc]  # pydantic hides __getattr__ from type checkers

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
        """Deprecated spelling of :meth:`model_copy`."""
        _deprecated("copy", "model_copy")
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
            raise ValueError(
                "Updating the primary key is not supported. "
                "See the copy method if you want to modify the primary field."
            )
        current = {name: getattr(self, name) for name in type(self).model_fields}
        patched = type(self).model_validate({**current, **patch})
        # Every field is compared, not only the patched ones: validators may derive
        # other fields from the patched values.
        for name, new_value in patched.__dict__.items():
            old_value = self.__dict__.get(name)
            if old_value != new_value or type(old_value) is not type(new_value):
                self.__dict__[name] = new_value
                self.model_fields_set.add(name)
                self._modified().add(name)

    def update(self, patch_object: BaseModel | Mapping[str, Any], **kwargs: Any) -> None:
        """Deprecated spelling of :meth:`model_update`, kept for ODMantic code."""
        _deprecated("update", "model_update")
        self.model_update(patch_object, **kwargs)

    def model_dump_doc(self, include: Iterable[str] | None = None) -> dict[str, Any]:
        """The document stored for this instance (key names, BSON values, reference ids)."""
        selected = include if include is None or isinstance(include, set) else set(include)
        codec = self.__doc_codec__
        if codec.direct_dump:
            serializer = type(self).__dict__.get("__doc_serializer__") or self._doc_serializer()
            doc: dict[str, Any] = serializer.to_python(self, include=selected, by_alias=True)
        else:
            doc = codec.to_doc(self.model_dump(include=selected))
        self._finish_doc(doc)
        return doc

    def _finish_doc(self, doc: dict[str, Any]) -> None:
        """What a dump adds after pydantic-core's: storable containers, the class's mark."""
        codec = self.__doc_codec__
        if codec.post_dump:
            codec.finish_doc(self, doc)
        discriminator = self.__discriminator__
        if discriminator is not None:
            doc[discriminator[0]] = discriminator[1]

    def doc(self, include: Iterable[str] | None = None) -> dict[str, Any]:
        """Deprecated spelling of :meth:`model_dump_doc`."""
        _deprecated("doc", "model_dump_doc")
        return self.model_dump_doc(include=include)

    @classmethod
    def model_validate_doc(cls, raw_doc: Mapping[str, Any]) -> Self:
        """The instance a stored document describes.

        Raises:
            DocumentParsingError: the document lacks a key or holds an invalid value.
        """
        codec = cls.__doc_codec__
        validator = codec.validator or cls._doc_validator()
        if codec.direct and type(raw_doc) is dict:
            # The hot path: pydantic-core reads the document as it is (and refuses
            # one without a key it must hold, see doc_validator). A failure goes
            # through the general path below, which reports it ODMantic's way.
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
            # ODMantic reports what the document lacks first, then what is invalid.
            errors = document_errors(cls, raw_doc) or cast(list[InitErrorDetails], exc.errors())
            raise DocumentParsingError(errors, cls, primary_value) from None
        instance._mark_clean()
        return cast(Self, instance)

    @classmethod
    def _doc_serializer(cls) -> Any:
        """The document serializer (see ``doc_serializer``), built once per class."""
        serializer = doc_serializer(cls)
        type.__setattr__(cls, "__doc_serializer__", serializer)
        return serializer

    @classmethod
    def _doc_validator(cls) -> Any:
        """The document validator (see ``doc_validator``), built on first use."""
        validator = doc_validator(cls)
        cls.__doc_codec__.validator = validator
        return validator

    @classmethod
    def _class_of_doc(cls, raw_doc: Mapping[str, Any]) -> type["_BaseODMModel"]:
        """The class of a hierarchy a document was saved from (``cls`` for unmarked ones)."""
        key, own = cast(tuple[str, str], cls.__discriminator__)
        value = raw_doc.get(key, own)
        if value == own:
            return cls
        hierarchy = cast(type[Model], cls).__polymorphic_root__.__hierarchy__  # type: ignore[union-attr]  # set with __discriminator__
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
        _deprecated("parse_doc", "model_validate_doc")
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

    def _save_doc(self, include: AbstractSet[str] | None) -> tuple[Any, dict[str, Any]]:
        """The primary key's stored value, and ``model_dump_doc(include)`` without ``_id``.

        What a save writes: the key in its filter, the rest in its ``$set``. An
        ObjectId key, which the document holds as it is, is taken from the
        instance instead of dumped: pydantic-core's dump of that one value costs
        more than the rest of a small document.
        """
        cls = type(self)
        primary = cls.__primary_field__
        key = self.__dict__.get(primary)
        if isinstance(key, bson.ObjectId) and cls._key_dumps_as_is(self):
            serializer = cls.__dict__["__doc_serializer__"]
            doc: dict[str, Any] = serializer.to_python(
                self, include=include, exclude={primary}, by_alias=True
            )
            self._finish_doc(doc)
            return key, doc
        doc = self.model_dump_doc(include=include)
        if "_id" in doc:
            return doc.pop("_id"), doc
        return self.model_dump_doc(include={primary})["_id"], doc

    @classmethod
    def _key_dumps_as_is(cls, instance: "Model") -> bool:
        """Whether the class's document holds its ObjectId primary key as the instance does.

        True for a key declared (or added) as an ObjectId with nothing that changes
        its dump, as the first instance saved shows; found once per class.
        """
        known: bool | None = cls.__dict__.get("__key_dumps_as_is__")
        if known is None:
            primary = cls.__primary_field__
            field = cls.__pydantic_fields__[primary]
            known = (
                cls.__doc_codec__.direct_dump
                and field.annotation in (ObjectId, bson.ObjectId)
                and not field.metadata
            )
            if known:
                key = instance.__dict__[primary]
                known = (
                    cls._doc_serializer()
                    .to_python(instance, include={primary}, by_alias=True)
                    .get("_id")
                    is key
                )
            type.__setattr__(cls, "__key_dumps_as_is__", known)
        return known

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
