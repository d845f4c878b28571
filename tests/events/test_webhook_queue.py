"""Webhook events are queued in the transaction of the change they tell of."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from emails.ses_events import SesEvent
from tests.factories import Factories
from tests.mailbox import BROWSER, link_in, outbox, subscribe
from webapp.config import settings_of
from webapp.delivery import sending
from webapp.events.ses import record_ses_event
from webapp.events.webhooks import create_endpoint, disable
from webapp.models import (
    WEBHOOK_EVENTS,
    ConsentSource,
    Delivery,
    EditionStatus,
    Subscriber,
    WebhookEndpoint,
    WebhookMessage,
)
from webapp.readers.consent import Origin
from webapp.readers.own_data import erase
from webapp.readers.preferences import Preferences, update_preferences
from webapp.readers.reader_admin import NewReader, add_reader
from webapp.readers.subscriptions import unsubscribe

ORIGIN = Origin(ConsentSource.ADMIN)
ENGLISH = Preferences(topics=["ai"], language="en", name=None, company=None, tracking=True)


def public(host: str, port: int) -> list[str]:
    return ["93.184.215.14"]


@pytest.fixture
def endpoint(app: Flask, session: Session) -> WebhookEndpoint:
    settings = settings_of(app)
    made, _secret = create_endpoint(session, settings, "https://crm.example.com/hooks",
                                    list(WEBHOOK_EVENTS), actor="test", resolve=public)
    session.commit()
    return made


def _messages(session: Session, event_type: str | None = None) -> list[WebhookMessage]:
    session.expire_all()
    stmt = select(WebhookMessage).order_by(WebhookMessage.id)
    if event_type:
        stmt = stmt.where(WebhookMessage.event_type == event_type)
    return list(session.scalars(stmt))


def test_an_unsubscribe_queues_its_event_with_the_change(
    app: Flask, session: Session, factories: Factories, endpoint: WebhookEndpoint
) -> None:
    reader = factories.subscriber(topics=["ai"], email="leaving@example.com")
    unsubscribe(session, settings_of(app), reader, ORIGIN)
    session.commit()
    [message] = _messages(session, "subscriber.unsubscribed")
    assert message.payload["type"] == "subscriber.unsubscribed"
    data = message.payload["data"]
    assert isinstance(data, dict)
    assert data["subscriber"]["email"] == "leaving@example.com"
    assert data["subscriber"]["status"] == "unsubscribed"
    assert message.subscriber_id == reader.id
    assert message.endpoint_id == endpoint.id


@pytest.mark.postgres
def test_a_rolled_back_change_leaves_no_event(
    app: Flask, session: Session, factories: Factories, endpoint: WebhookEndpoint
) -> None:
    reader = factories.subscriber(topics=["ai"])
    unsubscribe(session, settings_of(app), reader, ORIGIN)
    session.rollback()
    assert _messages(session) == []
    assert session.get(Subscriber, reader.id).status.value == "active"  # type: ignore[union-attr]


def test_no_endpoint_no_message_and_a_disabled_one_gets_nothing(
    session: Session, factories: Factories, endpoint: WebhookEndpoint
) -> None:
    disable(session, endpoint, actor="test")
    session.commit()
    update_preferences(session, factories.subscriber(topics=["ai"]),
                       ENGLISH, ORIGIN)
    session.commit()
    assert _messages(session) == []


def test_a_preferences_change_is_subscriber_updated(
    session: Session, factories: Factories, endpoint: WebhookEndpoint
) -> None:
    reader = factories.subscriber(topics=["ai"])
    update_preferences(session, reader, ENGLISH, ORIGIN)
    session.commit()
    [message] = _messages(session, "subscriber.updated")
    assert message.payload["data"]["subscriber"]["language"] == "en"  # type: ignore[index]


def test_erasure_purges_the_readers_payloads_and_tells_only_the_id(
    app: Flask, session: Session, factories: Factories, endpoint: WebhookEndpoint
) -> None:
    reader = factories.subscriber(topics=["ai"], email="gone@example.com")
    other = factories.subscriber(topics=["ai"], email="stays@example.com")
    unsubscribe(session, settings_of(app), reader, ORIGIN)
    unsubscribe(session, settings_of(app), other, ORIGIN)
    session.commit()
    erase(session, settings_of(app), reader, ORIGIN)
    session.commit()
    left = _messages(session)
    assert [m.event_type for m in left] == ["subscriber.unsubscribed", "subscriber.erased"]
    assert left[0].subscriber_id == other.id
    erased = left[1]
    assert erased.payload["data"] == {"subscriber": {"id": reader.id}}
    assert "gone@example.com" not in str(erased.payload)


def test_bounces_and_complaints_are_delivery_events(
    session: Session, factories: Factories, endpoint: WebhookEndpoint, sent_delivery: Delivery
) -> None:
    at = datetime(2024, 7, 3, 8, 0, tzinfo=UTC)
    bounce = SesEvent(kind="bounce", message_id="ses-1", delivery_id=sent_delivery.id,
                      recipients=("reader@example.com",), occurred_at=at,
                      bounce_type="Permanent", bounce_subtype="General")
    record_ses_event(session, bounce, {"eventType": "Bounce"}, bounce_suppress_after=3)
    complaint = SesEvent(kind="complaint", message_id="ses-1", delivery_id=sent_delivery.id,
                         recipients=("reader@example.com",), occurred_at=at)
    record_ses_event(session, complaint, {"eventType": "Complaint"}, bounce_suppress_after=3)
    session.commit()
    [bounced] = _messages(session, "delivery.bounced")
    assert bounced.payload["data"]["permanent"] is True  # type: ignore[index]
    assert bounced.payload["data"]["delivery_id"] == sent_delivery.id  # type: ignore[index]
    assert bounced.subscriber_id == sent_delivery.subscriber_id
    assert len(_messages(session, "delivery.complained")) == 1


def test_an_edition_that_finishes_is_edition_sent(
    session: Session, factories: Factories, endpoint: WebhookEndpoint, sent_delivery: Delivery
) -> None:
    edition = sent_delivery.edition
    assert edition.status == EditionStatus.SENDING
    assert sending.finish_if_done(session, edition)
    session.commit()
    [message] = _messages(session, "edition.sent")
    assert message.payload["data"]["edition"]["month"] == "2024-07"  # type: ignore[index]
    assert message.subscriber_id is None


@pytest.mark.postgres
def test_confirming_on_the_public_page_is_subscriber_confirmed(
    app: Flask, client: FlaskClient, session: Session, endpoint: WebhookEndpoint
) -> None:
    subscribe(client, "joining@example.com")
    link = link_in(outbox(app)[-1], "/confirm/")
    assert _messages(session) == []  # pending is no news
    assert client.post(link, headers=BROWSER).status_code == 303
    [message] = _messages(session, "subscriber.confirmed")
    data = message.payload["data"]
    assert isinstance(data, dict)
    assert data["subscriber"]["email"] == "joining@example.com"
    assert data["subscriber"]["status"] == "active"


def test_a_reader_added_through_the_api_with_consent_is_subscriber_confirmed(
    app: Flask, session: Session, endpoint: WebhookEndpoint
) -> None:
    reader = add_reader(
        session,
        NewReader(email="crm@example.com", topics=["ai"], language="zh-CN",
                  consent_note="signed the intake form"),
        actor="api", erasure_key=settings_of(app).erasure_key,
    )
    session.commit()
    [message] = _messages(session, "subscriber.confirmed")
    assert message.subscriber_id == reader.id
