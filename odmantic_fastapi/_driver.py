"""The one place that knows how pymongo's async API and motor differ.

pymongo's ``AsyncMongoClient.start_session()`` returns a session and its
``start_transaction()`` is a coroutine; motor's ``start_session()`` is a
coroutine and its ``start_transaction()`` is not. Everything else (commit,
abort, end, ``in_transaction``) has the same shape on both.
"""

import inspect
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.client_session import ClientSession
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import _ServerMode
from pymongo.write_concern import WriteConcern

if TYPE_CHECKING:
    # motor ships no type information: to mypy its session is Any.
    from motor.motor_asyncio import AsyncIOMotorClientSession

__all__ = [
    "AsyncDriverSession",
    "DriverSession",
    "TransactionOptions",
    "TransactionSettings",
    "driver_client_of",
    "is_async_driver_session",
    "resolve",
    "start_driver_session",
    "start_driver_transaction",
    "unwrap_client",
]

#: A driver's async session: pymongo's ``AsyncClientSession`` or motor's.
AsyncDriverSession: TypeAlias = "AsyncClientSession | AsyncIOMotorClientSession"
#: Any driver session an engine passes to the driver.
DriverSession: TypeAlias = "AsyncDriverSession | ClientSession"


async def resolve(value: Any) -> Any:
    """Await ``value`` if it is awaitable; drivers disagree on which calls are coroutines."""
    if inspect.isawaitable(value):
        return await value
    return value


class TransactionSettings(TypedDict, total=False):
    """The keyword arguments naming a transaction's options (``engine.transaction(...)``)."""

    read_concern: ReadConcern | None
    write_concern: WriteConcern | None
    read_preference: _ServerMode | None
    max_commit_time_ms: int | None


class TransactionOptions:
    """Read concern, write concern, read preference and commit time of a transaction."""

    __slots__ = ("max_commit_time_ms", "read_concern", "read_preference", "write_concern")

    def __init__(
        self,
        *,
        read_concern: ReadConcern | None = None,
        write_concern: WriteConcern | None = None,
        read_preference: _ServerMode | None = None,
        max_commit_time_ms: int | None = None,
    ) -> None:
        self.read_concern = read_concern
        self.write_concern = write_concern
        self.read_preference = read_preference
        self.max_commit_time_ms = max_commit_time_ms

    def merged_over(self, defaults: "TransactionOptions") -> "TransactionOptions":
        """These options, with ``defaults`` filling whatever is not set."""
        return TransactionOptions(
            read_concern=self.read_concern or defaults.read_concern,
            write_concern=self.write_concern or defaults.write_concern,
            read_preference=self.read_preference or defaults.read_preference,
            max_commit_time_ms=(
                self.max_commit_time_ms
                if self.max_commit_time_ms is not None
                else defaults.max_commit_time_ms
            ),
        )

    def as_kwargs(self) -> dict[str, Any]:
        return {
            "read_concern": self.read_concern,
            "write_concern": self.write_concern,
            "read_preference": self.read_preference,
            "max_commit_time_ms": self.max_commit_time_ms,
        }


async def start_driver_session(client: Any) -> Any:
    """A new driver session on ``client`` (AsyncMongoClient or motor)."""
    return await resolve(client.start_session())


async def start_driver_transaction(session: Any, options: TransactionOptions) -> None:
    """Start a transaction on a driver session, whichever async driver made it."""
    result = session.start_transaction(**options.as_kwargs())
    await resolve(result)


def unwrap_client(client: Any) -> Any:
    """The pymongo client behind a motor client (pymongo clients are returned as they are).

    Only motor's classes are unwrapped: on a pymongo client, ``client.delegate``
    would be the database named "delegate".
    """
    if type(client).__module__.startswith("motor."):
        return client.delegate
    return client


def driver_client_of(session: Any) -> Any:
    """The pymongo client a driver session belongs to."""
    return unwrap_client(session.client)


def is_async_driver_session(session: Any) -> bool:
    """True for pymongo's AsyncClientSession and motor's session."""
    cls = type(session)
    return cls.__name__ in ("AsyncClientSession", "AsyncIOMotorClientSession", "MotorClientSession")
