"""System mails: confirm, welcome, preferences link, email change, unsubscribed, password reset."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from html import escape
from typing import Final

from emails.compiler import render_html
from emails.content import MailSettings
from emails.i18n import strings
from emails.mime import ONE_CLICK, Message, feedback_id, list_unsubscribe
from emails.slots import SlotMarkers, SlotTemplate
from emails.text import system_text

TEMPLATE: Final = "system.mjml"
MAX_NAME_CHARS: Final = 100

# Footer links per kind as (catalogue key, slot): only subscribers get preference/unsubscribe
# links; a confirmation or password reset has nothing to manage yet.
FOOTER_LINKS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "confirm": (),
    "welcome": (("preferences", "action"), ("unsubscribe", "unsubscribe")),
    "preferences_link": (("unsubscribe", "unsubscribe"),),
    "email_change": (),
    "unsubscribed": (),
    "password_reset": (),
}
KINDS: Final = tuple(FOOTER_LINKS)
# The Feedback-ID mail type: confirmations apart, as a flood of complaints about them means
# someone is subscribing other people's addresses; the other system mails together.
MAIL_TYPE: Final = {kind: "confirmation" if kind == "confirm" else "system" for kind in KINDS}


@lru_cache(maxsize=64)
def _compiled(
    kind: str, language: str, settings: MailSettings
) -> tuple[str, SlotTemplate, SlotTemplate]:
    t = strings(language)
    slot = SlotMarkers()
    org = settings.org(language)
    extra = settings.footer_text(language)
    why = t[f"{kind}.why"].format(org=org)
    heading = t[f"{kind}.heading"]
    body = t[f"{kind}.body"].format(org=org)
    context = {
        "lang": language,
        "t": t,
        "doc_title": heading,
        "preheader": body,
        "top_link": None,
        "org_name": org,
        # No logo: a short mail with an image reads as image-only to spam filters.
        "palette": settings.palette,
        "logo": None,
        "footer_text": extra,
        "org_postal_address": settings.org_postal_address,
        "header_title": t["system_subtitle"],
        "header_subtitle": None,
        "footer_links": [(t[label], slot(name)) for label, name in FOOTER_LINKS[kind]],
        "footer_why": why,
        "pixel": "",
        "greeting": slot("greeting"),
        "heading": heading,
        "body": body,
        "button": t[f"{kind}.button"],
        "action": slot("action"),
        "copy_link": t["copy_link"],
    }
    footer = [f"{t[label]}{t['colon']}{slot(name)}" for label, name in FOOTER_LINKS[kind]]
    text = system_text(
        heading=heading,
        greeting=slot("greeting"),
        body=body,
        button=t[f"{kind}.button"],
        action=slot("action"),
        footer=[*footer, *([""] if footer else []), why, org, settings.org_postal_address,
                *([extra] if extra else [])],
    )
    subject = t[f"{kind}.subject"].format(org=org)
    return subject, slot.split(render_html(TEMPLATE, context)), slot.split(text)


def render_system_mail(
    kind: str, language: str, context: Mapping[str, str], *, settings: MailSettings
) -> Message:
    """One system mail. `context`: `to`, `action_url` (the button), optional `name`, and
    `unsubscribe_url` for welcome and preferences_link."""
    if kind not in FOOTER_LINKS:
        raise ValueError(f"unknown system mail {kind!r}; kinds are {list(KINDS)}")
    needed = ["to", "action_url"]
    if any(name == "unsubscribe" for _, name in FOOTER_LINKS[kind]):
        needed.append("unsubscribe_url")
    missing = [key for key in needed if not context.get(key)]
    if missing:
        raise ValueError(f"{kind} mail needs {missing} in its context")
    subject, html_part, text_part = _compiled(kind, language, settings)

    t = strings(language)
    name = " ".join(context.get("name", "").split())[:MAX_NAME_CHARS]
    greeting = t["greeting_named"].format(name=name) if name else t["greeting_anonymous"]
    text_values = {
        "greeting": greeting,
        "action": context["action_url"],
        "unsubscribe": context.get("unsubscribe_url", ""),
    }
    html_values = {key: escape(value) for key, value in text_values.items()}

    headers = {"Feedback-ID": feedback_id(MAIL_TYPE[kind], settings.feedback_id)}
    if "unsubscribe_url" in needed:
        headers["List-Unsubscribe"] = list_unsubscribe(
            context["unsubscribe_url"], settings.unsubscribe_mailto
        )
        headers["List-Unsubscribe-Post"] = ONE_CLICK
    return Message(
        sender=settings.mail_from,
        to=context["to"],
        subject=subject,
        html=html_part.fill(html_values),
        text=text_part.fill(text_values),
        headers=headers,
        tags={"kind": kind},
        reply_to=settings.reply_to,
    )
