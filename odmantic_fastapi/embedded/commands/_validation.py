"""Document validation: a collection's ``validator``, checked on every document it stores.

The validator is a query filter (``$jsonSchema`` is not supported). At
``validationLevel: "strict"`` every insert and update must match it; at
``"moderate"`` an update of a document that did not match already is let
through; ``"off"`` checks nothing. ``validationAction: "warn"`` logs instead
of refusing; a command's ``bypassDocumentValidation`` skips the check.
"""

import logging
from collections.abc import Mapping
from typing import Any
from weakref import WeakKeyDictionary

from ..errors import CommandError
from ..evaluation.matcher import Matcher, compile_filter
from ..storage.store import Collection

__all__ = ["check_validation_options", "validate_write"]

log = logging.getLogger("odmantic_fastapi.embedded")

_LEVELS = ("off", "strict", "moderate")
_ACTIONS = ("error", "warn")
# A collection's compiled validator, with the filter it was compiled from.
_compiled: "WeakKeyDictionary[Collection, tuple[Any, Matcher]]" = WeakKeyDictionary()


def check_validation_options(options: Mapping[str, Any]) -> None:
    """``validator``, ``validationLevel`` and ``validationAction``, checked before they are kept."""
    validator = options.get("validator")
    if validator is not None:
        if not isinstance(validator, Mapping):
            raise CommandError(14, "'validator' must be an object")
        if "$jsonSchema" in validator:
            raise CommandError(
                72, "$jsonSchema validators are not supported by the embedded server"
            )
        for key in validator:
            if key in ("$where", "$text", "$near", "$nearSphere"):
                raise CommandError(72, f"{key} is not allowed in collection validators")
        compile_filter(validator)
    level = options.get("validationLevel", "strict")
    if level not in _LEVELS:
        raise CommandError(
            2, f"Enumeration value '{level}' for field 'validationLevel' is not a valid value."
        )
    action = options.get("validationAction", "error")
    if action not in _ACTIONS:
        raise CommandError(
            2, f"Enumeration value '{action}' for field 'validationAction' is not a valid value."
        )


def _matcher(coll: Collection, validator: Any) -> Matcher:
    found = _compiled.get(coll)
    if found is None or found[0] is not validator:
        found = (validator, compile_filter(validator))
        _compiled[coll] = found
    return found[1]


def validate_write(
    coll: Collection,
    before: Mapping[str, Any] | None,
    doc: Mapping[str, Any],
    bypass: bool,
) -> None:
    """Refuse (121) or log a document the collection's validator does not accept."""
    validator = coll.options.get("validator")
    if validator is None or bypass:
        return
    level = coll.options.get("validationLevel", "strict")
    if level == "off":
        return
    matcher = _matcher(coll, validator)
    if matcher.matches(doc):
        return
    if level == "moderate" and before is not None and not matcher.matches(before):
        return
    if coll.options.get("validationAction", "error") == "warn":
        log.warning("Document would fail validation: %s, _id %r", coll.namespace, doc.get("_id"))
        return
    raise CommandError(
        121,
        "Document failed validation",
        extra={
            "errInfo": {
                "failingDocumentId": doc.get("_id"),
                "details": {"operatorName": "$and", "specifiedAs": dict(validator)},
            }
        },
    )
