"""The hook's fast path: one receipt per MessageId under concurrency, first-seen times, the
delivery rules, and a caller's loaded objects seeing what the Core statements wrote."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server
from werkzeug.test import TestResponse

from emails.ses_events import SesEvent
from emails.sns import SnsError, verify_message
from tests.conftest import app_config
from tests.support.inbox import drain
from tests.support.sns import TOPIC, Signer, ses_event
from webapp import create_app
from webapp.events.ses import record_ses_event
from webapp.hooks.routes import hook_settings
from webapp.models import Delivery, DeliveryStatus, Event, SnsReceipt

Post = Callable[[object], TestResponse]


def _at(event: dict[str, object], moment: datetime) -> dict[str, object]:
    stamp = moment.isoformat()
    event["mail"]["timestamp"] = stamp  # type: ignore[index]
    for key in ("bounce", "delivery", "complaint"):
        if key in event:
            event[key]["timestamp"] = stamp  # type: ignore[index]
    return event


@pytest.mark.postgres
def test_the_same_message_posted_at_once_is_stored_once(
    database_url: str, tmp_path: Path, session: Session, sent_delivery: Delivery
) -> None:
    signer = Signer.create()
    app = create_app(app_config(database_url, tmp_path, SNS_TOPIC_ARNS=TOPIC))
    settings = hook_settings(app)
    object.__setattr__(settings, "signing_keys", signer.signing_keys())
    envelope = signer.notification(ses_event("Delivery", "ses-1", delivery_id=sent_delivery.id))
    body = json.dumps(envelope).encode()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    start = threading.Barrier(8)
    answers: list[tuple[int, str]] = []

    def post() -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.server_port}/hooks/ses", data=body, method="POST"
        )
        start.wait()
        with urllib.request.urlopen(request, timeout=60) as answer:
            answers.append((answer.status, json.loads(answer.read())["result"]))

    try:
        posters = [threading.Thread(target=post) for _ in range(8)]
        for poster in posters:
            poster.start()
        for poster in posters:
            poster.join()
    finally:
        server.shutdown()
    assert sorted(answers) == [(200, "delivery")] + [(200, "duplicate")] * 7
    assert drain(app) == 1
    session.expire_all()
    assert session.scalar(select(func.count(Event.id))) == 1
    assert session.scalar(select(func.count(SnsReceipt.id))) == 1
    delivery = session.get(Delivery, sent_delivery.id)
    assert delivery is not None and delivery.delivered_at is not None


@pytest.mark.postgres
def test_first_seen_times_keep_the_earliest(
    post: Post, signer: Signer, session: Session, sent_delivery: Delivery
) -> None:
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    for minutes in (20, 5, 30):  # SNS does not keep order
        event = _at(ses_event("Delivery", "ses-1", delivery_id=sent_delivery.id),
                    base + timedelta(minutes=minutes))
        assert post(signer.notification(event)).json == {"result": "delivery"}
    session.expire_all()
    delivery = session.get(Delivery, sent_delivery.id)
    assert delivery is not None and delivery.delivered_at == base + timedelta(minutes=5)
    assert delivery.status == DeliveryStatus.SENT and delivery.message_id == "ses-1"


def test_a_tag_whose_message_id_disagrees_is_matched_by_message_id(
    post: Post, signer: Signer, session: Session, sent_delivery: Delivery
) -> None:
    # The tag says our delivery, but SES's id is another message's: trust SES's id.
    event = ses_event("Delivery", "ses-someone-else", delivery_id=sent_delivery.id)
    assert post(signer.notification(event)).status_code == 200
    session.expire_all()
    stored = session.scalar(select(Event))
    assert stored is not None and stored.delivery_id is None
    delivery = session.get(Delivery, sent_delivery.id)
    assert delivery is not None and delivery.delivered_at is None


@pytest.mark.parametrize(
    ("before", "after", "error"),
    [
        (DeliveryStatus.IN_DOUBT, DeliveryStatus.FAILED, "SES reject"),
        (DeliveryStatus.SENT, DeliveryStatus.SENT, None),  # SES took it: a late reject is noise
    ],
)
def test_a_reject_fails_only_a_delivery_not_known_sent(
    post: Post, signer: Signer, session: Session, sent_delivery: Delivery,
    before: DeliveryStatus, after: DeliveryStatus, error: str | None,
) -> None:
    sent_delivery.status = before
    session.commit()
    event = ses_event("Reject", "ses-1", delivery_id=sent_delivery.id)
    event["reject"] = {"reason": "Bad content"}
    assert post(signer.notification(event)).json == {"result": "reject"}
    session.expire_all()
    delivery = session.get(Delivery, sent_delivery.id)
    assert delivery is not None and (delivery.status, delivery.error) == (after, error)


def test_a_loaded_delivery_shows_what_the_event_changed(
    session: Session, sent_delivery: Delivery
) -> None:
    sent_delivery.status = DeliveryStatus.IN_DOUBT
    sent_delivery.message_id = None
    session.commit()
    at = datetime.now(UTC).replace(microsecond=0)
    event = SesEvent(kind="delivery", message_id="ses-9", delivery_id=sent_delivery.id,
                     recipients=("reader@example.com",), occurred_at=at)
    record_ses_event(session, event, {"eventType": "Delivery"}, bounce_suppress_after=3)
    # No expire_all: the object the caller holds is refreshed from what was written.
    assert sent_delivery.status == DeliveryStatus.SENT
    assert sent_delivery.message_id == "ses-9" and sent_delivery.delivered_at == at


def test_a_cached_signing_certificate_is_still_checked_for_validity(signer: Signer) -> None:
    envelope = signer.notification(ses_event("Send", "ses-1"))
    keys = signer.signing_keys()
    now = datetime.now(UTC)
    verify_message(envelope, topic_arns=(TOPIC,), signing_keys=keys, now=now)
    later = now + timedelta(days=60)  # the test certificate expires after 30 days
    with pytest.raises(SnsError, match=r"not trusted at .*not valid at validation time"):
        verify_message(envelope, topic_arns=(TOPIC,), signing_keys=keys, now=later,
                       max_age=timedelta(days=90))
