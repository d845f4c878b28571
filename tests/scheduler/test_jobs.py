"""Scheduled jobs that fail are tried again at their next run, and a due send is never skipped
because one run failed."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.config import settings_of
from webapp.db import database
from webapp.delivery import sending
from webapp.models import DeliveryStatus, Edition, EditionStatus, ScheduleRule
from webapp.scheduler import jobs

NOON = datetime(2024, 8, 5, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai


def locked() -> OperationalError:
    return OperationalError("INSERT INTO deliveries …", {},
                            sqlite3.OperationalError("database is locked"))


def _status(session: Session, month: str) -> EditionStatus | None:
    session.expire_all()
    return session.scalar(select(Edition.status).where(Edition.month == month))


def test_an_edition_that_cannot_start_does_not_hold_back_the_others(
    app: Flask, session: Session, factories: Factories, monkeypatch: pytest.MonkeyPatch
) -> None:
    for month in ("2024-06", "2024-07"):
        edition = factories.edition(month, status=EditionStatus.SCHEDULED,
                                    items={"policy": [{"topics": ["ai"]}]})
        edition.scheduled_at = NOON
    session.commit()
    factories.subscriber(topics=["ai"])
    start_send = sending.start_send

    def june_fails(session: Session, edition: Edition, **kw: Any) -> sending.PlanResult:
        if edition.month == "2024-06":
            raise locked()
        return start_send(session, edition, **kw)

    monkeypatch.setattr(sending, "start_send", june_fails)
    sessions = database(app).sessionmaker
    assert jobs.start_due_sends(sessions, NOON) == ["2024-07"]
    assert _status(session, "2024-06") == EditionStatus.SCHEDULED  # rolled back, still due

    monkeypatch.undo()
    assert jobs.start_due_sends(sessions, NOON + timedelta(seconds=15)) == ["2024-06"]
    assert _status(session, "2024-06") == EditionStatus.SENDING


def test_a_monthly_rule_whose_run_failed_at_the_end_of_the_month_still_runs_once(
    app: Flask, session: Session, factories: Factories, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Day 28 at 23:59 (Asia/Shanghai): in February the month turns a minute later.
    moment = datetime(2025, 2, 28, 15, 59, tzinfo=UTC)
    session.add(ScheduleRule(day=28, time="23:59", enabled=True,
                             created_at=moment - timedelta(days=40)))
    factories.edition("2025-02", status=EditionStatus.APPROVED,
                      items={"policy": [{"topics": ["ai"]}]})
    factories.subscriber(topics=["ai"])
    settings, sessions = settings_of(app), database(app).sessionmaker

    def unavailable(*_args: object, **_kwargs: object) -> sending.PlanResult:
        raise locked()

    monkeypatch.setattr(sending, "start_send", unavailable)
    with pytest.raises(OperationalError):
        jobs.run_monthly_rule(sessions, settings, moment)
    monkeypatch.undo()
    session.expire_all()
    rule = session.scalar(select(ScheduleRule))
    assert rule is not None and rule.last_run_month is None  # nothing half-done

    march = moment + timedelta(minutes=1, seconds=30)  # 1 March, 00:00:30
    assert jobs.run_monthly_rule(sessions, settings, march) == "2025-02"
    assert jobs.run_monthly_rule(sessions, settings, march + timedelta(minutes=1)) is None
    session.expire_all()
    assert rule.last_run_month == "2025-02"
    assert _status(session, "2025-02") == EditionStatus.SENDING


def test_a_new_rule_does_not_run_for_the_month_before_it_was_made(
    app: Flask, session: Session, factories: Factories
) -> None:
    session.add(ScheduleRule(day=5, time="12:00", enabled=True,
                             created_at=NOON + timedelta(days=20)))  # 25 August
    factories.edition("2024-07", status=EditionStatus.APPROVED,
                      items={"policy": [{"topics": ["ai"]}]})
    session.commit()
    settings, sessions = settings_of(app), database(app).sessionmaker
    september_first = datetime(2024, 8, 31, 16, 30, tzinfo=UTC)
    assert jobs.run_monthly_rule(sessions, settings, september_first) is None


@pytest.mark.postgres
def test_housekeeping_finishes_a_send_whose_last_deliveries_ses_settled(
    app: Flask, session: Session, factories: Factories
) -> None:
    """A worker killed with a call in flight leaves its deliveries in doubt; SES's Send events
    settle them after the engine's last look. Nothing is left to send, so no engine will run
    again for this edition: housekeeping finishes it."""
    edition = factories.edition("2024-07", status=EditionStatus.SENDING,
                                items={"policy": [{"topics": ["ai"]}]})
    edition.send_started_at = NOON
    other = factories.edition("2024-06", status=EditionStatus.SENDING,
                              items={"policy": [{"topics": ["ai"]}]})
    other.send_started_at = NOON
    factories.delivery(edition, status=DeliveryStatus.SENT, sent_at=NOON)
    factories.delivery(edition, status=DeliveryStatus.SKIPPED)
    factories.delivery(other, status=DeliveryStatus.IN_DOUBT, in_doubt_at=NOON)
    session.commit()
    later = NOON + timedelta(minutes=1)
    outcome = jobs.housekeeping(database(app).sessionmaker, settings_of(app), later)
    assert outcome["sends_finished"] == 1
    assert _status(session, "2024-07") == EditionStatus.SENT
    assert _status(session, "2024-06") == EditionStatus.SENDING  # one delivery still in doubt
    finished = session.scalar(select(Edition.send_finished_at).where(Edition.month == "2024-07"))
    assert finished == later
