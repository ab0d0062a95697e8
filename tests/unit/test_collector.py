"""The server's collector policy: a slow full collection freezes what survived it; nothing else does."""

import gc
from collections.abc import Iterator

import pytest

from odmantic_fastapi.embedded import collector


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Nothing frozen, and only the test's own collections run (none set off by allocation)."""
    collector.install()
    gc.unfreeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


def test_a_slow_full_collection_freezes_its_survivors(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collector, "SLOW_PASS_SECONDS", 0.0)
    survivors = [[i] for i in range(10_000)]
    gc.collect(0)
    gc.collect(1)
    assert gc.get_freeze_count() == 0  # younger generations never freeze
    gc.collect(2)
    assert gc.get_freeze_count() >= len(survivors)


def test_a_fast_full_collection_changes_nothing(
    unfrozen: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collector, "SLOW_PASS_SECONDS", 60.0)
    gc.collect(2)
    assert gc.get_freeze_count() == 0


def test_installing_twice_adds_one_callback() -> None:
    collector.install()
    collector.install()
    assert gc.callbacks.count(collector._on_collection) == 1


def test_a_pause_lasts_until_its_last_holder_releases_it() -> None:
    assert gc.isenabled()
    collector.hold()
    with collector.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()
    collector.release()
    assert gc.isenabled()


def test_a_pause_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with collector.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
