"""The tutorial's steps (docs_src/tutorial), each run against the test session's server and as a script."""

import subprocess
import sys
from pathlib import Path

import pytest

from docs_src.tutorial import (
    embedded_and_references,
    first_model,
    queries,
    sessions,
    sessions_sync,
)

ROOT = Path(__file__).resolve().parents[2]


async def test_first_model_saves_finds_and_updates(
    mongodb_url: str, mongodb_database_name: str
) -> None:
    book = await first_model.main(mongodb_url, mongodb_database_name)
    assert (book.title, book.pages) == ("Dune", 412)


async def test_queries_filter_sort_page_and_remove(
    mongodb_url: str, mongodb_database_name: str
) -> None:
    assert await queries.main(mongodb_url, mongodb_database_name) == [
        "Dune",
        "Hyperion",
        "Neuromancer",
    ]


async def test_references_are_stored_as_ids_and_loaded_on_find(
    mongodb_url: str, mongodb_database_name: str
) -> None:
    edition = await embedded_and_references.main(mongodb_url, mongodb_database_name)
    assert edition.publisher.address.city == "Philadelphia"


async def test_sessions_commit_together_and_roll_back_on_error(
    mongodb_url: str, mongodb_database_name: str
) -> None:
    balances = await sessions.main(mongodb_url, mongodb_database_name)
    assert balances == {"ada": 7_500, "hopper": 2_500}


def test_sync_sessions_and_transactions(mongodb_url: str, mongodb_database_name: str) -> None:
    assert sessions_sync.main(mongodb_url, mongodb_database_name) == {"ada": 300, "grace": 200}


@pytest.mark.parametrize(
    "module",
    ["first_model", "queries", "embedded_and_references", "sessions", "sessions_sync"],
)
def test_each_step_runs_as_a_script_on_its_own_server(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", f"docs_src.tutorial.{module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip()  # what main returned
