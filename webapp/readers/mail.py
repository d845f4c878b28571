"""System mails to readers (confirm, welcome, preferences link, address change, unsubscribed).

Services build the messages and return them; the caller commits first and then sends them,
so no mail ever points at a change that was rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from emails import Message, render_system_mail
from webapp.config import Settings
from webapp.mailer import links, mail_settings, transport
from webapp.models import Subscriber

log = logging.getLogger(__name__)


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
    return render_system_mail(kind, subscriber.language, context, settings=mail_settings(settings))


def preferences_mail(settings: Settings, subscriber: Subscriber) -> Message:
    return reader_mail(
        settings, "preferences_link", subscriber, links(settings).preferences(subscriber.token)
    )


def send_reader_mail(settings: Settings, messages: Iterable[Message]) -> int:
    """Send after commit; a failure is logged, never shown (the page must not differ)."""
    pending = list(messages)
    if not pending:
        return 0
    outgoing = transport(settings)
    sent = 0
    for message in pending:
        try:
            outgoing.send(message)
            sent += 1
        except Exception:
            log.exception("system mail %s could not be sent", message.tags.get("kind"))
    return sent
