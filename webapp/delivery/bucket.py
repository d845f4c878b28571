"""One sending rate for every worker, kept in a database row.

SES counts MaxSendRate per recipient over a sliding second. Each worker, before a call, locks
the row, drops entries older than the window, and goes only if the recipients sent within it
plus its own stay within the rate; otherwise it waits for the oldest entries to age out. So N
workers on N machines together never exceed the account's rate. The window is a little longer
than a second to absorb the spread of network latency between our clock and SES's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from webapp.models import RateBucket, utcnow

BUCKET = "ses"
WINDOW = 1.1  # seconds


class DbTokenBucket:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        rate: float,
        *,
        name: str = BUCKET,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sessions = sessions
        self.rate = rate
        self.name = name
        self._clock = clock
        self._sleep = sleep
        # The engine's pool threads acquire concurrently; SQLite ignores FOR UPDATE, so two
        # threads could both read room in the window. One at a time per process, in turn.
        self._lock = threading.Lock()

    def _take(self, n: float) -> float:
        """Record n recipients if the window has room; else how long to wait (one short
        transaction either way)."""
        with self.sessions() as session:
            row = session.scalar(
                select(RateBucket).where(RateBucket.name == self.name).with_for_update()
            )
            if row is None:
                row = RateBucket(name=self.name, rate=self.rate, window=[])
                session.add(row)
            now = self._clock()
            recent = sorted(
                (entry for entry in (row.window or []) if entry[0] > now - WINDOW),
                key=lambda entry: entry[0],
            )
            used = sum(entry[1] for entry in recent)
            wait = 0.0
            # A call larger than the whole rate (a rate below 1/s) goes alone in its window.
            if used + n <= self.rate or not recent:
                recent.append([now, n])
            else:
                excess, freed = used + n - self.rate, 0.0
                for stamp, count in recent:
                    freed += count
                    if freed >= excess:
                        wait = max(stamp + WINDOW - now, 0.001)
                        break
            row.rate, row.window, row.updated_at = self.rate, recent, utcnow()
            session.commit()
            return wait

    def acquire(self, n: float = 1.0) -> float:
        """Block until n recipients may go; returns the seconds waited."""
        waited = 0.0
        with self._lock:
            return self._acquire(n, waited)

    def _acquire(self, n: float, waited: float) -> float:
        while True:
            try:
                wait = self._take(n)
            except IntegrityError:
                wait = 0.01  # another worker created the row at the same moment: read it again
            if wait <= 0:
                return waited
            self._sleep(wait)
            waited += wait
