"""One worker at a time on SQLite: an OS file lock beside the database file.

PostgreSQL needs none (batches are claimed with SKIP LOCKED); SQLite has no row locks, so two
workers there could claim the same rows.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator

from sqlalchemy import make_url


class WorkerLockHeld(RuntimeError):
    """Another worker holds the SQLite send lock."""


def lock_path(database_url: str) -> str | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return f"{url.database}.worker-lock"


@contextlib.contextmanager
def worker_lock(database_url: str) -> Iterator[None]:
    path = lock_path(database_url)
    if path is None:
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkerLockHeld(
                "another yuebao worker is already sending from this SQLite database; on SQLite "
                "only one may run (use PostgreSQL to run several)"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def worker_lock_held(database_url: str) -> bool:
    """Whether some process holds the lock now (for `send --wait` to follow instead)."""
    try:
        with worker_lock(database_url):
            return False
    except WorkerLockHeld:
        return True
