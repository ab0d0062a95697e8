"""The collector pause around large saves and finds: paused only for large work, always restored."""

import gc

import pytest

from odmantic_fastapi._gc_pause import PAUSE_FROM, paused_collector


def test_small_work_runs_with_the_collector_as_it_is(collector_enabled: None) -> None:
    with paused_collector(PAUSE_FROM - 1):
        assert gc.isenabled()


def test_nested_pauses_resume_when_the_outer_one_ends(collector_enabled: None) -> None:
    with paused_collector(PAUSE_FROM):
        assert not gc.isenabled()
        with paused_collector(PAUSE_FROM):
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_pause_leaves_a_disabled_collector_disabled(collector_enabled: None) -> None:
    gc.disable()
    with paused_collector(PAUSE_FROM):
        pass
    assert not gc.isenabled()


def test_an_error_inside_a_pause_resumes_the_collector(collector_enabled: None) -> None:
    with pytest.raises(RuntimeError), paused_collector(PAUSE_FROM):
        raise RuntimeError("boom")
    assert gc.isenabled()
