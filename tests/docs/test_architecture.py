"""docs/architecture.md names only modules, folders and functions that exist."""

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "architecture.md").read_text()
PACKAGE = ROOT / "odmantic_fastapi"
SOURCES = {path.name for path in PACKAGE.rglob("*.py")}
FOLDERS = {path.name for path in PACKAGE.rglob("*") if path.is_dir()}


def test_every_module_file_named_exists() -> None:
    named = set(re.findall(r"`([\w/]*?(\w+\.py))`", PAGE))
    assert len(named) > 20
    missing = sorted(full for full, name in named if name not in SOURCES)
    assert not missing


def test_every_folder_named_exists() -> None:
    named = set(re.findall(r"`(?:odmantic_fastapi/)?(?:\w+/)?(\w+)/`", PAGE))
    assert {"commands", "evaluation", "storage"} <= named
    assert not sorted(named - FOLDERS)


def test_every_module_function_named_exists() -> None:
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    named = set(re.findall(r"`(_?[a-z_]+)\.([A-Za-z_]+)(?:\(|`)", PAGE))
    # `engine.save` and `session.transaction()` speak of instances, `x.py` of files.
    checked = [
        (module, name)
        for module, name in named
        if module in modules - {"engine", "session"} and name != "py"
    ]
    assert len(checked) >= 4
    missing = [
        f"{module}.{name}"
        for module, name in checked
        if not hasattr(importlib.import_module(f"odmantic_fastapi.{module}"), name)
    ]
    assert not missing
