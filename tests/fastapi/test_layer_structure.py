"""The FastAPI layer's shape: one list of FastAPI names, and FastAPI imported by this layer only."""

import ast
import subprocess
import sys
from pathlib import Path

import odmantic_fastapi
from odmantic_fastapi import dependencies

PACKAGE = Path(odmantic_fastapi.__file__).parent
# The modules that may import FastAPI (or Starlette, which FastAPI is built on).
FASTAPI_LAYER = {"dependencies.py", "middleware.py", "http_errors.py"}


def test_the_package_exports_exactly_the_fastapi_names_of_dependencies() -> None:
    eager = {name for name in odmantic_fastapi.__all__ if name in vars(odmantic_fastapi)}
    lazy = set(odmantic_fastapi.__all__) - eager
    assert lazy == set(dependencies.__all__)
    for name in dependencies.__all__:
        assert getattr(odmantic_fastapi, name) is getattr(dependencies, name)


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_fastapi_layer_imports_fastapi_or_starlette() -> None:
    importers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if _imported_modules(path) & {"fastapi", "starlette"}
    }
    assert importers <= FASTAPI_LAYER, importers - FASTAPI_LAYER


def test_the_odm_and_connecting_load_without_fastapi() -> None:
    code = (
        "import sys\n"
        "import odmantic_fastapi, odmantic_fastapi.engine, odmantic_fastapi.connect\n"
        "import odmantic_fastapi._request_session\n"
        "assert 'fastapi' not in sys.modules and 'starlette' not in sys.modules, "
        "sorted(m for m in sys.modules if m.startswith(('fastapi', 'starlette')))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
