"""BSON types usable as pydantic v2 fields, with JSON schemas that render in OpenAPI.

In Python they stay BSON objects (so documents go to the driver as they are);
in JSON an ObjectId is a string, an Int64 a number, a Decimal128 a string, a
Binary base64 and a Regex its pattern. ``datetime`` fields keep MongoDB's
millisecond precision and are stored naive in UTC.
"""

import base64
import decimal
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from re import Pattern
from typing import Annotated, Any, get_origin

import bson
import bson.binary
import bson.decimal128
import bson.int64
import bson.regex
from pydantic import BaseModel, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

__all__ = [
    "BSON_TYPES_ENCODERS",
    "BaseBSONModel",
    "Binary",
    "Decimal128",
    "Int64",
    "Long",
    "ObjectId",
    "Regex",
    "WithBsonSerializer",
    "_Pattern",
    "_datetime",
    "_decimalDecimal",
    "validate_pattern_from_regex",
    "validate_pattern_from_str",
    "validate_regex_from_pattern",
]


@dataclass(frozen=True)
class WithBsonSerializer:
    """``Annotated`` metadata: how a field's value is written into the stored document.

    Example:
        >>> FancyFloat = Annotated[float, WithBsonSerializer(str)]   # stored as a string
    """

    bson_serializer: Callable[[Any], Any]


def _get_bson_serializer(annotation: Any) -> Callable[[Any], Any] | None:
    """The serializer an ``Annotated[T, WithBsonSerializer(f)]`` annotation carries, if any."""
    if get_origin(annotation) is not Annotated:
        return None
    for metadata in annotation.__metadata__:
        if isinstance(metadata, WithBsonSerializer):
            return metadata.bson_serializer
    return None


class ObjectId(bson.ObjectId):
    """A MongoDB ObjectId; accepts an ObjectId, its 24-hex-digit string or 12 bytes."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: Callable[[Any], core_schema.CoreSchema]
    ) -> core_schema.CoreSchema:
        def from_text(value: str | bytes) -> bson.ObjectId:
            try:
                return bson.ObjectId(value)
            except (bson.errors.InvalidId, TypeError):
                raise ValueError("Invalid ObjectId") from None

        text = core_schema.chain_schema(
            [
                core_schema.union_schema([core_schema.str_schema(), core_schema.bytes_schema()]),
                core_schema.no_info_plain_validator_function(from_text),
            ]
        )
        return core_schema.json_or_python_schema(
            json_schema=text,
            # left_to_right: an ObjectId (what the driver gives) is accepted by the
            # first check, without smart-mode's tries of every choice.
            python_schema=core_schema.union_schema(
                [core_schema.is_instance_schema(bson.ObjectId), text], mode="left_to_right"
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(str, when_used="json"),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, _schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema.str_schema(pattern="^[0-9a-f]{24}$"))
        schema.update(examples=["5f85f36d6dfecacc68428a46"])
        return schema


class Int64(bson.int64.Int64):
    """A 64-bit integer stored as BSON int64 whatever its size."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: Callable[[Any], core_schema.CoreSchema]
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            bson.int64.Int64,
            core_schema.int_schema(ge=-(2**63), lt=2**63),
            serialization=core_schema.plain_serializer_function_ser_schema(int, when_used="json"),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, _schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(core_schema.int_schema())


Long = Int64


class Decimal128(bson.decimal128.Decimal128):
    """An IEEE 754 decimal128; accepts Decimal, str, int, float or Decimal128."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: Callable[[Any], core_schema.CoreSchema]
    ) -> core_schema.CoreSchema:
        def from_value(value: Any) -> bson.decimal128.Decimal128:
            try:
                return bson.decimal128.Decimal128(
                    value if isinstance(value, decimal.Decimal | str) else str(value)
                )
            except (decimal.InvalidOperation, TypeError, ValueError):
                raise ValueError("Invalid Decimal128 value") from None

        # A union as ODMantic's: an invalid value reports each choice it failed.
        return core_schema.union_schema(
            [
                core_schema.is_instance_schema(bson.decimal128.Decimal128),
                core_schema.no_info_plain_validator_function(from_value),
            ],
            mode="left_to_right",
            serialization=core_schema.plain_serializer_function_ser_schema(str, when_used="json"),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, _schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema.str_schema())
        schema.update(examples=["214.7483647"])
        return schema


class Binary(bson.binary.Binary):
    """Binary data (base64 in JSON)."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: Callable[[Any], core_schema.CoreSchema]
    ) -> core_schema.CoreSchema:
        def validate(value: Any) -> bson.binary.Binary:
            if isinstance(value, bson.binary.Binary):
                return value
            if isinstance(value, bytes):
                return bson.binary.Binary(value)
            if isinstance(value, str):
                try:
                    return bson.binary.Binary(base64.b64decode(value, validate=True))
                except ValueError:
                    raise ValueError("Invalid base64 binary data") from None
            raise ValueError("Binary expects bytes or a base64 string")

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda b: base64.b64encode(bytes(b)).decode(), when_used="json"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, _schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(core_schema.str_schema())


def validate_pattern_from_str(value: str) -> Pattern[str]:
    try:
        return re.compile(value)
    except re.error:
        raise ValueError("Invalid Pattern value") from None


def validate_regex_from_pattern(value: Pattern[str]) -> bson.regex.Regex[str]:
    return bson.regex.Regex.from_native(value)


def validate_pattern_from_regex(value: bson.regex.Regex[Any]) -> Pattern[Any]:
    try:
        return value.try_compile()
    except re.error:
        raise ValueError("Invalid Pattern value") from None


def _pattern_string_schema(choices: list[core_schema.CoreSchema]) -> core_schema.CoreSchema:
    """The first of ``choices`` that accepts the value; in JSON, the pattern string.

    A union as ODMantic's: an invalid value reports each choice it failed.
    """
    return core_schema.union_schema(
        [*choices],
        mode="left_to_right",
        serialization=core_schema.plain_serializer_function_ser_schema(
            lambda r: r.pattern, when_used="json"
        ),
    )


def _then(check: core_schema.CoreSchema, convert: Callable[[Any], Any]) -> core_schema.CoreSchema:
    return core_schema.chain_schema([check, core_schema.no_info_plain_validator_function(convert)])


class _RegexJsonSchema:
    """Regular expressions are strings of format "regex" in JSON Schema."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, _schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema.str_schema())
        schema["format"] = "regex"
        return schema


class Regex(_RegexJsonSchema, bson.regex.Regex[str]):
    """A BSON regular expression; accepts a pattern string, a compiled pattern or a Regex."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: Callable[[Any], core_schema.CoreSchema]
    ) -> core_schema.CoreSchema:
        def from_str(value: str) -> bson.regex.Regex[Any]:
            validate_pattern_from_str(value)
            return bson.regex.Regex(value)

        return _pattern_string_schema(
            [
                core_schema.is_instance_schema(bson.regex.Regex),
                _then(core_schema.is_instance_schema(Pattern), validate_regex_from_pattern),
                _then(core_schema.str_schema(), from_str),
            ]
        )


class _PatternAnnotation(_RegexJsonSchema):
    """``re.Pattern`` fields: stored as BSON regex, a pattern string in JSON."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: Callable[[Any], core_schema.CoreSchema]
    ) -> core_schema.CoreSchema:
        return _pattern_string_schema(
            [
                core_schema.is_instance_schema(Pattern),
                _then(
                    core_schema.is_instance_schema(bson.regex.Regex), validate_pattern_from_regex
                ),
                _then(core_schema.str_schema(), validate_pattern_from_str),
            ]
        )


_Pattern = Annotated[Pattern, _PatternAnnotation]


def _to_mongo_datetime(value: datetime) -> datetime:
    """Naive UTC with millisecond precision: what a BSON date can hold.

    An aware datetime in UTC loses its (zero) offset; one with another offset is
    refused, as ODMantic does, rather than silently shifted.
    """
    if value.tzinfo is not None:
        offset = value.tzinfo.utcoffset(value)
        if offset:
            raise ValueError("datetime objects must be naive (no timezone info)")
        value = value.replace(tzinfo=None)
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


class _datetime(datetime):
    """``datetime`` as MongoDB stores it: naive UTC, milliseconds."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: Callable[[Any], core_schema.CoreSchema]
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            _to_mongo_datetime, core_schema.datetime_schema()
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, _schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(core_schema.datetime_schema())


def _serialize_decimal(value: decimal.Decimal, info: core_schema.SerializationInfo) -> Any:
    """A Decimal128 in documents, a string in JSON (no precision lost either way)."""
    if info.mode == "json":
        return str(value)
    return bson.decimal128.Decimal128(value)


class _DecimalAnnotation:
    """``decimal.Decimal`` fields: stored as Decimal128, a number string in JSON."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, _source: Any, _handler: Callable[[Any], core_schema.CoreSchema]
    ) -> core_schema.CoreSchema:
        def from_value(value: Any) -> decimal.Decimal:
            try:
                return decimal.Decimal(value if not isinstance(value, float) else str(value))
            except (decimal.InvalidOperation, TypeError, ValueError):
                raise ValueError("Invalid decimal string") from None

        # A union as ODMantic's: an invalid value reports each choice it failed.
        return core_schema.union_schema(
            [
                core_schema.is_instance_schema(decimal.Decimal),
                _then(
                    core_schema.is_instance_schema(bson.decimal128.Decimal128),
                    bson.decimal128.Decimal128.to_decimal,
                ),
                core_schema.no_info_plain_validator_function(from_value),
            ],
            mode="left_to_right",
            serialization=core_schema.plain_serializer_function_ser_schema(
                _serialize_decimal, info_arg=True
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, _schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(core_schema.str_schema())


_decimalDecimal = Annotated[decimal.Decimal, _DecimalAnnotation]

BSON_TYPES_ENCODERS: dict[type[Any], Callable[[Any], Any]] = {
    bson.ObjectId: str,
    bson.decimal128.Decimal128: lambda d: d.to_decimal(),
    bson.regex.Regex: lambda r: r.pattern,
}


class BaseBSONModel(BaseModel):
    """A pydantic model whose JSON output renders BSON values (ObjectId as a string, ...)."""

    model_config = {"json_encoders": BSON_TYPES_ENCODERS}


# Annotations rewritten in model fields so plain bson/stdlib types get the behaviour above.
_BSON_SUBSTITUTED_FIELDS: dict[Any, Any] = {
    bson.ObjectId: ObjectId,
    bson.int64.Int64: Int64,
    bson.decimal128.Decimal128: Decimal128,
    bson.binary.Binary: Binary,
    bson.regex.Regex: Regex,
    Pattern: _Pattern,
    decimal.Decimal: _decimalDecimal,
    datetime: _datetime,
}
