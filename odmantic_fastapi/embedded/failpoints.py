"""Fail points: ``configureFailPoint`` and the faults it injects into command execution.

Only a server started with test commands enabled (``--enable-test-commands``,
``EmbeddedServer(test_commands=True)``) accepts ``configureFailPoint``; any
other answers ``CommandNotFound`` as mongod does. Two fail points exist:

- ``failCommand``, as MongoDB implements it: for the commands named in
  ``failCommands`` (optionally only from clients whose ``appName`` matches),
  close the connection, block it for ``blockTimeMS``, fail with ``errorCode``
  (and ``errorLabels``), or run the command and add a ``writeConcernError``.
- ``onPrimaryTransactionalWrite``: a retryable write is applied and then its
  connection closes before the reply, or it fails before it is applied with
  ``failBeforeCommitExceptionCode``; drivers test "applied exactly once" with it.

The modes are MongoDB's: ``alwaysOn``, ``off``, ``{times: n}``, ``{skip: n}``
and ``{activationProbability: p}``. A mode counts only the commands its
filters match.
"""

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .commands._base import Context, command
from .errors import CommandError
from .transactions import TxnOptions

if TYPE_CHECKING:
    from .server import Connection

__all__ = [
    "RETRYABLE_CODES",
    "CloseConnection",
    "FailPoints",
    "InjectedFault",
    "error_labels",
]

# MongoDB's RetriableError category: a retryable write failing with one of these
# (or with a write concern error carrying one) is labelled RetryableWriteError.
RETRYABLE_CODES = frozenset({6, 7, 89, 91, 134, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})
# Codes that make an operation inside a transaction TransientTransactionError, commit
# and abort included: LockTimeout, WriteConflict, NoSuchTransaction,
# PreparedTransactionInProgress, the snapshot errors (SnapshotTooOld,
# SnapshotUnavailable) and the routing ones (StaleShardVersion, StaleEpoch, StaleConfig).
_TRANSIENT_CODES = frozenset({24, 112, 251, 267, 239, 246, 63, 150, 13388})
# "Not primary" and shutdown codes are transient for statements, not for commit or abort.
_NOT_PRIMARY_CODES = frozenset({91, 189, 10107, 11600, 11602, 13435, 13436})
_WRITE_COMMANDS = frozenset(
    {"insert", "update", "delete", "findAndModify", "findandmodify", "bulkWrite"}
)
_ENDS_TRANSACTION = frozenset({"commitTransaction", "abortTransaction"})
_FAIL_POINTS = ("failCommand", "failGetMoreAfterCursorCheckout", "onPrimaryTransactionalWrite")
# A change stream's getMore failing with one of these is labelled ResumableChangeStreamError.
_RESUMABLE_CHANGE_STREAM_CODES = RETRYABLE_CODES | {43, 63, 133, 150, 234, 13388}
# Names of codes fail points are commonly set to, which the server never raises itself.
_FAULT_CODE_NAMES = {
    6: "HostUnreachable",
    7: "HostNotFound",
    24: "LockTimeout",
    63: "StaleShardVersion",
    64: "WriteConcernFailed",
    89: "NetworkTimeout",
    91: "ShutdownInProgress",
    133: "FailedToSatisfyReadPreference",
    134: "ReadConcernMajorityNotAvailableYet",
    150: "StaleEpoch",
    189: "PrimarySteppedDown",
    234: "RetryChangeStream",
    262: "ExceededTimeLimit",
    9001: "SocketException",
    10107: "NotWritablePrimary",
    11600: "InterruptedAtShutdown",
    11601: "Interrupted",
    11602: "InterruptedDueToReplStateChange",
    13388: "StaleConfig",
    13435: "NotPrimaryNoSecondaryOk",
    13436: "NotPrimaryOrSecondary",
}


class CloseConnection(ConnectionError):
    """Raised by the dispatcher to close a connection without replying."""


@dataclass
class _Mode:
    """When an armed fail point fires: MongoDB's alwaysOn, off, times, skip, activationProbability."""

    kind: str = "off"
    count: int = 0
    probability: float = 1.0

    @classmethod
    def parse(cls, value: Any) -> "_Mode":
        if value in ("alwaysOn", "off"):
            return cls(str(value))
        if isinstance(value, Mapping) and len(value) == 1:
            ((key, arg),) = value.items()
            if key in ("times", "skip"):
                if isinstance(arg, bool) or not isinstance(arg, int | float) or arg < 0:
                    raise CommandError(2, f"'{key}' must be a non-negative integer")
                return cls(key, int(arg))
            if key == "activationProbability":
                if isinstance(arg, bool) or not isinstance(arg, int | float) or not 0 <= arg <= 1:
                    raise CommandError(2, "activationProbability must be between 0 and 1")
                return cls(key, 0, float(arg))
        raise CommandError(
            9, "'mode' must be one of 'off', 'alwaysOn', 'times', 'skip' or 'activationProbability'"
        )

    def fire(self) -> bool:
        """Called for each command the filters match: does the fail point act on it?"""
        if self.kind == "alwaysOn":
            return True
        if self.kind == "times":
            if self.count <= 0:
                self.kind = "off"
                return False
            self.count -= 1
            if self.count == 0:
                self.kind = "off"
            return True
        if self.kind == "skip":
            if self.count > 0:
                self.count -= 1
                return False
            return True
        if self.kind == "activationProbability":
            return random.random() < self.probability
        return False


@dataclass
class _FailPoint:
    mode: _Mode = field(default_factory=_Mode)
    data: dict[str, Any] = field(default_factory=dict)
    entered: int = 0


@dataclass
class InjectedFault:
    """What a fired fail point does to one command."""

    close_before: bool = False
    close_after: bool = False
    block_seconds: float = 0.0
    error: CommandError | None = None
    write_concern_error: dict[str, Any] | None = None


def error_labels(
    code: int,
    name: str,
    txn: TxnOptions,
    *,
    write_concern_error: bool = False,
    change_stream: bool = False,
) -> list[str]:
    """The labels mongod itself attaches to an error a command ``name`` fails with.

    ``change_stream``: the command is a getMore on a change stream cursor.
    """
    labels: list[str] = []
    if change_stream and code in _RESUMABLE_CHANGE_STREAM_CODES:
        labels.append("ResumableChangeStreamError")
    ends = name in _ENDS_TRANSACTION
    in_transaction = txn.in_transaction or (ends and txn.txn_number is not None)
    # "Not primary" errors are transient for a statement, not for commit or abort.
    transient = code in _TRANSIENT_CODES or (not ends and code in _NOT_PRIMARY_CODES)
    if in_transaction and not write_concern_error and transient:
        labels.append("TransientTransactionError")
    retryable_write = ends or (txn.retryable_write and name in _WRITE_COMMANDS)
    if retryable_write and txn.txn_number is not None and code in RETRYABLE_CODES:
        labels.append("RetryableWriteError")
    # A write concern the set can never meet (100, 79) is a known result: the commit
    # happened and waiting again cannot help, so mongod leaves the label off.
    if name == "commitTransaction" and (
        code in RETRYABLE_CODES or code == 50 or (write_concern_error and code not in (79, 100))
    ):
        labels.append("UnknownTransactionCommitResult")
    return labels


class FailPoints:
    """The server's fail points and the decision, per command, of what they inject."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.points: dict[str, _FailPoint] = {name: _FailPoint() for name in _FAIL_POINTS}

    def configure(self, name: Any, mode: Any, data: Any) -> int:
        """Arm or disarm one fail point; returns how often it had fired."""
        if not isinstance(name, str) or name not in self.points:
            raise CommandError(2, f"Unknown fail point: {name!r}")
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise CommandError(14, "'data' must be an object")
        parsed = _Mode.parse(mode)
        if name == "failCommand" and parsed.kind != "off":
            commands = data.get("failCommands")
            if not isinstance(commands, list) or not all(isinstance(c, str) for c in commands):
                raise CommandError(
                    4, "failCommand fail point requires 'failCommands' as an array of names"
                )
        point = self.points[name]
        previous = point.entered
        point.mode, point.data, point.entered = parsed, dict(data), 0
        return previous

    def before(self, conn: "Connection", ctx: Context) -> InjectedFault | None:
        """The fault to inject into this command, if an armed fail point fires for it."""
        if not self.enabled or ctx.name == "configureFailPoint":
            return None
        return (
            self._fail_command(conn, ctx)
            or self._get_more_after_checkout(ctx)
            or self._transactional_write(ctx)
        )

    def _fail_command(self, conn: "Connection", ctx: Context) -> InjectedFault | None:
        point = self.points["failCommand"]
        data = point.data
        if point.mode.kind == "off" or ctx.name not in data.get("failCommands", ()):
            return None
        app_name = data.get("appName")
        if app_name is not None and app_name != _app_name(conn):
            return None
        namespace = data.get("namespace")
        if namespace is not None and namespace != f"{ctx.db}.{ctx.arg}":
            return None
        if not point.mode.fire():
            return None
        point.entered += 1
        fault = InjectedFault()
        if data.get("closeConnection"):
            fault.close_before = True
            return fault
        if data.get("blockConnection"):
            block_ms = data.get("blockTimeMS", 0)
            if isinstance(block_ms, int | float) and not isinstance(block_ms, bool):
                fault.block_seconds = max(float(block_ms), 0.0) / 1000
        code = data.get("errorCode")
        if isinstance(code, int) and not isinstance(code, bool):
            fault.error = _injected_error(
                code, "Failing command via 'failCommand' failpoint", data, ctx
            )
        wce = data.get("writeConcernError")
        if isinstance(wce, Mapping):
            fault.write_concern_error = dict(wce)
        return fault

    def _get_more_after_checkout(self, ctx: Context) -> InjectedFault | None:
        point = self.points["failGetMoreAfterCursorCheckout"]
        if point.mode.kind == "off" or ctx.name != "getMore" or not point.mode.fire():
            return None
        point.entered += 1
        data = point.data
        if data.get("closeConnection"):
            return InjectedFault(close_before=True)
        code = data.get("errorCode")
        if not isinstance(code, int) or isinstance(code, bool):
            return None
        return InjectedFault(
            error=_injected_error(
                code,
                "Failing getMore via 'failGetMoreAfterCursorCheckout' failpoint",
                data,
                ctx,
                cursor_checked_out=True,
            )
        )

    def _transactional_write(self, ctx: Context) -> InjectedFault | None:
        point = self.points["onPrimaryTransactionalWrite"]
        if point.mode.kind == "off" or not (
            ctx.txn.retryable_write and ctx.name in _WRITE_COMMANDS
        ):
            return None
        session = ctx.txn.session
        if session is not None and ctx.txn.txn_number in session.retry_replies:
            # A retry answered from the stored reply executes no write, so (as in
            # mongod, where the fail point sits in the write path) it neither fires
            # the fail point nor counts towards its mode.
            return None
        if not point.mode.fire():
            return None
        point.entered += 1
        data = point.data
        close = bool(data.get("closeConnection", True))
        code = data.get("failBeforeCommitExceptionCode")
        if isinstance(code, int) and not isinstance(code, bool):
            # The write fails before it is applied; the client sees the connection
            # close (as mongod ends the session first) unless closeConnection is false.
            if close:
                return InjectedFault(close_before=True)
            return InjectedFault(
                error=_injected_error(
                    code, "Failing write via 'onPrimaryTransactionalWrite' failpoint", {}, ctx
                )
            )
        return InjectedFault(close_after=close)

    @staticmethod
    def add_write_concern_error(
        reply: dict[str, Any], wce: Mapping[str, Any], ctx: Context
    ) -> None:
        """Attach a write concern error to a reply, labelled as mongod labels it.

        The error is the fail point's, as given (mongod adds no codeName to it).
        """
        error = {k: v for k, v in wce.items() if k != "errorLabels"}
        reply["writeConcernError"] = error
        labels = wce.get("errorLabels")
        if not isinstance(labels, list):
            code = error.get("code")
            labels = error_labels(
                code if isinstance(code, int) else 0,
                ctx.name,
                ctx.txn,
                write_concern_error=True,
            )
        if labels:
            reply["errorLabels"] = list(dict.fromkeys([*reply.get("errorLabels", []), *labels]))


def _injected_error(
    code: int,
    errmsg: str,
    data: Mapping[str, Any],
    ctx: Context,
    *,
    cursor_checked_out: bool = False,
) -> CommandError:
    """The error a fail point answers with: its labels, or those mongod would attach.

    ``cursor_checked_out``: the fault comes after a getMore found its cursor
    (failGetMoreAfterCursorCheckout). Only then does mongod know the cursor is a
    change stream's and label a resumable code ResumableChangeStreamError;
    failCommand fails a getMore before that, so its error carries no such label.
    """
    labels = data.get("errorLabels")
    if not isinstance(labels, list):
        cursor_id = ctx.cmd.get("getMore") if ctx.name == "getMore" else None
        labels = error_labels(
            code,
            ctx.name,
            ctx.txn,
            change_stream=cursor_checked_out
            and isinstance(cursor_id, int)
            and cursor_id in ctx.server.change_streams.streams,
        )
    error = CommandError(code, errmsg, labels=labels)
    if code in _FAULT_CODE_NAMES:
        error.code_name = _FAULT_CODE_NAMES[code]
    return error


def _app_name(conn: "Connection") -> str | None:
    metadata = conn.client_metadata or {}
    application = metadata.get("application")
    if isinstance(application, Mapping):
        name = application.get("name")
        return name if isinstance(name, str) else None
    return None


@command("configureFailPoint")
async def configure_fail_point(ctx: Context) -> dict[str, Any]:
    fail_points: FailPoints = ctx.server.fail_points
    if not fail_points.enabled:
        raise CommandError(59, "no such command: 'configureFailPoint'")
    if ctx.db != "admin":
        raise CommandError(13, "configureFailPoint may only be run against the admin database.")
    if "mode" not in ctx.cmd:
        raise CommandError(9, "Missing required 'mode' field for failpoint configuration")
    count = fail_points.configure(ctx.arg, ctx.cmd["mode"], ctx.cmd.get("data"))
    return {"count": count, "ok": 1.0}
