"""One sending rate for every worker, kept in a database row.

SES counts MaxSendRate per recipient. The row holds a schedule: `next_at`, the moment from
which the next recipient may go. A call of n recipients reserves the slot [next_at, next_at +
n / rate) in one short transaction and waits until its start, so calls from any number of
workers on any number of machines leave evenly spaced at the account's rate (a "virtual
scheduling" token bucket, GCRA). Evenly spaced calls can use the whole rate: SES accepts short
bursts above it, so the spread of network latency between our clock and SES's does not
throttle a call that left on time.

A worker that fell behind (a slow claim, a sleep that overslept) may catch up for at most
CATCH_UP seconds' worth of recipients; longer idle time is not saved up as a burst.

At high rates a worker reserves a block of calls at once (BLOCK seconds of the rate, whole
calls) and hands its slots to its own calls in turn: at 5,000/s a transaction per 50-recipient
call meant a hundred a second, each holding the process's reservation lock for its round trips
while the other calls waited behind it. A block's slots are as evenly spaced as before; a
block not used up when the worker stops is at most BLOCK seconds of the rate left unused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Connection, Float, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from webapp.delivery.store import Autocommit
from webapp.models import RateBucket, utcnow

BUCKET = "ses"
CATCH_UP = 0.2  # seconds of the rate a late worker may send at once
BLOCK = 0.1  # seconds of the rate a worker reserves at once, in whole calls


_table = RateBucket.__table__.c
# A reservation in one statement (PostgreSQL), built once: the row moves on by the call's
# length from its schedule or, for a worker that fell behind, from CATCH_UP ago.
_ADVANCE = (
    update(RateBucket.__table__)  # type: ignore[arg-type]
    .where(_table.name == bindparam("bucket"))
    .values(next_at=func.greatest(_table.next_at, bindparam("floor", type_=Float))
            + bindparam("length", type_=Float),
            rate=bindparam("bucket_rate", type_=Float),
            updated_at=bindparam("now", type_=_table.updated_at.type))
    .returning(_table.next_at)
)


class DbTokenBucket:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        rate: float,
        *,
        name: str = BUCKET,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        block: float = BLOCK,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.sessions = sessions
        self.rate = rate
        self.name = name
        self._clock = clock
        self._sleep = sleep
        # SQLite ignores FOR UPDATE, so two pool threads of one process could read the same
        # schedule; reservations are made one at a time per process (the waits are not).
        self._lock = threading.Lock()
        self.block = block
        # This worker's reserved block: the next slot's start and the block's end.
        self._next = self._end = 0.0
        # On PostgreSQL a reservation is one UPDATE … RETURNING on a held connection.
        self._autocommit = Autocommit.for_sessions(sessions)

    def _reserve(self, n: float) -> float:
        """Reserve the next n recipients' slot; returns how long to wait for its start."""
        with self._lock:
            now = self._clock()
            length = n / self.rate
            # A slot of the block already reserved, unless the block is used up or so far
            # behind that sending it now would be more than the catch-up allowance.
            if self._next >= now - CATCH_UP and self._next + length <= self._end + 1e-9:
                start, self._next = self._next, self._next + length
                return max(start - now, 0.0)
            # The end of the last block, too short for this call, counts towards it: chunks
            # end where variants do, so calls come in all sizes, and leaving those ends unused
            # cost a fifth of the rate at 2,000/s (and a tenth with two workers).
            left = max(self._end - self._next, 0.0) if self._next >= now - CATCH_UP else 0.0
            calls = max(1, int(self.rate * self.block / n))
            start = self._reserve_shared(n * calls - left * self.rate)
            # Following on from this worker's last block, the call starts in that block's end;
            # after another worker's block, with the new block, the share of the rate its last
            # block's end left unused added to its slot.
            follows_on = left > 0 and abs(start - self._end) < 1e-6
            departure = self._next if follows_on else start
            self._next, self._end = start + length - left, start + calls * length - left
            return max(departure - self._clock(), 0.0)

    def _reserve_shared(self, n: float) -> float:
        """Reserve n recipients in the shared schedule; returns the start of their slot."""
        if self._autocommit is not None:
            start = self._autocommit.run(lambda db: self._advance(db, n))
            if start is not None:
                return start
        with self.sessions() as session:
            row = session.scalar(
                select(RateBucket).where(RateBucket.name == self.name).with_for_update()
            )
            if row is None:
                row = RateBucket(name=self.name, rate=self.rate, next_at=0.0)
                session.add(row)
            now = self._clock()
            start = max(row.next_at, now - CATCH_UP)
            row.rate, row.next_at, row.updated_at = self.rate, start + n / self.rate, utcnow()
            session.commit()
            return float(start)

    def _advance(self, db: Connection, n: float) -> float | None:
        """The reservation as one statement (the row's lock is held only while it runs);
        None when the row does not exist yet."""
        length = n / self.rate
        end = db.scalar(_ADVANCE, {"bucket": self.name, "floor": self._clock() - CATCH_UP,
                                   "length": length, "bucket_rate": self.rate, "now": utcnow()})
        return None if end is None else float(end) - length

    def acquire(self, n: float = 1.0) -> float:
        """Block until n recipients may go; returns the seconds waited."""
        while True:
            try:
                wait = self._reserve(n)
                break
            except IntegrityError:
                self._sleep(0.01)  # another worker created the row at the same moment
        if wait > 0:
            self._sleep(wait)
        return wait
