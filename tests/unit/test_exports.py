"""The public surface: ODMantic 1.1's names in the same modules, and a sorted, honest __all__."""

import importlib

import pytest

import odmantic_fastapi

MODULES = [
    "bson",
    "config",
    "exceptions",
    "field",
    "index",
    "model",
    "query",
    "reference",
    "session",
    "engine",
    "cursor",
    "update",
    "typing",
    "utils",
]


def test_top_level_all_is_sorted_and_every_name_resolves() -> None:
    assert odmantic_fastapi.__all__ == sorted(odmantic_fastapi.__all__)
    for name in odmantic_fastapi.__all__:
        assert getattr(odmantic_fastapi, name) is not None


def test_top_level_exports_everything_odmantic_exports() -> None:
    import odmantic

    assert set(odmantic.__all__) <= set(odmantic_fastapi.__all__)


@pytest.mark.parametrize("module", MODULES)
def test_each_module_declares_all_and_provides_it(module: str) -> None:
    ours = importlib.import_module(f"odmantic_fastapi.{module}")
    assert hasattr(ours, "__all__")
    for name in ours.__all__:
        assert hasattr(ours, name), f"{module}.{name} is declared but missing"


@pytest.mark.parametrize(
    "module",
    ["bson", "field", "index", "model", "query", "reference", "exceptions", "typing", "utils"],
)
def test_public_names_of_odmantic_modules_exist_here(module: str) -> None:
    theirs = importlib.import_module(f"odmantic.{module}")
    ours = importlib.import_module(f"odmantic_fastapi.{module}")
    public = {
        name
        for name, value in vars(theirs).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("odmantic")
    }
    missing = sorted(name for name in public if not hasattr(ours, name))
    assert missing == []
