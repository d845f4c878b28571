"""A previewed CSV kept on the server: found again only by its token, its admin and its choice;
forgotten once stale."""

from __future__ import annotations

import os
from pathlib import Path

from webapp.models import SubscriberStatus
from webapp.readers.csv_staged import (
    STAGED_KEPT,
    forget_stale,
    stage_import,
    staged_dir,
    staged_import,
)
from webapp.readers.csv_values import TopicIndex
from webapp.readers.subscribers_csv import Checked, CsvRow, RowError

ROW = CsvRow(2, "a@example.com", "A", ("ai",), "en", SubscriberStatus.ACTIVE)
ERROR = RowError(3, "email_invalid", "email", {"value": "nope"})
NOW = 2_000_000_000.0


def checked() -> Checked:
    return Checked([ROW], [ERROR], {}, TopicIndex([]))


def test_the_kept_rows_come_back_as_checked(tmp_path: Path) -> None:
    token = stage_import(tmp_path, checked(), all_topics=False, actor_id=7, now=NOW)
    staged = staged_import(tmp_path, token, all_topics=False, actor_id=7)
    assert staged is not None
    assert staged.rows == [ROW] and staged.errors == [ERROR]
    assert staged_import(tmp_path, token, all_topics=True, actor_id=7) is None
    assert staged_import(tmp_path, token, all_topics=False, actor_id=8) is None


def test_a_token_is_never_a_path(tmp_path: Path) -> None:
    stage_import(tmp_path, checked(), all_topics=False, actor_id=7, now=NOW)
    (tmp_path / "x.json").write_text("{}")
    for token in ("../x", "../../etc/passwd", "", "a" * 31, "a/" + "b" * 30):
        assert staged_import(tmp_path, token, all_topics=False, actor_id=7) is None


def test_stale_kept_rows_are_forgotten_when_the_next_are_kept(tmp_path: Path) -> None:
    old = stage_import(tmp_path, checked(), all_topics=False, actor_id=7, now=NOW)
    path = staged_dir(tmp_path) / f"{old}.json"
    stale = NOW - STAGED_KEPT.total_seconds() - 1
    os.utime(path, (stale, stale))
    new = stage_import(tmp_path, checked(), all_topics=False, actor_id=7, now=NOW)
    assert not path.exists()
    assert staged_import(tmp_path, new, all_topics=False, actor_id=7) is not None
    fresh = staged_dir(tmp_path) / f"{new}.json"
    os.utime(fresh, (NOW, NOW))
    assert forget_stale(tmp_path, now=NOW) == 0
    assert forget_stale(tmp_path, now=NOW + STAGED_KEPT.total_seconds() + 1) == 1
