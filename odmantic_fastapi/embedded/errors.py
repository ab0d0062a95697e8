"""Errors of the embedded server, shaped like MongoDB's so drivers raise their usual exceptions.

Every module of the server raises :class:`CommandError` (or a subclass) with a
MongoDB error code; the command dispatcher turns it into the reply document
``{ok: 0, errmsg, code, codeName, errorLabels}`` that pymongo and motor map to
``OperationFailure``, ``DuplicateKeyError`` and friends.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from bson.json_util import dumps

__all__ = [
    "CODE_NAMES",
    "BadValue",
    "CommandError",
    "DuplicateKey",
    "FailedToParse",
    "TypeMismatch",
    "WriteConflict",
]

CODE_NAMES: dict[int, str] = {
    1: "InternalError",
    2: "BadValue",
    4: "NoSuchKey",
    9: "FailedToParse",
    10: "UserNotFound",
    11: "UnknownError",
    14: "TypeMismatch",
    20: "IllegalOperation",
    26: "NamespaceNotFound",
    27: "IndexNotFound",
    40: "ConflictingUpdateOperators",
    43: "CursorNotFound",
    46: "LockBusy",
    47: "NoMatchingDocument",
    48: "NamespaceExists",
    50: "MaxTimeMSExpired",
    52: "DollarPrefixedFieldName",
    54: "NotSingleValueField",
    56: "EmptyFieldName",
    57: "DottedFieldName",
    59: "CommandNotFound",
    66: "ImmutableField",
    67: "CannotCreateIndex",
    68: "IndexAlreadyExists",
    72: "InvalidOptions",
    73: "InvalidNamespace",
    79: "UnknownReplWriteConcern",
    100: "UnsatisfiableWriteConcern",
    85: "IndexOptionsConflict",
    86: "IndexKeySpecsConflict",
    112: "WriteConflict",
    115: "CommandNotSupported",
    125: "CommandFailed",
    136: "CappedPositionLost",
    166: "CommandNotSupportedOnView",
    168: "InvalidPipelineOperator",
    175: "QueryPlanKilled",
    197: "InvalidIndexSpecificationOption",
    225: "TransactionTooOld",
    239: "SnapshotTooOld",
    244: "TransactionAborted",
    246: "SnapshotUnavailable",
    251: "NoSuchTransaction",
    256: "TransactionCommitted",
    257: "TransactionTooLarge",
    260: "InvalidResumeToken",
    263: "OperationNotSupportedInTransaction",
    280: "ChangeStreamFatalError",
    286: "ChangeStreamHistoryLost",
    290: "TransactionExceededLifetimeLimitSeconds",
    292: "QueryExceededMemoryLimitNoDiskUseAllowed",
    10334: "BSONObjectTooLarge",
    11000: "DuplicateKey",
    11600: "InterruptedAtShutdown",
    14031: "OutOfDiskSpace",
    15955: "Location15955",
    17287: "Location17287",
    31253: "Location31253",
    40324: "Location40324",
}


class CommandError(Exception):
    """A command failed; carries MongoDB's error code, name and labels."""

    def __init__(
        self,
        code: int,
        errmsg: str,
        *,
        labels: Iterable[str] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(errmsg)
        self.code = code
        self.errmsg = errmsg
        self.code_name = CODE_NAMES.get(code, f"Location{code}")
        self.labels = list(labels)
        self.extra = dict(extra or {})

    def to_reply(self) -> dict[str, Any]:
        """The reply document a driver expects for this failure."""
        reply: dict[str, Any] = {
            "ok": 0.0,
            "errmsg": self.errmsg,
            "code": self.code,
            "codeName": self.code_name,
        }
        reply.update(self.extra)
        if self.labels:
            reply["errorLabels"] = list(self.labels)
        return reply

    def to_write_error(self, index: int) -> dict[str, Any]:
        """The ``writeErrors`` entry for the ``index``-th document of a batch."""
        entry: dict[str, Any] = {"index": index, "code": self.code, "errmsg": self.errmsg}
        entry.update(self.extra)
        return entry


def BadValue(errmsg: str) -> CommandError:
    """Code 2: the request is well-formed BSON but its content is invalid."""
    return CommandError(2, errmsg)


def FailedToParse(errmsg: str) -> CommandError:
    """Code 9: an operator or argument could not be parsed."""
    return CommandError(9, errmsg)


def TypeMismatch(errmsg: str) -> CommandError:
    """Code 14: a value has the wrong BSON type for the operation."""
    return CommandError(14, errmsg)


def WriteConflict(errmsg: str | None = None) -> CommandError:
    """Code 112 with the TransientTransactionError label: retry the transaction."""
    return CommandError(
        112,
        errmsg
        or "Write conflict during plan execution and yielding is disabled. :: Please retry "
        "your operation or multi-document transaction.",
        labels=["TransientTransactionError"],
    )


def DuplicateKey(namespace: str, index_name: str, key: Mapping[str, Any]) -> CommandError:
    """Code 11000 with MongoDB's message, ``keyPattern`` and ``keyValue``."""
    rendered = ", ".join(f"{k}: {dumps(v)}" for k, v in key.items())
    return CommandError(
        11000,
        f"E11000 duplicate key error collection: {namespace} index: {index_name} "
        f"dup key: {{ {rendered} }}",
        extra={"keyPattern": {k: 1 for k in key}, "keyValue": dict(key)},
    )
