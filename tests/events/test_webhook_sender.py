"""The worker sends queued webhooks to a local HTTPS receiver, signed per Standard Webhooks,
and retries, gives up and disables endpoints on an injected clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from tests.conftest import app_config
from tests.factories import Factories
from tests.support.smtp_server import TestCA, free_port, make_test_ca
from tests.support.webhook_receiver import Behaviour, https_receiver, loopback
from webapp import create_app
from webapp.config import settings_of
from webapp.db import database
from webapp.events.webhook_sender import claim_due, send_due_webhooks
from webapp.events.webhooks import create_endpoint, encrypt_secret, new_secret, send_test_event
from webapp.models import (
    AuditEntry,
    ConsentSource,
    WebhookEndpoint,
    WebhookMessage,
    WebhookStatus,
)
from webapp.readers.consent import Origin
from webapp.readers.subscriptions import unsubscribe
from webapp.scheduler.jobs import daily

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return make_test_ca(tmp_path_factory.mktemp("webhook-ca"))


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = create_app(app_config(database_url, tmp_path, WEBHOOK_ALLOW_LOOPBACK="on"))
    yield application
    database(application).engine.dispose()


@pytest.fixture
def port() -> int:
    return free_port()


def _endpoint(app: Flask, session: Session, port: int) -> tuple[WebhookEndpoint, str]:
    endpoint, secret = create_endpoint(
        session, settings_of(app), f"https://localhost:{port}/yuebao",
        ["subscriber.unsubscribed"], actor="test", resolve=loopback,
    )
    session.commit()
    return endpoint, secret


def _send(app: Flask, ca: TestCA, now: datetime, timeout: float = 5.0) -> int:
    return send_due_webhooks(database(app).sessionmaker, settings_of(app), now,
                             ssl_context=ca.client_context(), resolve=loopback, timeout=timeout)


def _message(session: Session) -> WebhookMessage:
    session.expire_all()
    return session.scalars(select(WebhookMessage)).one()


def test_a_receiver_verifies_the_signature_with_the_standard_library(
    app: Flask, session: Session, factories: Factories, ca: TestCA, port: int
) -> None:
    _endpoint_row, secret = _endpoint(app, session, port)
    reader = factories.subscriber(topics=["ai"], email="leaving@example.com")
    with time_machine.travel(T0, tick=False):
        unsubscribe(session, settings_of(app), reader, Origin(ConsentSource.ADMIN))
        session.commit()
    with https_receiver(ca, port, Behaviour()) as receiver:
        assert _send(app, ca, T0) == 1
    [got] = receiver.received
    assert got.path == "/yuebao"
    assert got.headers["host"] == f"localhost:{port}"  # the name, not the address
    with time_machine.travel(T0, tick=False):
        verified = Webhook(secret).verify(got.body, got.headers)
    assert verified["type"] == "subscriber.unsubscribed"
    assert verified["data"]["subscriber"]["email"] == "leaving@example.com"
    assert got.headers["webhook-id"] == _message(session).message_id
    message = _message(session)
    assert message.status == WebhookStatus.DELIVERED
    assert message.last_status_code == 200
    assert message.last_response_ms is not None
    assert _send(app, ca, T0 + timedelta(hours=1)) == 0  # delivered once


def test_a_tampered_body_does_not_verify(
    app: Flask, session: Session, ca: TestCA, port: int
) -> None:
    endpoint, secret = _endpoint(app, session, port)
    send_test_event(session, endpoint, actor="test", now=T0)
    session.commit()
    with https_receiver(ca, port, Behaviour()) as receiver:
        _send(app, ca, T0)
    [got] = receiver.received
    body = json.loads(got.body)
    assert body["type"] == "webhook.test"
    with time_machine.travel(T0, tick=False), pytest.raises(Exception, match="signature"):
        Webhook(secret).verify(got.body.replace(b"test", b"tost"), got.headers)


def test_a_500_is_retried_with_backoff_and_fails_after_a_day(
    app: Flask, session: Session, ca: TestCA, port: int
) -> None:
    endpoint, _secret = _endpoint(app, session, port)
    send_test_event(session, endpoint, actor="test", now=T0)
    session.commit()
    waits = []
    with https_receiver(ca, port, Behaviour(status=500)) as receiver:
        now = T0
        while _message(session).status == WebhookStatus.PENDING:
            assert _send(app, ca, now) == 1
            message = _message(session)
            assert message.last_status_code == 500
            waits.append(message.next_attempt_at - now)
            now = message.next_attempt_at
    assert waits[:3] == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    assert max(waits) == timedelta(hours=4)
    message = _message(session)
    assert message.status == WebhookStatus.FAILED
    assert message.attempts == len(receiver.received)
    assert now - T0 >= timedelta(hours=24)


def test_a_receiver_that_hangs_times_out_and_is_tried_again(
    app: Flask, session: Session, ca: TestCA, port: int
) -> None:
    endpoint, _secret = _endpoint(app, session, port)
    send_test_event(session, endpoint, actor="test", now=T0)
    session.commit()
    with https_receiver(ca, port, Behaviour(delay=2.0)):
        _send(app, ca, T0, timeout=0.3)
    message = _message(session)
    assert message.status == WebhookStatus.PENDING
    assert message.last_status_code is None
    assert message.last_error is not None and "timed out" in message.last_error
    assert message.next_attempt_at == T0 + timedelta(seconds=30)


def test_a_receiver_down_for_an_hour_gets_the_message_when_back(
    app: Flask, session: Session, ca: TestCA, port: int
) -> None:
    endpoint, secret = _endpoint(app, session, port)
    send_test_event(session, endpoint, actor="test", now=T0)
    session.commit()
    now = T0
    while now < T0 + timedelta(hours=1):  # nothing listens on the port
        _send(app, ca, now)
        now = _message(session).next_attempt_at
    assert _message(session).last_error is not None
    with https_receiver(ca, port, Behaviour()) as receiver:
        assert _send(app, ca, now) == 1
    message = _message(session)
    assert message.status == WebhookStatus.DELIVERED
    assert message.attempts > 5
    [got] = receiver.received
    with time_machine.travel(now, tick=False):
        assert Webhook(secret).verify(got.body, got.headers)["type"] == "webhook.test"
    session.expire_all()
    assert session.get(WebhookEndpoint, endpoint.id).failure_count == 0  # type: ignore[union-attr]


def test_an_endpoint_failing_for_a_day_is_disabled_with_a_notice(
    app: Flask, session: Session, ca: TestCA, port: int
) -> None:
    endpoint, _secret = _endpoint(app, session, port)
    now = T0
    while now < T0 + timedelta(hours=25):
        send_test_event(session, endpoint, actor="test", now=now)
        session.commit()
        _send(app, ca, now)  # nothing listens
        now += timedelta(hours=1)
    session.expire_all()
    row = session.get(WebhookEndpoint, endpoint.id)
    assert row is not None and not row.enabled
    assert row.disabled_reason == "failing"
    notice = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "webhook.disable")
    ).one()
    assert notice.actor == "worker"
    # Disabled: what is still queued waits for an admin.
    send_test_event(session, row, actor="test", now=now)
    session.commit()
    assert _send(app, ca, now) == 0


@pytest.mark.postgres
def test_two_senders_claim_disjoint_messages(
    app: Flask, session: Session, port: int, backend: str
) -> None:
    endpoint, _secret = _endpoint(app, session, port)
    for _ in range(3):
        send_test_event(session, endpoint, actor="test", now=T0)
    session.commit()
    sessions, settings = database(app).sessionmaker, settings_of(app)
    with sessions() as first:
        mine = claim_due(first, settings, T0, size=2)
        if backend == "sqlite":  # one writer at a time: the second claims after the first
            first.commit()
        with sessions() as second:  # on PostgreSQL while the first still holds its rows
            theirs = claim_due(second, settings, T0)
            second.commit()
        first.commit()
    assert len(mine) == 2 and len(theirs) == 1
    assert {o.message_id for o in mine}.isdisjoint({o.message_id for o in theirs})
    with sessions() as third:
        assert claim_due(third, settings, T0) == []  # all claimed until CLAIM_FOR has passed


def test_the_daily_job_forgets_settled_messages_after_a_month(
    app: Flask, session: Session, ca: TestCA, port: int
) -> None:
    endpoint, _secret = _endpoint(app, session, port)
    send_test_event(session, endpoint, actor="test", now=T0)
    session.commit()
    with https_receiver(ca, port, Behaviour()):
        _send(app, ca, T0)
    send_test_event(session, endpoint, actor="test", now=T0)  # still pending: kept
    session.commit()
    sessions, settings = database(app).sessionmaker, settings_of(app)
    assert daily(sessions, settings, T0 + timedelta(days=29))["webhooks_forgotten"] == 0
    assert daily(sessions, settings, T0 + timedelta(days=31))["webhooks_forgotten"] == 1
    assert _message(session).status == WebhookStatus.PENDING


def test_a_secret_unreadable_after_a_secret_key_change_turns_the_endpoint_off(
    app: Flask, session: Session, ca: TestCA, port: int
) -> None:
    endpoint, _secret = _endpoint(app, session, port)
    send_test_event(session, endpoint, actor="test", now=T0)
    endpoint.secret_encrypted = encrypt_secret(replace(settings_of(app), secret_key="old"),
                                               new_secret())
    session.commit()
    assert _send(app, ca, T0) == 0
    session.expire_all()
    row = session.get(WebhookEndpoint, endpoint.id)
    assert row is not None and not row.enabled and row.disabled_reason == "secret_unreadable"
    assert _message(session).status == WebhookStatus.PENDING  # waits for the rotation
