"""MongoDB's comparison order across BSON types, as sortable Python keys.

Every part of the embedded server that orders or compares values (query
operators, sorts, ``$min``/``$max`` updates, index keys) goes through
:func:`sort_key`, so they all agree with each other and with MongoDB:

    MinKey < Null < Numbers < String < Object < Array < BinData < ObjectId
    < Boolean < Date < Timestamp < Regex < MaxKey

A key is a plain tuple ``(type_rank, payload)``; tuples compare natively in
C, which keeps sorting and index maintenance fast.
"""

import datetime
import math
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from decimal import Decimal
from typing import Any

from bson import (
    Binary,
    Code,
    DatetimeMS,
    Decimal128,
    Int64,
    MaxKey,
    MinKey,
    ObjectId,
    Regex,
    Timestamp,
)

__all__ = [
    "RANK_ARRAY",
    "RANK_NULL",
    "RANK_NUMBER",
    "collating",
    "compare",
    "is_number",
    "sort_key",
    "to_decimal",
    "type_rank",
    "values_equal",
]

RANK_MINKEY = 1
RANK_NULL = 2
RANK_NUMBER = 3
RANK_STRING = 4
RANK_OBJECT = 5
RANK_ARRAY = 6
RANK_BINARY = 7
RANK_OBJECTID = 8
RANK_BOOL = 9
RANK_DATE = 10
RANK_TIMESTAMP = 11
RANK_REGEX = 12
RANK_CODE = 13
RANK_MAXKEY = 100

_EPOCH = datetime.datetime(1970, 1, 1)
# How strings compare while a command's collation is in force (None: by code point).
_STRING_KEY: ContextVar[Callable[[str], Any] | None] = ContextVar("string_key", default=None)


@contextmanager
def collating(string_key: Callable[[str], Any] | None) -> Iterator[None]:
    """Strings compare by ``string_key`` in :func:`sort_key` inside the block (this thread only).

    Only matching, sorting and grouping run inside it: index keys and stored
    documents never see a collation's keys.
    """
    token = _STRING_KEY.set(string_key)
    try:
        yield
    finally:
        _STRING_KEY.reset(token)


_EPOCH_AWARE = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


def is_number(value: object) -> bool:
    """True for BSON numbers (int32/int64/double/decimal128), never for booleans."""
    return isinstance(value, int | float | Decimal128 | Decimal) and not isinstance(value, bool)


def to_decimal(value: Any) -> Decimal:
    """Exact decimal value of a BSON number."""
    if isinstance(value, Decimal128):
        return value.to_decimal()
    if isinstance(value, float):
        return Decimal(value)
    return Decimal(value)


def datetime_ms(value: datetime.datetime | DatetimeMS) -> int:
    """Milliseconds since the epoch, the unit in which BSON stores dates."""
    if isinstance(value, DatetimeMS):
        return int(value)
    base = _EPOCH_AWARE if value.tzinfo is not None else _EPOCH
    delta = value - base
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


# Most values are exactly one of these types: one dict lookup instead of the
# isinstance chain below, whose Mapping check goes through ABCMeta. Subclasses
# (SON, OrderedDict, ...) still take the chain.
_EXACT_RANKS: dict[type, int] = {
    type(None): RANK_NULL,
    bool: RANK_BOOL,
    int: RANK_NUMBER,
    Int64: RANK_NUMBER,
    float: RANK_NUMBER,
    Decimal128: RANK_NUMBER,
    str: RANK_STRING,
    dict: RANK_OBJECT,
    list: RANK_ARRAY,
    tuple: RANK_ARRAY,
    ObjectId: RANK_OBJECTID,
    datetime.datetime: RANK_DATE,
    bytes: RANK_BINARY,
    Binary: RANK_BINARY,
}


def type_rank(value: object) -> int:
    """The position of the value's BSON type in MongoDB's comparison order."""
    rank = _EXACT_RANKS.get(type(value))
    if rank is not None:
        return rank
    if value is None:
        return RANK_NULL
    if isinstance(value, bool):
        return RANK_BOOL
    if isinstance(value, int | float | Decimal128 | Decimal):
        return RANK_NUMBER
    if isinstance(value, str):
        return RANK_STRING
    if isinstance(value, Mapping):
        return RANK_OBJECT
    if isinstance(value, list | tuple):
        return RANK_ARRAY
    if isinstance(value, ObjectId):
        return RANK_OBJECTID
    if isinstance(value, datetime.datetime | DatetimeMS):
        return RANK_DATE
    if isinstance(value, bytes | Binary):
        return RANK_BINARY
    if isinstance(value, Timestamp):
        return RANK_TIMESTAMP
    if isinstance(value, Regex | re.Pattern):
        return RANK_REGEX
    if isinstance(value, Code):
        return RANK_CODE
    if isinstance(value, MinKey):
        return RANK_MINKEY
    if isinstance(value, MaxKey):
        return RANK_MAXKEY
    raise TypeError(f"unsupported BSON value of type {type(value).__name__}")


def _number_payload(value: Any) -> tuple[Any, ...]:
    if isinstance(value, Decimal128):
        value = value.to_decimal()
    if isinstance(value, Decimal):
        if value.is_nan():
            return (0,)
        return (1, value)
    if isinstance(value, float) and math.isnan(value):
        return (0,)
    return (1, value)


def sort_key(value: Any) -> tuple[Any, ...]:
    """A tuple that orders like MongoDB orders BSON values.

    Equal keys mean equal values for queries: ``1 == 1.0``, NaN equals NaN,
    and two documents are equal only with the same fields in the same order.
    """
    rank = type_rank(value)
    if rank == RANK_NUMBER:
        return (rank, _number_payload(value))
    if rank == RANK_STRING:
        string_key = _STRING_KEY.get()
        return (rank, value if string_key is None else string_key(value))
    if rank in (RANK_NULL, RANK_MINKEY, RANK_MAXKEY):
        return (rank, 0)
    if rank == RANK_OBJECT:
        return (
            rank,
            tuple((type_rank(v), k, sort_key(v)) for k, v in value.items()),
        )
    if rank == RANK_ARRAY:
        return (rank, tuple(sort_key(v) for v in value))
    if rank == RANK_OBJECTID:
        return (rank, value.binary)
    if rank == RANK_BOOL:
        return (rank, bool(value))
    if rank == RANK_DATE:
        return (rank, datetime_ms(value))
    if rank == RANK_BINARY:
        subtype = value.subtype if isinstance(value, Binary) else 0
        return (rank, (len(value), subtype, bytes(value)))
    if rank == RANK_TIMESTAMP:
        return (rank, (value.time, value.inc))
    if rank == RANK_REGEX:
        if isinstance(value, re.Pattern):
            value = Regex.from_native(value)
        flags = value.flags if isinstance(value.flags, str) else str(value.flags)
        return (rank, (value.pattern, flags))
    return (rank, str(value))


def compare(a: Any, b: Any) -> int:
    """-1, 0 or 1 as ``a`` sorts before, with, or after ``b``."""
    ka, kb = sort_key(a), sort_key(b)
    return (ka > kb) - (ka < kb)


def values_equal(a: Any, b: Any) -> bool:
    """Equality as MongoDB's ``$eq`` sees it (numbers by value, documents by order)."""
    return sort_key(a) == sort_key(b)
