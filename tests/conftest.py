"""Fixtures every test directory may use."""

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture
def collector_enabled() -> Iterator[None]:
    """The garbage collector enabled for the test, and left after it as it was found."""
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()
