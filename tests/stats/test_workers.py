"""webapp.stats.workers: how far behind SES events are, as the admin console shows it."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.admin.conftest import make_send
from tests.factories import Factories
from webapp.config import install, settings_of
from webapp.events.ses import store_receipt
from webapp.models import utcnow
from webapp.stats.workers import EVENTS_STALE_AFTER, ses_event_lag


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
