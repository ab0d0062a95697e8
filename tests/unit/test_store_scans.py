"""A large scan reads its candidates' versions lazily, as of the moment it started.

The server names a large scan's candidates when the scan starts and reads
their versions where the scan is consumed (often in a worker thread, while
other clients write), so that naming 100,000 candidates does not hold the
event loop. The scan must still see the collection as it was when it started:
its timestamp stays pinned, so writes in between neither show nor drop a
version it must read.
"""

import gc
from typing import Any

import pytest

from odmantic_fastapi.embedded.evaluation.matcher import compile_filter
from odmantic_fastapi.embedded.storage.store import Collection, Store

MANY = 3_000  # more than a scan reads at once


def _store(n: int) -> tuple[Store, Collection]:
    store = Store()
    coll, _ = store.ensure_collection("db", "c")
    for i in range(n):
        doc = {"_id": i, "v": 0}
        store.write(coll, coll.key_of(doc), doc, None)
    return store, coll


def _rewrite_all(store: Store, coll: Collection, n: int, value: Any, start: int = 0) -> None:
    for i in range(start, n):
        doc = {"_id": i, "v": value}
        store.write(coll, coll.key_of(doc), doc, None)


@pytest.mark.parametrize("filter", [{}, {"_id": {"$gte": 0}}], ids=["full scan", "index range"])
def test_writes_after_a_large_scan_starts_are_invisible_to_it(filter: dict[str, Any]) -> None:
    store, coll = _store(MANY)
    scan = store.scan(coll, filter, compile_filter(filter), None)
    _rewrite_all(store, coll, MANY, 1)
    _rewrite_all(store, coll, MANY, 2)
    seen = [doc for doc in scan if doc is not None]
    assert len(seen) == MANY
    assert {doc["v"] for doc in seen} == {0}


def test_an_index_scan_returns_documents_in_id_order() -> None:
    store, coll = _store(MANY)
    filter = {"_id": {"$gte": 10}}
    seen = [doc["_id"] for doc in store.scan(coll, filter, compile_filter(filter), None) if doc]
    assert seen == list(range(10, MANY))


def test_a_deletion_after_the_scan_starts_does_not_hide_the_document() -> None:
    store, coll = _store(MANY)
    filter = {"_id": {"$gte": 0}}
    scan = store.scan(coll, filter, compile_filter(filter), None)
    store.write(coll, coll.key_of({"_id": 7}), None, None)
    assert sum(1 for doc in scan if doc is not None) == MANY


def test_a_transaction_scan_sees_its_snapshot_and_its_own_writes_as_of_the_start() -> None:
    store, coll = _store(MANY)
    ws = store.begin()
    store.write(coll, coll.key_of({"_id": 1}), {"_id": 1, "v": "mine"}, ws)
    scan = store.scan(coll, {}, compile_filter({}), ws)
    _rewrite_all(store, coll, MANY, "committed later", start=3)  # 1 and 2 are the transaction's
    store.write(coll, coll.key_of({"_id": 2}), {"_id": 2, "v": "mine, later"}, ws)
    values = [doc["v"] for doc in scan if doc is not None]
    assert values.count("mine") == 1
    assert values.count(0) == MANY - 1


def test_the_pin_ends_with_the_scan_and_old_versions_are_then_dropped() -> None:
    store, coll = _store(MANY)
    finished = store.scan(coll, {}, compile_filter({}), None)
    unread = store.scan(coll, {}, compile_filter({}), None)
    _rewrite_all(store, coll, MANY, 1)
    assert store.oldest_snapshot() < store.clock
    assert max(len(chain) for chain in coll.versions.values()) == 2
    list(finished)
    del unread
    gc.collect()
    assert store.oldest_snapshot() == store.clock
    store.collect_pending()
    assert max(len(chain) for chain in coll.versions.values()) == 1


def test_a_small_scan_reads_its_versions_at_once() -> None:
    store, coll = _store(10)
    scan = store.scan(coll, {}, compile_filter({}), None)
    assert store.oldest_snapshot() == store.clock  # nothing pinned
    _rewrite_all(store, coll, 10, 1)
    assert {doc["v"] for doc in scan if doc is not None} == {0}
