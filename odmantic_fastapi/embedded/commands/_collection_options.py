"""The options ``create`` takes: checked as MongoDB 7.0 checks them, kept as listCollections shows them."""

from collections.abc import Mapping
from typing import Any

from ..errors import CommandError
from ._capped import check_capped_options
from ._validation import check_validation_options

__all__ = ["clustered_index_document", "collection_options"]

# Arguments every command may carry, which are not collection options.
_GENERIC = frozenset(
    {"lsid", "txnNumber", "autocommit", "startTransaction", "writeConcern", "comment"}
)
_GRANULARITIES = ("seconds", "minutes", "hours")
_VALIDATION = ("validator", "validationLevel", "validationAction")


def collection_options(cmd: Mapping[str, Any]) -> dict[str, Any]:
    """``create``'s options, checked and in their stored form; unsupported ones are refused."""
    options: dict[str, Any] = {}
    for key, value in cmd.items():
        if key == "create" or key.startswith("$") or key in _GENERIC:
            continue
        if key == "idIndex":
            continue
        if key == "clusteredIndex":
            options[key] = _clustered_index(value)
        elif key == "timeseries":
            options[key] = _timeseries(value)
        elif key == "expireAfterSeconds":
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise CommandError(
                    2, "'expireAfterSeconds' must be a non-negative whole number of seconds"
                )
            options[key] = int(value)
        elif key in ("capped", "size", "max", "viewOn", "pipeline") or key in _VALIDATION:
            options[key] = value
        elif key == "changeStreamPreAndPostImages":
            if not isinstance(value, Mapping) or not isinstance(value.get("enabled"), bool):
                raise CommandError(14, "changeStreamPreAndPostImages must be {enabled: <bool>}")
            options[key] = {"enabled": value["enabled"]}
        else:
            raise CommandError(
                72, f"collection option '{key}' is not supported by the embedded server"
            )
    if "expireAfterSeconds" in options and not (
        "clusteredIndex" in options or "timeseries" in options
    ):
        raise CommandError(
            72,
            "'expireAfterSeconds' is only supported on time-series collections or "
            "when the 'clusteredIndex' option is specified",
        )
    check_capped_options(options)
    check_validation_options(options)
    if "pipeline" in options and "viewOn" not in options:
        raise CommandError(2, "'pipeline' requires 'viewOn' to also be specified")
    if "viewOn" in options:
        others = set(options) - {"viewOn", "pipeline"}
        if others:
            raise CommandError(2, f"a view cannot take the collection options {sorted(others)}")
        options.setdefault("pipeline", [])
    if "clusteredIndex" in options and "timeseries" in options:
        raise CommandError(72, "a time-series collection cannot also take 'clusteredIndex'")
    return options


def _clustered_index(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise CommandError(
            5979703, "The 'clusteredIndex' option must be an object: {key: {_id: 1}, unique: true}"
        )
    for key in value:
        if key not in ("key", "unique", "name", "v"):
            raise CommandError(40415, f"BSON field 'clusteredIndex.{key}' is an unknown field.")
    if value.get("key") != {"_id": 1}:
        raise CommandError(6053000, "The clusteredIndex option is only supported for key {_id: 1}")
    if value.get("unique") is not True:
        raise CommandError(6492000, "The clusteredIndex option requires 'unique': true")
    name = value.get("name", "_id_")
    if not isinstance(name, str) or not name:
        raise CommandError(14, "clusteredIndex.name must be a non-empty string")
    return {"v": 2, "key": {"_id": 1}, "name": name, "unique": True}


def _timeseries(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise CommandError(14, "BSON field 'timeseries' is the wrong type, expected 'object'")
    allowed = ("timeField", "metaField", "granularity", "bucketMaxSpanSeconds")
    for key in value:
        if key not in (*allowed, "bucketRoundingSeconds"):
            raise CommandError(40415, f"BSON field 'timeseries.{key}' is an unknown field.")
    time_field = value.get("timeField")
    if not isinstance(time_field, str) or not time_field or "." in time_field:
        raise CommandError(
            40414, "BSON field 'timeseries.timeField' is missing but a required field"
        )
    out: dict[str, Any] = {"timeField": time_field}
    meta_field = value.get("metaField")
    if meta_field is not None:
        if not isinstance(meta_field, str) or meta_field in ("_id", time_field):
            raise CommandError(
                72, "The 'metaField' must be a string other than '_id' and the time field"
            )
        out["metaField"] = meta_field
    span, rounding = value.get("bucketMaxSpanSeconds"), value.get("bucketRoundingSeconds")
    if span is not None or rounding is not None:
        if "granularity" in value:
            raise CommandError(
                72, "Time-series 'granularity' cannot be given with custom bucketing parameters"
            )
        if span != rounding or not isinstance(span, int) or isinstance(span, bool) or span < 1:
            raise CommandError(
                72,
                "Time-series 'bucketMaxSpanSeconds' and 'bucketRoundingSeconds' must be given "
                "together, as the same positive number of seconds",
            )
        return out | {"bucketRoundingSeconds": rounding, "bucketMaxSpanSeconds": span}
    granularity = value.get("granularity", "seconds")
    if granularity not in _GRANULARITIES:
        raise CommandError(
            2, f"Enumeration value '{granularity}' for field 'granularity' is not a valid value."
        )
    span_for = {"seconds": 3600, "minutes": 86400, "hours": 2592000}[granularity]
    return out | {"granularity": granularity, "bucketMaxSpanSeconds": span_for}


def clustered_index_document(options: Mapping[str, Any]) -> dict[str, Any] | None:
    """What listIndexes shows for a clustered collection's _id index (None when not clustered)."""
    clustered = options.get("clusteredIndex")
    if clustered is None:
        return None
    return {**clustered, "clustered": True}
