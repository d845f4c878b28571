"""System mails: confirm, welcome, preferences link, email change, password reset,
console invitation."""

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
    "password_reset": (),
    "invitation": (),
}
KINDS: Final = tuple(FOOTER_LINKS)
# What a kind says beyond its one body paragraph (catalogue parts, one paragraph each), what
# it needs from the caller's context, and the per-message values its text holds as slots.
MORE_PARAGRAPHS: Final[dict[str, tuple[str, ...]]] = {"invitation": ("about", "expiry")}
CONTEXT_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "invitation": ("inviter", "role", "lifetime_days"),
}
TEXT_SLOTS: Final[dict[str, tuple[str, ...]]] = {"invitation": ("inviter", "role", "lifetime")}
# A console user is greeted by the address invited, never as a reader.
ADDRESSED_BY_EMAIL: Final = frozenset({"invitation"})
# The Feedback-ID mail type: confirmations apart, as a flood of complaints about them means
# someone is subscribing other people's addresses; the other system mails together.
MAIL_TYPE: Final = {kind: "confirmation" if kind == "confirm" else "system" for kind in KINDS}


@lru_cache(maxsize=64)
def _compiled(
    kind: str, language: str, settings: MailSettings
) -> tuple[SlotTemplate, SlotTemplate, SlotTemplate]:
    t = strings(language)
    slot = SlotMarkers()
    org = settings.org(language)
    extra = settings.footer_text(language)
    values = {"org": org, **{name: slot(name) for name in TEXT_SLOTS.get(kind, ())}}
    why = t[f"{kind}.why"].format_map(values)
    heading = t[f"{kind}.heading"].format_map(values)
    body = t[f"{kind}.body"].format_map(values)
    more = [t[f"{kind}.{part}"].format_map(values) for part in MORE_PARAGRAPHS.get(kind, ())]
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
        "more": more,
        "button": t[f"{kind}.button"],
        "action": slot("action"),
        "copy_link": t["copy_link"],
    }
    footer = [f"{t[label]}{t['colon']}{slot(name)}" for label, name in FOOTER_LINKS[kind]]
    text = system_text(
        heading=heading,
        greeting=slot("greeting"),
        body=body,
        more=more,
        button=t[f"{kind}.button"],
        action=slot("action"),
        footer=[*footer, *([""] if footer else []), why, org, settings.org_postal_address,
                *([extra] if extra else [])],
    )
    subject = t[f"{kind}.subject"].format_map(values)
    return slot.split(subject), slot.split(render_html(TEMPLATE, context)), slot.split(text)


def render_system_mail(
    kind: str, language: str, context: Mapping[str, str], *, settings: MailSettings
) -> Message:
    """One system mail. `context`: `to`, `action_url` (the button), optional `name`, and
    `unsubscribe_url` for welcome and preferences_link; an invitation takes `inviter` (an
    address), `role` (`editor` or `admin`) and `lifetime_days` (how long its link works)."""
    if kind not in FOOTER_LINKS:
        raise ValueError(f"unknown system mail {kind!r}; kinds are {list(KINDS)}")
    needed = ["to", "action_url", *CONTEXT_KEYS.get(kind, ())]
    if any(name == "unsubscribe" for _, name in FOOTER_LINKS[kind]):
        needed.append("unsubscribe_url")
    missing = [key for key in needed if not context.get(key)]
    if missing:
        raise ValueError(f"{kind} mail needs {missing} in its context")
    subject, html_part, text_part = _compiled(kind, language, settings)

    t = strings(language)
    name = " ".join(context.get("name", "").split())[:MAX_NAME_CHARS]
    if kind in ADDRESSED_BY_EMAIL:
        greeting = t["greeting_address"].format(address=context["to"])
    else:
        greeting = t["greeting_named"].format(name=name) if name else t["greeting_anonymous"]
    text_values = {
        "greeting": greeting,
        "action": context["action_url"],
        "unsubscribe": context.get("unsubscribe_url", ""),
        **_context_values(kind, context, t),
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
        subject=subject.fill(text_values),
        html=html_part.fill(html_values),
        text=text_part.fill(text_values),
        headers=headers,
        tags={"kind": kind},
        reply_to=settings.reply_to,
    )


def _context_values(kind: str, context: Mapping[str, str], t: dict[str, str]) -> dict[str, str]:
    """The caller's values a kind shows in its text, worded in the mail's language."""
    if kind != "invitation":
        return {}
    role = context["role"]
    if f"role.{role}" not in t:
        raise ValueError(f"unknown role {role!r} for an invitation")
    try:
        days = int(context["lifetime_days"])
    except ValueError:
        raise ValueError(
            f"lifetime_days must be a number, not {context['lifetime_days']!r}"
        ) from None
    lifetime = t["lifetime_day" if days == 1 else "lifetime_days"].format(count=days)
    return {
        "inviter": " ".join(context["inviter"].split()),
        "role": t[f"role.{role}"],
        "lifetime": lifetime,
    }
