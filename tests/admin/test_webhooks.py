"""The admin console's webhooks: add (the secret shown once), refuse unsafe URLs plainly, send a
test event, rotate, turn off and on, delete, see the log and the worker's notice; admins only,
CSRF-checked, audited."""

from __future__ import annotations

import re
from pathlib import Path

import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from tests.conftest import _signed_in, app_config
from tests.support.smtp_server import free_port, make_test_ca
from tests.support.webhook_receiver import Behaviour, https_receiver
from webapp import create_app
from webapp.config import settings_of
from webapp.db import database
from webapp.events.webhook_sender import send_due_webhooks
from webapp.models import AuditEntry, User, WebhookEndpoint, WebhookMessage, utcnow

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]{32}")
URL = "https://93.184.215.14/hooks/yuebao"


def _add(client: FlaskClient, url: str = URL, events: list[str] | None = None) -> str:
    chosen = ["subscriber.confirmed", "edition.sent"] if events is None else events
    made = client.post("/admin/webhooks", data={"url": url, "events": chosen})
    assert made.status_code == 303, made.get_data(as_text=True)
    return made.headers["Location"]


def _endpoints(session: Session) -> int:
    return session.scalar(select(func.count(WebhookEndpoint.id))) or 0


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(
    admin_client: FlaskClient, session: Session, admin: User
) -> None:
    page = admin_client.get("/admin/webhooks")
    assert page.status_code == 200
    assert "subscriber.erased" in page.get_data(as_text=True)
    location = _add(admin_client)
    assert "whsec_" not in location
    shown = admin_client.get(location)
    assert shown.headers["Cache-Control"] == "no-store"
    assert len(SECRET.findall(shown.get_data(as_text=True))) == 1
    assert SECRET.search(admin_client.get(location).get_data(as_text=True)) is None
    row = session.scalars(select(WebhookEndpoint)).one()
    assert row.events == ["subscriber.confirmed", "edition.sent"]
    assert "whsec_" not in row.secret_encrypted
    assert session.scalars(select(AuditEntry.action)).all() == ["webhook.create"]


def test_unsafe_urls_and_missing_events_are_refused_plainly(
    admin_client: FlaskClient, session: Session
) -> None:
    for url, words in [
        ("https://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("https://10.0.0.1/hook", "private"),
        ("ftp://93.184.215.14/", "https://"),
    ]:
        page = admin_client.post("/admin/webhooks?lang=en",
                                 data={"url": url, "events": ["edition.sent"]})
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert (words in text and 'class="error-summary' in text) or words in text
        assert 'aria-invalid="true"' in text
    page = admin_client.post("/admin/webhooks", data={"url": URL})
    assert page.status_code == 200
    assert _endpoints(session) == 0


def test_test_event_rotate_off_on_and_delete(
    admin_client: FlaskClient, session: Session
) -> None:
    _add(admin_client)
    endpoint = session.scalars(select(WebhookEndpoint)).one()
    base = f"/admin/webhooks/{endpoint.id}"
    assert admin_client.post(f"{base}/test").status_code == 303
    [message] = session.scalars(select(WebhookMessage)).all()
    assert message.event_type == "webhook.test"
    page = admin_client.get(base).get_data(as_text=True)
    assert message.message_id in page
    first = endpoint.secret_encrypted
    rotated = admin_client.post(f"{base}/rotate")
    assert len(SECRET.findall(admin_client.get(rotated.headers["Location"])
                              .get_data(as_text=True))) == 1
    session.expire_all()
    assert endpoint.secret_encrypted != first
    admin_client.post(f"{base}/disable")
    session.expire_all()
    assert not endpoint.enabled and endpoint.disabled_reason == "admin"
    admin_client.post(f"{base}/enable")
    session.expire_all()
    assert endpoint.enabled
    assert admin_client.get(f"{base}/delete").status_code == 200
    assert admin_client.post(f"{base}/delete").status_code == 303
    session.expire_all()
    assert _endpoints(session) == 0
    assert session.scalar(select(func.count(WebhookMessage.id))) == 0
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["webhook.create", "webhook.test", "webhook.rotate", "webhook.disable",
                       "webhook.enable", "webhook.delete"]


def test_the_worker_disabling_an_endpoint_is_shown_as_a_notice(
    admin_client: FlaskClient, session: Session
) -> None:
    _add(admin_client)
    endpoint = session.scalars(select(WebhookEndpoint)).one()
    endpoint.enabled, endpoint.disabled_reason, endpoint.disabled_at = False, "failing", utcnow()
    session.commit()
    page = admin_client.get("/admin/webhooks").get_data(as_text=True)
    assert 'data-notice="webhook-disabled"' in page
    assert URL in page


def test_editors_may_not_see_webhooks(editor_client: FlaskClient) -> None:
    assert editor_client.get("/admin/webhooks").status_code == 403
    assert editor_client.post("/admin/webhooks", data={"url": URL}).status_code == 403


def test_adding_needs_the_csrf_token(
    database_url: str, tmp_path: Path, admin: User, session: Session
) -> None:
    app: Flask = create_app(app_config(database_url, tmp_path, WTF_CSRF_ENABLED=True))
    try:
        client = _signed_in(app, admin)
        response = client.post("/admin/webhooks", data={"url": URL, "events": ["edition.sent"]})
        assert response.status_code == 400
        assert _endpoints(session) == 0
    finally:
        database(app).engine.dispose()


def test_the_test_button_reaches_a_receiver_that_verifies_it(
    database_url: str, tmp_path: Path, admin: User, session: Session
) -> None:
    """From the console's button through the worker to a local HTTPS receiver."""
    app: Flask = create_app(app_config(database_url, tmp_path, WEBHOOK_ALLOW_LOOPBACK="on"))
    ca, port = make_test_ca(tmp_path), free_port()
    try:
        client = _signed_in(app, admin)
        secret_page = client.get(_add(client, f"https://127.0.0.1:{port}/in", ["edition.sent"]))
        [secret] = SECRET.findall(secret_page.get_data(as_text=True))
        endpoint = session.scalars(select(WebhookEndpoint)).one()
        client.post(f"/admin/webhooks/{endpoint.id}/test")
        now = session.scalars(select(WebhookMessage.next_attempt_at)).one()
        with https_receiver(ca, port, Behaviour()) as receiver:
            sent = send_due_webhooks(database(app).sessionmaker, settings_of(app), now,
                                     ssl_context=ca.client_context())
        assert sent == 1
        [got] = receiver.received
        with time_machine.travel(now, tick=False):
            assert Webhook(secret).verify(got.body, got.headers)["type"] == "webhook.test"
        page = client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
        assert "HTTP 200" in page
    finally:
        database(app).engine.dispose()
