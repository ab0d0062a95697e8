"""The library's wheel: odmantic_fastapi only, and a fresh install of it gives the FastAPI names."""

import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("odmantic_fastapi-*.whl")
    yield built


def test_the_wheel_holds_the_library_package_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"odmantic_fastapi", wheel.name.split("-py")[0] + ".dist-info"}
    assert "odmantic_fastapi/py.typed" in names
    assert "odmantic_fastapi/dependencies.py" in names
    assert not [name for name in names if "demo_app" in name or name.startswith("tests/")]


def test_the_wheel_requires_fastapi(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        (metadata,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        requires = [
            line.split(":", 1)[1].strip()
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
    assert "fastapi>=0.115" in requires


@pytest.mark.slow
def test_a_fresh_install_of_the_wheel_can_import_transaction_dep(
    wheel: Path, tmp_path: Path
) -> None:
    env = tmp_path / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", str(wheel)], check=True, capture_output=True
    )
    # Run outside the repository, so only the installed wheel can be imported.
    probe = (
        "import odmantic_fastapi, fastapi\n"
        "from odmantic_fastapi import TransactionDep, install\n"
        "assert 'site-packages' in odmantic_fastapi.__file__, odmantic_fastapi.__file__\n"
        "import importlib.util\n"
        "assert importlib.util.find_spec('demo_app') is None\n"
        "print(TransactionDep)\n"
    )
    result = subprocess.run(
        [str(python), "-c", probe], cwd=tmp_path, check=True, capture_output=True, text=True
    )
    assert "AIOTransaction" in result.stdout
