"""A compiled variant as an SES inline template, and each reader's part of it.

Two forms, both rendering to exactly what `fill` gives the reader:

- **slots** — every slot of the variant is a template variable, and each reader sends every
  slot's value: their greeting, tokens and, when tracked, one click URL per item (~2.6 KB of
  JSON for an every-topic reader, sent twice over: once as a string inside the JSON body).
- **tokens** — the per-reader URLs are written into the template around two variables, the
  reader's subscriber and delivery tokens, and the reader sends only those and the greeting
  (~150 bytes). A call's readers must then agree on tracking and have delivery tokens, and the
  links must build each URL by putting the token into a fixed string (`UrlLinks` does); the
  form is checked for that once per variant and used only where it holds.

SES gives inline templates "only simple substitutions", so the form cannot branch per reader:
a call whose readers differ falls back to slots.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

from emails.content import Links, Recipient
from emails.edition import Variant
from emails.fill import ReaderValues, reader_values
from emails.slots import SlotTemplate

# Handlebars (SES's template language) would read `{{` in what an editor wrote as a
# placeholder; every literal `{` is sent as this variable instead, so content stays content.
BRACE = "ob"
SUBSCRIBER = "sub"
DELIVERY = "dlv"
GREETING = "greeting"
# Tokens the token form takes: URL-safe (escaping leaves them as they are) and no longer than
# the probe that checked the variant's URLs stay within its url_limit.
MAX_TOKEN = 64
_TOKEN = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_TOKEN}}}")


def escape_braces(text: str) -> str:
    return text.replace("{", "{{{" + BRACE + "}}}")


def _variable(name: str) -> str:
    return "{{{" + name + "}}}"


def _template_text(
    template: SlotTemplate, prefix: str, shared: frozenset[str] = frozenset()
) -> str:
    parts = [escape_braces(p) for p in template.parts]
    for index, name in template.positions:
        parts[index] = _variable(("h_" if name in shared else prefix) + name)
    return "".join(parts)


def slots_template(variant: Variant, shared: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The variant as SES TemplateContent; slots become unescaped `{{{h_x}}}`/`{{{t_x}}}`
    because their values are escaped (HTML) or plain (text) already. Text slots in `shared`
    take the HTML value (`{{{h_x}}}`): it is the same for every reader of the call."""
    return {
        "Subject": escape_braces(variant.subject),
        "Html": _template_text(variant.html, "h_"),
        "Text": _template_text(variant.text, "t_", shared),
    }


def shared_slots(readers: Sequence[ReaderValues]) -> frozenset[str]:
    """Text slots whose value equals the HTML slot's for every reader given.

    Tracked links, tokens and most greetings need no escaping, so a reader's click URLs were
    sent twice, once per part: half of every reader's template data. They go once, and only
    where escaping changed nothing for all of a call's readers."""
    names = set(readers[0].text) if readers else set()
    for values in readers:
        names = {n for n in names if values.text[n] == values.html.get(n)}
    return frozenset(names)


def slots_data(values: ReaderValues, shared: frozenset[str]) -> dict[str, str]:
    """A reader's ReplacementTemplateData in the slots form (before JSON)."""
    data = {f"h_{k}": v for k, v in values.html.items()}
    data.update({f"t_{k}": v for k, v in values.text.items() if k not in shared})
    data[BRACE] = "{"
    return data


@dataclass(frozen=True)
class TokenForm:
    """A variant's template for readers who agree on tracking: the greeting and the two tokens
    are its only variables. `Text` takes the greeting's HTML value when `shared` (no reader
    of the call has a name that escaping changes)."""

    html: str
    text: str  # with {{{t_greeting}}}
    text_shared: str  # with {{{h_greeting}}}
    subject: str

    def content(self, shared: bool) -> dict[str, str]:
        return {
            "Subject": self.subject,
            "Html": self.html,
            "Text": self.text_shared if shared else self.text,
        }


def _probe(variant: Variant, links: Links, tracked: bool, sub: str, dlv: str) -> ReaderValues:
    reader = Recipient(
        email="probe@example.invalid", name=None, subscriber_token=sub, delivery_token=dlv,
        language=variant.language, tracking=tracked,
    )
    return reader_values(variant, reader, links)


def _tokens_written(value: str, sub: str, dlv: str) -> str:
    written = escape_braces(value)
    return written.replace(sub, _variable(SUBSCRIBER)).replace(dlv, _variable(DELIVERY))


def _part(template: SlotTemplate, values: dict[str, str], greeting: str, sub: str,
          dlv: str) -> str:
    parts = [escape_braces(p) for p in template.parts]
    for index, name in template.positions:
        if name == GREETING:
            parts[index] = _variable(greeting)
        else:
            parts[index] = _tokens_written(values[name], sub, dlv)
    return "".join(parts)


def token_form(variant: Variant, links: Links, tracked: bool) -> TokenForm | None:
    """The token form of this variant, or None where the links do not allow it.

    Two probe readers with different tokens, token lengths and names are filled as `fill`
    fills anyone: every slot but the greeting must be the first probe's value with the other
    tokens put in its place, and nothing else. The first probe's tokens are MAX_TOKEN long, so
    a shorter real token keeps every URL within the variant's limit."""
    sub_a, dlv_a = "Ys" + secrets.token_hex(31), "Yd" + secrets.token_hex(31)
    sub_b, dlv_b = "Zs" + secrets.token_hex(9), "Zd" + secrets.token_hex(9)
    try:
        probe_a = _probe(variant, links, tracked, sub_a, dlv_a)
    except ValueError:  # a URL over the limit with the longest token: slots it is
        return None
    probe_b = _probe(variant, links, tracked, sub_b, dlv_b)
    for values_a, values_b in ((probe_a.html, probe_b.html), (probe_a.text, probe_b.text)):
        if values_a.keys() != values_b.keys():
            return None
        for name, value in values_a.items():
            if name == GREETING:
                continue
            if value.replace(sub_a, sub_b).replace(dlv_a, dlv_b) != values_b[name]:
                return None
    if probe_a.list_unsubscribe.replace(sub_a, sub_b) != probe_b.list_unsubscribe:
        return None
    html = _part(variant.html, probe_a.html, "h_" + GREETING, sub_a, dlv_a)
    text = _part(variant.text, probe_a.text, "t_" + GREETING, sub_a, dlv_a)
    text_shared = _part(variant.text, probe_a.text, "h_" + GREETING, sub_a, dlv_a)
    return TokenForm(html=html, text=text, text_shared=text_shared,
                     subject=escape_braces(variant.subject))


def token_reader(recipient: Recipient) -> bool:
    """Whether this reader's tokens can be sent as they are (URL-safe, not too long)."""
    dlv = recipient.delivery_token
    return (
        dlv is not None
        and _TOKEN.fullmatch(dlv) is not None
        and _TOKEN.fullmatch(recipient.subscriber_token) is not None
    )


def token_data(html_greeting: str, text_greeting: str, recipient: Recipient,
               shared: bool) -> dict[str, str]:
    """A reader's ReplacementTemplateData in the token form (before JSON)."""
    data = {"h_" + GREETING: html_greeting}
    if not shared:
        data["t_" + GREETING] = text_greeting
    data[SUBSCRIBER] = recipient.subscriber_token
    data[DELIVERY] = recipient.delivery_token or ""
    data[BRACE] = "{"
    return data


def token_json(html_greeting: str, text_greeting: str, recipient: Recipient,
               shared: bool) -> str:
    """`token_data` as the JSON SES takes (unescaped non-ASCII, no spaces), written directly:
    the tokens need no escaping (token_reader holds them to URL-safe characters), so only the
    greetings are encoded. The same text as encoding `token_data`, for half the CPU."""
    text = "" if shared else f',"t_{GREETING}":{encode_basestring(text_greeting)}'
    return (f'{{"h_{GREETING}":{encode_basestring(html_greeting)}{text},'
            f'"{SUBSCRIBER}":"{recipient.subscriber_token}",'
            f'"{DELIVERY}":"{recipient.delivery_token or ""}","{BRACE}":"{{"}}')
