"""The scheduler host as a watchdog: a dead or stalled APScheduler is noticed at the next lease
renewal, the lease given up and the scheduler started again; the lease rides out a database
error while it has time left. The clock is injected; APScheduler runs for real, briefly."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tests.conftest import app_config, new_postgres_database
from tests.factories import Factories
from tests.tools.postgres import PostgresServer, PostgresUnavailable
from webapp import create_app, migrate
from webapp.config import settings_of
from webapp.db import database
from webapp.models import Edition, EditionStatus, Lease
from webapp.models.worker import SCHEDULER_STALE_AFTER
from webapp.scheduler import lease
from webapp.scheduler.host import LEASE_TTL, RETRY_AFTER, SchedulerHost, job_daily

pytestmark = pytest.mark.servers  # runs APScheduler's threads: not under libfaketime

NOON = datetime(2024, 8, 5, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by


def locked() -> OperationalError:
    return OperationalError("UPDATE apscheduler_jobs …", {},
                            sqlite3.OperationalError("database is locked"))


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> None:
    """APScheduler runs jobs in its own threads: poll (they take a fraction of a second)."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def status(sessions: sessionmaker[Session], month: str) -> EditionStatus | None:
    with sessions() as own:
        return own.scalar(select(Edition.status).where(Edition.month == month))


def schedule(factories: Factories, at: datetime, month: str = "2024-07") -> None:
    edition = factories.edition(month, status=EditionStatus.SCHEDULED,
                                items={"policy": [{"topics": ["ai"]}]})
    edition.scheduled_at = at
    factories.session.commit()
    factories.subscriber(topics=["ai"])


@pytest.fixture
def host(app: Flask) -> Iterator[tuple[SchedulerHost, Clock]]:
    clock = Clock(NOON - timedelta(minutes=5))
    made = SchedulerHost(settings_of(app), database(app).sessionmaker, "worker-a", clock=clock)
    yield made, clock
    made.close()


# The thread's death is the point: pytest's warning about it is expected.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.postgres
def test_a_scheduler_thread_killed_by_its_job_store_is_restarted_and_the_due_send_starts(
    app: Flask, factories: Factories, host: tuple[SchedulerHost, Clock],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scheduler_host, clock = host
    sessions = database(app).sessionmaker
    # The job store fails once in APScheduler's own thread, as on a locked SQLite database or
    # a PostgreSQL restart: after submitting the first job, `update_job` raises.
    update_job = SQLAlchemyJobStore.update_job
    failures: list[str] = []

    def update_job_once(store: SQLAlchemyJobStore, job: Any) -> None:
        if threading.current_thread().name == "APScheduler" and not failures:
            failures.append(job.id)
            raise locked()
        update_job(store, job)

    monkeypatch.setattr(SQLAlchemyJobStore, "update_job", update_job_once)
    assert scheduler_host.tick()
    first = scheduler_host.scheduler
    assert first is not None
    wait_for(lambda: bool(failures))
    first._thread.join(timeout=2)
    assert not first._thread.is_alive()
    # The thread is gone: the host says so (it used to say "running" and renew the lease).
    assert not scheduler_host.running

    schedule(factories, NOON)
    clock.now = NOON + timedelta(seconds=5)
    # The next renewal notices, stops it and gives up the lease: another worker may take it.
    assert not scheduler_host.tick()
    assert scheduler_host.scheduler is None
    assert lease.holder(sessions, clock()) is None
    assert status(sessions, "2024-07") == EditionStatus.SCHEDULED

    clock.advance(timedelta(seconds=5))
    assert scheduler_host.tick() and scheduler_host.running  # started again
    # The send that came due while the scheduler was dead starts, once.
    wait_for(lambda: status(sessions, "2024-07") == EditionStatus.SENDING)
    assert scheduler_host.last_run == clock()


def test_a_scheduler_whose_jobs_stopped_succeeding_is_restarted(
    app: Flask, host: tuple[SchedulerHost, Clock],
) -> None:
    scheduler_host, clock = host
    sessions = database(app).sessionmaker
    assert scheduler_host.tick()
    wait_for(lambda: scheduler_host.last_run is not None)  # due sends are looked for at once
    ticked = clock()

    clock.advance(timedelta(seconds=5))
    assert scheduler_host.tick()
    with sessions() as own:
        row = own.get(Lease, "scheduler")
        assert row is not None and row.holder == "worker-a"
        assert row.last_tick_at == ticked and row.acquired_at == ticked

    # Its thread is alive, but no job succeeds any more (every one fails on the database).
    def failing(*_args: object) -> None:
        raise locked()

    scheduler_host.job_functions = dict.fromkeys(scheduler_host.job_functions, failing)
    clock.now = ticked + SCHEDULER_STALE_AFTER
    assert scheduler_host.tick() and scheduler_host.running  # not yet stale
    clock.advance(timedelta(seconds=5))
    assert not scheduler_host.tick()
    assert scheduler_host.scheduler is None and lease.holder(sessions, clock()) is None

    clock.advance(timedelta(seconds=5))
    assert scheduler_host.tick() and scheduler_host.running


def test_the_lease_rides_out_a_database_error_and_the_scheduler_stops_when_it_lapses(
    app: Flask, host: tuple[SchedulerHost, Clock], monkeypatch: pytest.MonkeyPatch,
) -> None:
    scheduler_host, clock = host
    start = clock()
    assert scheduler_host.tick() and scheduler_host.running

    def unavailable(*_args: object, **_kwargs: object) -> bool:
        raise locked()

    monkeypatch.setattr(lease, "acquire", unavailable)
    clock.advance(timedelta(seconds=5))
    assert scheduler_host.tick() and scheduler_host.running  # logged; tried again next time
    # The next renewal would come after the lease lapses: stop before another worker takes it.
    clock.now = start + LEASE_TTL - timedelta(seconds=4)
    assert not scheduler_host.tick()
    assert scheduler_host.scheduler is None

    monkeypatch.undo()
    clock.now = start + LEASE_TTL + timedelta(seconds=1)
    assert scheduler_host.tick() and scheduler_host.running


def test_a_second_worker_takes_the_lease_a_stalled_holder_gives_up(
    app: Flask, host: tuple[SchedulerHost, Clock],
) -> None:
    first, clock = host
    second = SchedulerHost(settings_of(app), database(app).sessionmaker, "worker-b", clock=clock)
    try:
        assert first.tick() and not second.tick()
        assert first.scheduler is not None
        first.scheduler.shutdown(wait=False)  # its thread ends, as if killed
        assert not first.tick()
        assert second.tick() and second.running
        assert not first.tick() and not first.running
    finally:
        second.close()


def test_a_failed_daily_run_is_tried_again_a_minute_later(
    host: tuple[SchedulerHost, Clock],
) -> None:
    scheduler_host, _clock = host
    assert scheduler_host.tick() and scheduler_host.scheduler is not None

    def failing(*_args: object) -> None:
        raise locked()

    scheduler_host.job_functions["daily"] = failing
    before = datetime.now(UTC)
    job_daily()  # as APScheduler calls it at 03:17
    retry = scheduler_host.scheduler.get_job("daily_retry")
    assert retry is not None
    assert before + RETRY_AFTER <= retry.next_run_time <= datetime.now(UTC) + RETRY_AFTER


def test_a_daily_run_missed_while_no_scheduler_ran_runs_when_one_is_back(
    app: Flask, host: tuple[SchedulerHost, Clock],
) -> None:
    first, clock = host
    assert first.tick()
    first.close()
    # Every worker was down through 03:17: the stored job's next run has passed.
    store = SQLAlchemyJobStore(engine=database(app).engine, tablename="apscheduler_jobs")
    store.start(BackgroundScheduler(), "default")
    daily = store.lookup_job("daily")
    daily.next_run_time = datetime.now(UTC) - timedelta(hours=2)
    store.update_job(daily)

    ran: list[datetime] = []
    second = SchedulerHost(settings_of(app), database(app).sessionmaker, "worker-b", clock=clock)
    second.job_functions["daily"] = lambda _s, _c, now: ran.append(now)
    try:
        assert second.tick()
        wait_for(lambda: bool(ran))
        assert second.scheduler is not None
        job = second.scheduler.get_job("daily")
        assert job is not None and job.next_run_time > datetime.now(UTC)  # tomorrow's
    finally:
        second.close()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own, since it is restarted."""
    server = PostgresServer()
    try:
        server.start()
    except PostgresUnavailable as error:
        pytest.skip(str(error))
    try:
        yield server
    finally:
        with contextlib.suppress(PostgresUnavailable):  # already stopped if the test failed
            server.stop()


def test_a_postgresql_restart_is_ridden_out_and_the_due_send_still_starts(
    own_postgres: PostgresServer, tmp_path: Path,
) -> None:
    url = new_postgres_database(own_postgres, None)
    migrate.upgrade(url)
    app = create_app(app_config(url, tmp_path))
    sessions = database(app).sessionmaker
    clock = Clock(NOON)
    scheduler_host = SchedulerHost(settings_of(app), sessions, "worker-a", clock=clock)
    try:
        assert scheduler_host.tick()
        wait_for(lambda: scheduler_host.last_run is not None)
        with sessions() as own:
            schedule(Factories(own), NOON)

        own_postgres.halt()
        clock.advance(timedelta(seconds=5))
        assert scheduler_host.tick() and scheduler_host.running  # renewal failed, lease held
        # APScheduler wakes up to an unreachable job store as well.
        assert scheduler_host.scheduler is not None
        scheduler_host.scheduler.wakeup()
        own_postgres.start_again()

        clock.advance(timedelta(seconds=5))
        scheduler_host.tick()  # renewed, or (its thread died) given up to start again
        clock.advance(timedelta(seconds=5))
        assert scheduler_host.tick() and scheduler_host.running
        scheduler = scheduler_host.scheduler
        assert scheduler is not None
        scheduler.modify_job("start_due_sends", next_run_time=datetime.now(UTC))
        wait_for(lambda: status(sessions, "2024-07") == EditionStatus.SENDING)
    finally:
        scheduler_host.close()
        database(app).engine.dispose()
