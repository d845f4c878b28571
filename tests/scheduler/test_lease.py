"""The scheduler's lease, with an injected clock: taken, renewed, lapsed, taken over, released;
on both databases, since it is the row lock (PostgreSQL) or the write lock (SQLite) that keeps
two workers from both holding it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session, sessionmaker

from webapp.db import database
from webapp.models import Lease
from webapp.scheduler import lease

NOON = datetime(2024, 8, 5, 4, 0, tzinfo=UTC)
TTL = timedelta(seconds=30)

pytestmark = pytest.mark.postgres


@pytest.fixture
def sessions(app: Flask) -> sessionmaker[Session]:
    return database(app).sessionmaker


def _row(sessions: sessionmaker[Session], name: str = lease.SCHEDULER) -> Lease | None:
    with sessions() as session:
        return session.get(Lease, name)


def _at(seconds: float) -> datetime:
    return NOON + timedelta(seconds=seconds)


def test_one_lease_holder_at_a_time_and_takeover_when_it_dies(
    sessions: sessionmaker[Session],
) -> None:
    ttl = timedelta(seconds=30)
    assert lease.acquire(sessions, "a", ttl, NOON)
    assert not lease.acquire(sessions, "b", ttl, NOON + timedelta(seconds=10))
    assert lease.acquire(sessions, "a", ttl, NOON + timedelta(seconds=20))  # renewed
    assert not lease.acquire(sessions, "b", ttl, NOON + timedelta(seconds=45))
    assert lease.acquire(sessions, "b", ttl, NOON + timedelta(seconds=51))  # a stopped renewing
    assert lease.holder(sessions, NOON + timedelta(seconds=52)) == "b"


def test_the_first_worker_takes_the_lease_until_now_plus_ttl(
    sessions: sessionmaker[Session],
) -> None:
    assert lease.holder(sessions, NOON) is None  # never taken
    assert lease.acquire(sessions, "host-a:101", TTL, NOON)
    row = _row(sessions)
    assert row is not None
    assert (row.holder, row.expires_at, row.acquired_at, row.last_tick_at) == (
        "host-a:101", _at(30), NOON, None
    )
    assert lease.holder(sessions, _at(29.999)) == "host-a:101"
    assert lease.holder(sessions, _at(30)) is None  # lapsed at its expiry


def test_a_renewal_moves_the_expiry_and_records_the_last_tick(
    sessions: sessionmaker[Session],
) -> None:
    assert lease.acquire(sessions, "a", TTL, NOON)
    assert lease.acquire(sessions, "a", TTL, _at(20), last_tick=_at(18))
    assert lease.acquire(sessions, "a", TTL, _at(40))  # no job ran since: the tick stays
    row = _row(sessions)
    assert row is not None
    assert (row.holder, row.expires_at, row.acquired_at, row.last_tick_at) == (
        "a", _at(70), NOON, _at(18)
    )


def test_the_holder_may_renew_even_after_its_lease_lapsed(
    sessions: sessionmaker[Session],
) -> None:
    assert lease.acquire(sessions, "a", TTL, NOON, last_tick=NOON)
    assert lease.acquire(sessions, "a", TTL, _at(45))  # late, but nobody took it meanwhile
    row = _row(sessions)
    assert row is not None
    assert (row.expires_at, row.acquired_at, row.last_tick_at) == (_at(75), NOON, NOON)


def test_another_worker_waits_until_the_lease_lapses_then_takes_it_over(
    sessions: sessionmaker[Session],
) -> None:
    assert lease.acquire(sessions, "a", TTL, NOON, last_tick=NOON)
    assert not lease.acquire(sessions, "b", TTL, _at(29.999))
    row = _row(sessions)
    assert row is not None and (row.holder, row.expires_at) == ("a", _at(30))  # unchanged
    assert lease.acquire(sessions, "b", TTL, _at(30))
    row = _row(sessions)
    assert row is not None
    # A new holder: its own start, and no tick of the old holder's scheduler.
    assert (row.holder, row.expires_at, row.acquired_at, row.last_tick_at) == (
        "b", _at(60), _at(30), None
    )
    assert not lease.acquire(sessions, "a", TTL, _at(31))  # the old holder, back too late
    assert lease.holder(sessions, _at(31)) == "b"


def test_a_takeover_may_record_the_new_holders_first_tick(
    sessions: sessionmaker[Session],
) -> None:
    assert lease.acquire(sessions, "a", TTL, NOON, last_tick=NOON)
    assert lease.acquire(sessions, "b", TTL, _at(60), last_tick=_at(59))
    row = _row(sessions)
    assert row is not None and (row.acquired_at, row.last_tick_at) == (_at(60), _at(59))


def test_a_lease_written_before_acquired_at_was_kept_gets_it_at_the_next_renewal(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        session.execute(insert(Lease), [{"name": lease.SCHEDULER, "holder": "a",
                                         "expires_at": _at(10), "last_tick_at": NOON}])
        session.commit()
    assert lease.acquire(sessions, "a", TTL, _at(5))
    row = _row(sessions)
    assert row is not None and (row.acquired_at, row.last_tick_at) == (_at(5), None)


def test_the_holder_releases_the_lease_and_another_takes_it_at_once(
    sessions: sessionmaker[Session],
) -> None:
    assert lease.acquire(sessions, "a", TTL, NOON)
    lease.release(sessions, "b")  # not b's to release
    assert lease.holder(sessions, _at(1)) == "a"
    lease.release(sessions, "a")
    assert lease.holder(sessions, _at(1)) is None and _row(sessions) is None
    assert lease.acquire(sessions, "b", TTL, _at(1))
    lease.release(sessions, "b")
    lease.release(sessions, "b")  # a second stop is harmless


def test_leases_of_different_names_are_held_apart(sessions: sessionmaker[Session]) -> None:
    assert lease.acquire(sessions, "a", TTL, NOON)
    assert lease.acquire(sessions, "b", TTL, NOON, name="housekeeping")
    assert not lease.acquire(sessions, "b", TTL, _at(1))
    assert (lease.holder(sessions, _at(1)),
            lease.holder(sessions, _at(1), name="housekeeping")) == ("a", "b")
    assert lease.acquire(sessions, "a", TTL, _at(20))
    assert lease.acquire(sessions, "a", TTL, _at(40), name="housekeeping")  # b's lapsed
    lease.release(sessions, "a", name="housekeeping")
    assert (lease.holder(sessions, _at(41)),
            lease.holder(sessions, _at(41), name="housekeeping")) == ("a", None)


def test_a_worker_that_loses_the_race_to_write_the_first_lease_does_not_hold_it(
    app: Flask, sessions: sessionmaker[Session]
) -> None:
    # Worker b reads no lease row; before it writes its own, worker a writes one and commits.
    racing: sessionmaker[Session] = sessionmaker(database(app).engine, expire_on_commit=False)

    raced: list[bool] = []

    @event.listens_for(racing, "before_flush")
    def a_gets_there_first(*_args: Any) -> None:
        if not raced:
            raced.append(lease.acquire(sessions, "a", TTL, NOON))

    assert not lease.acquire(racing, "b", TTL, NOON)
    assert raced == [True]
    assert lease.holder(sessions, _at(1)) == "a"
    with sessions() as session:
        assert session.scalars(select(Lease.holder)).all() == ["a"]


def test_two_workers_taking_over_a_lapsed_lease_at_once_leave_one_holder(
    app: Flask, sessions: sessionmaker[Session], backend: str
) -> None:
    if backend == "postgresql":
        pytest.skip("the row lock makes the second worker wait: this interleaving cannot happen")
    assert lease.acquire(sessions, "a", TTL, NOON)  # a dies; the lease lapses at +30 s
    later = _at(31)
    engine = database(app).engine
    took: list[bool] = []

    def c_between_bs_read_and_write(_conn: Any, _cursor: Any, statement: str,
                                    *_: Any) -> None:
        # b has read the lapsed row and is about to write it: c takes the lease first.
        if statement.startswith("UPDATE leases") and not took:
            took.append(False)
            took[0] = lease.acquire(sessions, "c", TTL, later)

    event.listen(engine, "before_cursor_execute", c_between_bs_read_and_write)
    try:
        b_took = lease.acquire(sessions, "b", TTL, later)
    finally:
        event.remove(engine, "before_cursor_execute", c_between_bs_read_and_write)
    assert took == [True] and not b_took
    row = _row(sessions)
    assert row is not None and row.holder == "c"
