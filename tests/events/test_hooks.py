from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, make_url, select, text
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from emails.sns import SnsUnavailable
from tests.support.sns import CERT_URL, TOPIC, Signer, SnsCA, ses_event
from webapp.config import settings_of
from webapp.hooks.routes import thread_connections
from webapp.models import (
    ConsentRecord,
    ConsentSource,
    Delivery,
    DeliveryStatus,
    Event,
    SnsReceipt,
    Subscriber,
    SubscriberStatus,
    Suppression,
)

Post = Callable[[object], TestResponse]


def _count(session: Session, model: type) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.postgres
@pytest.mark.parametrize("version", ["1", "2"])
def test_a_send_event_is_stored_once_and_settles_an_in_doubt_delivery(
    post: Post, signer: Signer, session: Session, sent_delivery: Delivery, version: str
) -> None:
    sent_delivery.status = DeliveryStatus.IN_DOUBT
    sent_delivery.message_id = None
    session.commit()
    envelope = signer.notification(
        ses_event("Send", "ses-77", delivery_id=sent_delivery.id), version=version
    )
    first = post(envelope)
    assert first.status_code == 200 and first.json == {"result": "send"}
    again = post(envelope)
    assert again.status_code == 200 and again.json == {"result": "duplicate"}
    session.expire_all()
    delivery = session.get(Delivery, sent_delivery.id)
    assert delivery is not None
    assert delivery.status == DeliveryStatus.SENT and delivery.message_id == "ses-77"
    assert _count(session, Event) == 1 and _count(session, SnsReceipt) == 1


@pytest.mark.postgres
def test_a_permanent_bounce_suppresses_the_reader_exactly_once(
    post: Post, signer: Signer, session: Session, sent_delivery: Delivery
) -> None:
    event = ses_event("Bounce", "ses-1", recipient="reader@example.com")
    assert post(signer.notification(event)).status_code == 200
    assert post(signer.notification(event)).status_code == 200  # SES may report it twice
    session.expire_all()
    reader = session.get(Subscriber, sent_delivery.subscriber_id)
    assert reader is not None and reader.status == SubscriberStatus.BOUNCED
    suppressions = list(session.scalars(select(Suppression)))
    assert [(s.email_key, s.reason) for s in suppressions] == [("reader@example.com", "bounce")]
    ledger = list(session.scalars(select(ConsentRecord).where(
        ConsentRecord.subscriber_id == reader.id)))
    assert [(c.action, c.source) for c in ledger] == [("bounced", ConsentSource.BOUNCE)]
    delivery = session.get(Delivery, sent_delivery.id)
    assert delivery is not None and delivery.bounced_at is not None


def test_a_complaint_suppresses_and_marks_the_reader(
    post: Post, signer: Signer, session: Session, sent_delivery: Delivery
) -> None:
    assert post(signer.notification(ses_event("Complaint", "ses-1"))).status_code == 200
    session.expire_all()
    reader = session.get(Subscriber, sent_delivery.subscriber_id)
    assert reader is not None and reader.status == SubscriberStatus.COMPLAINED
    assert session.scalar(select(Suppression.reason)) == "complaint"


def test_transient_bounces_in_a_row_suppress(
    post: Post, signer: Signer, session: Session, sent_delivery: Delivery
) -> None:
    base = datetime.now(UTC) - timedelta(hours=5)

    def at(kind: str, minutes: int, bounce_type: str = "Transient") -> None:
        event = ses_event(kind, "ses-1", bounce_type=bounce_type)
        stamp = (base + timedelta(minutes=minutes)).isoformat()
        event["mail"]["timestamp"] = stamp
        for key in ("bounce", "delivery"):
            if key in event:
                event[key]["timestamp"] = stamp
        assert post(signer.notification(event)).status_code == 200

    at("Bounce", 1)
    at("Bounce", 2)
    at("Delivery", 3)  # a delivery in between breaks the streak
    at("Bounce", 4)
    at("Bounce", 5)
    assert _count(session, Suppression) == 0
    at("Bounce", 6)
    assert _count(session, Suppression) == 1
    reader = session.get(Subscriber, sent_delivery.subscriber_id)
    assert reader is not None and reader.status == SubscriberStatus.BOUNCED


def test_ses_open_tracking_events_are_kept_out(
    post: Post, signer: Signer, session: Session, sent_delivery: Delivery,
    caplog: pytest.LogCaptureFixture,
) -> None:
    event = {"eventType": "Open", "mail": {"messageId": "ses-1"}, "open": {}}
    assert post(signer.notification(event)).status_code == 200
    session.expire_all()
    delivery = session.get(Delivery, sent_delivery.id)
    assert delivery is not None and delivery.opened_at is None
    assert session.scalar(select(Event.kind)) == "ses_open"
    assert any("open/click tracking is on" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda e: e.update(Message=e["Message"].replace("Send", "Bounce")),
        lambda e: e.update(TopicArn="arn:aws:sns:us-east-1:1:other"),
        lambda e: e.update(SigningCertURL=CERT_URL.replace(".com/", ".com.evil.net/")),
        lambda e: e.update(SigningCertURL=CERT_URL.replace("https:", "http:")),
        lambda e: e.update(SignatureVersion="3"),
        lambda e: e.pop("Signature"),
    ],
)
def test_unverified_messages_change_nothing(
    post: Post, signer: Signer, session: Session, sent_delivery: Delivery,
    mutate: Callable[[dict[str, str]], object],
) -> None:
    envelope = signer.notification(ses_event("Send", "ses-1"))
    mutate(envelope)
    response = post(envelope)
    assert response.status_code == 400
    assert _count(session, Event) == 0 and _count(session, SnsReceipt) == 0


def test_stale_messages_and_garbage_are_refused(
    post: Post, signer: Signer, session: Session
) -> None:
    stale = signer.notification(
        ses_event("Send", "ses-1"), timestamp=datetime.now(UTC) - timedelta(hours=30)
    )
    assert post(stale).status_code == 400
    for body in [b"", b"{", b"[1]", b"\x00\xff", b'{"Type":"Notification"}', b"x" * 300_000]:
        assert post(body).status_code == 400
    inner_garbage = signer.notification("not json at all")
    assert post(inner_garbage).status_code == 400
    assert _count(session, Event) == 0 and _count(session, SnsReceipt) == 0


@pytest.mark.postgres
def test_a_subscription_is_confirmed_only_at_sns(
    post: Post, signer: Signer, confirmed_urls: list[str], session: Session
) -> None:
    def confirmation(url: str, message_id: str) -> dict[str, str]:
        return signer.sign({
            "Type": "SubscriptionConfirmation", "MessageId": message_id, "TopicArn": TOPIC,
            "Message": "confirm", "SubscribeURL": url, "Token": "tok",
            "Timestamp": datetime.now(UTC).isoformat(), "SigningCertURL": CERT_URL,
        })

    good = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok"
    assert post(confirmation(good, "c1")).json == {"result": "confirmed"}
    assert confirmed_urls == [good]
    evil = "https://evil.example.com/?Action=ConfirmSubscription"
    assert post(confirmation(evil, "c2")).status_code == 400
    assert confirmed_urls == [good]


def test_events_for_unknown_messages_are_stored_unmatched(
    post: Post, signer: Signer, session: Session
) -> None:
    assert post(signer.notification(ses_event("Delivery", "nobody-knows"))).status_code == 200
    event = session.scalar(select(Event))
    assert event is not None and event.delivery_id is None and event.kind == "delivery"


def test_a_subscription_is_confirmed_with_no_transaction_open(
    hook_app: Flask, post: Post, signer: Signer, session: Session
) -> None:
    # The call to SNS (up to 10 s) ran after the receipt's INSERT: on SQLite every other
    # writer waited on it, and failed as "database is locked" past the busy timeout.
    refused: list[str] = []
    confirmed: list[str] = []

    def confirm(url: str) -> None:
        probe = sqlite3.connect(str(make_url(settings_of(hook_app).database_url).database),
                                timeout=0.05)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
        except sqlite3.OperationalError as error:
            refused.append(str(error))
        finally:
            probe.close()
        confirmed.append(url)

    hook = hook_app.extensions["yuebao.hooks"]
    hook_app.extensions["yuebao.hooks"] = replace(hook, confirm_subscription=confirm)
    url = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok"
    envelope = signer.sign({
        "Type": "SubscriptionConfirmation", "MessageId": "c1", "TopicArn": TOPIC,
        "Message": "confirm", "SubscribeURL": url, "Token": "tok",
        "Timestamp": datetime.now(UTC).isoformat(), "SigningCertURL": CERT_URL,
    })
    assert post(envelope).json == {"result": "confirmed"}
    assert confirmed == [url] and refused == []
    assert _count(session, SnsReceipt) == 1


@pytest.mark.postgres
def test_a_certificate_that_cannot_be_fetched_now_gives_503_so_sns_retries(
    hook_app: Flask, post: Post, signer: Signer, session: Session, sent_delivery: Delivery
) -> None:
    # SNS retries server errors only: a 400 here would lose the bounce for good.
    reachable = [False]

    def fetch(url: str) -> bytes:
        if not reachable[0]:
            raise SnsUnavailable(f"could not fetch {url}: timed out")
        return signer.fetch(url)

    hook = hook_app.extensions["yuebao.hooks"]
    hook_app.extensions["yuebao.hooks"] = replace(hook, signing_keys=signer.signing_keys(fetch))
    envelope = signer.notification(ses_event("Bounce", "ses-1"))
    answer = post(envelope)
    assert answer.status_code == 503 and answer.json == {"error": "unavailable"}
    assert _count(session, Event) == 0 and _count(session, SnsReceipt) == 0
    reachable[0] = True
    assert post(envelope).json == {"result": "bounce"}
    assert _count(session, Suppression) == 1


def test_a_subscription_that_cannot_be_confirmed_now_gives_503(
    hook_app: Flask, post: Post, signer: Signer, session: Session
) -> None:
    def confirm(url: str) -> None:
        raise SnsUnavailable("could not confirm the subscription: timed out")

    hook = hook_app.extensions["yuebao.hooks"]
    hook_app.extensions["yuebao.hooks"] = replace(hook, confirm_subscription=confirm)
    envelope = signer.sign({
        "Type": "SubscriptionConfirmation", "MessageId": "c1", "TopicArn": TOPIC,
        "Message": "confirm", "Token": "tok",
        "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        "Timestamp": datetime.now(UTC).isoformat(), "SigningCertURL": CERT_URL,
    })
    assert post(envelope).status_code == 503
    assert _count(session, SnsReceipt) == 0


def test_a_certificate_from_an_untrusted_ca_gives_400(
    hook_app: Flask, post: Post, signer: Signer, session: Session
) -> None:
    stranger = Signer.create(ca=SnsCA.create("stranger"))
    hook = hook_app.extensions["yuebao.hooks"]
    hook_app.extensions["yuebao.hooks"] = replace(
        hook, signing_keys=signer.signing_keys(stranger.fetch)
    )
    assert post(stranger.notification(ses_event("Complaint", "ses-1"))).status_code == 400
    assert _count(session, Event) == 0 and _count(session, Suppression) == 0


def test_a_subscription_url_on_an_s3_bucket_named_sns_is_not_confirmed(
    post: Post, signer: Signer, confirmed_urls: list[str], session: Session
) -> None:
    for host in ("sns.s3.amazonaws.com", "sns.s3-accelerate.amazonaws.com"):
        envelope = signer.sign({
            "Type": "SubscriptionConfirmation", "MessageId": host, "TopicArn": TOPIC,
            "Message": "confirm", "Token": "tok",
            "SubscribeURL": f"https://{host}/?Action=ConfirmSubscription&Token=tok",
            "Timestamp": datetime.now(UTC).isoformat(), "SigningCertURL": CERT_URL,
        })
        assert post(envelope).status_code == 400
    assert confirmed_urls == [] and _count(session, SnsReceipt) == 0


def test_huge_numbers_and_deep_nesting_give_400_not_500(
    post: Post, signer: Signer, session: Session
) -> None:
    huge = b"9" * 5000
    envelope = json.dumps(signer.notification(ses_event("Send", "ses-1"))).encode()
    assert post(envelope[:-1] + b', "Extra": ' + huge + b"}").status_code == 400
    inner = json.dumps(ses_event("Send", "ses-2"))[:-1] + ', "n": ' + huge.decode() + "}"
    assert post(signer.notification(inner)).status_code == 400
    deep = json.dumps(ses_event("Send", "ses-3"))[:-1] + ', "n": ' + "[" * 40 + "]" * 40 + "}"
    assert post(signer.notification(deep)).status_code == 400
    assert post(b"[" * 100_000).status_code == 400
    assert _count(session, Event) == 0 and _count(session, SnsReceipt) == 0


@pytest.mark.postgres
def test_the_hook_keeps_its_connection_and_replaces_one_that_died(
    hook_app: Flask, signer: Signer, session: Session, sent_delivery: Delivery, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite's hook writes through the app's engine, on its write lock")
    client = hook_app.test_client()

    def post(envelope: dict[str, str]) -> int:
        body = json.dumps(envelope).encode()
        return client.post("/hooks/ses", data=body, content_type="text/plain").status_code

    def backend_pid() -> int:
        pid: int = thread_connections(hook_app).connection().info.backend_pid
        return pid

    event = ses_event("Delivery", "ses-1", delivery_id=sent_delivery.id)
    assert post(signer.notification(event)) == 200
    kept = backend_pid()
    assert post(signer.notification(event)) == 200
    assert backend_pid() == kept  # the same connection, request after request
    session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": kept})
    session.commit()
    lost = signer.notification(event)
    assert post(lost) == 500  # SNS retries a server error…
    assert post(lost) == 200  # …and the retry is stored on a new connection
    assert backend_pid() != kept
    assert _count(session, SnsReceipt) == 3
