"""Fill a compiled variant for one reader: string joins only, no templates, no MJML."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from emails.content import Links, Recipient
from emails.edition import MAX_NAME_CHARS, PIXEL_HTML, Variant
from emails.mime import Message, list_unsubscribe

_ESCAPED = re.compile(r"[&<>\"']")  # what html.escape changes


def _checked(url: str, limit: int) -> str:
    """HTML-escape a per-reader URL and hold it to the budget the size guard assumed."""
    # Tokens and paths need no escaping; looking is cheaper than five replaces, and this runs
    # for every link of every reader.
    value = url if _ESCAPED.search(url) is None else escape(url)
    if len(value) > limit or not value.isascii():
        raise ValueError(f"per-reader URL longer than {limit} ASCII chars: {url[:80]}…")
    return value


@dataclass(frozen=True)
class ReaderValues:
    """What differs per reader: slot values for each part and the List-Unsubscribe header."""

    html: dict[str, str]  # already HTML-escaped
    text: dict[str, str]
    list_unsubscribe: str


def greeting(variant: Variant, recipient: Recipient) -> tuple[str, str]:
    """The reader's greeting, HTML-escaped and plain."""
    name = " ".join(recipient.name.split())[:MAX_NAME_CHARS] if recipient.name else ""
    prefix, suffix, anonymous = variant.greeting
    text = f"{prefix}{name}{suffix}" if name else anonymous
    return escape(text), text


def reader_values(variant: Variant, recipient: Recipient, links: Links) -> ReaderValues:
    """The reader's greeting, tokens and (if tracked) click and open URLs.

    Without a delivery token (test sends) links go straight to the items, there is no pixel,
    and "view online" points at the edition's public archive page.
    """
    if recipient.language != variant.language:
        raise ValueError(f"{recipient.language} reader given a {variant.language} variant")
    subscriber = recipient.subscriber_token
    delivery = recipient.delivery_token
    unsubscribe = links.unsubscribe(subscriber)
    preferences = links.preferences(subscriber)
    view = links.view(delivery) if delivery else variant.archive_url

    limit = variant.url_limit
    html_greeting, text_greeting = greeting(variant, recipient)
    html_values = {
        "greeting": html_greeting,
        "unsubscribe": _checked(unsubscribe, limit),
        "preferences": _checked(preferences, limit),
        "view": escape(view) if delivery is None else _checked(view, limit),
        "pixel": "",
    }
    text_values = {
        "greeting": text_greeting,
        "unsubscribe": unsubscribe,
        "preferences": preferences,
        "view": view,
    }
    if recipient.tracking and delivery is not None:
        html_values["pixel"] = PIXEL_HTML.format(_checked(links.open_pixel(delivery), limit))
        for link in variant.links:
            url = links.click(delivery, link.number)
            text_values[link.slot] = url
            html_values[link.slot] = _checked(url, limit)
    else:
        for link in variant.links:
            text_values[link.slot] = link.url
            html_values[link.slot] = link.url_html
    return ReaderValues(
        html=html_values,
        text=text_values,
        list_unsubscribe=list_unsubscribe(unsubscribe, variant.unsubscribe_mailto),
    )


def fill(variant: Variant, recipient: Recipient, links: Links) -> Message:
    """The reader's whole message."""
    values = reader_values(variant, recipient, links)
    headers = dict(variant.headers)
    headers["List-Unsubscribe"] = values.list_unsubscribe
    return Message(
        sender=variant.sender,
        to=recipient.email,
        subject=variant.subject,
        html=variant.html.fill(values.html),
        text=variant.text.fill(values.text),
        headers=headers,
        tags=dict(variant.tags),
        reply_to=variant.reply_to,
    )
