"""A subscribed reader's preferences: topics, language, profile, tracking, address, pause.

Each kind of change appends its own consent ledger entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from emails import Message
from webapp.config import Settings
from webapp.mailer import queue_request
from webapp.models import Subscriber, SubscriberStatus, email_key, utcnow
from webapp.readers.consent import ConsentAction, Origin, record_change
from webapp.readers.links import sign_email_change
from webapp.readers.mail import confirm_url, preferences_mail, queued, reader_mail
from webapp.readers.subscriptions import (
    SUBSCRIBED,
    InvalidChoice,
    NotSubscribed,
    address_suppressed,
    choose_language,
    choose_topics,
    clean_text,
    normalize_address,
    subscriber_by_address,
)
from webapp.readers.topics import with_retired
from webapp.webhook_queue import enqueue_subscriber_event

PAUSE_MONTHS = (1, 2, 3)
# The request the worker answers (webapp.delivery.form_requests).
EMAIL_CHANGE_REQUEST = "email_change"


@dataclass(frozen=True)
class Preferences:
    """What the preferences form can change."""

    topics: Sequence[str]
    language: str
    name: str | None
    company: str | None
    tracking: bool


def ask_to_change_email(
    session: Session,
    subscriber: Subscriber,
    address: str,
    origin: Origin,
    *,
    now: datetime | None = None,
) -> None:
    """The address form of the preferences page: queue the request for the worker
    (`answer_email_change`), the same one row whether the new address is known or not.
    InvalidAddress when it does not parse; nothing is written then."""
    moment = now or utcnow()
    fields = {
        "subscriber": subscriber.id,
        "email": normalize_address(address),
        "origin": replace(origin, at=origin.at or moment).as_fields(),
    }
    queue_request(session, EMAIL_CHANGE_REQUEST, fields, subscriber_id=subscriber.id, now=moment)


def answer_email_change(session: Session, settings: Settings, fields: dict[str, Any]) -> None:
    """The worker's side of `ask_to_change_email`; nothing for a reader erased meanwhile."""
    subscriber = session.get(Subscriber, fields["subscriber"])
    if subscriber is None or subscriber.status == SubscriberStatus.ERASED:
        return
    origin = Origin.from_fields(fields["origin"])
    request_email_change(session, settings, subscriber, str(fields["email"]), origin)


def request_email_change(
    session: Session,
    settings: Settings,
    subscriber: Subscriber,
    address: str,
    origin: Origin,
) -> list[Message]:
    """Ask the new address to confirm. The reader is told the same whatever the address is:
    one in use by another subscription gets that subscription's own link instead."""
    new = normalize_address(address)
    key = email_key(new)
    if key == subscriber.email_key or address_suppressed(session, key):
        return []
    other = subscriber_by_address(session, key)
    if other is not None:
        if other.status not in SUBSCRIBED:
            return []
        return queued(session, other, [preferences_mail(settings, other)])
    subscriber.new_email = new
    signed = sign_email_change(settings.secret_key, subscriber.id, new)
    link = confirm_url(settings, signed)
    return queued(
        session, subscriber, [reader_mail(settings, "email_change", subscriber, link, to=new)]
    )


def update_preferences(
    session: Session, subscriber: Subscriber, wanted: Preferences, origin: Origin
) -> list[ConsentAction]:
    """Apply the preferences form; one ledger entry per kind of change. Returns the changes."""
    if subscriber.status == SubscriberStatus.ERASED:
        raise NotSubscribed("this subscription was erased")
    topics = with_retired(choose_topics(session, wanted.topics), list(subscriber.topics))
    language = choose_language(wanted.language)
    changes: list[ConsentAction] = []
    before = sorted(t.slug for t in subscriber.topics)
    after = sorted(t.slug for t in topics)
    if before != after:
        subscriber.topics = topics
        record_change(
            session, subscriber, ConsentAction.TOPICS, origin, {"from": before, "to": after}
        )
        changes.append(ConsentAction.TOPICS)
    if language != subscriber.language:
        detail = {"from": subscriber.language, "to": language}
        subscriber.language = language
        record_change(session, subscriber, ConsentAction.LANGUAGE, origin, detail)
        changes.append(ConsentAction.LANGUAGE)
    name, company = clean_text(wanted.name), clean_text(wanted.company)
    fields = (("name", subscriber.name, name), ("company", subscriber.company, company))
    changed_fields = [label for label, old, new in fields if old != new]
    if changed_fields:
        subscriber.name, subscriber.company = name, company
        record_change(
            session, subscriber, ConsentAction.PROFILE, origin, {"fields": changed_fields}
        )
        changes.append(ConsentAction.PROFILE)
    if wanted.tracking != subscriber.tracking:
        subscriber.tracking = wanted.tracking
        record_change(
            session, subscriber, ConsentAction.TRACKING, origin, {"tracking": wanted.tracking}
        )
        changes.append(ConsentAction.TRACKING)
    if changes:
        enqueue_subscriber_event(session, "subscriber.updated", subscriber)
    return changes


def add_months(moment: datetime, months: int) -> datetime:
    """The same day `months` later, or the month's last day (31 Jan + 1 → 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    for day in range(moment.day, 27, -1):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month, day=min(moment.day, 28))


def pause(
    session: Session, subscriber: Subscriber, months: int, origin: Origin
) -> datetime:
    """No editions for one to three months from now; housekeeping resumes the reader after."""
    if months not in PAUSE_MONTHS:
        raise InvalidChoice("a pause lasts one, two or three months")
    if subscriber.status not in SUBSCRIBED:
        raise NotSubscribed("only a subscribed reader can pause")
    until = add_months(utcnow(), months)
    subscriber.status = SubscriberStatus.PAUSED
    subscriber.paused_until = until
    record_change(
        session,
        subscriber,
        ConsentAction.PAUSE,
        origin,
        {"months": months, "until": until.isoformat()},
    )
    enqueue_subscriber_event(session, "subscriber.updated", subscriber)
    return until


def resume(session: Session, subscriber: Subscriber, origin: Origin) -> bool:
    """End a pause now; False when the reader was not paused."""
    if subscriber.status != SubscriberStatus.PAUSED:
        return False
    subscriber.status = SubscriberStatus.ACTIVE
    subscriber.paused_until = None
    record_change(session, subscriber, ConsentAction.RESUME, origin)
    enqueue_subscriber_event(session, "subscriber.updated", subscriber)
    return True


