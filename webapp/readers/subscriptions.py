"""A reader's subscription: subscribe, confirm, unsubscribe, resubscribe, housekeeping.

Every change appends to the consent ledger. Functions that mail the reader queue the messages
in the same transaction (readers.mail.queued) and return them; the worker sends them.
Nothing here tells the caller whether an address was known: the subscribe form and the
"send me my link" form answer the same either way, and so must every caller. They do not even
look: `ask_to_subscribe` and `ask_for_link` check what can be checked without the database's
readers and queue the request as it is (webapp.mailer.queue_request); the worker answers it
with `subscribe` or `request_preferences_link`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from emails import Message
from webapp.config import Settings
from webapp.mailer import links, queue_request
from webapp.models import (
    LANGUAGES,
    ConsentRecord,
    ConsentSource,
    Subscriber,
    SubscriberStatus,
    Suppression,
    Topic,
    email_key,
    utcnow,
)
from webapp.readers.consent import ConsentAction, Origin, record_change
from webapp.readers.links import (
    EMAIL_CHANGE,
    SUBSCRIBE,
    ExpiredLink,
    InvalidLink,
    SupersededLink,
    address_digest,
    read_signed,
    sign_subscribe,
)
from webapp.readers.mail import confirm_url, preferences_mail, queued, reader_mail
from webapp.readers.suppressions import address_hash
from webapp.readers.topics import active_topics
from webapp.webhook_queue import enqueue_subscriber_event

MAX_NAME = 200
# The requests the worker answers (webapp.delivery.form_requests).
SUBSCRIBE_REQUEST = "subscribe"
LINK_REQUEST = "preferences_link"
# Readers who receive editions (or will again after a pause): they get a preferences link
# where a stranger would get a confirmation.
SUBSCRIBED = frozenset({SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED})
# What leaving looks like in the ledger: a confirmation link older than this is stale.
_LEAVING = (ConsentAction.UNSUBSCRIBE.value, ConsentAction.ERASE.value)


class SubscriptionError(ValueError):
    """A change the reader asked for that cannot be made; the message says why."""


class InvalidAddress(SubscriptionError):
    pass


class InvalidChoice(SubscriptionError):
    """Unknown or no topics, or an unknown language or pause length."""


class NotSubscribed(SubscriptionError):
    """The change needs a reader who is subscribed (e.g. pausing after unsubscribing)."""


class AddressUnavailable(SubscriptionError):
    """The new address belongs to another subscription or may not be mailed."""


@dataclass(frozen=True)
class Signup:
    """What the subscribe form collects."""

    email: str
    topics: Sequence[str]
    language: str
    name: str | None = None
    company: str | None = None


@dataclass
class Confirmation:
    subscriber: Subscriber
    kind: str  # reader_links.SUBSCRIBE or EMAIL_CHANGE
    already: bool = False  # confirmed before: nothing changed
    messages: list[Message] = field(default_factory=list)


def normalize_address(address: str) -> str:
    try:
        return validate_email(address.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidAddress(str(error)) from None


def clean_text(value: str | None) -> str | None:
    """A name or company as typed, with runs of whitespace collapsed; None when empty."""
    value = " ".join((value or "").split())[:MAX_NAME]
    return value or None


def choose_topics(session: Session, slugs: Sequence[str]) -> list[Topic]:
    """The chosen topics among those readers may choose; at least one."""
    available = {topic.slug: topic for topic in active_topics(session)}
    chosen = [available[slug] for slug in dict.fromkeys(slugs) if slug in available]
    if not chosen or len(chosen) != len(set(slugs)):
        raise InvalidChoice("choose at least one of the listed topics")
    return chosen


def choose_language(language: str) -> str:
    if language not in LANGUAGES:
        raise InvalidChoice(f"language must be one of {', '.join(LANGUAGES)}")
    return language


def address_suppressed(session: Session, key: str) -> bool:
    """Suppressed for a bounce, complaint or by an admin: we never write to it, not even to
    confirm. (An erased address is suppressed by hash only and may subscribe anew.)"""
    return session.scalar(select(Suppression.id).where(Suppression.email_key == key)) is not None


def subscriber_by_address(session: Session, key: str) -> Subscriber | None:
    return session.scalar(select(Subscriber).where(Subscriber.email_key == key))


def _confirmation_mail(
    settings: Settings, subscriber: Subscriber, request: ConsentRecord
) -> Message:
    signed = sign_subscribe(settings.secret_key, subscriber.id, request.id)
    return reader_mail(settings, "confirm", subscriber, confirm_url(settings, signed))


def subscribe(
    session: Session, settings: Settings, signup: Signup, origin: Origin
) -> list[Message]:
    """Start double opt-in for a new address, or mail a known reader their preferences link.

    Suppressed addresses get nothing. The caller shows the same answer in every case.
    """
    address = normalize_address(signup.email)
    topics = choose_topics(session, signup.topics)
    language = choose_language(signup.language)
    key = email_key(address)
    if address_suppressed(session, key):
        return []
    subscriber = subscriber_by_address(session, key)
    if subscriber is not None and subscriber.status in SUBSCRIBED:
        # Someone may be typing another person's address: change nothing, tell the owner.
        return queued(session, subscriber, [preferences_mail(settings, subscriber)])
    if subscriber is not None and subscriber.status == SubscriberStatus.PENDING:
        waiting = newest_subscribe_request(session, subscriber)
        if waiting is not None and _asks_the_same(waiting, subscriber, signup, topics, language):
            # The same request again (a double click, a retry, a lost answer): a fresh email
            # for the request that waits, so every link sent for it keeps working.
            subscriber.updated_at = utcnow()
            return queued(
                session, subscriber, [_confirmation_mail(settings, subscriber, waiting)]
            )
    if subscriber is None:
        subscriber = Subscriber(email=address, email_key=key, status=SubscriberStatus.PENDING)
        session.add(subscriber)
    # Pending or left earlier: nothing is sent to them until they confirm these choices. The
    # newest request's topics and language are the ones its link confirms (older links stop
    # working, see _subscribe_confirmation); a name or company given before is kept when the
    # newer request leaves it out.
    subscriber.email = address
    subscriber.topics = topics
    subscriber.language = language
    subscriber.name = clean_text(signup.name) or subscriber.name
    subscriber.company = clean_text(signup.company) or subscriber.company
    subscriber.updated_at = utcnow()  # the purge of unconfirmed readers counts from here
    session.flush()
    request = record_change(
        session,
        subscriber,
        ConsentAction.SUBSCRIBE,
        origin,
        {"topics": [t.slug for t in topics], "language": language},
    )
    session.flush()
    return queued(session, subscriber, [_confirmation_mail(settings, subscriber, request)])


def _asks_the_same(
    waiting: ConsentRecord,
    subscriber: Subscriber,
    signup: Signup,
    topics: Sequence[Topic],
    language: str,
) -> bool:
    """Would this signup leave the waiting request's choices as they are?"""
    chosen = {t.slug for t in topics}
    detail = waiting.detail or {}
    name, company = clean_text(signup.name), clean_text(signup.company)
    return (
        set(detail.get("topics") or []) == chosen == {t.slug for t in subscriber.topics}
        and detail.get("language") == language == subscriber.language
        and name in (None, subscriber.name)
        and company in (None, subscriber.company)
    )


def ask_to_subscribe(
    session: Session, signup: Signup, origin: Origin, *, now: datetime | None = None
) -> None:
    """The subscribe form: check the address, topics and language, and queue the request for
    the worker (`answer_subscribe`). One row written, the same for every address.

    InvalidAddress or InvalidChoice when the form cannot be answered; nothing is written then.
    """
    moment = now or utcnow()
    fields = {
        "email": normalize_address(signup.email),
        "topics": [t.slug for t in choose_topics(session, signup.topics)],
        "language": choose_language(signup.language),
        "name": clean_text(signup.name),
        "company": clean_text(signup.company),
        "origin": replace(origin, at=origin.at or moment).as_fields(),
    }
    queue_request(session, SUBSCRIBE_REQUEST, fields, now=moment)


def answer_subscribe(session: Session, settings: Settings, fields: dict[str, Any]) -> None:
    """The worker's side of `ask_to_subscribe`. A topic retired meanwhile is left out; with
    none left, or an address that no longer parses, the request is dropped (nobody waits for
    an answer but the mailbox)."""
    available = {topic.slug for topic in active_topics(session)}
    signup = Signup(
        email=str(fields["email"]),
        topics=[slug for slug in fields["topics"] if slug in available],
        language=str(fields["language"]),
        name=fields.get("name"),
        company=fields.get("company"),
    )
    try:
        subscribe(session, settings, signup, Origin.from_fields(fields["origin"]))
    except SubscriptionError:
        return


def ask_for_link(session: Session, address: str, *, now: datetime | None = None) -> None:
    """The "send me my link" form: queue the request for the worker (`answer_link`), the
    same one row for every address."""
    queue_request(session, LINK_REQUEST, {"email": address.strip()}, now=now)


def answer_link(session: Session, settings: Settings, fields: dict[str, Any]) -> None:
    request_preferences_link(session, settings, str(fields["email"]))


def request_preferences_link(
    session: Session, settings: Settings, address: str
) -> list[Message]:
    """Mail the preferences link to a known reader, a new confirmation to a pending one;
    nothing to an unknown or suppressed address."""
    try:
        key = email_key(normalize_address(address))
    except InvalidAddress:
        return []
    subscriber = subscriber_by_address(session, key)
    if subscriber is None or address_suppressed(session, key):
        return []
    if subscriber.status == SubscriberStatus.PENDING:
        request = newest_subscribe_request(session, subscriber)
        if request is None:
            return []
        return queued(session, subscriber, [_confirmation_mail(settings, subscriber, request)])
    return queued(session, subscriber, [preferences_mail(settings, subscriber)])


def newest_subscribe_request(session: Session, subscriber: Subscriber) -> ConsentRecord | None:
    """The reader's latest subscribe request: the one whose choices a confirmation confirms."""
    return session.scalar(
        select(ConsentRecord)
        .where(
            ConsentRecord.subscriber_id == subscriber.id,
            ConsentRecord.action == ConsentAction.SUBSCRIBE.value,
        )
        .order_by(ConsentRecord.id.desc())
        .limit(1)
    )


def _subscribe_confirmation(
    session: Session, subscriber: Subscriber, request_id: Any
) -> Confirmation:
    if subscriber.status in SUBSCRIBED:
        return Confirmation(subscriber, SUBSCRIBE, already=True)
    request = session.get(ConsentRecord, request_id) if isinstance(request_id, int) else None
    if (
        request is None
        or request.subscriber_id != subscriber.id
        or request.action != ConsentAction.SUBSCRIBE.value
    ):
        raise InvalidLink("the link is not valid")
    newest = newest_subscribe_request(session, subscriber)
    if newest is not None and newest.id != request.id:
        # The reader's choices are the newest request's: this older link would confirm them.
        raise SupersededLink("a newer subscribe request replaced this link")
    left_since = session.scalar(
        select(func.max(ConsentRecord.id)).where(
            ConsentRecord.subscriber_id == subscriber.id, ConsentRecord.action.in_(_LEAVING)
        )
    )
    if left_since is not None and left_since > request.id:
        raise ExpiredLink("the reader unsubscribed after asking for this link")
    if subscriber.email_key and address_suppressed(session, subscriber.email_key):
        raise InvalidLink("the address may not be mailed")
    return Confirmation(subscriber, SUBSCRIBE)


def _email_confirmation(
    session: Session, settings: Settings, subscriber: Subscriber, digest: Any
) -> Confirmation:
    secret = settings.secret_key
    if subscriber.email and address_digest(secret, subscriber.email) == digest:
        return Confirmation(subscriber, EMAIL_CHANGE, already=True)
    if not subscriber.new_email:
        raise ExpiredLink("the address change is no longer waiting")
    if address_digest(secret, subscriber.new_email) != digest:
        raise SupersededLink("a newer address change replaced this one")
    return Confirmation(subscriber, EMAIL_CHANGE)


def check_confirmation(session: Session, settings: Settings, signed: str) -> Confirmation:
    """What a confirmation link would do, without doing it (GET /confirm/ shows a button)."""
    link = read_signed(settings.secret_key, signed)
    subscriber = session.get(Subscriber, link.subscriber_id)
    if subscriber is None or subscriber.status == SubscriberStatus.ERASED:
        raise InvalidLink("the reader is no longer there")
    if link.kind == SUBSCRIBE:
        return _subscribe_confirmation(session, subscriber, link.value)
    return _email_confirmation(session, settings, subscriber, link.value)


def _lift_erasure(
    session: Session, settings: Settings, subscriber: Subscriber, origin: Origin
) -> None:
    """An erased address that confirms a new subscription is no longer suppressed.

    Only the keyed hash kept at erasure is lifted (whatever the original reason: confirming
    proves both the mailbox and the consent anew); suppressions by address stay.
    """
    if not subscriber.email:
        return
    hashed = address_hash(settings.erasure_key, subscriber.email)
    rows = list(session.scalars(select(Suppression).where(Suppression.address_hash == hashed)))
    for row in rows:
        session.delete(row)
    if rows:
        detail = {"reasons": sorted(row.reason for row in rows)}
        record_change(session, subscriber, ConsentAction.UNSUPPRESS, origin, detail)


def confirm(
    session: Session, settings: Settings, signed: str, origin: Origin
) -> Confirmation:
    """POST /confirm/: activate the reader (and send the welcome) or switch to the new
    address. Twice is harmless. Raises InvalidLink, ExpiredLink or AddressUnavailable."""
    result = check_confirmation(session, settings, signed)
    if result.already:
        return result
    subscriber = result.subscriber
    if result.kind == SUBSCRIBE:
        _lift_erasure(session, settings, subscriber, origin)
        was = subscriber.status
        subscriber.status = SubscriberStatus.ACTIVE
        subscriber.confirmed_at = utcnow()
        subscriber.paused_until = None
        record_change(
            session,
            subscriber,
            ConsentAction.CONFIRM,
            origin,
            {
                "topics": [t.slug for t in subscriber.topics],
                "language": subscriber.language,
                "previous_status": was.value,
            },
        )
        session.flush()
        enqueue_subscriber_event(session, "subscriber.confirmed", subscriber)
        link = links(settings).preferences(subscriber.token)
        result.messages = queued(
            session, subscriber, [reader_mail(settings, "welcome", subscriber, link)]
        )
        return result
    _switch_address(session, settings, subscriber, origin)
    return result


def _switch_address(
    session: Session, settings: Settings, subscriber: Subscriber, origin: Origin
) -> None:
    new = subscriber.new_email or ""
    key = email_key(new)
    other = subscriber_by_address(session, key)
    if (other is not None and other.id != subscriber.id) or address_suppressed(session, key):
        raise AddressUnavailable("the address is used by another subscription")
    old = subscriber.email
    subscriber.email, subscriber.email_key, subscriber.new_email = new, key, None
    session.flush()
    _lift_erasure(session, settings, subscriber, origin)
    record_change(session, subscriber, ConsentAction.EMAIL, origin, {"from": old, "to": new})
    enqueue_subscriber_event(session, "subscriber.updated", subscriber)


def unsubscribe(
    session: Session, settings: Settings, subscriber: Subscriber, origin: Origin
) -> list[Message]:
    """Stop all mail to the reader; the caller commits at once, before anything else is sent.

    Nothing more is sent, not even a mail saying so, whichever way they left (one-click from a
    mail client, a page's button, the console): one rule, as mailbox providers expect of
    one-click, and the pages say so. The way back is on the page they left from.
    """
    if subscriber.status not in (*SUBSCRIBED, SubscriberStatus.PENDING):
        return []  # unsubscribed, bounced, complained or erased already: nothing to stop
    was = subscriber.status
    subscriber.status = SubscriberStatus.UNSUBSCRIBED
    subscriber.paused_until = None
    record_change(
        session, subscriber, ConsentAction.UNSUBSCRIBE, origin, {"previous_status": was.value}
    )
    enqueue_subscriber_event(session, "subscriber.unsubscribed", subscriber)
    return []


def resubscribe(session: Session, subscriber: Subscriber, origin: Origin) -> bool:
    """Undo an unsubscribe from the reader's own link (which proves the mailbox); False when
    there is nothing to undo. Suppressed addresses cannot come back this way."""
    if subscriber.status != SubscriberStatus.UNSUBSCRIBED or not subscriber.email_key:
        return False
    if address_suppressed(session, subscriber.email_key):
        raise AddressUnavailable("the address may not be mailed")
    subscriber.status = SubscriberStatus.ACTIVE
    subscriber.confirmed_at = subscriber.confirmed_at or utcnow()
    record_change(
        session,
        subscriber,
        ConsentAction.RESUBSCRIBE,
        origin,
        {"topics": [t.slug for t in subscriber.topics], "language": subscriber.language},
    )
    enqueue_subscriber_event(session, "subscriber.confirmed", subscriber)
    return True


def resume_ended_pauses(session: Session, now: datetime | None = None) -> int:
    """Make readers whose pause has ended active again (run daily, and before planning)."""
    moment = now or utcnow()
    stmt = select(Subscriber).where(
        Subscriber.status == SubscriberStatus.PAUSED, Subscriber.paused_until <= moment
    )
    resumed = 0
    for subscriber in session.scalars(stmt):
        subscriber.status = SubscriberStatus.ACTIVE
        subscriber.paused_until = None
        # The reader chose the length of the pause on the form; its end is part of that choice.
        origin = Origin(ConsentSource.FORM)
        record_change(session, subscriber, ConsentAction.RESUME, origin, {"automatic": True})
        resumed += 1
    return resumed


def purge_unconfirmed(session: Session, older_than_days: int, now: datetime | None = None) -> int:
    """Delete readers who never confirmed, with their ledger; returns how many."""
    cutoff = (now or utcnow()) - timedelta(days=older_than_days)
    # updated_at, not created_at: a repeated subscribe sends a fresh link and restarts the wait.
    stmt = delete(Subscriber).where(
        Subscriber.status == SubscriberStatus.PENDING, Subscriber.updated_at < cutoff
    )
    return session.execute(stmt).rowcount  # type: ignore[attr-defined,no-any-return]
