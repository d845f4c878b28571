"""Riding out a busy or lost database in the worker's threads.

An operational error — a connection cut by a PostgreSQL restart or failover, a server that
refuses connections for a while, SQLite's "database is locked" — says nothing about the work
itself: the unit is rolled back, and retried after a backoff taken with no transaction open.
Failures in a row, across all of a worker's threads, may last `WORKER_DB_GRACE_SECONDS`; after
that the worker gives up with `DatabaseLost` and exits with `EXIT_DATABASE_LOST`, for its
supervisor to start it again. A data error (IntegrityError, DataError) would fail the same way
on every try: it is not retried here, and the caller fails that unit and moves on.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import exc

log = logging.getLogger(__name__)

T = TypeVar("T")

# EX_TEMPFAIL from sysexits.h: "try again later", what a supervisor should do.
EXIT_DATABASE_LOST = 75


class DatabaseLost(RuntimeError):
    """The database failed for longer than WORKER_DB_GRACE_SECONDS in a row."""


def is_operational(error: BaseException) -> bool:
    """An error of the database's state (connection, locks, server), not of the data."""
    if isinstance(error, exc.IntegrityError | exc.DataError | exc.ProgrammingError):
        return False
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    # InterfaceError: a driver saying the connection is closed; TimeoutError: no pooled
    # connection came free (every one stuck on a dead server).
    return isinstance(error, exc.OperationalError | exc.InterfaceError | exc.TimeoutError)


class Outage:
    """Database failures in a row, shared by a worker's threads; any success ends the run."""

    def __init__(
        self,
        grace: float,
        *,
        stop: threading.Event | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.grace = grace
        self.stop = stop or threading.Event()
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._clock = clock
        self._lock = threading.Lock()
        self._since: float | None = None
        self._failures = 0

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def succeeded(self) -> None:
        if self._since is None:
            return
        with self._lock:
            if self._since is not None:
                log.info("database reachable again",
                         extra={"fields": {"seconds": round(self._clock() - self._since, 1)}})
            self._since, self._failures = None, 0

    def failed(self, error: BaseException, what: str) -> float:
        """Count one failure; the backoff to wait (after rollback), or DatabaseLost."""
        with self._lock:
            now = self._clock()
            if self._since is None:
                self._since = now
            self._failures += 1
            down = now - self._since
            failures = self._failures
        if down > self.grace:
            log.error(
                "database unreachable for longer than WORKER_DB_GRACE_SECONDS; giving up",
                extra={"fields": {"what": what, "seconds": round(down, 1), "grace": self.grace,
                                  "error": describe(error)}},
            )
            raise DatabaseLost(
                f"the database failed for {down:.0f} s (more than WORKER_DB_GRACE_SECONDS="
                f"{self.grace:g}): {describe(error)}"
            ) from error
        log.warning(
            "database error, retrying",
            extra={"fields": {"what": what, "seconds": round(down, 1), "error": describe(error)}},
        )
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** min(failures, 16))
        return random.uniform(ceiling / 2, ceiling)  # nosec B311: backoff jitter, no secret

    def retry(self, unit: Callable[[], T], what: str) -> T:
        """Run `unit` (which opens and closes its own session) until it gets through.

        Operational errors are retried after a backoff, data errors raised at once; so is the
        last operational error once the worker is asked to stop.
        """
        while True:
            try:
                value = unit()
            except exc.SQLAlchemyError as error:
                if not is_operational(error):
                    raise
                delay = self.failed(error, what)
                if self.stop.wait(delay):
                    raise
                continue
            self.succeeded()
            return value


def describe(error: BaseException) -> str:
    """The driver's first line, without the statement and its parameters (which can hold
    readers' addresses): fit for a log line, a pause reason or a delivery's error."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__
