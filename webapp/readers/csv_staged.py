"""A previewed readers' CSV, kept on the server until the admin confirms it.

The preview parses and validates the whole file once; its rows, as checked, are kept in a file
under the var dir named by a random token, and the confirmation names the token instead of
posting the file back. Confirming so neither sends the file through the browser again nor
parses and validates it a second time: the job is queued from the kept rows (on PostgreSQL
copied into import_rows, webapp.readers.csv_jobs), and the worker
still checks each batch against the database as it is then (suppressions, readers who left,
retired topics), in the statement that writes it.

A staged import belongs to the admin who previewed it and to the choice that shaped its rows
(readers without topics get every topic, or are refused); another admin's token, or a changed
choice, finds nothing. Staged files are deleted when confirmed, and any left behind after
STAGED_KEPT when the next one is made.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from webapp.models import SubscriberStatus, email_key
from webapp.readers.csv_writes import current_readers
from webapp.readers.subscribers_csv import Checked, CsvRow, RowError, topic_index

STAGED_KEPT = timedelta(hours=6)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


@dataclass(frozen=True)
class Staged:
    """A previewed file's rows as checked, and the file's bad rows, as kept (row_fields,
    RowError.as_fields): the job's payload takes them so, without building a row of each."""

    row_fields: list[list[Any]]
    error_fields: list[dict[str, Any]]
    all_topics: bool
    actor_id: int | None

    @property
    def rows(self) -> list[CsvRow]:
        return [row_of(fields) for fields in self.row_fields]

    @property
    def errors(self) -> list[RowError]:
        return [RowError.from_fields(fields) for fields in self.error_fields]


def staged_dir(var_dir: str | Path) -> Path:
    return Path(var_dir) / "imports"


def _path(var_dir: str | Path, token: str) -> Path | None:
    return staged_dir(var_dir) / f"{token}.json" if _TOKEN.fullmatch(token) else None


_STATUSES = {str(s): s for s in SubscriberStatus}  # faster than SubscriberStatus(value)
_STATUS_TEXT = {s: text for text, s in _STATUSES.items()}  # faster than str(status)


def row_fields(row: CsvRow) -> list[Any]:
    return [row.line, row.email, row.name, list(row.topics), row.language,
            _STATUS_TEXT[row.status]]


def row_of(fields: list[Any]) -> CsvRow:
    line, email, name, topics, language, status = fields
    return CsvRow(int(line), str(email), name, tuple(topics), str(language), _STATUSES[status])


def stage_import(
    var_dir: str | Path, checked: Checked, *, all_topics: bool, actor_id: int | None,
    now: float | None = None,
) -> str:
    """Keep a previewed file's checked rows; the token that names them."""
    directory = staged_dir(var_dir)
    directory.mkdir(parents=True, exist_ok=True)
    forget_stale(var_dir, now=now)
    token = secrets.token_urlsafe(24)  # 32 characters
    path = directory / f"{token}.json"
    part = path.with_suffix(".part")
    content = {"rows": [row_fields(r) for r in checked.rows],
               "errors": [e.as_fields() for e in checked.errors],
               "all_topics": all_topics, "actor_id": actor_id}
    part.write_text(json.dumps(content, ensure_ascii=False, separators=(",", ":")),
                    encoding="utf-8")
    os.replace(part, path)
    return token


def staged_import(
    var_dir: str | Path, token: str, *, all_topics: bool, actor_id: int | None
) -> Staged | None:
    """The rows kept under `token` for this admin and choice, or None (unknown, expired,
    another admin's, or previewed with the other choice)."""
    path = _path(var_dir, token)
    if path is None or not path.is_file():
        return None
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if content.get("actor_id") != actor_id or bool(content.get("all_topics")) != all_topics:
        return None
    return Staged(list(content["rows"]), list(content["errors"]), all_topics, actor_id)


def checked_again(session: Session, staged: Staged) -> Checked:
    """The staged rows with the readers they name as they are now, for the preview again."""
    rows = staged.rows
    existing = current_readers(session, [email_key(r.email) for r in rows])
    return Checked(rows, staged.errors, existing, topic_index(session))


def forget_staged(var_dir: str | Path, token: str) -> None:
    path = _path(var_dir, token)
    if path is not None:
        path.unlink(missing_ok=True)


def forget_stale(var_dir: str | Path, *, now: float | None = None) -> int:
    """Delete staged files older than STAGED_KEPT; returns how many."""
    directory = staged_dir(var_dir)
    if not directory.is_dir():
        return 0
    oldest = (time.time() if now is None else now) - STAGED_KEPT.total_seconds()
    deleted = 0
    for path in directory.iterdir():
        try:
            if path.stat().st_mtime < oldest:
                path.unlink()
                deleted += 1
        except OSError:
            continue  # deleted meanwhile
    return deleted
