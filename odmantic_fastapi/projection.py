"""Reading part of a document: projections for ``find(..., projection=...)`` and outputs of ``aggregate``.

Beyond ODMantic. A projection is either a lighter pydantic model, whose field
names pick the fields to read (so the server sends only those), or a
sequence of model fields, which reads those keys and returns the documents
as dicts. Both engines use the same plan.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from .exceptions import DocumentParsingError
from .field import FieldProxy, ODMEmbedded
from .model import Model, _BaseODMModel

__all__ = ["Parser", "output_parser", "projection_plan"]

Parser = Callable[[dict[str, Any]], Any]


def output_parser(output: type[BaseModel] | None) -> Parser:
    """How a document becomes an ``output`` instance (ODM models read documents; others dicts)."""
    if output is None:
        return lambda doc: doc
    if isinstance(output, type) and issubclass(output, _BaseODMModel):
        return output.model_validate_doc
    if isinstance(output, type) and issubclass(output, BaseModel):
        return output.model_validate
    raise TypeError(f"output has to be a pydantic model class or None, not {output!r}")


def _model_projection(model: type[Model], target: type[BaseModel]) -> tuple[dict[str, Any], Parser]:
    source_fields = model.__odm_fields__
    if issubclass(target, _BaseODMModel):
        keys = [field.key_name for field in target.__odm_fields__.values()]
        return {key: 1 for key in [*keys, "_id"]}, target.model_validate_doc
    unknown = [name for name in target.model_fields if name not in source_fields]
    if unknown:
        raise ValueError(
            f"projection {target.__name__} has fields {model.__name__} does not: "
            + ", ".join(map(repr, unknown))
        )
    selected = [(name, source_fields[name]) for name in target.model_fields]
    projection: dict[str, Any] = {field.key_name: 1 for _, field in selected}
    projection.setdefault("_id", 0)

    def parse(doc: dict[str, Any]) -> Any:
        data: dict[str, Any] = {}
        for name, field in selected:
            if field.key_name not in doc:
                continue
            value = doc[field.key_name]
            if isinstance(field, ODMEmbedded) and isinstance(value, Mapping):
                errors, value = field.model.__doc_codec__.from_doc(field.model, value, (name,))
                if errors:
                    raise DocumentParsingError(errors, field.model, doc.get("_id"))
            data[name] = value
        return target.model_validate(data)

    return projection, parse


def projection_plan(
    model: type[Model], projection: type[BaseModel] | Sequence[Any]
) -> tuple[dict[str, Any], Parser, type[Model] | None]:
    """The server-side projection, the parser of its results, and whose references to fetch.

    Raises:
        ValueError: the projection names a field ``model`` does not have.
        TypeError: the projection is neither a pydantic model nor a sequence of fields.
    """
    if isinstance(projection, type) and issubclass(projection, BaseModel):
        spec, parse = _model_projection(model, projection)
        references = (
            projection if issubclass(projection, Model) and projection.__references__ else None
        )
        return spec, parse, references
    if isinstance(projection, Sequence) and not isinstance(projection, str) and projection:
        keys: list[str] = []
        for item in projection:
            if not isinstance(item, FieldProxy):
                raise TypeError(
                    f"a projection sequence holds fields of {model.__name__}, such as "
                    f"{model.__name__}.{model.__primary_field__}; got {item!r}"
                )
            keys.append(+item)
        return {key: 1 for key in keys}, lambda doc: doc, None
    raise TypeError(
        "projection has to be a pydantic model class or a non-empty sequence of model fields"
    )
