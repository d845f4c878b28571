"""The inbox of SES events: stored once, applied once, in batches, and nothing lost on a crash."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from tests.support.inbox import drain
from tests.support.sns import TOPIC, Signer, ses_event
from webapp.db import database
from webapp.events.batch import EventProcessor, claim_stored_events
from webapp.events.inbox import Notification, store
from webapp.models import Delivery, DeliveryStatus, Event, SnsReceipt, utcnow

Post = Callable[[object], TestResponse]


def _notification(message_id: str, event: dict[str, object]) -> Notification:
    return Notification(message_id, TOPIC, json.dumps(event))


def _count(session: Session, model: type) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


def _unprocessed(session: Session) -> int:
    session.expire_all()
    return session.scalar(
        select(func.count(SnsReceipt.id)).where(SnsReceipt.processed_at.is_(None))
    ) or 0


@pytest.mark.postgres
def test_a_batch_is_stored_with_repeats_counted_once(session: Session) -> None:
    first = [_notification(f"sns-{n}", ses_event("Delivery", f"ses-{n}")) for n in range(3)]
    assert store(session.connection(), first) == 3
    again = [first[1], _notification("sns-9", ses_event("Send", "ses-9")), first[2]]
    assert store(session.connection(), again) == 1
    session.commit()
    assert _count(session, SnsReceipt) == 4 and _unprocessed(session) == 4
    assert _count(session, Event) == 0  # stored only: a worker applies them


def test_the_hook_only_stores_and_the_worker_applies(
    hook_app: Flask, signer: Signer, session: Session, sent_delivery: Delivery
) -> None:
    client = hook_app.test_client()
    envelope = signer.notification(ses_event("Delivery", "ses-1"))
    answer = client.post("/hooks/ses", data=json.dumps(envelope), content_type="text/plain")
    assert answer.status_code == 200 and answer.json == {"result": "delivery"}
    assert answer.headers["Content-Type"] == "application/json"
    assert _count(session, Event) == 0 and _unprocessed(session) == 1
    stored = session.scalar(select(SnsReceipt))
    assert stored is not None and stored.occurred_at is not None
    assert json.loads(stored.message or "")["eventType"] == "Delivery"

    assert drain(hook_app) == 1
    assert _unprocessed(session) == 0 and _count(session, Event) == 1
    stored = session.scalar(select(SnsReceipt))
    assert stored is not None and stored.message is None  # the event row keeps the payload
    delivery = session.get(Delivery, sent_delivery.id)
    assert delivery is not None and delivery.delivered_at is not None


def test_other_methods_and_paths_are_not_the_hook(hook_app: Flask) -> None:
    client = hook_app.test_client()
    assert client.get("/hooks/ses").status_code == 405
    assert client.get("/healthz").status_code == 200


@pytest.mark.postgres
def test_a_send_and_a_delivery_in_one_batch_settle_like_one_after_the_other(
    app: Flask, session: Session, sent_delivery: Delivery
) -> None:
    sent_delivery.status = DeliveryStatus.IN_DOUBT
    sent_delivery.message_id = None
    sent_delivery.sent_at = None
    session.commit()
    send = ses_event("Send", "ses-77", delivery_id=sent_delivery.id)
    delivered = ses_event("Delivery", "ses-77", delivery_id=sent_delivery.id)
    unknown = ses_event("Delivery", "nobody-knows", recipient="reader@example.com")
    store(session.connection(), [_notification("a", send), _notification("b", delivered),
                                 _notification("c", unknown)])
    session.commit()
    assert drain(app) == 3
    session.expire_all()
    delivery = session.get(Delivery, sent_delivery.id)
    assert delivery is not None
    assert (delivery.status, delivery.message_id) == (DeliveryStatus.SENT, "ses-77")
    assert delivery.sent_at is not None and delivery.delivered_at is not None
    events = list(session.scalars(select(Event).order_by(Event.id)))
    assert [(e.kind, e.delivery_id) for e in events] == [
        ("send", sent_delivery.id), ("delivery", sent_delivery.id), ("delivery", None)]
    # Unmatched, but the address is a reader's: the event is theirs.
    assert events[2].subscriber_id == sent_delivery.subscriber_id


@pytest.mark.postgres
def test_a_crash_before_the_commit_leaves_the_events_for_the_next_worker(
    app: Flask, session: Session, sent_delivery: Delivery
) -> None:
    store(session.connection(), [_notification("a", ses_event("Delivery", "ses-1"))])
    session.commit()
    with database(app).sessionmaker() as crashed:
        assert len(claim_stored_events(crashed, 10, utcnow())) == 1
        crashed.rollback()  # the worker died before its commit
    assert _unprocessed(session) == 1
    assert drain(app) == 1 and drain(app) == 0
    assert _count(session, Event) == 1


@pytest.mark.postgres
def test_two_workers_apply_each_event_once(
    app: Flask, session: Session, sent_delivery: Delivery
) -> None:
    count = 600
    store(session.connection(), [
        _notification(f"sns-{n}", ses_event("Delivery", f"ses-{n}", recipient=f"r{n}@x.org"))
        for n in range(count)])
    session.commit()
    applied: list[int] = []
    start = threading.Barrier(2)

    def work() -> None:
        processor = EventProcessor(database(app).sessionmaker, bounce_suppress_after=3, size=50)
        start.wait()
        applied.append(processor.drain())

    workers = [threading.Thread(target=work) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sum(applied) == count
    assert _count(session, Event) == count and _unprocessed(session) == 0


def test_an_event_that_cannot_be_applied_is_set_aside_and_the_rest_go_on(
    app: Flask, session: Session, sent_delivery: Delivery, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from webapp.events import batch

    store(session.connection(), [
        _notification("before", ses_event("Delivery", "ses-1")),
        _notification("bad", ses_event("Complaint", "ses-1")),
        _notification("after", ses_event("Delivery", "ses-1")),
    ])
    session.commit()
    real = batch.record_ses_event

    def broken(*args: object, **kw: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(batch, "record_ses_event", broken)
    assert drain(app) == 3
    monkeypatch.setattr(batch, "record_ses_event", real)
    session.expire_all()
    assert [e.kind for e in session.scalars(select(Event))] == ["delivery", "delivery"]
    kept = session.scalar(select(SnsReceipt).where(SnsReceipt.message_id == "bad"))
    assert kept is not None and kept.processed_at is not None and kept.message is not None


def test_the_worker_once_applies_stored_events(
    app: Flask, session: Session, sent_delivery: Delivery
) -> None:
    store(session.connection(), [_notification("a", ses_event("Delivery", "ses-1"))])
    session.commit()
    result = app.test_cli_runner().invoke(args=["worker", "--once", "--no-scheduler"])
    assert result.exit_code == 0, result.output
    assert _unprocessed(session) == 0 and _count(session, Event) == 1
