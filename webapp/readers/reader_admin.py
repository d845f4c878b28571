"""Readers as an admin manages them: find, look into, add, change topics, unsubscribe.

Every change is made on the admin's word, so it goes to the consent ledger with source
`admin` and to the audit log with the admin's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, selectinload

from webapp.audit import record_audit
from webapp.config import Settings
from webapp.models import (
    LANGUAGES,
    ConsentRecord,
    ConsentSource,
    Delivery,
    Edition,
    Event,
    Subscriber,
    SubscriberStatus,
    Topic,
    User,
    email_key,
    subscriber_topics,
    utcnow,
)
from webapp.paging import Page, contains_pattern, paginate
from webapp.readers.consent import ConsentAction, Origin, record_change, record_consent
from webapp.readers.subscriptions import (
    InvalidAddress,
    SubscriptionError,
    address_suppressed,
    choose_language,
    clean_text,
    normalize_address,
    subscriber_by_address,
    unsubscribe,
)
from webapp.readers.suppressions import is_suppressed
from webapp.readers.topics import active_topics, with_retired
from webapp.webhook_queue import enqueue_subscriber_event

ADMIN = Origin(ConsentSource.ADMIN)
MAX_EVENTS = 200


class ReaderAdminError(ValueError):
    """A change the console cannot make; each subclass is one reason, `field` the form field
    it belongs to."""

    field = "email"


class ReaderExists(ReaderAdminError):
    def __init__(self, subscriber: Subscriber) -> None:
        super().__init__(f"{subscriber.email} is already a reader")
        self.subscriber = subscriber


class ReaderAddressInvalid(ReaderAdminError):
    """Not an address mail can be sent to; `detail` is the validator's English reason."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"not a valid email address: {detail}")
        self.detail = detail


class ReaderSuppressed(ReaderAdminError):
    def __init__(self, address: str) -> None:
        super().__init__(f"{address} is suppressed and cannot be added")
        self.address = address


class AddressErased(ReaderAdminError):
    """The reader erased themselves: only they can come back, by subscribing again."""

    def __init__(self, address: str) -> None:
        super().__init__(f"{address} was erased at the reader's request and cannot be added")
        self.address = address


class NoListedTopic(ReaderAdminError):
    """No topic chosen, or one that is not (or no longer) on the forms."""

    field = "topics"

    def __init__(self) -> None:
        super().__init__("choose at least one of the listed topics")


class LanguageUnknown(ReaderAdminError):
    field = "language"

    def __init__(self) -> None:
        super().__init__(f"the language must be one of {', '.join(LANGUAGES)}")


class ConsentNotStated(ReaderAdminError):
    """The admin did not say how the reader agreed (the ledger needs it)."""

    field = "consent_note"

    def __init__(self) -> None:
        super().__init__("say how the reader agreed to receive the report")


class ReaderErased(ReaderAdminError):
    field = "topics"

    def __init__(self) -> None:
        super().__init__("this reader was erased")


@dataclass(frozen=True)
class ReaderFilter:
    text: str = ""  # part of the address, name or company
    status: str = ""
    topic: str = ""  # slug
    language: str = ""
    page: int = 1
    created_since: datetime | None = None


def _filtered(stmt: Select[tuple[Subscriber]], wanted: ReaderFilter) -> Select[tuple[Subscriber]]:
    """`stmt` narrowed to the readers matching every filter given."""
    if wanted.text.strip():
        pattern = contains_pattern(wanted.text.strip())
        stmt = stmt.where(
            or_(
                Subscriber.email_key.like(pattern, escape="\\"),
                Subscriber.name.ilike(pattern, escape="\\"),
                Subscriber.company.ilike(pattern, escape="\\"),
            )
        )
    if wanted.status in {s.value for s in SubscriberStatus}:
        stmt = stmt.where(Subscriber.status == SubscriberStatus(wanted.status))
    if wanted.language:
        stmt = stmt.where(Subscriber.language == wanted.language)
    if wanted.topic:
        stmt = stmt.where(
            Subscriber.id.in_(
                select(subscriber_topics.c.subscriber_id)
                .join(Topic, Topic.id == subscriber_topics.c.topic_id)
                .where(Topic.slug == wanted.topic)
            )
        )
    if wanted.created_since is not None:
        stmt = stmt.where(Subscriber.created_at >= wanted.created_since)
    return stmt


def search_readers(session: Session, wanted: ReaderFilter) -> Page[Subscriber]:
    """Readers matching every filter given, newest first."""
    stmt = _filtered(select(Subscriber).options(selectinload(Subscriber.topics)), wanted)
    page: Page[Subscriber] = paginate(session, stmt.order_by(Subscriber.id.desc()), wanted.page)
    return page


def readers_after(
    session: Session, wanted: ReaderFilter, after_id: int, limit: int
) -> list[Subscriber]:
    """Up to `limit` readers matching `wanted` with an id above `after_id`, in id order.

    Keyset paging (`id > last ORDER BY id`), not OFFSET: a system walking every reader costs
    the same on the last page as on the first, and readers added or erased while it walks
    neither repeat nor push others out of its pages.
    """
    stmt = _filtered(select(Subscriber).options(selectinload(Subscriber.topics)), wanted)
    stmt = stmt.where(Subscriber.id > after_id).order_by(Subscriber.id).limit(limit)
    return list(session.scalars(stmt))


@dataclass(frozen=True)
class ReaderHistory:
    ledger: list[ConsentRecord]
    deliveries: list[tuple[Delivery, str]]  # with the edition's month
    events: list[Event]  # newest first, at most MAX_EVENTS


def reader_history(session: Session, subscriber: Subscriber) -> ReaderHistory:
    deliveries = session.execute(
        select(Delivery, Edition.month)
        .join(Edition, Edition.id == Delivery.edition_id)
        .where(Delivery.subscriber_id == subscriber.id)
        .order_by(Edition.month.desc())
    ).tuples()
    events = session.scalars(
        select(Event)
        .where(Event.subscriber_id == subscriber.id)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(MAX_EVENTS)
    )
    ledger = session.scalars(
        select(ConsentRecord)
        .where(ConsentRecord.subscriber_id == subscriber.id)
        .order_by(ConsentRecord.id.desc())
    )
    return ReaderHistory(list(ledger), list(deliveries), list(events))


def _topics(session: Session, slugs: Sequence[str]) -> list[Topic]:
    available = {t.slug: t for t in active_topics(session)}
    unknown = [s for s in slugs if s not in available]
    if unknown or not slugs:
        raise NoListedTopic
    return [available[s] for s in dict.fromkeys(slugs)]


def _language(code: str) -> str:
    try:
        return choose_language(code)
    except SubscriptionError:
        raise LanguageUnknown from None


@dataclass(frozen=True)
class NewReader:
    email: str
    topics: Sequence[str]
    language: str
    consent_note: str  # where and how the reader agreed, kept in the ledger
    name: str | None = None
    company: str | None = None


def _name(actor: User | str) -> str:
    return actor.email if isinstance(actor, User) else actor


def add_reader(
    session: Session,
    wanted: NewReader,
    *,
    actor: User | str,
    erasure_key: str,
    origin: Origin = ADMIN,
) -> Subscriber:
    """Add an active reader on the admin's word that they agreed (or, with `origin` the API,
    on the word of the firm's system that states it, `actor` naming its key); the caller
    commits.

    An address erased at the reader's request is refused (as the CSV import does): the admin's
    word does not outweigh the reader's own.
    """
    try:
        address = normalize_address(wanted.email)
    except InvalidAddress as error:
        raise ReaderAddressInvalid(str(error)) from None
    language = _language(wanted.language)
    key = email_key(address)
    existing = subscriber_by_address(session, key)
    if existing is not None:
        raise ReaderExists(existing)
    if address_suppressed(session, key):
        raise ReaderSuppressed(address)
    if is_suppressed(session, address, erasure_key):
        raise AddressErased(address)
    note = " ".join(wanted.consent_note.split())
    if not note:
        raise ConsentNotStated
    subscriber = Subscriber(
        email=address,
        email_key=key,
        name=clean_text(wanted.name),
        company=clean_text(wanted.company),
        language=language,
        status=SubscriberStatus.ACTIVE,
        confirmed_at=utcnow(),
    )
    subscriber.topics = _topics(session, wanted.topics)
    session.add(subscriber)
    session.flush()
    record_consent(
        session,
        subscriber,
        f"{origin.source.value}-add",  # admin-add, api-add
        origin.source,
        text_version=None,
        detail={
            "status": SubscriberStatus.ACTIVE.value,
            "topics": [t.slug for t in subscriber.topics],
            "language": language,
            "note": note[:500],
            "by": _name(actor),
        },
    )
    record_audit(session, "subscriber.add", actor=actor, target=f"subscriber:{subscriber.id}")
    enqueue_subscriber_event(session, "subscriber.confirmed", subscriber)
    return subscriber


def change_topics(
    session: Session,
    subscriber: Subscriber,
    slugs: Sequence[str],
    language: str,
    *,
    actor: User | str,
    origin: Origin = ADMIN,
) -> bool:
    """Set the reader's topics and language; False when nothing changed. The caller commits."""
    if subscriber.status == SubscriberStatus.ERASED:
        raise ReaderErased
    topics = with_retired(_topics(session, slugs), list(subscriber.topics))
    language = _language(language)
    before = sorted(t.slug for t in subscriber.topics)
    after = sorted(t.slug for t in topics)
    changed: dict[str, Any] = {}
    if before != after:
        subscriber.topics = topics
        record_change(
            session, subscriber, ConsentAction.TOPICS, origin, {"from": before, "to": after}
        )
        changed["topics"] = after
    if language != subscriber.language:
        detail = {"from": subscriber.language, "to": language}
        subscriber.language = language
        record_change(session, subscriber, ConsentAction.LANGUAGE, origin, detail)
        changed["language"] = language
    if changed:
        record_audit(
            session,
            "subscriber.edit",
            actor=actor,
            target=f"subscriber:{subscriber.id}",
            detail=changed,
        )
        enqueue_subscriber_event(session, "subscriber.updated", subscriber)
    return bool(changed)


def unsubscribe_reader(
    session: Session,
    settings: Settings,
    subscriber: Subscriber,
    *,
    actor: User | str,
    origin: Origin = ADMIN,
) -> bool:
    """Unsubscribe on the reader's behalf (a phone call, a letter); False if not subscribed."""
    was = subscriber.status
    unsubscribe(session, settings, subscriber, origin)  # no mail goes out
    if subscriber.status == was:
        return False
    record_audit(
        session, "subscriber.unsubscribe", actor=actor, target=f"subscriber:{subscriber.id}"
    )
    return True
