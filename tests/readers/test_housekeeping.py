from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.config import install, settings_of
from webapp.models import ConsentRecord, ConsentSource, Subscriber, SubscriberStatus
from webapp.readers.subscriptions import purge_unconfirmed

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def _aged(factories: Factories, days: int, status: SubscriberStatus) -> Subscriber:
    moment = NOW - timedelta(days=days)
    reader = factories.subscriber(status=status, topics=["ai"], created_at=moment)
    reader.updated_at = moment
    factories.session.add(
        ConsentRecord(subscriber=reader, action="subscribe", source=ConsentSource.FORM)
    )
    factories.session.commit()
    return reader


@pytest.mark.postgres
def test_unconfirmed_readers_older_than_the_retention_are_purged(
    factories: Factories, session: Session
) -> None:
    old = _aged(factories, 8, SubscriberStatus.PENDING)
    recent = _aged(factories, 6, SubscriberStatus.PENDING)
    confirmed = _aged(factories, 30, SubscriberStatus.ACTIVE)
    left = _aged(factories, 30, SubscriberStatus.UNSUBSCRIBED)

    assert purge_unconfirmed(session, 7, now=NOW) == 1
    session.commit()
    session.expire_all()
    remaining = set(session.scalars(select(Subscriber.id)))
    assert remaining == {recent.id, confirmed.id, left.id}
    # Their ledger goes with them: they never consented.
    owners = set(session.scalars(select(ConsentRecord.subscriber_id)))
    assert old.id not in owners and owners == remaining


def test_the_cli_purges_with_the_configured_retention(
    app: Flask, runner: FlaskCliRunner, factories: Factories, session: Session
) -> None:
    _aged(factories, 3, SubscriberStatus.PENDING)
    # The command reads the clock; freeze it at the moment the reader's age is counted from.
    with time_machine.travel(NOW, tick=False):
        result = runner.invoke(args=["housekeeping", "purge-unconfirmed"])
        assert result.exit_code == 0 and result.output.startswith("0 unconfirmed")
        install(app, replace(settings_of(app), unconfirmed_retention_days=2))
        result = runner.invoke(args=["housekeeping", "purge-unconfirmed"])
    assert result.output.startswith("1 unconfirmed reader(s) older than 2 day(s)")
    assert session.scalar(select(Subscriber.id)) is None


def test_the_cli_resumes_readers_whose_pause_ended(
    runner: FlaskCliRunner, factories: Factories, session: Session
) -> None:
    ended = factories.subscriber(
        status=SubscriberStatus.PAUSED, paused_until=datetime.now(UTC) - timedelta(hours=1)
    )
    running = factories.subscriber(
        status=SubscriberStatus.PAUSED, paused_until=datetime.now(UTC) + timedelta(days=9)
    )
    result = runner.invoke(args=["housekeeping", "resume-paused"])
    assert result.output.startswith("1 paused reader(s) resumed")
    session.expire_all()
    assert session.get(Subscriber, ended.id).status == SubscriberStatus.ACTIVE  # type: ignore[union-attr]
    assert session.get(Subscriber, running.id).status == SubscriberStatus.PAUSED  # type: ignore[union-attr]
    [record] = session.get(Subscriber, ended.id).consents  # type: ignore[union-attr]
    assert record.action == "resume" and record.detail == {"automatic": True}
