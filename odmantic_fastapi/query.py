"""Queries as Python expressions: ``Book.year > 2000`` is ``{"year": {"$gt": 2000}}``.

``QueryExpression`` and ``SortExpression`` are dict subclasses, so they go to
the driver as they are and compare equal to the plain dicts they stand for.
Raw dict queries are accepted wherever a query is.
"""

import enum
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from re import Pattern
from typing import Any, Literal, TypeAlias

import bson
from pydantic import BaseModel

from . import bson as odm_bson

__all__ = [
    "QueryDictBool",
    "QueryExpression",
    "SortExpression",
    "and_",
    "asc",
    "desc",
    "eq",
    "exists",
    "gt",
    "gte",
    "in_",
    "lt",
    "lte",
    "match",
    "ne",
    "nor_",
    "not_in",
    "or_",
]

FieldProxyAny = Any  # a FieldProxy; typed loosely because mypy sees fields as their values


class QueryExpression(dict[str, Any]):
    """A MongoDB filter built from model fields; ``&`` and ``|`` combine them."""

    def __repr__(self) -> str:
        return f"QueryExpression({dict.__repr__(self)})" if self else "QueryExpression()"

    def __or__(self, other: "QueryExpression | dict[str, Any]") -> "QueryExpression":  # type: ignore[override]  # | is $or, not dict union
        return or_(self, other)

    def __and__(self, other: "QueryExpression | dict[str, Any]") -> "QueryExpression":
        return and_(self, other)


#: What every query argument of the engines and sessions accepts (ODMantic's name).
QueryDictBool: TypeAlias = QueryExpression | dict[str, Any] | bool


def _combine(operator: str, elements: tuple[Any, ...]) -> QueryExpression:
    for element in elements:
        if isinstance(element, bool):
            raise TypeError("cannot build query using booleans")
    return QueryExpression({operator: [dict(e) for e in elements]})


def and_(*elements: Any) -> QueryExpression:
    """All of the queries must hold."""
    return _combine("$and", elements)


def or_(*elements: Any) -> QueryExpression:
    """At least one of the queries must hold."""
    return _combine("$or", elements)


def nor_(*elements: Any) -> QueryExpression:
    """None of the queries may hold."""
    return _combine("$nor", elements)


# Operands stored as they are: the usual ones, answered before any isinstance check
# (an exact type: an enum member deriving from str or int is not among them).
_AS_IS: frozenset[type] = frozenset(
    {
        str,
        int,
        float,
        bool,
        type(None),
        bytes,
        bson.ObjectId,
        bson.Int64,
        bson.Decimal128,
        bson.Binary,
        bson.Regex,
        odm_bson.ObjectId,
        odm_bson.Int64,
        odm_bson.Decimal128,
        odm_bson.Binary,
        odm_bson.Regex,
    }
)


def _to_bson(value: Any) -> Any:
    """A query operand as it is stored: enum values, model documents, ms-precision dates."""
    if type(value) in _AS_IS:
        return value
    from .model import EmbeddedModel, Model

    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Model):
        return getattr(value, value.__primary_field__)
    if isinstance(value, EmbeddedModel):
        return value.model_dump_doc()
    if isinstance(value, BaseModel):
        return value.model_dump()
    if isinstance(value, datetime):
        from .bson import _to_mongo_datetime

        return _to_mongo_datetime(value)
    if isinstance(value, list | tuple | set | frozenset):
        return [_to_bson(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _to_bson(v) for k, v in value.items()}
    return value


def _cmp_expression(field: FieldProxyAny, op: str, value: Any) -> QueryExpression:
    return QueryExpression({+field: {op: _to_bson(value)}})


def eq(field: FieldProxyAny, value: Any) -> QueryExpression:
    return _cmp_expression(field, "$eq", value)


def ne(field: FieldProxyAny, value: Any) -> QueryExpression:
    return _cmp_expression(field, "$ne", value)


def gt(field: FieldProxyAny, value: Any) -> QueryExpression:
    return _cmp_expression(field, "$gt", value)


def gte(field: FieldProxyAny, value: Any) -> QueryExpression:
    return _cmp_expression(field, "$gte", value)


def lt(field: FieldProxyAny, value: Any) -> QueryExpression:
    return _cmp_expression(field, "$lt", value)


def lte(field: FieldProxyAny, value: Any) -> QueryExpression:
    return _cmp_expression(field, "$lte", value)


def in_(field: FieldProxyAny, sequence: Iterable[Any]) -> QueryExpression:
    return _cmp_expression(field, "$in", list(sequence))


def not_in(field: FieldProxyAny, sequence: Iterable[Any]) -> QueryExpression:
    return _cmp_expression(field, "$nin", list(sequence))


def exists(field: FieldProxyAny, present: bool = True) -> QueryExpression:
    """The field is (or, with ``present=False``, is not) in the document."""
    return QueryExpression({+field: {"$exists": present}})


def match(field: FieldProxyAny, pattern: "Pattern[str] | str") -> QueryExpression:
    """The string field matches a regular expression (a compiled pattern keeps its flags)."""
    if isinstance(pattern, Pattern):
        return QueryExpression({+field: bson.regex.Regex.from_native(pattern)})
    re.compile(pattern)
    return QueryExpression({+field: {"$regex": pattern}})


class SortExpression(dict[str, Literal[-1, 1]]):
    """A sort specification built with ``asc``/``desc``; several combine in a tuple."""

    def __repr__(self) -> str:
        return f"SortExpression({dict.__repr__(self)})" if self else "SortExpression()"


def asc(field: FieldProxyAny) -> SortExpression:
    return SortExpression({+field: 1})


def desc(field: FieldProxyAny) -> SortExpression:
    return SortExpression({+field: -1})
