"""On SQLite, one writer at a time per process, queued on a Python lock rather than on SQLite's.

SQLite has one write lock per database file. Threads that reach for it together (the worker's
pool threads, its heartbeat and scheduler, a threaded web server) spin in SQLite's busy handler
and, past its timeout, fail with "database is locked" — even when every transaction is short,
as soon as there are enough of them. Here each connection's write transaction first takes a
lock shared by every connection of this process to the same file, and keeps it until commit or
rollback: the threads of one process queue in order and never fight for SQLite's lock, which
only arbitrates between processes (the web app and the worker) through the busy timeout.

pysqlite (in its default, legacy transaction mode) runs reads outside any transaction and
opens one — a deferred BEGIN — right before the first INSERT, UPDATE, DELETE or REPLACE, which
takes SQLite's write lock at once: so a transaction begins and becomes a write transaction at
the same statement, with no read snapshot to go stale, and serialising from that statement to
its commit is serialising writers (it is BEGIN IMMEDIATE in effect).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from typing import Any

log = logging.getLogger(__name__)

_READS = frozenset({"SELECT", "PRAGMA", "EXPLAIN"})
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _first_word(sql: str) -> str:
    return sql.lstrip(" \t\r\n(").split(None, 1)[0].upper() if sql.strip() else ""


class SerialisedConnection(sqlite3.Connection):
    """A pysqlite connection whose write transactions hold its file's process-wide lock."""

    write_lock: threading.Lock
    wait: float  # seconds to queue before falling back on SQLite's own busy handler

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._holds = False

    def cursor(self, factory: Any = None) -> sqlite3.Cursor:  # type: ignore[override]
        return super().cursor(factory or SerialisedCursor)

    def before(self, sql: str) -> None:
        if self._holds or self.in_transaction or _first_word(sql) in _READS:
            return
        self._holds = self.write_lock.acquire(timeout=self.wait)
        if not self._holds:  # a transaction of this thread's own on another connection?
            log.warning("SQLite write lock not taken in time; SQLite's busy timeout decides")

    def after(self) -> None:
        if self._holds and not self.in_transaction:
            self._holds = False
            self.write_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.after()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.after()

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self._holds:
                self._holds = False
                self.write_lock.release()


class SerialisedCursor(sqlite3.Cursor):
    connection: SerialisedConnection

    def execute(self, sql: str, parameters: Any = (), /) -> SerialisedCursor:
        self.connection.before(sql)
        try:
            super().execute(sql, parameters)
        finally:
            self.connection.after()
        return self

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> SerialisedCursor:
        self.connection.before(sql)
        try:
            super().executemany(sql, seq_of_parameters)
        finally:
            self.connection.after()
        return self


def connection_factory(path: str, wait: float) -> type[SerialisedConnection]:
    """The `factory` for sqlite3.connect: connections to `path` share one write lock."""
    key = os.path.realpath(path)
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(key, threading.Lock())
    return type("SerialisedConnection", (SerialisedConnection,), {"write_lock": lock,
                                                                  "wait": wait})
