"""System mails to readers (confirm, welcome, preferences link, address change).

Services build each message and queue it as a job in their own transaction (`queued`): it
is committed with the change or rolled back with it, and the worker sends it with retries
(webapp.delivery.jobs), so no mail points at a change that was rolled back and none is lost
when sending fails.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, object_session

from emails import Message, render_system_mail
from webapp.branding import mail_brand
from webapp.config import Settings
from webapp.mailer import links, queue_mail
from webapp.models import Subscriber


def confirm_url(settings: Settings, signed: str) -> str:
    return f"{settings.base_url}/confirm/{signed}"


def reader_mail(
    settings: Settings,
    kind: str,
    subscriber: Subscriber,
    action_url: str,
    *,
    to: str | None = None,
) -> Message:
    """One system mail in the reader's language, to their address unless `to` is given."""
    address = to or subscriber.email
    if not address:
        raise ValueError(f"subscriber {subscriber.id} has no address to write to")
    context = {
        "to": address,
        "action_url": action_url,
        "name": subscriber.name or "",
        "unsubscribe_url": links(settings).unsubscribe(subscriber.token),
    }
    # The reader's session, when they are stored, reads the branding in force.
    branded = mail_brand(object_session(subscriber), settings)
    return render_system_mail(kind, subscriber.language, context, settings=branded)


def preferences_mail(settings: Settings, subscriber: Subscriber) -> Message:
    return reader_mail(
        settings, "preferences_link", subscriber, links(settings).preferences(subscriber.token)
    )


def queued(session: Session, subscriber: Subscriber, messages: list[Message]) -> list[Message]:
    """Queue each message, about this reader, in the caller's transaction; returns them."""
    if messages and subscriber.id is None:
        session.flush()  # a new reader: the job names them by id
    for message in messages:
        queue_mail(session, message, subscriber_id=subscriber.id)
    return messages
