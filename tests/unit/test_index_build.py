"""An index built in steps gets the writes made meanwhile, and a unique one finds its duplicates."""

from typing import Any

from odmantic_fastapi.embedded.evaluation.compare import sort_key
from odmantic_fastapi.embedded.storage.index_build import IndexBuild
from odmantic_fastapi.embedded.storage.indexes import Index, parse_index_spec
from odmantic_fastapi.embedded.storage.store import Collection, Store


def _store(n: int) -> tuple[Store, Collection]:
    store = Store()
    coll, _ = store.ensure_collection("db", "c")
    for i in range(n):
        _put(store, coll, {"_id": i, "k": i})
    return store, coll


def _put(store: Store, coll: Collection, doc: dict[str, Any]) -> None:
    store.write(coll, coll.key_of(doc), doc, None)


def _drop(store: Store, coll: Collection, id_value: int) -> None:
    store.write(coll, coll.key_of({"_id": id_value}), None, None)


def _entries(index: Index) -> dict[Any, dict[Any, int]]:
    return {entry: dict(holders) for entry, holders in index.entries_map.items()}


def test_writes_before_and_after_the_build_passes_a_key_end_up_in_the_index() -> None:
    store, coll = _store(1_000)
    spec = parse_index_spec({"key": {"k": 1}, "name": "k_1"})
    build = IndexBuild(coll, spec)
    build.step(500)
    _put(store, coll, {"_id": 10, "k": -10})  # passed: updated in the index at once
    _put(store, coll, {"_id": 900, "k": -900})  # not reached yet: read when reached
    _drop(store, coll, 20)
    _drop(store, coll, 950)
    _put(store, coll, {"_id": 5_000, "k": 5_000})  # new since the build began
    while not build.step(100):
        pass
    build.end()
    assert not coll.builds
    fresh = coll.add_index(parse_index_spec({"key": {"k": 1}, "name": "again"}))
    assert _entries(build.index) == _entries(fresh)
    assert (sort_key(-900),) in build.index.entries_map


def test_a_unique_build_finds_a_duplicate_written_during_the_build() -> None:
    store, coll = _store(1_000)
    build = IndexBuild(coll, parse_index_spec({"key": {"k": 1}, "name": "k_1", "unique": True}))
    build.step(300)
    _put(store, coll, {"_id": 5_000, "k": 7})  # the value of _id 7, already indexed
    while not build.step(300):
        pass
    duplicate = build.duplicate()
    build.end()
    assert duplicate is not None and duplicate["k"] == 7


def test_a_unique_build_ignores_a_clash_that_is_gone_by_its_end() -> None:
    store, coll = _store(1_000)
    build = IndexBuild(coll, parse_index_spec({"key": {"k": 1}, "name": "k_1", "unique": True}))
    build.step(300)
    _put(store, coll, {"_id": 5_000, "k": 7})
    _put(store, coll, {"_id": 5_000, "k": 70_000})
    while not build.step(300):
        pass
    assert build.duplicate() is None
    build.end()
