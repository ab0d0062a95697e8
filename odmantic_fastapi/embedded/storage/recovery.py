"""Turning the in-memory store into a checkpoint, and a checkpoint plus journal back into a store.

A journal record is one atomic unit: a command's writes outside a
transaction (all of them, or those of one of its turns), or a whole committed
transaction, with catalog changes and the retryable-write reply (or the
results of the statements it holds) that must survive with it. Replaying applies each
record under its own commit timestamp, in order.
"""

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ..transactions import TransactionState
from .indexes import parse_index_spec
from .journal import Recovered
from .store import Store, id_key

if TYPE_CHECKING:
    from ..server import MongoServer

__all__ = ["apply_record", "capture_state", "replay"]


def _documents(store: Store) -> Iterator[dict[str, Any]]:
    for colls in store.databases.values():
        for coll in colls.values():
            ns = coll.namespace
            for _, doc in coll.iter_latest():
                yield {"ns": ns, "doc": doc}


def capture_state(server: "MongoServer") -> dict[str, Any]:
    """Everything committed, as a checkpoint: catalog, documents, session outcomes.

    Runs synchronously on the event loop, so the state is one consistent cut
    that includes every record journalled before it.
    """
    store = server.store
    catalog = [
        {
            "db": coll.db,
            "name": coll.name,
            "options": coll.options,
            "indexes": [idx.spec.to_document() for idx in coll.secondary_indexes],
        }
        for colls in store.databases.values()
        for coll in colls.values()
    ]
    sessions = []
    for session in server.sessions.sessions.values():
        entry: dict[str, Any] = {"lsid": session.lsid_doc, "txnNumber": session.txn_number}
        reply = session.retry_replies.get(session.txn_number)
        if reply is not None:
            entry["reply"] = reply
        progress = session.retry_progress.get(session.txn_number)
        if progress:
            entry["progress"] = {str(index): result for index, result in progress.items()}
        if session.state is TransactionState.COMMITTED:
            entry["committed"] = True
        sessions.append(entry)
    return {
        "clock": store.clock,
        "catalog": catalog,
        "documents": list(_documents(store)),
        "sessions": sessions,
    }


def _apply_catalog(store: Store, change: Mapping[str, Any]) -> None:
    op = change["op"]
    if op == "create":
        store.ensure_collection(change["db"], change["name"], change.get("options"))
    elif op == "drop":
        store.drop_collection(change["db"], change["name"])
    elif op == "dropDatabase":
        store.drop_database(change["db"])
    elif op == "createIndex":
        coll, _ = store.ensure_collection(change["db"], change["name"])
        spec = parse_index_spec(change["spec"])
        if spec.name not in coll.indexes:
            coll.add_index(spec)
    elif op == "collMod":
        modified = store.collection(change["db"], change["name"])
        if modified is not None:
            modified.options = dict(change["options"])
            for spec_doc in change.get("indexes", ()):
                spec = parse_index_spec(spec_doc)
                if spec.name in modified.indexes:
                    modified.indexes[spec.name].spec = spec
    elif op == "dropIndex":
        coll_or_none = store.collection(change["db"], change["name"])
        if coll_or_none is not None:
            coll_or_none.indexes.pop(change["index"], None)
    elif op == "rename":
        src_db, _, src_name = change["from"].partition(".")
        dst_db, _, dst_name = change["to"].partition(".")
        moved = store.databases.get(src_db, {}).pop(src_name, None)
        if moved is not None:
            if not store.databases[src_db]:
                del store.databases[src_db]
            moved.db, moved.name = dst_db, dst_name
            store.databases.setdefault(dst_db, {})[dst_name] = moved


def _apply_session(server: "MongoServer", entry: Mapping[str, Any], *, committed: bool) -> None:
    session = server.sessions.session(entry["lsid"])
    number = int(entry["txnNumber"])
    if number > session.txn_number:
        session.txn_number = number
        session.retry_replies.clear()
        session.retry_progress.clear()
        session.state = TransactionState.NONE
    if number != session.txn_number:
        return  # an older number: a rollback keeps the session's newer state
    if "reply" in entry:
        session.retry_replies[number] = entry["reply"]
    if "progress" in entry:
        done = session.retry_progress.setdefault(number, {})
        done.update({int(index): result for index, result in entry["progress"].items()})
    if committed:
        session.state = TransactionState.COMMITTED


def apply_record(server: "MongoServer", record: Mapping[str, Any]) -> None:
    """Re-apply one journal record under a new commit timestamp."""
    store = server.store
    for change in record.get("catalog", ()):
        _apply_catalog(store, change)
    ops = record.get("ops", ())
    if ops:
        store.clock += 1
        for op in ops:
            db, _, name = op["ns"].partition(".")
            coll, _ = store.ensure_collection(db, name)
            doc = op.get("doc")
            key = coll.key_of(doc) if doc is not None else id_key(op["id"])
            chain = coll.versions.get(key)
            if doc is None and not chain:
                continue
            coll.add_version(key, store.clock, doc)
            coll.collect(key, store.clock)
    if "retry" in record:
        _apply_session(server, record["retry"], committed=False)
    if "committed" in record:
        _apply_session(server, record["committed"], committed=True)


def replay(server: "MongoServer", recovered: Recovered) -> None:
    """Rebuild the store from a checkpoint and the journal written after it."""
    store = server.store
    checkpoint = recovered.checkpoint
    if checkpoint is not None:
        pending_indexes: list[tuple[Any, Mapping[str, Any]]] = []
        for entry in checkpoint.get("catalog", ()):
            coll, _ = store.ensure_collection(entry["db"], entry["name"], entry.get("options"))
            pending_indexes.extend((coll, spec) for spec in entry.get("indexes", ()))
        clock = int(checkpoint.get("clock", 0))
        for item in checkpoint.get("documents", ()):
            db, _, name = item["ns"].partition(".")
            coll, _ = store.ensure_collection(db, name)
            doc = item["doc"]
            coll.add_version(coll.key_of(doc), clock, doc)
        for coll, spec in pending_indexes:
            coll.add_index(parse_index_spec(spec))
        store.clock = clock
        for entry in checkpoint.get("sessions", ()):
            _apply_session(server, entry, committed=bool(entry.get("committed")))
    for record in recovered.records:
        apply_record(server, record)
