"""Events from SES (through SNS) and from our own tracking, and what they change.

Every SNS message is handled once (its MessageId is kept); a valid SES event is stored before
the hook answers 200, and its effects — settling an in-doubt delivery, first-seen times,
suppressing a bouncing or complaining address — happen in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from emails.ses_events import UNWANTED_KINDS, SesEvent, parse_ses_event
from emails.sns import (
    CertificateFetcher,
    SnsError,
    is_sns_url,
    parse_envelope,
    parse_json,
    verify_message,
)
from webapp.models import (
    ConsentSource,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    email_key,
)
from webapp.models.event import Event, SnsReceipt
from webapp.services.aggregates import note_ses_event
from webapp.services.consent import record_consent
from webapp.services.suppressions import suppress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HookSettings:
    topic_arns: Collection[str]
    fetch_certificate: CertificateFetcher
    confirm_subscription: Callable[[str], None]
    test_certificate: bytes | None = None
    max_age: timedelta = timedelta(hours=24)
    bounce_suppress_after: int = 3


def _subscribe_url_allowed(url: str, settings: HookSettings) -> bool:
    """SubscribeURL is fetched, so only SNS's own host (or the simulator in test mode)."""
    if is_sns_url(url):
        return True
    local = urlsplit(url).hostname in {"127.0.0.1", "localhost"}
    return settings.test_certificate is not None and local


def receive_sns(session: Session, body: bytes, settings: HookSettings) -> str:
    """Verify and act on one SNS POST; returns what happened. SnsError for anything refused.

    The caller commits; the receipt row makes a repeat (or a concurrent duplicate, through
    its unique key) change nothing.
    """
    envelope = parse_envelope(body)
    verify_message(
        envelope,
        topic_arns=settings.topic_arns,
        fetch_certificate=settings.fetch_certificate,
        test_certificate=settings.test_certificate,
        max_age=settings.max_age,
    )
    message_id = envelope["MessageId"]
    if session.scalar(select(SnsReceipt.id).where(SnsReceipt.message_id == message_id)):
        return "duplicate"
    session.add(
        SnsReceipt(message_id=message_id, type=envelope["Type"], topic_arn=envelope["TopicArn"])
    )
    session.flush()
    if envelope["Type"] == "SubscriptionConfirmation":
        url = envelope["SubscribeURL"]
        if not _subscribe_url_allowed(url, settings):
            raise SnsError(f"SubscribeURL {url!r} is not Amazon SNS's")
        settings.confirm_subscription(url)
        log.info("SNS subscription confirmed", extra={"fields": {"topic": envelope["TopicArn"]}})
        return "confirmed"
    if envelope["Type"] == "UnsubscribeConfirmation":
        log.warning("SNS topic unsubscribed us", extra={"fields": {"topic": envelope["TopicArn"]}})
        return "ignored"
    payload = parse_json(envelope["Message"].encode(), what="Message")
    event = parse_ses_event(payload)
    record_ses_event(
        session, event, payload, bounce_suppress_after=settings.bounce_suppress_after
    )
    return event.kind


def _match_delivery(session: Session, event: SesEvent) -> Delivery | None:
    """By our delivery tag when the SES message id agrees (or was not known yet: in doubt),
    else by SES's message id."""
    if event.delivery_id is not None:
        delivery = session.get(Delivery, event.delivery_id)
        if delivery is not None and delivery.message_id in (None, event.message_id):
            return delivery
    return session.scalar(select(Delivery).where(Delivery.message_id == event.message_id))


def _subscriber_for(
    session: Session, delivery: Delivery | None, event: SesEvent
) -> Subscriber | None:
    if delivery is not None:
        return delivery.subscriber
    if event.recipients:
        key = email_key(event.recipients[0])
        return session.scalar(select(Subscriber).where(Subscriber.email_key == key))
    return None


def record_ses_event(
    session: Session,
    event: SesEvent,
    payload: Mapping[str, Any],
    *,
    bounce_suppress_after: int,
) -> Event:
    delivery = _match_delivery(session, event)
    subscriber = _subscriber_for(session, delivery, event)
    row = Event(
        kind=event.kind,
        source="ses",
        delivery_id=delivery.id if delivery else None,
        subscriber_id=subscriber.id if subscriber else None,
        edition_id=delivery.edition_id if delivery else None,
        ses_message_id=event.message_id,
        bounce_type=event.bounce_type,
        bounce_subtype=event.bounce_subtype,
        occurred_at=event.occurred_at,
        payload=dict(payload),
    )
    session.add(row)
    if event.kind in UNWANTED_KINDS:
        log.warning(
            "SES open/click tracking is on in the configuration set; turn it off "
            "(yuebao tracks opens and clicks itself), these events are not counted",
            extra={"fields": {"kind": event.kind}},
        )
        return row
    if delivery is not None:
        note_ses_event(session, delivery, event)  # stats aggregates, before first-seen changes
        _apply_to_delivery(delivery, event)
    if event.kind == "bounce":
        _bounce(session, subscriber, event, bounce_suppress_after)
    elif event.kind == "complaint":
        for address in event.recipients:
            suppress(session, address, reason="complaint", source="ses")
        _mark_reader(session, subscriber, SubscriberStatus.COMPLAINED, ConsentSource.COMPLAINT,
                     event)
    session.flush()
    return row


def _first(current: datetime | None, seen: datetime) -> datetime:
    return seen if current is None or seen < current else current


def _apply_to_delivery(delivery: Delivery, event: SesEvent) -> None:
    if event.kind in {"send", "delivery", "bounce", "complaint", "delivery_delay"}:
        # SES only reports on a message it took: an in-doubt delivery was sent after all.
        if delivery.status in (DeliveryStatus.IN_DOUBT, DeliveryStatus.SENDING):
            delivery.status = DeliveryStatus.SENT
            delivery.error = None
            delivery.sent_at = delivery.sent_at or event.occurred_at
        delivery.message_id = delivery.message_id or event.message_id
    if event.kind == "delivery":
        delivery.delivered_at = _first(delivery.delivered_at, event.occurred_at)
    elif event.kind == "bounce":
        delivery.bounced_at = _first(delivery.bounced_at, event.occurred_at)
    elif event.kind == "complaint":
        delivery.complained_at = _first(delivery.complained_at, event.occurred_at)
    elif event.kind in {"reject", "rendering_failure"} and delivery.status != DeliveryStatus.SENT:
        delivery.status = DeliveryStatus.FAILED
        delivery.error = f"SES {event.kind.replace('_', ' ')}"


def _bounce(
    session: Session, subscriber: Subscriber | None, event: SesEvent, suppress_after: int
) -> None:
    if event.permanent_bounce:
        for address in event.recipients:
            suppress(session, address, reason="bounce", source="ses")
        _mark_reader(session, subscriber, SubscriberStatus.BOUNCED, ConsentSource.BOUNCE, event)
        return
    if subscriber is None or subscriber.email is None:
        return
    if _transient_bounces_in_a_row(session, subscriber.id, suppress_after) >= suppress_after:
        suppress(session, subscriber.email, reason="bounce", source="ses",
                 note=f"{suppress_after} transient bounces in a row")
        _mark_reader(session, subscriber, SubscriberStatus.BOUNCED, ConsentSource.BOUNCE, event)


def _transient_bounces_in_a_row(session: Session, subscriber_id: int, limit: int) -> int:
    """Counted from the stored events (this one included): the latest deliveries and bounces,
    newest first, until the first that is not a transient bounce."""
    session.flush()
    stmt = (
        select(Event.kind, Event.bounce_type)
        .where(Event.subscriber_id == subscriber_id, Event.kind.in_(("delivery", "bounce")))
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(limit)
    )
    streak = 0
    for kind, bounce_type in session.execute(stmt):
        if kind != "bounce" or bounce_type == "Permanent":
            break
        streak += 1
    return streak


def _mark_reader(
    session: Session,
    subscriber: Subscriber | None,
    status: SubscriberStatus,
    source: ConsentSource,
    event: SesEvent,
) -> None:
    if subscriber is None or subscriber.status in (status, SubscriberStatus.ERASED):
        return
    subscriber.status = status
    record_consent(
        session,
        subscriber,
        status.value,
        source,
        text_version=None,
        detail={"ses_message_id": event.message_id, "bounce_type": event.bounce_type},
    )


