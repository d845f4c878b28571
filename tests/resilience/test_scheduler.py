"""The scheduler, driven with an injected clock (no sleeps)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.config import settings_of
from webapp.db import database
from webapp.models import Delivery, Edition, EditionStatus, ScheduleRule
from webapp.scheduler import jobs, lease
from webapp.scheduler.host import SchedulerHost

pytestmark = pytest.mark.servers  # starts servers or processes: not under libfaketime

NOON = datetime(2024, 8, 5, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai


def _scheduled(factories: Factories, at: datetime, month: str = "2024-07") -> Edition:
    edition = factories.edition(month, status=EditionStatus.SCHEDULED,
                                items={"policy": [{"topics": ["ai"]}]})
    edition.scheduled_at = at
    factories.session.commit()
    factories.subscriber(topics=["ai"])
    return edition


def _status(session: Session, month: str) -> EditionStatus:
    session.expire_all()
    edition = session.scalar(select(Edition).where(Edition.month == month))
    assert edition is not None
    return edition.status


@pytest.mark.postgres
def test_a_due_send_starts_once(app: Flask, session: Session, factories: Factories) -> None:
    _scheduled(factories, NOON)
    sessions = database(app).sessionmaker
    assert jobs.start_due_sends(sessions, NOON - timedelta(minutes=1)) == []
    assert _status(session, "2024-07") == EditionStatus.SCHEDULED
    assert jobs.start_due_sends(sessions, NOON) == ["2024-07"]
    assert jobs.start_due_sends(sessions, NOON + timedelta(seconds=15)) == []
    assert _status(session, "2024-07") in (EditionStatus.SENDING, EditionStatus.SENT)
    assert session.scalar(select(func.count(Delivery.id))) == 1


@pytest.mark.postgres
def test_two_schedulers_at_the_same_moment_start_it_once(
    app: Flask, session: Session, factories: Factories
) -> None:
    _scheduled(factories, NOON)
    sessions = database(app).sessionmaker
    results: list[list[str]] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        results.append(jobs.start_due_sends(sessions, NOON))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(r) for r in results) == [0, 1]
    assert session.scalar(select(func.count(Delivery.id))) == 1


def test_a_send_due_during_downtime_starts_once_after_restart(
    app: Flask, session: Session, factories: Factories
) -> None:
    _scheduled(factories, NOON)
    sessions = database(app).sessionmaker
    back = NOON + timedelta(hours=7)  # every worker was down at noon
    assert jobs.start_due_sends(sessions, back) == ["2024-07"]
    assert jobs.start_due_sends(sessions, back + timedelta(minutes=1)) == []


def test_the_monthly_rule_sends_the_newest_approved_edition_once(
    app: Flask, runner: FlaskCliRunner, session: Session, factories: Factories
) -> None:
    for month, status in [("2024-05", EditionStatus.APPROVED), ("2024-06", EditionStatus.SENT),
                          ("2024-07", EditionStatus.APPROVED), ("2024-08", EditionStatus.DRAFT)]:
        factories.edition(month, status=status, items={"policy": [{"topics": ["ai"]}]})
    factories.subscriber(topics=["ai"])
    with time_machine.travel(NOON - timedelta(days=1), tick=False):
        result = runner.invoke(args=["schedule-rule", "--day", "5", "--time", "12:00"])
    assert result.exit_code == 0 and "every month on day 5 at 12:00" in result.output
    assert "starting 2024-08" in result.output
    sessions = database(app).sessionmaker
    assert jobs.run_monthly_rule(sessions, settings_of(app), NOON - timedelta(minutes=1)) is None
    assert jobs.run_monthly_rule(sessions, settings_of(app), NOON) == "2024-07"
    assert jobs.run_monthly_rule(sessions, settings_of(app), NOON + timedelta(days=3)) is None
    assert _status(session, "2024-05") == EditionStatus.APPROVED
    assert _status(session, "2024-08") == EditionStatus.DRAFT
    # Next month, the next newest approved one.
    assert jobs.run_monthly_rule(sessions, settings_of(app), NOON + timedelta(days=31)) == "2024-05"


def _rule_at(runner: FlaskCliRunner, moment: datetime, *extra: str) -> str:
    with time_machine.travel(moment, tick=False):
        result = runner.invoke(args=["schedule-rule", "--day", "5", "--time", "12:00", *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_rule_set_after_its_day_starts_next_month(
    app: Flask, runner: FlaskCliRunner, factories: Factories
) -> None:
    factories.edition("2024-07", status=EditionStatus.APPROVED,
                      items={"policy": [{"topics": ["ai"]}]})
    factories.subscriber(topics=["ai"])
    later = NOON + timedelta(days=5)  # 10 August, the 5th has passed
    assert "starting 2024-09" in _rule_at(runner, later)
    sessions = database(app).sessionmaker
    assert jobs.run_monthly_rule(sessions, settings_of(app), later) is None
    assert jobs.run_monthly_rule(sessions, settings_of(app), later + timedelta(days=10)) is None
    september = datetime(2024, 9, 5, 4, 0, tzinfo=UTC)
    assert jobs.run_monthly_rule(sessions, settings_of(app), september) == "2024-07"


def test_this_month_sends_at_once_but_still_once_a_month(
    app: Flask, runner: FlaskCliRunner, factories: Factories
) -> None:
    for month in ("2024-06", "2024-07"):
        factories.edition(month, status=EditionStatus.APPROVED,
                          items={"policy": [{"topics": ["ai"]}]})
    factories.subscriber(topics=["ai"])
    later = NOON + timedelta(days=5)
    sessions = database(app).sessionmaker
    _rule_at(runner, later)  # first without: this month is skipped…
    assert "starting 2024-08" in _rule_at(runner, later, "--this-month")  # …then asked for
    with time_machine.travel(later, tick=False):
        assert jobs.run_monthly_rule(sessions, settings_of(app), later) == "2024-07"
    # Set again with --this-month after it has sent: no second edition this month.
    assert "starting 2024-09" in _rule_at(runner, later + timedelta(hours=1), "--this-month")
    assert jobs.run_monthly_rule(sessions, settings_of(app), later + timedelta(hours=2)) is None


def test_schedule_rule_refuses_impossible_days(runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["schedule-rule", "--day", "31", "--time", "09:00"]).exit_code != 0
    bad = runner.invoke(args=["schedule-rule", "--day", "3", "--time", "25:00"])
    assert bad.exit_code != 0 and "HH:MM" in bad.output
    assert runner.invoke(args=["schedule-rule", "--off"]).exit_code != 0  # nothing to switch off


def test_the_holder_alone_runs_apscheduler_with_its_jobs_in_our_table(
    app: Flask, session: Session
) -> None:
    sessions = database(app).sessionmaker
    first = SchedulerHost(settings_of(app), sessions, "worker-a")
    second = SchedulerHost(settings_of(app), sessions, "worker-b")
    try:
        assert first.tick() and first.running
        assert not second.tick() and not second.running
        assert first.scheduler is not None
        ids = {job.id for job in first.scheduler.get_jobs()}
        assert {"start_due_sends", "housekeeping", "daily", "monthly_rule_check"} <= ids
        stored = session.execute(text("SELECT id FROM apscheduler_jobs")).scalars().all()
        assert "start_due_sends" in stored
        session.add(ScheduleRule(day=3, time="09:30", enabled=True))
        session.commit()
        first.sync_rule()
        job = first.scheduler.get_job("monthly_rule")
        assert job is not None and "day='3'" in str(job.trigger)
    finally:
        first.close()
        second.close()
    assert not first.running
    with database(app).sessionmaker() as own:  # the lease is released on a clean stop
        assert lease.acquire(database(app).sessionmaker, "worker-b", timedelta(seconds=30),
                             datetime.now(UTC))
        own.close()
