"""The journal on real files: group commit, torn tails, corruption and repair, checkpoints, the directory."""

import asyncio
import stat
from pathlib import Path

import bson
import pytest

from odmantic_fastapi.embedded.storage.frames import frame
from odmantic_fastapi.embedded.storage.journal import (
    DataDirError,
    DataDirLockedError,
    Journal,
    JournalCorruptError,
)


async def _write(tmp_path: Path, records: list[dict[str, object]]) -> None:
    journal, _ = Journal.open(tmp_path)
    for record in records:
        await journal.append(record)
    await journal.close()


def _journal_file(tmp_path: Path) -> Path:
    files = sorted(tmp_path.glob("journal.*"))
    assert len(files) == 1
    return files[0]


async def test_records_come_back_in_order_with_exact_bson_types(tmp_path: Path) -> None:
    records = [
        {"n": i, "long": bson.Int64(i), "oid": bson.ObjectId(), "dec": bson.Decimal128("1.5")}
        for i in range(50)
    ]
    await _write(tmp_path, records)
    journal, recovered = Journal.open(tmp_path)
    await journal.close()
    assert recovered.records == records
    assert isinstance(recovered.records[3]["long"], bson.Int64)
    assert recovered.checkpoint is None and recovered.torn_bytes == 0


async def test_concurrent_appends_share_fsyncs(tmp_path: Path) -> None:
    journal, _ = Journal.open(tmp_path)
    await asyncio.gather(*(journal.append({"n": i}) for i in range(200)))
    fsyncs = journal.fsync_count
    await journal.close()
    assert fsyncs < 200
    reopened, recovered = Journal.open(tmp_path)
    await reopened.close()
    assert [r["n"] for r in recovered.records] == list(range(200))


async def test_a_torn_last_record_is_cut_off_at_every_length(tmp_path: Path) -> None:
    await _write(tmp_path, [{"n": 1}, {"n": 2}, {"n": 3, "pad": "x" * 40}])
    path = _journal_file(tmp_path)
    data = path.read_bytes()
    last_length = len(data) - len(bytes(_frame_prefix(data, 2)))
    for cut in range(1, last_length):
        path.write_bytes(data[: len(data) - cut])
        journal, recovered = Journal.open(tmp_path)
        await journal.close()
        assert [r["n"] for r in recovered.records] == [1, 2]
        assert recovered.torn_bytes == last_length - cut
        assert path.stat().st_size == len(data) - last_length  # truncated for clean appends


def _frame_prefix(data: bytes, count: int) -> bytes:
    """The bytes of the first ``count`` records."""
    offset = 0
    for _ in range(count):
        length = int.from_bytes(data[offset : offset + 4], "little")
        offset += 8 + length
    return data[:offset]


async def test_a_flipped_byte_in_the_last_record_counts_as_torn(tmp_path: Path) -> None:
    await _write(tmp_path, [{"n": 1}, {"n": 2}])
    path = _journal_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    journal, recovered = Journal.open(tmp_path)
    await journal.close()
    assert [r["n"] for r in recovered.records] == [1]
    assert recovered.torn_bytes > 0


async def test_damage_before_the_end_is_reported_not_skipped(tmp_path: Path) -> None:
    await _write(tmp_path, [{"n": 1}, {"n": 2}, {"n": 3}])
    path = _journal_file(tmp_path)
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF  # inside the first record's payload
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorruptError, match="damaged"):
        Journal.open(tmp_path)


async def test_checkpoint_then_more_records_recover_together(tmp_path: Path) -> None:
    journal, _ = Journal.open(tmp_path)
    await journal.append({"n": 1})
    await journal.checkpoint({"clock": 1, "documents": [{"i": i} for i in range(1000)]})
    await journal.append({"n": 2})
    await journal.close()
    assert len(list(tmp_path.glob("journal.*"))) == 1
    journal, recovered = Journal.open(tmp_path)
    await journal.close()
    assert recovered.checkpoint is not None
    assert recovered.checkpoint["clock"] == 1
    assert len(recovered.checkpoint["documents"]) == 1000
    assert [r["n"] for r in recovered.records] == [2]


async def test_a_crash_while_checkpointing_keeps_the_previous_generation(tmp_path: Path) -> None:
    journal, _ = Journal.open(tmp_path)
    await journal.append({"n": 1})
    await journal.close()
    # What a crash leaves mid-checkpoint: a partial temporary file and the next journal.
    (tmp_path / "checkpoint.1.tmp").write_bytes(b"partial")
    (tmp_path / "journal.1").write_bytes(b"")
    journal, recovered = Journal.open(tmp_path)
    await journal.append({"n": 2})
    await journal.close()
    assert recovered.checkpoint is None
    assert [r["n"] for r in recovered.records] == [1]
    reopened, again = Journal.open(tmp_path)
    await reopened.close()
    assert [r["n"] for r in again.records] == [1, 2]
    assert not list(tmp_path.glob("*.tmp"))


async def test_a_second_open_of_the_same_directory_is_refused(tmp_path: Path) -> None:
    journal, _ = Journal.open(tmp_path)
    try:
        with pytest.raises(DataDirLockedError, match="locked"):
            Journal.open(tmp_path)
    finally:
        await journal.close()
    second, _ = Journal.open(tmp_path)
    await second.close()


async def test_a_partial_frame_before_intact_records_stops_recovery_at_its_offset(
    tmp_path: Path,
) -> None:
    await _write(tmp_path, [{"n": 1}])
    path = _journal_file(tmp_path)
    good = path.stat().st_size
    # What an append that failed half-way leaves if later appends go after it.
    torn = frame({"n": 2, "pad": "x" * 100})[:40]
    damaged = path.read_bytes() + torn + frame({"n": 3}) + frame({"n": 4})
    path.write_bytes(damaged)
    with pytest.raises(JournalCorruptError, match=f"damaged at byte {good}: 2 intact") as info:
        Journal.open(tmp_path)
    assert info.value.offset == good
    assert path.read_bytes() == damaged  # refusing to start changes nothing

    journal, recovered = Journal.open(tmp_path, repair=True)
    await journal.close()
    assert [r["n"] for r in recovered.records] == [1]
    assert recovered.repaired == [(path, good, len(damaged) - good, 2)]
    assert path.stat().st_size == good
    assert (tmp_path / f"journal.0.dropped-at-{good}").read_bytes() == damaged[good:]


async def test_a_torn_record_before_an_empty_next_journal_is_a_torn_tail(tmp_path: Path) -> None:
    await _write(tmp_path, [{"n": 1}, {"n": 2}])
    path = _journal_file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:-5])
    (tmp_path / "journal.1").write_bytes(b"")  # a checkpoint had just switched journals
    journal, recovered = Journal.open(tmp_path)
    await journal.close()
    assert [r["n"] for r in recovered.records] == [1]
    assert recovered.torn_bytes > 0


async def test_files_are_private_to_their_owner(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    journal, _ = Journal.open(data_dir)
    await journal.append({"n": 1})
    await journal.checkpoint({"clock": 1})
    await journal.close()
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    files = list(data_dir.iterdir())
    assert {f.name.split(".")[0] for f in files} == {"mongod", "journal", "checkpoint"}
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name


def test_a_data_dir_that_is_a_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(DataDirError, match="is not a directory"):
        Journal.open(tmp_path / "file")
