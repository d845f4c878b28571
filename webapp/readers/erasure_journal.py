"""The erasure journal: every erasure, as keyed hashes, in a file outside the database.

Restoring a backup taken before an erasure would bring the reader's data back. The journal is
what survives the database: one JSON line per erasure, appended and fsynced, never rewritten,
holding only what the database itself keeps after an erasure (the reader's id and the keyed
hashes of their addresses). `yuebao restore` re-applies the entries newer than the backup.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

JOURNAL_NAME: Final = "erasure-journal.jsonl"


@dataclass(frozen=True)
class ErasureEntry:
    at: datetime
    subscriber_id: int
    hashes: tuple[str, ...]  # address_hash of each address the reader had


def journal_path(var_dir: str | os.PathLike[str]) -> Path:
    return Path(var_dir) / JOURNAL_NAME


def append_erasure(path: Path, entry: ErasureEntry) -> None:
    """Add one line and fsync it before the erasure is committed."""
    line = json.dumps(
        {"at": entry.at.isoformat(), "subscriber": entry.subscriber_id,
         "hashes": list(entry.hashes)},
        separators=(",", ":"),
    ) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    created = not path.exists()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        # One write of one short line with O_APPEND: lines from several processes never mix.
        os.write(fd, line.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:  # the new file's directory entry must survive a crash too
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


class JournalError(ValueError):
    """A journal line that cannot be read; `line` is its number."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        self.path, self.line = path, line
        super().__init__(f"{path}, line {line}: {reason}")


def read_journal(path: Path) -> list[ErasureEntry]:
    """Every entry, oldest first; no file is an empty journal.

    A last line without its newline is a write cut short by a crash before the erasure
    committed: it is left out with a warning. A bad line anywhere else is an error."""
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    torn = lines.pop()  # after the last newline: empty unless a write was cut short
    if torn:
        log.warning("erasure journal: incomplete last line left out", extra={"fields": {
            "path": str(path)}})
    entries = []
    for number, raw in enumerate(lines, start=1):
        try:
            data = json.loads(raw)
            entries.append(ErasureEntry(
                at=datetime.fromisoformat(data["at"]),
                subscriber_id=int(data["subscriber"]),
                hashes=tuple(str(h) for h in data["hashes"]),
            ))
        except (ValueError, KeyError, TypeError) as error:
            raise JournalError(path, number, f"not an erasure entry ({error})") from None
    return entries
