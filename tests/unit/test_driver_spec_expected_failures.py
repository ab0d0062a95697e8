"""The driver-spec runner marks as expected failures what pymongo's own test module marks."""

from pathlib import Path

from tests.driver_spec._upstream import pymongo_expected_failures

PYMONGO_MODULE = """
globals().update(
    generate_test_classes(
        get_test_path("retryable_reads", "unified"),
        module=__name__,
        expected_failures=["ListDatabaseObjects .*", "MapReduce .*"],
    )
)
"""

OTHER_FOLDER = """
globals().update(generate_test_classes(get_test_path("crud", "unified"), module=__name__))
"""


def test_the_patterns_come_from_the_module_of_the_same_folder(tmp_path: Path) -> None:
    (tmp_path / "test_retryable_reads_unified.py").write_text(PYMONGO_MODULE)
    (tmp_path / "test_crud_unified.py").write_text(OTHER_FOLDER)
    assert pymongo_expected_failures(tmp_path, "retryable_reads/unified") == [
        "ListDatabaseObjects .*",
        "MapReduce .*",
    ]
    assert pymongo_expected_failures(tmp_path, "crud/unified") == []


def test_our_generated_modules_and_unknown_folders_give_none(tmp_path: Path) -> None:
    (tmp_path / "test_odmantic_fastapi_retryable_reads.py").write_text(PYMONGO_MODULE)
    assert pymongo_expected_failures(tmp_path, "retryable_reads/unified") == []
    assert pymongo_expected_failures(tmp_path, "sessions") == []
