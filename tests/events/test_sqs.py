"""SES events through SQS (SES → SNS → SQS → worker), against moto's SQS server on loopback."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from emails.sns import SnsUnavailable
from tests.factories import Factories
from tests.support.sns import TOPIC, Signer, ses_event
from tests.tools.bench.sqs import TOPIC as BENCH_TOPIC
from tests.tools.bench.sqs import signed_delivery_events
from tests.tools.moto_sqs import LocalSqs
from tests.tools.ses_simulator import sns
from webapp.config import install, settings_of
from webapp.db import database
from webapp.delivery.outages import Outage
from webapp.events.batch import EventProcessor
from webapp.events.sqs import QueuePoller, QueueSettings, queue_region
from webapp.models import Delivery, EditionStatus, Event, SnsReceipt


@pytest.fixture(scope="module")
def sqs() -> Iterator[LocalSqs]:
    server = LocalSqs().start()
    yield server
    server.stop()


@pytest.fixture
def queue(sqs: LocalSqs) -> str:
    return sqs.create_queue(visibility_timeout=1)


@pytest.fixture
def sessions(app: Flask) -> sessionmaker[Session]:
    return database(app).sessionmaker


def _settings(url: str, signer: Signer, **changes: Any) -> QueueSettings:
    values: dict[str, Any] = {
        "url": url, "region": "us-east-1", "wait_seconds": 1, "threads": 1, "raw": False,
        "topic_arns": (TOPIC,), "signing_keys": signer.signing_keys(),
    }
    values.update(changes)
    return QueueSettings(**values)


def _sent(factories: Factories, count: int) -> list[Delivery]:
    edition = factories.edition("2024-07", status=EditionStatus.SENDING,
                                items={"policy": [{"topics": ["ai"]}]})
    ids = factories.sent_to(edition, count)
    return [d for d in (factories.session.get(Delivery, i) for i in ids) if d is not None]


def _events(deliveries: list[Delivery]) -> list[dict[str, Any]]:
    return [ses_event("Delivery", d.message_id or "", delivery_id=d.id) for d in deliveries]


def _count(session: Session, model: type) -> int:
    session.expire_all()
    found = session.scalar(select(func.count()).select_from(model)) or 0
    session.rollback()
    return found


def _drain_queue(poller: QueuePoller) -> None:
    stop = threading.Event()
    poller.run_until(stop, Outage(5, stop=stop), until_empty=True)


def _applied(sessions: sessionmaker[Session]) -> int:
    return EventProcessor(sessions, bounce_suppress_after=3).drain()


@pytest.mark.postgres
def test_signed_events_are_stored_deleted_and_applied_once(
    sqs: LocalSqs, queue: str, signer: Signer, session: Session, factories: Factories,
    sessions: sessionmaker[Session],
) -> None:
    deliveries = _sent(factories, 12)
    bodies = [json.dumps(signer.notification(event)) for event in _events(deliveries)]
    sqs.send(queue, [*bodies, bodies[0], bodies[5]])  # SNS delivers at least once

    _drain_queue(QueuePoller(_settings(queue, signer), sessions, sqs.client))

    assert _count(session, SnsReceipt) == 12
    assert sqs.depth(queue) == (0, 0)
    assert _applied(sessions) == 12
    assert _count(session, Event) == 12
    session.expire_all()
    assert all(session.get(Delivery, d.id).delivered_at is not None  # type: ignore[union-attr]
               for d in deliveries)


def test_a_bad_signature_or_another_topic_is_refused_and_deleted(
    sqs: LocalSqs, queue: str, signer: Signer, session: Session, factories: Factories,
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture,
) -> None:
    good, forged, foreign = _events(_sent(factories, 3))
    tampered = signer.notification(forged)
    tampered["Message"] = json.dumps({**forged, "eventType": "Bounce"})
    sqs.send(queue, [json.dumps(signer.notification(good)), json.dumps(tampered),
                     json.dumps(signer.notification(foreign, topic=TOPIC + "-other")),
                     "not json", json.dumps(forged)])  # the last: raw, but raw is off

    with caplog.at_level(logging.WARNING, logger="webapp.events.sqs"):
        _drain_queue(QueuePoller(_settings(queue, signer), sessions, sqs.client))

    assert _count(session, SnsReceipt) == 1
    assert sqs.depth(queue) == (0, 0)
    refused = [r for r in caplog.records if r.getMessage().startswith("SES event from the queue "
                                                                       "refused")]
    reasons = [r.fields["reason"] for r in refused]  # type: ignore[attr-defined]
    assert len(refused) == 4 and "the signature does not match" in reasons
    assert any("is not accepted" in reason for reason in reasons)


def test_raw_delivery_is_keyed_by_its_bytes(
    sqs: LocalSqs, queue: str, signer: Signer, session: Session, factories: Factories,
    sessions: sessionmaker[Session],
) -> None:
    raw = [json.dumps(event) for event in _events(_sent(factories, 4))]
    sqs.send(queue, [*raw, raw[2], json.dumps(signer.notification(json.loads(raw[0])))])

    _drain_queue(QueuePoller(_settings(queue, signer, raw=True), sessions, sqs.client))

    session.expire_all()
    stored = list(session.scalars(select(SnsReceipt)))
    session.rollback()
    # four events; the repeat changed nothing; an SNS envelope is no SES event
    assert len(stored) == 4 and all(r.message_id.startswith("sqs-raw:") for r in stored)
    assert {r.topic_arn for r in stored} == {
        "arn:aws:sqs:us-east-1:123456789012:" + queue.rsplit("/", 1)[1]}
    assert sqs.depth(queue) == (0, 0)
    assert _applied(sessions) == 4


def test_a_message_that_cannot_be_checked_now_stays_in_the_queue(
    sqs: LocalSqs, queue: str, signer: Signer, session: Session, factories: Factories,
    sessions: sessionmaker[Session],
) -> None:
    def unavailable(url: str, now: object) -> Any:
        raise SnsUnavailable("SNS's host did not answer")

    sqs.send(queue, [json.dumps(signer.notification(e)) for e in _events(_sent(factories, 2))])
    poller = QueuePoller(_settings(queue, signer, signing_keys=unavailable), sessions, sqs.client)
    poller.handle(poller.receive(), Outage(5))

    assert _count(session, SnsReceipt) == 0
    assert sqs.depth(queue) == (0, 2)  # received, not deleted: back after the timeout


class _Refusing:
    """SQS that answers DeleteMessageBatch with one entry failed."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.deleted: list[str] = []

    def receive_message(self, **kwargs: Any) -> Any:
        return self.client.receive_message(**kwargs)

    def delete_message_batch(self, **kwargs: Any) -> Any:
        first, *rest = kwargs["Entries"]
        answer = self.client.delete_message_batch(QueueUrl=kwargs["QueueUrl"], Entries=rest)
        answer["Failed"] = [{"Id": first["Id"], "Code": "InternalError", "SenderFault": False}]
        return answer


def test_a_message_sqs_fails_to_delete_comes_back_and_changes_nothing(
    sqs: LocalSqs, queue: str, signer: Signer, session: Session, factories: Factories,
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture,
) -> None:
    sqs.send(queue, [json.dumps(signer.notification(e)) for e in _events(_sent(factories, 3))])
    refusing = QueuePoller(_settings(queue, signer), sessions, _Refusing(sqs.client))
    with caplog.at_level(logging.WARNING, logger="webapp.events.sqs"):
        assert refusing.handle(refusing.receive(), Outage(5)) == 3
    assert any("SQS kept some" in r.getMessage() for r in caplog.records)
    assert sqs.depth(queue) == (0, 1)

    _drain_queue(QueuePoller(_settings(queue, signer, wait_seconds=3), sessions, sqs.client))

    assert sqs.depth(queue) == (0, 0)
    assert _count(session, SnsReceipt) == 3
    assert _applied(sessions) == 3


def test_the_region_comes_from_the_queue_url() -> None:
    assert queue_region("https://sqs.eu-west-1.amazonaws.com/1/q", "us-east-1") == "eu-west-1"
    assert queue_region("https://sqs.cn-north-1.amazonaws.com.cn/1/q", "x") == "cn-north-1"
    assert queue_region("https://ap-south-1.queue.amazonaws.com/1/q", "x") == "ap-south-1"
    assert queue_region("http://127.0.0.1:5000/1/q", "us-east-1") == "us-east-1"


def test_worker_once_drains_the_queue_and_applies_what_it_stored(
    sqs: LocalSqs, queue: str, app: Flask, runner: FlaskCliRunner, session: Session,
    factories: Factories, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    identity = sns.default_identity()
    cert = tmp_path / "sns-test.pem"
    cert.write_bytes(identity.cert_pem)
    install(app, replace(
        settings_of(app), ses_events_queue_url=queue, ses_events_queue_wait_seconds=1,
        sns_test_cert=str(cert), sns_topic_arns=(BENCH_TOPIC,)))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "moto")
    deliveries = _sent(factories, 15)
    sqs.send(queue, signed_delivery_events(
        [(d.id, d.message_id or "") for d in deliveries], identity))

    result = runner.invoke(args=["worker", "--once", "--no-scheduler"])

    assert result.exit_code == 0, result.output
    assert sqs.depth(queue) == (0, 0)
    assert _count(session, SnsReceipt) == 15 and _count(session, Event) == 15


def test_a_stop_asked_mid_batch_finishes_the_batch_then_ends_the_thread(
    sqs: LocalSqs, queue: str, signer: Signer, session: Session, factories: Factories,
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch,
) -> None:
    sqs.send(queue, [json.dumps(signer.notification(e)) for e in _events(_sent(factories, 25))])
    stop = threading.Event()
    poller = QueuePoller(_settings(queue, signer), sessions, sqs.client)
    store_batch = poller._store

    def store_then_stop(notifications: Any) -> int:  # SIGTERM arrives while a batch is stored
        stop.set()
        return store_batch(notifications)

    monkeypatch.setattr(poller, "_store", store_then_stop)
    poller.run_until(stop, Outage(5, stop=stop))

    assert _count(session, SnsReceipt) == 10  # the batch in flight, and no other
    assert sqs.depth(queue) == (15, 0)  # it was deleted; the rest wait for the next worker
