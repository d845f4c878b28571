from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.factories import Factories
from tests.support.inbox import drain
from tests.support.sns import TOPIC, Signer
from webapp.events.ses import HookSettings
from webapp.models import Delivery, DeliveryStatus, Edition, EditionStatus, Subscriber, utcnow


@pytest.fixture(scope="session")
def signer() -> Signer:
    return Signer.create()


@pytest.fixture
def confirmed_urls() -> list[str]:
    return []


@pytest.fixture
def hook_app(app: Flask, signer: Signer, confirmed_urls: list[str]) -> Flask:
    app.extensions["yuebao.hooks"] = HookSettings(
        topic_arns=(TOPIC,),
        signing_keys=signer.signing_keys(),
        confirm_subscription=confirmed_urls.append,
        bounce_suppress_after=3,
    )
    return app


@pytest.fixture
def post(hook_app: Flask) -> Callable[[object], TestResponse]:
    client: FlaskClient = hook_app.test_client()

    def send(envelope: object) -> TestResponse:
        """POST to the hook, then apply what it stored, as the worker does."""
        body = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
        answer = client.post("/hooks/ses", data=body, content_type="text/plain")
        drain(hook_app)
        return answer

    return send


@pytest.fixture
def sent_delivery(factories: Factories) -> Delivery:
    """A delivery SES took 10 minutes ago, with its SES message id."""
    edition = factories.edition(
        "2024-07",
        status=EditionStatus.SENDING,
        items={"policy": [{"topics": ["ai"], "url": "https://example.com/one"},
                          {"topics": ["ai"], "url": "https://example.com/two"}]},
    )
    reader = factories.subscriber(topics=["ai"], email="reader@example.com")
    delivery = Delivery(
        edition_id=edition.id,
        subscriber_id=reader.id,
        variant_key="zh-CN:ai",
        token="t" * 43,
        status=DeliveryStatus.SENT,
        message_id="ses-1",
        sent_at=utcnow() - timedelta(minutes=10),
    )
    factories.session.add(delivery)
    factories.session.commit()
    return delivery


__all__ = ["Edition", "Subscriber"]
