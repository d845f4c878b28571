"""Events from SES (through SNS) and from our own tracking, and what they change.

Every SNS message is kept once (its MessageId is unique in `sns_receipts`). The hook only
verifies an SES event and stores it in the inbox (webapp.events.inbox) before answering 200;
a worker applies it later (webapp.events.batch, through record_ses_event): settling an
in-doubt delivery, first-seen times, suppressing a bouncing or complaining address.

Applying costs a few statements written in Core on the session's connection: the delivery's
columns, the event row, and the delivery's changed columns. Bounces and complaints change the
reader's status in Core too. None of this counts anything itself: database triggers keep the
stats counters from these rows (hard bounces, readers leaving; webapp.stats.aggregates).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from sqlalchemy import Connection, Table, Update, bindparam, case, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from emails.ses_events import UNWANTED_KINDS, SesEvent, parse_ses_event
from emails.sns import (
    SigningKeys,
    SnsError,
    is_sns_url,
    parse_envelope,
    parse_json,
    verify_message,
)
from webapp.events.inbox import Inbox, Notification, keep_receipt
from webapp.models import (
    ConsentSource,
    Delivery,
    DeliveryStatus,
    Subscriber,
    SubscriberStatus,
    email_key,
    utcnow,
)
from webapp.models.event import Event, SnsReceipt
from webapp.models.stats import DeliveryOutcome
from webapp.readers.consent import record_consent
from webapp.readers.suppressions import suppress
from webapp.stats.reputation import check_thresholds
from webapp.webhook_queue import enqueue_event

log = logging.getLogger(__name__)

_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
_EVENTS: Table = Event.__table__  # type: ignore[assignment]
_RECEIPTS: Table = SnsReceipt.__table__  # type: ignore[assignment]
_SUBSCRIBERS: Table = Subscriber.__table__  # type: ignore[assignment]

# SES only reports on a message it took: these settle an in-doubt delivery as sent.
_SETTLING_KINDS = frozenset({"send", "delivery", "bounce", "complaint", "delivery_delay"})
_FAILING_KINDS = frozenset({"reject", "rendering_failure"})
_FIRST_SEEN = {"delivery": "delivered_at", "bounce": "bounced_at", "complaint": "complained_at"}
FIRST_SEEN_COLUMNS = frozenset(_FIRST_SEEN.values())


@dataclass(frozen=True)
class HookSettings:
    topic_arns: Collection[str]
    signing_keys: SigningKeys
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


def receive_sns(inbox: Inbox, body: bytes, settings: HookSettings) -> str:
    """Verify one SNS POST and store it; returns what happened. SnsError for anything
    refused, SnsUnavailable when it cannot be checked now (SNS's certificate could not be
    fetched).

    An SES event is only stored (webapp.events.inbox) — a worker applies it later — but read
    first, so a malformed one is refused here and its kind and SES's time are known. The
    caller commits (if `inbox` does not); the receipt's unique key makes a repeat (or a
    concurrent duplicate) change nothing.
    """
    envelope = parse_envelope(body)
    verify_message(
        envelope,
        topic_arns=settings.topic_arns,
        signing_keys=settings.signing_keys,
        test_certificate=settings.test_certificate,
        max_age=settings.max_age,
    )
    if envelope["Type"] == "SubscriptionConfirmation":
        url = envelope["SubscribeURL"]
        if not _subscribe_url_allowed(url, settings):
            raise SnsError(f"SubscribeURL {url!r} is not Amazon SNS's")
        # Before anything is written: a call out (up to its timeout) never holds a transaction
        # open. Confirming a repeat again is harmless; a failed call leaves no receipt, so
        # SNS's retry confirms.
        settings.confirm_subscription(url)
        if not inbox.receipt(envelope["MessageId"], envelope["Type"], envelope["TopicArn"]):
            return "duplicate"
        log.info("SNS subscription confirmed", extra={"fields": {"topic": envelope["TopicArn"]}})
        return "confirmed"
    if envelope["Type"] == "UnsubscribeConfirmation":
        if not inbox.receipt(envelope["MessageId"], envelope["Type"], envelope["TopicArn"]):
            return "duplicate"
        log.warning("SNS topic unsubscribed us", extra={"fields": {"topic": envelope["TopicArn"]}})
        return "ignored"
    message = envelope["Message"]
    event = parse_ses_event(parse_json(message.encode(), what="Message"))
    notification = Notification(envelope["MessageId"], envelope["TopicArn"], message,
                                event.occurred_at)
    if not inbox.notification(notification):
        return "duplicate"
    return event.kind


def store_receipt(session: Session, envelope: Mapping[str, str]) -> bool:
    """Keep the SNS MessageId of a message that needs no processing; False when it was kept
    before (the message is a repeat)."""
    return keep_receipt(session.connection(), envelope["MessageId"], envelope["Type"],
                        envelope["TopicArn"])


class MatchedDelivery(NamedTuple):
    """The columns of a delivery that an SES event reads or changes."""

    id: int
    edition_id: int
    subscriber_id: int
    status: DeliveryStatus
    message_id: str | None
    error: str | None
    sent_at: datetime | None
    delivered_at: datetime | None
    bounced_at: datetime | None
    complained_at: datetime | None


_MATCH_COLUMNS = [_DELIVERIES.c[name] for name in MatchedDelivery._fields]
# Built once: the statements are the same for every event, only the parameters change.
_DELIVERY_BY_ID = select(*_MATCH_COLUMNS).where(_DELIVERIES.c.id == bindparam("id"))
_INSERT_EVENT = insert(_EVENTS)
_DELIVERY_BY_MESSAGE_ID = (
    select(*_MATCH_COLUMNS).where(_DELIVERIES.c.message_id == bindparam("message_id")).limit(1)
)


def _match_delivery(connection: Connection, event: SesEvent) -> MatchedDelivery | None:
    """By our delivery tag when the SES message id agrees (or was not known yet: in doubt),
    else by SES's message id. Columns only, no ORM object: one query when the tag is right."""
    if event.delivery_id is not None:
        row = connection.execute(_DELIVERY_BY_ID, {"id": event.delivery_id}).first()
        if row is not None and row.message_id in (None, event.message_id):
            return MatchedDelivery(*row)
    row = connection.execute(_DELIVERY_BY_MESSAGE_ID, {"message_id": event.message_id}).first()
    return MatchedDelivery(*row) if row is not None else None


class Reader(NamedTuple):
    """The columns of a subscriber that a bounce or complaint reads."""

    id: int
    email: str | None
    status: SubscriberStatus


def _subscriber_id(
    connection: Connection, delivery: MatchedDelivery | None, event: SesEvent
) -> int | None:
    if delivery is not None:
        return delivery.subscriber_id
    if event.recipients:
        key = email_key(event.recipients[0])
        found: int | None = connection.execute(
            select(Subscriber.id).where(Subscriber.email_key == key)
        ).scalar()
        return found
    return None


def record_ses_event(
    session: Session,
    event: SesEvent,
    payload: Mapping[str, Any],
    *,
    bounce_suppress_after: int,
    received_at: datetime | None = None,
) -> None:
    """Store the event and apply it: delivery status and first-seen times, aggregates, and
    for bounces and complaints the suppression rules. The caller commits."""
    session.flush()  # the statements below go to the connection and must see pending rows
    connection = session.connection()
    delivery = _match_delivery(connection, event)
    subscriber_id = _subscriber_id(connection, delivery, event)
    # Read before the event row goes in: storing a permanent bounce sets the delivery's
    # hard_bounced_at (a trigger, migration 0012).
    reputation_added = _reputation_added(connection, delivery, event)
    connection.execute(
        _INSERT_EVENT,
        {
            "kind": event.kind,
            "source": "ses",
            "delivery_id": delivery.id if delivery else None,
            "subscriber_id": subscriber_id,
            "edition_id": delivery.edition_id if delivery else None,
            "item_number": None,
            "ses_message_id": event.message_id,
            "bounce_type": event.bounce_type,
            "bounce_subtype": event.bounce_subtype,
            "suspected_scanner": False,
            "occurred_at": event.occurred_at,
            "received_at": received_at or utcnow(),
            "payload": dict(payload),
        },
    )
    if event.kind in UNWANTED_KINDS:
        log.warning(
            "SES open/click tracking is on in the configuration set; turn it off "
            "(yuebao tracks opens and clicks itself), these events are not counted",
            extra={"fields": {"kind": event.kind}},
        )
        return
    if event.kind in _WEBHOOK_EVENTS:
        _enqueue_webhook(session, event, delivery, subscriber_id)
    if delivery is not None:
        if any(reputation_added):  # before the complaint's first-seen time is set
            hard_bounces, complaints = reputation_added
            check_thresholds(session, delivery.edition_id, hard_bounces_added=hard_bounces,
                             complaints_added=complaints)
        _update_delivery(session, connection, delivery.id, delivery_changes(delivery, event))
    if event.kind == "bounce":
        _bounce(session, _reader(connection, subscriber_id), event, bounce_suppress_after)
    elif event.kind == "complaint":
        for address in event.recipients:
            suppress(session, address, reason="complaint", source="ses")
        _mark_reader(session, _reader(connection, subscriber_id), SubscriberStatus.COMPLAINED,
                     ConsentSource.COMPLAINT, event)
    session.flush()


_WEBHOOK_EVENTS = {"bounce": "delivery.bounced", "complaint": "delivery.complained"}


def _enqueue_webhook(
    session: Session, event: SesEvent, delivery: MatchedDelivery | None, subscriber_id: int | None
) -> None:
    data = {
        "delivery_id": delivery.id if delivery else None,
        "edition_id": delivery.edition_id if delivery else None,
        "subscriber_id": subscriber_id,
        "recipients": list(event.recipients),
        "ses_message_id": event.message_id,
        "occurred_at": event.occurred_at.isoformat(),
    }
    if event.kind == "bounce":
        data.update(bounce_type=event.bounce_type, bounce_subtype=event.bounce_subtype,
                    permanent=event.permanent_bounce)
    enqueue_event(session, _WEBHOOK_EVENTS[event.kind], data, subscriber_id=subscriber_id)


def _reputation_added(
    connection: Connection, delivery: MatchedDelivery | None, event: SesEvent
) -> tuple[int, int]:
    """(hard bounces, complaints) this event adds to its edition: its delivery's first of each."""
    if delivery is None:
        return 0, 0
    hard = 0
    if event.permanent_bounce:
        stored = connection.execute(
            select(DeliveryOutcome.hard_bounced_at).where(
                DeliveryOutcome.delivery_id == delivery.id
            )
        ).scalar()
        hard = int(stored is None)
    return hard, int(event.kind == "complaint" and delivery.complained_at is None)


def _first(current: datetime | None, seen: datetime) -> datetime:
    return seen if current is None or seen < current else current


def delivery_changes(delivery: MatchedDelivery, event: SesEvent) -> dict[str, Any]:
    """The columns this event changes on its delivery, with their new values."""
    new: dict[str, Any] = {}
    if event.kind in _SETTLING_KINDS:
        if delivery.status in (DeliveryStatus.IN_DOUBT, DeliveryStatus.SENDING):
            new["status"] = DeliveryStatus.SENT
            new["error"] = None
            new["sent_at"] = delivery.sent_at or event.occurred_at
        new["message_id"] = delivery.message_id or event.message_id
    first_seen = _FIRST_SEEN.get(event.kind)
    if first_seen is not None:
        new[first_seen] = _first(getattr(delivery, first_seen), event.occurred_at)
    if event.kind in _FAILING_KINDS and delivery.status != DeliveryStatus.SENT:
        new["status"] = DeliveryStatus.FAILED
        new["error"] = f"SES {event.kind.replace('_', ' ')}"
    return {name: value for name, value in new.items() if getattr(delivery, name) != value}


_DELIVERY_UPDATES: dict[tuple[str, ...], Update] = {}


def delivery_update(names: tuple[str, ...]) -> Update:
    """UPDATE deliveries SET <names>, updated_at WHERE id = :delivery_id, built once per set
    of columns (a handful occur): building and keying a statement costs more than running it.

    A first-seen time keeps the earlier of the stored and the new one in SQL: another event of
    the same message may have committed an earlier time since the row was read.
    """
    stmt = _DELIVERY_UPDATES.get(names)
    if stmt is None:
        values: dict[str, Any] = {}
        for name in (*names, "updated_at"):
            column = _DELIVERIES.c[name]
            new = bindparam(f"new_{name}", type_=column.type)
            if name in _FIRST_SEEN.values():
                values[name] = case((column.is_(None) | (column > new), new), else_=column)
            else:
                values[name] = new
        stmt = (
            update(_DELIVERIES)
            .where(_DELIVERIES.c.id == bindparam("delivery_id"))
            .values(values)
        )
        _DELIVERY_UPDATES[names] = stmt
    return stmt


def _update_delivery(
    session: Session, connection: Connection, delivery_id: int, changes: dict[str, Any]
) -> None:
    """UPDATE only what changed (nothing when nothing did), like the ORM would."""
    if not changes:
        return
    params = {f"new_{name}": value for name, value in changes.items()}
    params["new_updated_at"] = utcnow()
    params["delivery_id"] = delivery_id
    connection.execute(delivery_update(tuple(sorted(changes))), params)
    # Core writes bypass the identity map: a caller holding this delivery reloads them.
    cached = session.identity_map.get(identity_key(Delivery, delivery_id))
    if cached is not None:
        session.expire(cached, [*changes, "updated_at"])


_READER_BY_ID = select(_SUBSCRIBERS.c.id, _SUBSCRIBERS.c.email, _SUBSCRIBERS.c.status).where(
    _SUBSCRIBERS.c.id == bindparam("id")
)


def _reader(connection: Connection, subscriber_id: int | None) -> Reader | None:
    if subscriber_id is None:
        return None
    row = connection.execute(_READER_BY_ID, {"id": subscriber_id}).first()
    return Reader(*row) if row is not None else None


def _bounce(
    session: Session, reader: Reader | None, event: SesEvent, suppress_after: int
) -> None:
    if event.permanent_bounce:
        for address in event.recipients:
            suppress(session, address, reason="bounce", source="ses")
        _mark_reader(session, reader, SubscriberStatus.BOUNCED, ConsentSource.BOUNCE, event)
        return
    if reader is None or reader.email is None:
        return
    if _transient_bounces_in_a_row(session, reader.id, suppress_after) >= suppress_after:
        suppress(session, reader.email, reason="bounce", source="ses",
                 note=f"{suppress_after} transient bounces in a row")
        _mark_reader(session, reader, SubscriberStatus.BOUNCED, ConsentSource.BOUNCE, event)


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
    reader: Reader | None,
    status: SubscriberStatus,
    source: ConsentSource,
    event: SesEvent,
) -> None:
    """Set the reader's status in Core, unless already there or erased, and record it in the
    consent ledger. The status WHERE repeats the check: another event may have set it since."""
    unchanged = (status, SubscriberStatus.ERASED)
    if reader is None or reader.status in unchanged:
        return
    changed = session.connection().execute(
        update(_SUBSCRIBERS)
        .where(_SUBSCRIBERS.c.id == reader.id, _SUBSCRIBERS.c.status.not_in(unchanged))
        .values(status=status, updated_at=utcnow())
    )
    if not changed.rowcount:
        return
    # Core writes bypass the identity map: a caller holding this reader reloads them.
    cached = session.identity_map.get(identity_key(Subscriber, reader.id))
    if cached is not None:
        session.expire(cached, ["status", "updated_at", "consents"])
    record_consent(
        session,
        reader.id,
        status.value,
        source,
        text_version=None,
        detail={"ses_message_id": event.message_id, "bounce_type": event.bounce_type},
    )
