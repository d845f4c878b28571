"""webapp.stats.workers: what each worker is doing, read from its heartbeat, whether it is live
(a heartbeat within 30 seconds) or has gone silent, and how far behind SES events are."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from tests.admin.conftest import make_send
from tests.factories import Factories
from webapp.config import install, settings_of
from webapp.events.inbox import Notification, store
from webapp.events.ses import store_receipt
from webapp.models import SnsReceipt, WorkerHeartbeat, utcnow
from webapp.stats.workers import (
    EVENTS_STALE_AFTER,
    INBOX_BEHIND_AFTER,
    LIVE_WITHIN,
    InboxLag,
    WorkerStatus,
    inbox_lag,
    ses_event_lag,
    worker_status,
)

NOW = datetime(2030, 3, 1, 9, 30, tzinfo=UTC)
STARTED = NOW - timedelta(hours=5)


def heartbeat(session: Session, name: str, ago: timedelta, **fields: object) -> None:
    host, pid = name.split(":")
    session.add(WorkerHeartbeat(name=name, hostname=host, pid=int(pid), started_at=STARTED,
                                heartbeat_at=NOW - ago, **fields))
    session.commit()


def test_no_heartbeat_no_worker(session: Session) -> None:
    assert worker_status(session, now=NOW) == []


def test_a_worker_is_live_up_to_30_seconds_after_its_heartbeat(session: Session) -> None:
    heartbeat(session, "on-time:1", LIVE_WITHIN)
    heartbeat(session, "late:2", LIVE_WITHIN + timedelta(milliseconds=1))

    live = {w.name: w.live for w in worker_status(session, now=NOW)}

    assert live == {"on-time:1": True, "late:2": False}


def test_a_heartbeat_a_little_ahead_of_this_clock_is_live(session: Session) -> None:
    heartbeat(session, "fast-clock:1", -timedelta(seconds=2))  # another host's clock runs ahead
    assert [w.live for w in worker_status(session, now=NOW)] == [True]


def test_what_a_worker_reports_is_shown_with_the_month_it_sends(
    factories: Factories, session: Session
) -> None:
    edition = factories.edition("2030-02")
    heartbeat(session, "web-1:4242", timedelta(seconds=3), edition_id=edition.id,
              rate_per_s=14.0, scheduler=True)

    assert worker_status(session, now=NOW) == [
        WorkerStatus(name="web-1:4242", hostname="web-1", pid=4242, started_at=STARTED,
                     heartbeat_at=NOW - timedelta(seconds=3), edition="2030-02", rate_per_s=14.0,
                     scheduler=True, live=True)
    ]


def test_live_workers_come_first_each_group_freshest_first(session: Session) -> None:
    heartbeat(session, "silent-recent:1", timedelta(minutes=1))
    heartbeat(session, "live-older:2", timedelta(seconds=20))
    heartbeat(session, "silent-old:3", timedelta(days=2))
    heartbeat(session, "live-newest:4", timedelta(seconds=1))

    names = [w.name for w in worker_status(session, now=NOW)]

    assert names == ["live-newest:4", "live-older:2", "silent-recent:1", "silent-old:3"]


def test_without_a_now_the_clock_decides(session: Session) -> None:
    heartbeat(session, "w:1", timedelta(0))
    with time_machine.travel(NOW + timedelta(seconds=10), tick=False):
        assert [w.live for w in worker_status(session)] == [True]
    with time_machine.travel(NOW + timedelta(minutes=10), tick=False):
        assert [w.live for w in worker_status(session)] == [False]


@pytest.mark.postgres  # ON DELETE SET NULL, enforced by each database
def test_a_worker_whose_edition_was_deleted_shows_no_edition(
    factories: Factories, session: Session
) -> None:
    edition = factories.edition("2030-02")
    heartbeat(session, "w:1", timedelta(seconds=1), edition_id=edition.id)
    session.delete(edition)
    session.commit()
    session.expire_all()

    (worker,) = worker_status(session, now=NOW)

    assert (worker.name, worker.edition) == ("w:1", None)


@pytest.mark.postgres
def test_event_lag_is_stale_when_messages_sent_long_ago_have_had_no_ses_event(
    factories: Factories, session: Session
) -> None:
    now = utcnow()
    assert not ses_event_lag(session, now).stale  # nothing sent, nothing to hear about

    send = make_send(factories, session, {"a": {"topics": ["ai"]}, "b": {"topics": ["ai"]}},
                     sent_at=now - timedelta(hours=1))
    lag = ses_event_lag(session, now)
    assert lag.newest_at is None and lag.stale
    assert lag.unanswered_since == (now - timedelta(hours=1)).replace(second=0, microsecond=0)

    # The hook stores the SNS notification's receipt with the SES event it carries, now.
    store_receipt(session, {"MessageId": "sns-1", "Type": "Notification", "TopicArn": "arn"})
    send.deliver("a")
    lag = ses_event_lag(session, now + timedelta(seconds=1))
    assert lag.newest_at is not None and not lag.stale and lag.unanswered_since is None
    age = lag.age(now + timedelta(minutes=3))
    assert age is not None and timedelta(minutes=2) < age <= timedelta(minutes=3)

    # A later send that SES never reports on goes red once it is EVENTS_STALE_AFTER old.
    sent = now + timedelta(minutes=2)
    make_send(factories, session, {"c": {"topics": ["ai"]}}, month="2024-08", sent_at=sent)
    assert not ses_event_lag(session, sent + EVENTS_STALE_AFTER - timedelta(minutes=1)).stale
    assert ses_event_lag(session, sent + EVENTS_STALE_AFTER + timedelta(minutes=1)).stale


def test_the_console_shows_event_lag_only_for_the_ses_transport(
    app: Flask, admin_client: FlaskClient, factories: Factories, session: Session
) -> None:
    make_send(factories, session, {"a": {"topics": ["ai"]}}, sent_at=utcnow() - timedelta(hours=1))

    def events_row() -> tuple[str, str]:
        page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
        row = re.search(r'<tr id="health-events">(.*?)</tr>', page, re.S)
        assert row is not None
        return row[1], re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row[1])).strip()

    html, text = events_row()
    assert text == "SES events — Only the ses transport reports events back."
    install(app, replace(settings_of(app), mail_transport="ses"))
    html, text = events_row()
    assert text.startswith("SES events Behind None stored yet. Messages sent since")
    assert "status-failed" in html


def test_the_console_shows_how_many_ses_events_wait_and_for_how_long(
    admin_client: FlaskClient, session: Session
) -> None:
    def inbox_row() -> tuple[str, str]:
        page = admin_client.get("/admin/?lang=en").get_data(as_text=True)
        row = re.search(r'<tr id="health-event-inbox">(.*?)</tr>', page, re.S)
        assert row is not None
        return row[1], re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row[1])).strip()

    assert inbox_row()[1] == "SES events waiting Applied Every event received has been applied."
    now = utcnow()
    store(session.connection(), [Notification("sns-1", "arn", "{}")], now=now)
    store(session.connection(), [Notification("sns-2", "arn", "{}")],
          now=now - INBOX_BEHIND_AFTER - timedelta(minutes=2))
    session.commit()
    lag = inbox_lag(session, now)
    assert (lag.waiting, lag.behind) == (2, True)
    html, text = inbox_row()
    assert text.startswith("SES events waiting Behind 2 events received and not applied yet; "
                           "the oldest arrived 7 minutes ago.")
    assert "status-failed" in html
    session.execute(update(SnsReceipt).values(processed_at=now))
    session.commit()
    assert inbox_lag(session, now) == InboxLag(0, None, behind=False)
