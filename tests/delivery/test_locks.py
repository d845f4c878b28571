"""The SQLite send lock: one worker per database file; PostgreSQL needs none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from webapp.delivery.locks import WorkerLockHeld, lock_path, worker_lock, worker_lock_held


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'yuebao.sqlite3'}"


def test_the_lock_file_sits_beside_a_sqlite_database_and_nowhere_else() -> None:
    assert lock_path("sqlite:////srv/yuebao/yuebao.sqlite3") == (
        "/srv/yuebao/yuebao.sqlite3.worker-lock"
    )
    assert lock_path("sqlite+pysqlite:////srv/y.sqlite3") == "/srv/y.sqlite3.worker-lock"
    assert lock_path("postgresql+psycopg://yuebao@db.internal/yuebao") is None
    assert lock_path("sqlite://") is None
    assert lock_path("sqlite:///:memory:") is None


def test_a_second_worker_is_refused_while_the_first_holds_the_lock(sqlite_url: str) -> None:
    with worker_lock(sqlite_url):
        with pytest.raises(WorkerLockHeld, match="only one may run"), worker_lock(sqlite_url):
            pytest.fail("two workers held the SQLite send lock at once")
        assert worker_lock_held(sqlite_url)
    with worker_lock(sqlite_url):  # released on leaving: the next worker may start
        pass


def test_the_lock_file_names_the_process_holding_it(sqlite_url: str) -> None:
    path = Path(lock_path(sqlite_url) or "")
    path.write_text("4194304999")  # a longer pid left by an earlier holder
    with worker_lock(sqlite_url):
        assert path.read_text() == str(os.getpid())


def test_a_worker_that_fails_releases_the_lock(sqlite_url: str) -> None:
    with pytest.raises(RuntimeError, match="boom"), worker_lock(sqlite_url):
        raise RuntimeError("boom")
    assert not worker_lock_held(sqlite_url)


def test_asking_whether_the_lock_is_held_does_not_keep_it(sqlite_url: str) -> None:
    assert not worker_lock_held(sqlite_url)
    assert not worker_lock_held(sqlite_url)  # the first look let go of it again
    with worker_lock(sqlite_url):
        assert worker_lock_held(sqlite_url)


def test_workers_on_postgresql_take_no_file_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = "postgresql+psycopg://yuebao@db.internal/yuebao"
    with worker_lock(url), worker_lock(url):  # SKIP LOCKED keeps their batches apart instead
        assert not worker_lock_held(url)
    assert list(tmp_path.iterdir()) == []
