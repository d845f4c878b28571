"""The shared sending schedule: evenly spaced slots at the rate, for any number of workers."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from tests.tools.ses_simulator.records import SendLimits
from webapp.db import database
from webapp.delivery.bucket import BLOCK, CATCH_UP, DbTokenBucket
from webapp.delivery.engine import EngineConfig


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


pytestmark = pytest.mark.postgres  # FOR UPDATE on PostgreSQL, one writer on SQLite


def test_workers_sharing_the_row_get_even_slots_at_the_rate(app: Flask) -> None:
    clock = FakeClock()
    sessions = database(app).sessionmaker
    workers = [DbTokenBucket(sessions, 100, clock=clock, sleep=clock.sleep) for _ in range(3)]
    start = clock.now
    departures = []
    for call in range(60):
        workers[call % 3].acquire(50)
        departures.append(clock.now)
    # The first call may use the catch-up allowance; from then on one call every half second.
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(departures[1:])]
    assert set(gaps) == {0.5}
    assert departures[-1] - start == pytest.approx(59 * 0.5 - CATCH_UP)


def test_a_late_worker_catches_up_only_a_little(app: Flask) -> None:
    clock = FakeClock()
    bucket = DbTokenBucket(database(app).sessionmaker, 100, clock=clock, sleep=clock.sleep)
    bucket.acquire(50)
    clock.now += 60  # a minute idle is not saved up as a minute's burst
    burst = 0
    while bucket.acquire(10) == 0:
        burst += 10
    assert burst == 10 + CATCH_UP * 100  # this call, and at most CATCH_UP seconds' worth


def test_the_schedule_never_trips_a_one_second_allowance_despite_latency_spread(
    app: Flask,
) -> None:
    rate = 60.0
    clock = FakeClock()
    bucket = DbTokenBucket(database(app).sessionmaker, rate, clock=clock, sleep=clock.sleep)
    chunk = EngineConfig.for_rate(rate, latency=0.03, max_batch=50).chunk_size
    ses = SendLimits(max_send_rate=rate, max_24_hour_send=10**9)
    for call in range(400):
        bucket.acquire(chunk)
        # Calls arrive up to 0.25 s early or late: SES's bucket still has room for them.
        arrival = clock.now + (0.25 if call % 2 else -0.25)
        ses.check(chunk, now=arrival)
        ses.commit(chunk, now=arrival)
        clock.now += 0.01 * (call % 3)  # and the worker is sometimes a little slow


def test_a_reservation_waits_for_its_slot_after_its_transaction(app: Flask) -> None:
    # The wait can be most of a second per call: with the reservation's transaction still open
    # it would hold SQLite's write lock (or PostgreSQL's row lock) the whole time.
    clock = FakeClock()
    engine = database(app).engine
    open_during_waits: list[int] = []

    def sleep(seconds: float) -> None:
        open_during_waits.append(_open_transactions(engine))
        clock.sleep(seconds)

    bucket = DbTokenBucket(database(app).sessionmaker, 10, clock=clock, sleep=sleep)
    for _ in range(4):
        bucket.acquire(5)
    assert len(open_during_waits) >= 3 and set(open_during_waits) == {0}


def _open_transactions(engine: Any) -> int:
    """Transactions open on the database: on SQLite any checked-out connection; on PostgreSQL
    the server's own count (the bucket holds a connection there, committing each statement
    as it runs, so none stays open while it waits)."""
    if engine.dialect.name != "postgresql":
        return int(engine.pool.checkedout())
    with engine.connect() as probe:
        return int(probe.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'"
        )))


class CountingSessions:
    """The sessionmaker, counting the transactions the bucket opens."""

    def __init__(self, sessions: Any) -> None:
        self.sessions, self.opened = sessions, 0

    def __call__(self) -> Any:
        self.opened += 1
        return self.sessions()


def test_at_high_rates_a_worker_reserves_a_block_of_calls_in_one_transaction(app: Flask) -> None:
    clock = FakeClock()
    sessions = CountingSessions(database(app).sessionmaker)
    bucket = DbTokenBucket(sessions, 5000, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    departures = []
    for _ in range(100):
        bucket.acquire(50)
        departures.append(clock.now)
    caught_up = int(CATCH_UP * 5000 / 50)  # the first calls use the catch-up allowance
    assert departures[caught_up] == departures[0]
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(departures[caught_up:])}
    assert gaps == {0.01}  # then one call every 50/5000 s, as without blocks
    assert sessions.opened == 100 // int(5000 * BLOCK / 50)  # a transaction per block


def test_workers_reserving_blocks_never_trip_the_one_second_allowance(app: Flask) -> None:
    rate, chunk = 5000.0, 50
    clock = FakeClock()
    workers = [DbTokenBucket(database(app).sessionmaker, rate, clock=clock, sleep=clock.sleep)
               for _ in range(2)]
    ses = SendLimits(max_send_rate=rate, max_24_hour_send=10**9)
    sent = 0
    start = clock.now
    for call in range(600):
        workers[call % 2].acquire(chunk)
        arrival = clock.now + (0.25 if call % 3 else -0.25)  # latency spread both ways
        ses.check(chunk, now=arrival)
        ses.commit(chunk, now=arrival)
        sent += chunk
        clock.now += 0.002 * (call % 5)  # and a worker is sometimes a little slow
    # The two together hold the rate (after the one catch-up): the blocks do not outrun it.
    assert sent <= rate * (clock.now - start + CATCH_UP) + chunk


def test_a_block_left_far_behind_is_dropped_not_sent_as_a_burst(app: Flask) -> None:
    clock = FakeClock()
    bucket = DbTokenBucket(database(app).sessionmaker, 5000, clock=clock, sleep=clock.sleep)
    bucket.acquire(50)  # reserves a block of ten calls, uses one
    clock.now += 60
    burst = 0
    while bucket.acquire(50) == 0:
        burst += 50
    assert burst <= 50 + CATCH_UP * 5000


@pytest.mark.parametrize("rate", [1000.0, 2000.0, 5000.0])
def test_calls_of_mixed_sizes_use_every_slot_of_their_blocks(app: Flask, rate: float) -> None:
    """A chunk ends where a variant does, so calls come in all sizes: a block's end too short
    for the next call is used by it when the next block follows on, not left unused (at
    2,000/s that lost a fifth of the rate)."""
    clock = FakeClock()
    bucket = DbTokenBucket(database(app).sessionmaker, rate, clock=clock, sleep=clock.sleep)
    sizes = [50, 20, 50, 50, 37, 50, 3, 50, 50, 50, 28] * 30
    while bucket.acquire(50) == 0:  # the catch-up allowance, used up at once
        pass
    start = clock.now
    slots = [(start, 50)]
    for n in sizes:
        bucket.acquire(n)
        slots.append((clock.now, n))
    # Each call leaves the moment the one before it has had its share of the rate.
    for (at, n), (after, _) in itertools.pairwise(slots):
        assert after == pytest.approx(at + n / rate)
    assert slots[-1][0] - start == pytest.approx((50 + sum(sizes) - sizes[-1]) / rate)


@pytest.mark.parametrize("rate", [2000.0, 5000.0])
def test_two_workers_with_calls_of_mixed_sizes_hold_the_rate_within_the_allowance(
    app: Flask, rate: float
) -> None:
    """Two workers' blocks interleave, so a block's end that is too short for the next call
    cannot start it; its share goes with the call into the next block: the two together keep
    the whole rate (they lost a tenth of it) and never trip SES's one-second allowance."""
    clock = FakeClock()
    workers = [DbTokenBucket(database(app).sessionmaker, rate, clock=clock, sleep=clock.sleep)
               for _ in range(2)]
    ses = SendLimits(max_send_rate=rate, max_24_hour_send=10**9)
    sizes = [50, 20, 50, 50, 37, 50, 3, 50, 50, 50, 28] * 60
    while workers[0].acquire(50) == 0:  # the catch-up allowance, used up at once
        pass
    start, sent = clock.now, 0
    for call, n in enumerate(sizes):
        workers[(call // 3) % 2].acquire(n)  # each worker a few calls in turn
        arrival = clock.now + (0.02 if call % 3 else -0.02)  # latency spread both ways
        ses.check(n, now=arrival)
        ses.commit(n, now=arrival)
        sent += n
    elapsed = clock.now - start
    assert sent <= rate * elapsed + 2 * 50  # the rate, give or take the calls at either end
    assert sent >= rate * elapsed * 0.99
