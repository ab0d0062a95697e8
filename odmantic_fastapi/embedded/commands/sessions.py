"""Session commands: commitTransaction, abortTransaction, endSessions and friends."""

from typing import Any

from ..errors import CommandError
from ..transactions import ServerSession
from ._base import Context, command, journal_op

__all__: list[str] = []


def _transaction_session(ctx: Context) -> ServerSession:
    """The session whose transaction commitTransaction or abortTransaction ends."""
    if ctx.db != "admin":
        raise CommandError(13, f"{ctx.name} may only be run against the admin database.")
    session = ctx.txn.session
    if session is None or ctx.txn.txn_number is None:
        raise CommandError(50768, f"{ctx.name} must be run within a transaction")
    return session


def _session_ids(ctx: Context) -> list[Any]:
    if not isinstance(ctx.arg, list):
        raise CommandError(14, f"{ctx.name} takes an array of session ids")
    return ctx.arg


@command("commitTransaction")
async def commit_transaction(ctx: Context) -> dict[str, Any]:
    session = _transaction_session(ctx)
    if not ctx.txn.in_transaction:
        # A retried commit of a transaction that already committed.
        return {"ok": 1.0}
    if session.write_set is not None:
        # Collections and indexes the transaction created are journalled with its writes.
        ctx.catalog.extend(session.write_set.catalog)
    _, applied = ctx.server.sessions.commit(session)
    for write in applied:
        ctx.ops.append(journal_op(write.collection.namespace, write.id_value, write.doc))
    ctx.commit_marker = {"lsid": session.lsid_doc, "txnNumber": ctx.txn.txn_number}
    return {"ok": 1.0}


@command("abortTransaction")
async def abort_transaction(ctx: Context) -> dict[str, Any]:
    session = _transaction_session(ctx)
    ctx.server.sessions.abort(session, "aborted by the client")
    return {"ok": 1.0}


@command("endSessions")
async def end_sessions(ctx: Context) -> dict[str, Any]:
    lsids = _session_ids(ctx)
    ctx.server.end_sessions(lsids)
    return {"ok": 1.0}


@command("killSessions", "killAllSessions")
async def kill_sessions(ctx: Context) -> dict[str, Any]:
    lsids = ctx.arg if isinstance(ctx.arg, list) else []
    ctx.server.end_sessions(lsids)
    return {"ok": 1.0}


@command("refreshSessions")
async def refresh_sessions(ctx: Context) -> dict[str, Any]:
    lsids = _session_ids(ctx)
    for lsid in lsids:
        ctx.server.sessions.session(lsid)
    return {"ok": 1.0}
