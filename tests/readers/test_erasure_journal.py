"""The erasure journal: append-only lines that survive the database."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from webapp.readers.erasure_journal import (
    ErasureEntry,
    JournalError,
    append_erasure,
    journal_path,
    read_journal,
)

AT = datetime(2024, 7, 1, 8, 30, tzinfo=UTC)


def test_entries_are_appended_and_read_back_in_order(tmp_path: Path) -> None:
    path = journal_path(tmp_path / "var")
    first = ErasureEntry(at=AT, subscriber_id=3, hashes=("a" * 64,))
    second = ErasureEntry(at=AT, subscriber_id=9, hashes=("b" * 64, "c" * 64))
    append_erasure(path, first)
    append_erasure(path, second)
    assert read_journal(path) == [first, second]
    assert path.stat().st_mode & 0o077 == 0
    assert b"@" not in path.read_bytes()  # hashes and ids only, never an address
    assert read_journal(tmp_path / "none.jsonl") == []


def test_a_line_cut_short_by_a_crash_is_left_out(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    append_erasure(path, ErasureEntry(at=AT, subscriber_id=3, hashes=("a" * 64,)))
    with path.open("ab") as handle:
        handle.write(b'{"at":"2024-07-01T09:00:00+00:00","subscr')
    assert [e.subscriber_id for e in read_journal(path)] == [3]


def test_a_bad_line_inside_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text('not json\n{"at":"2024-07-01T09:00:00+00:00","subscriber":1,"hashes":[]}\n')
    with pytest.raises(JournalError, match="line 1"):
        read_journal(path)
