"""The asyncio server: accepts connections, frames messages, runs commands, journals writes.

Each connection is served by its own task and handles one message at a time,
as mongod does; a slow or hostile client only ever stalls itself. Commands run
on the event loop without yielding (except to wait for a lock or for the
journal's fsync), so each one is atomic with respect to other clients.
"""

import asyncio
import contextlib
import datetime
import ipaddress
import logging
import resource
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bson import ObjectId

from . import collector
from . import commands as _commands  # noqa: F401 - registers the command handlers
from .auth import ScramConversation, UserStore
from .change_streams import ChangeStreams
from .commands._base import COMMANDS, Context, Handler, journal_op
from .consistency import ClusterClock, SnapshotReads, check_write_concern, parse_read_concern
from .cursors import CursorRegistry
from .errors import CommandError
from .evaluation import budget
from .failpoints import CloseConnection, FailPoints, InjectedFault
from .storage.journal import Journal, JournalWriteError
from .storage.recovery import capture_state, replay
from .storage.store import LockWait, Store
from .transactions import SessionRegistry, TransactionState
from .wire import (
    HEADER,
    MAX_MESSAGE_SIZE,
    OP_QUERY,
    ProtocolError,
    Request,
    encode_msg,
    encode_reply,
    parse_message,
)

__all__ = ["Connection", "MongoServer", "ServerConfig"]

log = logging.getLogger("odmantic_fastapi.embedded")

_WRITE_COMMANDS = frozenset({"insert", "update", "delete", "findAndModify", "findandmodify"})
_ENDS_TRANSACTION = frozenset({"commitTransaction", "abortTransaction"})
# What a connection may run before it authenticates, when users are configured.
_BEFORE_AUTHENTICATION = frozenset({"hello", "isMaster", "ismaster", "saslStart", "saslContinue"})
_HOUSEKEEPING_SECONDS = 1.0
# Message bodies up to this size are decoded on the event loop; larger ones in a worker thread.
_DECODE_ON_LOOP = 1 << 20
# Commands that never change data: they run without the write gate (see commands._writing).
_NEVER_WRITE = frozenset(
    {
        "find", "getMore", "killCursors", "count", "distinct", "aggregate",
        "listCollections", "listIndexes", "listDatabases", "dbStats", "collStats",
        "hello", "isMaster", "ismaster", "ping", "buildInfo", "buildinfo", "serverStatus",
        "hostInfo", "whatsmyuri", "connectionStatus", "getCmdLineOpts", "getLog",
        "listCommands", "getParameter", "replSetGetStatus", "getFreeMonitoringStatus",
        "saslStart", "saslContinue", "abortTransaction", "endSessions", "killSessions",
        "killAllSessions", "refreshSessions", "configureFailPoint",
    }
)  # fmt: skip


@dataclass
class ServerConfig:
    """How to run the server; the defaults are safe (loopback only, in memory)."""

    host: str = "127.0.0.1"
    port: int = 27017
    data_dir: Path | None = None
    # Idle connections cost a task and a socket each: thousands are fine.
    max_connections: int = 20000
    # A client that sent a message header has this long to send the body.
    body_timeout_seconds: float = 30.0
    advertise_host: str | None = None
    # Journal bytes after which the store is checkpointed, bounding restart time.
    checkpoint_bytes: int = 64 * 1024 * 1024
    # configureFailPoint and the other test-only commands (mongod's enableTestCommands).
    test_commands: bool = False
    # Start even if a journal is damaged before its end, keeping its intact prefix.
    repair_journal: bool = False
    # name -> password; any user turns authentication (SCRAM-SHA-256) on.
    users: dict[str, str] = field(default_factory=dict)


class Connection:
    """One client connection."""

    def __init__(self, connection_id: int, peer: str) -> None:
        self.connection_id = connection_id
        self.peer = peer
        self.client_metadata: dict[str, Any] | None = None
        # Who authenticated on this connection, and a SCRAM exchange under way.
        self.user: str | None = None
        self.scram: ScramConversation | None = None


class MongoServer:
    """A MongoDB-compatible server speaking the wire protocol."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self.config = config or ServerConfig()
        self.users = UserStore(self.config.users)
        self.store = Store()
        self.sessions = SessionRegistry(self.store)
        self.cursors = CursorRegistry()
        self.fail_points = FailPoints(self.config.test_commands)
        self.change_streams = ChangeStreams()
        self.cluster_clock = ClusterClock()
        self.snapshot_reads = SnapshotReads(self.store, self.cluster_clock)
        self.journal: Journal | None = None
        self.connections: dict[int, Connection] = {}
        self.total_connections = 0
        self.process_id = ObjectId()
        self.election_id = ObjectId("7fffffff0000000000000001")
        self.started_at = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        self.ttl_monitor_sleep_seconds = 60
        self.port = self.config.port
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._housekeeping: asyncio.Task[None] | None = None
        self._checkpointing: asyncio.Task[None] | None = None
        self._checkpoint_lock = asyncio.Lock()
        # Held by a command from its first write until its record is queued (see commands._writing).
        self.write_gate = asyncio.Lock()
        # Set by stop(): evaluation loops (worker threads too) end their command with 11600.
        self._stopping = threading.Event()
        self._last_ttl_run = 0.0

    # -- lifecycle -------------------------------------------------------

    @property
    def advertised_address(self) -> str:
        host = self.config.advertise_host or self.config.host
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """A connection string for this server, naming the address it is bound to."""
        host = self.config.advertise_host or self.config.host or "0.0.0.0"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"mongodb://{host}:{self.port}/"

    @property
    def loopback_only(self) -> bool:
        """Whether only this machine can reach the server."""
        host = self.config.host
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    async def start(self) -> str:
        """Recover durable state, start listening, and return the URL."""
        collector.install()
        if self.config.data_dir is not None:
            journal, recovered = await asyncio.to_thread(
                Journal.open, self.config.data_dir, repair=self.config.repair_journal
            )
            self.journal = journal
            journal.on_failure = self._roll_back_to_durable
            replay(self, recovered)
            # What the journal loaded lives as long as the data: no pass needs to walk it.
            collector.freeze_survivors()
            if recovered.torn_bytes:
                log.warning(
                    "discarded a torn final journal record (%d bytes)", recovered.torn_bytes
                )
            for path, offset, size, intact in recovered.repaired:
                log.warning(
                    "repair: dropped %d bytes of %s from byte %d (%s intact records among them)",
                    size,
                    path.name,
                    offset,
                    "unknown" if intact < 0 else intact,
                )
        _allow_open_files(self.config.max_connections + 256)
        self._server = await asyncio.start_server(
            self._serve_connection,
            self.config.host,
            self.config.port,
            limit=2**20,
            backlog=1024,
        )
        sockets = self._server.sockets
        if sockets:
            self.port = sockets[0].getsockname()[1]
        if not self.loopback_only and not self.users.enabled:
            print(
                f"warning: listening on {self.config.host or '*'}:{self.port}, not only on "
                "loopback: every host that can reach it can read, write and drop every "
                "database",
                file=sys.stderr,
                flush=True,
            )
        self._housekeeping = asyncio.create_task(self._housekeep())
        return self.url

    async def serve_forever(self) -> None:
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    def interrupt(self) -> None:
        """Make running and new commands end with InterruptedAtShutdown (thread-safe)."""
        self._stopping.set()

    async def stop(self) -> None:
        """Stop accepting, close connections, abort open transactions, close the journal."""
        self._stopping.set()
        if self._housekeeping is not None:
            self._housekeeping.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._housekeeping
        if self._checkpointing is not None:
            with contextlib.suppress(Exception):
                await self._checkpointing
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        for session in list(self.sessions.sessions.values()):
            self.sessions.abort(session, "server shutting down")
        if self.journal is not None:
            await self.journal.close()
            self.journal = None

    # -- connections -----------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = writer.get_extra_info("peername")
        peer_text = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        if len(self.connections) >= self.config.max_connections:
            log.warning("refusing connection from %s: connection limit reached", peer_text)
            writer.close()
            self._tasks.discard(task)
            return
        self.total_connections += 1
        conn = Connection(self.total_connections, peer_text)
        self.connections[conn.connection_id] = conn
        try:
            await self._connection_loop(conn, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except ProtocolError as exc:
            log.info("closing connection %d from %s: %s", conn.connection_id, peer_text, exc)
        except asyncio.CancelledError:
            pass
        finally:
            self.connections.pop(conn.connection_id, None)
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _connection_loop(
        self, conn: Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            header = await reader.readexactly(HEADER.size)
            length, request_id, _, _ = HEADER.unpack(header)
            if length < HEADER.size + 1 or length > MAX_MESSAGE_SIZE:
                raise ProtocolError(f"message length {length} is out of bounds")
            # The body arrives into a buffer that grows with what is received (never
            # the declared length up front); a client that withholds it is dropped.
            try:
                body = await asyncio.wait_for(
                    reader.readexactly(length - HEADER.size), self.config.body_timeout_seconds
                )
            except TimeoutError:
                raise ProtocolError(
                    f"the body of a {length}-byte message did not arrive within "
                    f"{self.config.body_timeout_seconds:g} s"
                ) from None
            if len(body) > _DECODE_ON_LOOP:
                # Decoding a large batch (up to 48 MB of documents) would hold the
                # event loop for a few hundred milliseconds.
                request = await asyncio.to_thread(parse_message, header, body)
            else:
                request = parse_message(header, body)
            reply = await self.execute(conn, request)
            if request.more_to_come:
                continue
            encode = encode_reply if request.op_code == OP_QUERY else encode_msg
            try:
                data = encode(0, request_id, reply)
            except Exception:  # a reply that cannot be encoded (e.g. too large)
                log.exception("could not encode the reply to %s", next(iter(request.command), "?"))
                data = encode(0, request_id, CommandError(10334, "reply too large").to_reply())
            writer.write(data)
            if writer.transport.get_write_buffer_size() > 2**20:
                await writer.drain()

    # -- commands --------------------------------------------------------

    async def execute(self, conn: Connection, request: Request) -> dict[str, Any]:
        """Run one command and return its reply document, with the cluster time.

        Raises only :class:`CloseConnection`, when a fail point closes the connection.
        """
        reply = await self._execute(conn, request)
        self.cluster_clock.gossip(reply, self.store.clock)
        return reply

    async def _execute(self, conn: Connection, request: Request) -> dict[str, Any]:
        cmd = request.command
        if not cmd:
            return CommandError(59, "no command given").to_reply()
        name = next(iter(cmd))
        db = cmd.get("$db", request.legacy_db)
        if not isinstance(db, str) or not db:
            return CommandError(40571, "OP_MSG requests require a $db argument").to_reply()
        if self.users.enabled and conn.user is None and name not in _BEFORE_AUTHENTICATION:
            return CommandError(13, f"Command {name} requires authentication").to_reply()
        handler = self.change_streams.handler_for(name, cmd) or COMMANDS.get(name)
        if handler is None:
            return CommandError(59, f"no such command: '{name}'").to_reply()
        unmet_write_concern: CommandError | None = None
        try:
            txn = self.sessions.options_for(name, cmd)
            try:
                check_write_concern(name, cmd)
            except CommandError as exc:
                # A commit is applied first and reports the write concern it could
                # not wait for, as mongod does; other commands are refused before writing.
                if name != "commitTransaction" or exc.code not in (79, 100):
                    raise
                unmet_write_concern = exc
            read_concern = parse_read_concern(name, cmd, txn.in_transaction)
        except CommandError as exc:
            return exc.to_reply()
        session = txn.session
        ctx = Context(self, conn, db, name, cmd, txn)
        if read_concern.snapshot and not txn.in_transaction:
            try:
                ctx.snapshot = self.snapshot_reads.open(
                    session.lsid if session is not None else None, read_concern.at_cluster_time
                )
            except CommandError as exc:
                return exc.to_reply()
        fault = self.fail_points.before(conn, ctx)
        if fault is not None:
            if fault.close_before:
                raise CloseConnection("closed by the failCommand fail point")
            if fault.block_seconds:
                await asyncio.sleep(fault.block_seconds)
            if fault.error is not None:
                # mongod fails the command before it checks out the session: an open
                # transaction stays open (the driver may retry the statement in it), and
                # one this command would have started is not started.
                if txn.starts_transaction and session is not None:
                    self.sessions.undo_start(session)
                return fault.error.to_reply()
        running: tuple[dict[int, asyncio.Event], int] | None = None
        if txn.retryable_write and name in _WRITE_COMMANDS and session is not None:
            number = txn.txn_number
            assert number is not None
            # A retry that arrives while the first attempt runs (in turns) waits for it.
            while (first := session.running_writes.get(number)) is not None:
                await first.wait()
            stored = session.retry_replies.get(number)
            if stored is not None:
                return self._after_fault(fault, stored, ctx)
            session.running_writes[number] = asyncio.Event()
            running = (session.running_writes, number)
        ctx.gated = name not in _NEVER_WRITE
        try:
            try:
                reply = await self._run(ctx, handler)
                retry = self._keep_retry_reply(ctx, reply)
                durable = self._queue_record(ctx, retry)
            finally:
                ctx.let_gate_go()
            try:
                await _all_durable(durable)
            except JournalWriteError as exc:
                # Memory is rolled back to what the journal holds already (see
                # _roll_back_to_durable); no stored reply may answer a retry.
                if retry is not None and session is not None and txn.txn_number is not None:
                    session.retry_replies.pop(txn.txn_number, None)
                if ctx.commit_marker is not None and session is not None:
                    session.state = TransactionState.ABORTED
                    session.abort_reason = "its commit could not be journalled"
                return _storage_error(exc).to_reply()
        finally:
            # A retry that waited is let in once the reply is durable (or is known not to be).
            if running is not None:
                writes, number = running
                writes.pop(number).set()
        if unmet_write_concern is not None and reply.get("ok") == 1.0:
            reply = {
                **reply,
                "writeConcernError": {
                    "code": unmet_write_concern.code,
                    "codeName": unmet_write_concern.code_name,
                    "errmsg": unmet_write_concern.errmsg,
                },
            }
        if (
            self.journal is not None
            and self.journal.bytes_since_checkpoint > self.config.checkpoint_bytes
            and not self._checkpoint_lock.locked()
        ):
            # In the background: the write is durable already, and a failed
            # checkpoint only postpones trimming the journal.
            self._checkpointing = asyncio.create_task(self.checkpoint())
        return self._after_fault(fault, reply, ctx)

    async def _run(self, ctx: Context, handler: Handler) -> dict[str, Any]:
        """Run the handler under the command's time limit; errors become error replies."""
        txn, session, name = ctx.txn, ctx.txn.session, ctx.name
        dropped = list(self.store.databases.get(ctx.db, {})) if name == "dropDatabase" else []
        deadline = budget.set_deadline(ctx.max_time_deadline(), self._stopping)
        try:
            await ctx.take_gate()
            reply = await handler(ctx)
            self.change_streams.after_command(ctx, dropped)
            if txn.in_transaction and session is not None and reply.get("writeErrors"):
                self.sessions.abort(session, "a write in the transaction failed")
        except CommandError as exc:
            if txn.in_transaction and session is not None:
                self.sessions.abort(session, exc.code_name)
            reply = exc.to_reply()
        except LockWait:  # pragma: no cover - handlers wait for locks themselves
            reply = CommandError(112, "write conflict").to_reply()
        except Exception:
            log.exception("command %r failed unexpectedly", name)
            if txn.in_transaction and session is not None:
                self.sessions.abort(session, "internal error")
            reply = CommandError(1, f"internal error while running '{name}'").to_reply()
        finally:
            budget.reset_deadline(deadline)
        if ctx.snapshot is not None:
            if reply.get("ok") == 1.0:
                at = self.cluster_clock.timestamp(ctx.snapshot.snapshot_ts)
                cursor = reply.get("cursor")
                if isinstance(cursor, dict):
                    cursor["atClusterTime"] = at
                else:
                    reply["atClusterTime"] = at
            if session is None:
                self.snapshot_reads.done(ctx.snapshot)
        return reply

    def _keep_retry_reply(self, ctx: Context, reply: dict[str, Any]) -> dict[str, Any] | None:
        """Remember a retryable write's reply; returns its journal form (None for others)."""
        txn, session = ctx.txn, ctx.txn.session
        if (
            txn.retryable_write
            and ctx.name in _WRITE_COMMANDS
            and session is not None
            and reply.get("ok") == 1.0
            and not reply.get("writeErrors")
        ):
            assert txn.txn_number is not None
            session.retry_replies[txn.txn_number] = reply
            # The reply answers any retry now: its statements' results are not needed.
            session.retry_progress.pop(txn.txn_number, None)
            ctx.statement_results = {}
            return {"lsid": session.lsid_doc, "txnNumber": txn.txn_number, "reply": reply}
        return None

    def _after_fault(
        self, fault: InjectedFault | None, reply: dict[str, Any], ctx: Context
    ) -> dict[str, Any]:
        """What a fired fail point does once the command has run (or was answered from memory)."""
        if fault is None:
            return reply
        if fault.close_after:
            raise CloseConnection("closed by the onPrimaryTransactionalWrite fail point")
        if fault.write_concern_error is not None and reply.get("ok") == 1.0:
            reply = dict(reply)
            self.fail_points.add_write_concern_error(reply, fault.write_concern_error, ctx)
        return reply

    def _queue_record(
        self, ctx: Context, retry: dict[str, Any] | None
    ) -> list[asyncio.Future[None]]:
        """Queue the command's (last) journal record; returns every record of it not yet fsynced.

        Runs while the command still holds the write gate, so records are
        queued in the order their writes changed memory.
        """
        if self.journal is None:
            return ctx.journaled
        record: dict[str, Any] = {}
        catalog = ctx.unjournaled_catalog()
        if catalog:
            record["catalog"] = catalog
        if ctx.ops:
            record["ops"] = ctx.ops
        progress = ctx.progress_record()
        if retry is not None:
            record["retry"] = retry
        elif progress is not None:
            record["retry"] = progress
        if ctx.commit_marker is not None:
            record["committed"] = ctx.commit_marker
        if not record:
            return ctx.journaled
        return [*ctx.journaled, self.journal.append_nowait(record)]

    async def checkpoint(self) -> None:
        """Write the whole committed state so the journal can start afresh."""
        async with self._checkpoint_lock:
            if self.journal is None:
                return
            # The state is captured (and the journal switched) while no write
            # is half journalled.
            async with self.write_gate:
                written = self.journal.checkpoint(capture_state(self))
            await written

    def _roll_back_to_durable(self, error: JournalWriteError) -> None:
        """After a failed journal write: make memory hold exactly what the journal holds.

        Runs on the event loop between the failure and the failed commands'
        replies, so no client sees a state in between. Open transactions were
        built on the state being replaced and are aborted (their next command
        gets NoSuchTransaction, a TransientTransactionError); cursors keep the
        documents they already hold.
        """
        assert self.journal is not None
        recovered = self.journal.read_durable()
        for session in self.sessions.sessions.values():
            self.sessions.abort(session, "a journal write failed")
            # Replaying the journal restores the statement results it holds, and only those.
            session.retry_progress.clear()
        self.store = Store()
        self.sessions.store = self.store
        # Snapshot sessions read the replaced state: their next read is SnapshotTooOld.
        self.snapshot_reads = SnapshotReads(self.store, self.cluster_clock)
        replay(self, recovered)
        log.warning("rolled back to the journal's last durable record after: %s", error)

    def end_sessions(self, lsids: list[Any]) -> None:
        for lsid in lsids:
            if isinstance(lsid, Mapping) and "id" in lsid:
                self.cursors.kill_session(bytes(lsid["id"]))
                self.change_streams.kill_session(bytes(lsid["id"]))
                self.change_streams.forget_session(bytes(lsid["id"]))
                self.snapshot_reads.release(bytes(lsid["id"]))
        self.sessions.end(lsids)

    # -- housekeeping ----------------------------------------------------

    async def _housekeep(self) -> None:
        while True:
            await asyncio.sleep(_HOUSEKEEPING_SECONDS)
            try:
                self.sessions.reap()
                self.snapshot_reads.reap(set(self.sessions.sessions))
                self.cursors.reap()
                self.change_streams.reap()
                self.store.collect_pending()
                now = time.monotonic()
                if now - self._last_ttl_run >= self.ttl_monitor_sleep_seconds:
                    self._last_ttl_run = now
                    await self._expire_ttl()
            except Exception:
                log.exception("housekeeping failed")

    async def _expire_ttl(self) -> None:
        async with self.write_gate:
            await self._expire_ttl_now()

    async def _expire_ttl_now(self) -> None:
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        ops: list[dict[str, Any]] = []
        for coll, key in list(self.store.expired_documents(now)):
            doc = coll.latest(key)
            if doc is None:
                continue
            try:
                self.store.write(coll, key, None, None)
            except LockWait:
                continue  # held by an open transaction; the next pass retries
            ops.append(journal_op(coll.namespace, coll.key_value(doc), None))
        if ops and self.journal is not None:
            durable = self.journal.append_nowait({"ops": ops})
            with contextlib.suppress(JournalWriteError):  # rolled back; the next pass retries
                await durable


def _allow_open_files(wanted: int) -> None:
    """Raise this process's open-file limit towards ``wanted`` (one per connection)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < ceiling:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))


async def _all_durable(futures: list[asyncio.Future[None]]) -> None:
    """Wait for every record; raise the first failure (every one is retrieved)."""
    if not futures:
        return
    results = await asyncio.gather(*futures, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _storage_error(exc: JournalWriteError) -> CommandError:
    """The reply to a command whose writes could not be journalled, and were undone."""
    if exc.out_of_space:
        return CommandError(
            14031,
            f"the write was not applied: the data directory is out of space ({exc.os_error})",
        )
    return CommandError(
        1, f"the write was not applied: the journal could not be written ({exc.os_error})"
    )
