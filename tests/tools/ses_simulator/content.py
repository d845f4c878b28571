"""Turning request members into a message: addresses, Simple/Raw/Template content, headers, tags."""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from typing import Any

from tests.tools.ses_simulator import template

MAX_RECIPIENTS = 50  # per message, across To, Cc and Bcc (SES quotas)

# Fields AWS lists as allowed at most once in a message's header section (SES header fields).
_SINGLE_INSTANCE_NAMES = (
    "Accept-Language acceptLanguage Archived-At Auto-Submitted Bounces-to Comments "
    "Content-Alternative Content-Base Content-Class Content-Description "
    "Content-Disposition Content-Duration Content-ID Content-Language Content-Length "
    "Content-Location Content-MD5 Content-Transfer-Encoding Content-Type Date Delivered-To "
    "Disposition-Notification-Options Disposition-Notification-To DKIM-Signature "
    "DomainKey-Signature Errors-To From Importance In-Reply-To Keywords List-Archive "
    "List-Help List-Id List-Owner List-Post List-Subscribe List-Unsubscribe "
    "List-Unsubscribe-Post Message-Context Message-ID MIME-Version Organization "
    "Original-From Original-Message-ID Original-Recipient Original-Subject Precedence "
    "Priority References Reply-To Return-Path Return-Receipt-To Sender Solicitation "
    "Sensitivity Subject Thread-Index Thread-Topic User-Agent VBR-Info"
)
SINGLE_INSTANCE = frozenset(_SINGLE_INSTANCE_NAMES.lower().split())
# SES replaces these with its own values rather than refusing them.
_OVERWRITTEN = frozenset({"date", "message-id"})
_TAG_TEXT = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class SesError(Exception):
    """An error answer in the shape botocore parses: HTTP status, code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def bad_request(message: str) -> SesError:
    return SesError(400, "BadRequestException", message)


@dataclass
class Envelope:
    sender: str
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    reply_to: list[str] = field(default_factory=list)

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]


class Body:
    """A message's HTML and text parts, as given (Simple, Raw)."""

    def __init__(self, html: str | None, text: str | None) -> None:
        self._html, self._text = html, text

    @property
    def html(self) -> str | None:
        return self._html

    @property
    def text(self) -> str | None:
        return self._text

    @property
    def has_html(self) -> bool:
        return self._html is not None

    @property
    def has_text(self) -> bool:
        return self._text is not None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Body):
            return NotImplemented
        return (self.html, self.text) == (other.html, other.text)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(html={_clip(self.html)}, text={_clip(self.text)})"


class TemplateBody(Body):
    """The parts of a templated message, rendered when first read, not when sent.

    A 5,000/s bench run reads none of them (it keeps digests), a test only those it looks at:
    rendering each entry's copy of a 35 KB template on arrival cost the simulator as much CPU
    as the sender spent on the message. Keeping the parsed template and the entry's data gives
    the same text whenever it is read.
    """

    def __init__(
        self,
        html: template.Compiled | None,
        text: template.Compiled | None,
        data: dict[str, Any],
        escape: bool,
    ) -> None:
        super().__init__(None, None)
        self._templates, self._data, self._escape = (html, text), data, escape
        self._rendered: tuple[str | None, str | None] | None = None

    def _parts(self) -> tuple[str | None, str | None]:
        if self._rendered is None:  # two threads may both render: same text, no harm
            self._rendered = tuple(  # type: ignore[assignment]
                None if part is None else part.render(self._data, escape_html=self._escape)
                for part in self._templates
            )
        assert self._rendered is not None  # nosec B101: set just above
        return self._rendered

    @property
    def html(self) -> str | None:
        return self._parts()[0]

    @property
    def text(self) -> str | None:
        return self._parts()[1]

    @property
    def has_html(self) -> bool:
        return self._templates[0] is not None

    @property
    def has_text(self) -> bool:
        return self._templates[1] is not None


def _clip(text: str | None) -> str:
    return repr(text if text is None or len(text) <= 40 else text[:40] + "…")


@dataclass
class Rendered:
    subject: str
    body: Body
    headers: list[tuple[str, str]]  # custom headers, in request order
    kind: str  # Simple, Raw, Template
    raw: bytes | None = None


# A bare ASCII `local@domain` with nothing parseaddr would change: checked without it.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+", re.ASCII)


def check_address(value: str, member: str) -> str:
    """SES's own minimal address rules: one `local@domain`, 7-bit local part."""
    if _PLAIN_ADDRESS.fullmatch(value):
        return value
    _, address = parseaddr(value)
    if "@" not in address:
        raise bad_request(f"Missing final '@domain' in {member}: {value!r}")
    local, _, domain = address.rpartition("@")
    if not local or not domain or not local.isascii():
        raise bad_request(f"Illegal address in {member}: {value!r}")
    return value


def destination(members: dict[str, Any] | None, sender: str, reply_to: list[str]) -> Envelope:
    members = members or {}
    envelope = Envelope(
        sender=sender,
        to=[check_address(a, "ToAddresses") for a in members.get("ToAddresses") or []],
        cc=[check_address(a, "CcAddresses") for a in members.get("CcAddresses") or []],
        bcc=[check_address(a, "BccAddresses") for a in members.get("BccAddresses") or []],
        reply_to=[check_address(a, "ReplyToAddresses") for a in reply_to],
    )
    count = len(envelope.recipients)
    if count > MAX_RECIPIENTS:
        raise bad_request(f"Recipient count exceeds {MAX_RECIPIENTS}.")
    return envelope


def simple(message: dict[str, Any]) -> Rendered:
    body = message.get("Body") or {}
    return Rendered(
        subject=message["Subject"]["Data"],
        body=Body((body.get("Html") or {}).get("Data"), (body.get("Text") or {}).get("Data")),
        headers=header_list(message.get("Headers")),
        kind="Simple",
    )


@dataclass(frozen=True)
class Parsed:
    """Inline TemplateContent, each part parsed once (shared by a bulk call's entries)."""

    subject: template.Compiled | None
    html: template.Compiled | None
    text: template.Compiled | None

    @classmethod
    def of(cls, members: dict[str, Any]) -> Parsed:
        """The caller checks that TemplateContent is there."""
        content = members["TemplateContent"]

        def part(name: str) -> template.Compiled | None:
            text = content.get(name)
            return None if text is None else template.compiled(text)

        return cls(part("Subject"), part("Html"), part("Text"))


def templated(
    parsed: Parsed, data: dict[str, Any], headers: list[tuple[str, str]], escape: bool
) -> Rendered:
    """The subject rendered now (headers and events need it), the body when it is read."""
    subject = "" if parsed.subject is None else parsed.subject.render(data, escape_html=escape)
    body = TemplateBody(parsed.html, parsed.text, data, escape)
    return Rendered(subject, body, headers, "Template")


def raw(encoded: str) -> tuple[Rendered, EmailMessage]:
    data = base64.b64decode(encoded)
    parsed = message_from_bytes(data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    html = text = None
    for part in parsed.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        if part.get_content_type() == "text/html" and html is None:
            html = str(part.get_content())
        elif part.get_content_type() == "text/plain" and text is None:
            text = str(part.get_content())
    headers = [(name, str(value)) for name, value in parsed.items()]
    subject = str(parsed.get("Subject", ""))
    return Rendered(subject, Body(html, text), headers, "Raw", raw=data), parsed


def raw_envelope(parsed: EmailMessage, members: dict[str, Any]) -> Envelope:
    """Sender and recipients of a Raw message: request members first, then its headers."""
    sender = members.get("FromEmailAddress") or str(parsed.get("From", ""))
    if not sender:
        raise bad_request("A Raw message needs a From header or FromEmailAddress.")
    if members.get("Destination"):
        return destination(members["Destination"], check_address(sender, "From"), [])

    def listed(name: str) -> list[str]:
        values = [str(v) for v in parsed.get_all(name, [])]
        return [check_address(a, name) for _, a in getaddresses(values) if a]

    envelope = Envelope(check_address(sender, "From"), listed("To"), listed("Cc"), listed("Bcc"))
    if len(envelope.recipients) > MAX_RECIPIENTS:
        raise bad_request(f"Recipient count exceeds {MAX_RECIPIENTS}.")
    return envelope


def header_list(members: list[dict[str, str]] | None) -> list[tuple[str, str]]:
    pairs = [(h["Name"], h["Value"]) for h in members or []]
    for name, value in pairs:
        if not (value.isascii() and value.isprintable()):  # [ -~]*, without the regex
            raise bad_request(f"Value of header {name} must be printable US-ASCII.")
    return pairs


def replace_headers(
    base: list[tuple[str, str]], replacements: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """ReplacementHeaders: same-named template headers are replaced, the rest added."""
    replaced = {name.lower() for name, _ in replacements}
    return [(n, v) for n, v in base if n.lower() not in replaced] + replacements


def final_headers(envelope: Envelope, rendered: Rendered) -> dict[str, str]:
    """The header section SES would send: its own fields, then the custom ones."""
    if rendered.kind == "Raw":  # SES strips its own X-SES-* headers before sending
        return {n: v for n, v in rendered.headers if not n.lower().startswith("x-ses-")}
    own = [("From", envelope.sender)]
    if envelope.to:
        own.append(("To", ", ".join(envelope.to)))
    if envelope.cc:
        own.append(("Cc", ", ".join(envelope.cc)))
    if envelope.reply_to:
        own.append(("Reply-To", ", ".join(envelope.reply_to)))
    own += [("Subject", rendered.subject), ("MIME-Version", "1.0")]
    own.append(("Content-Type", _content_type(rendered)))
    custom = [(n, v) for n, v in rendered.headers if n.lower() not in _OVERWRITTEN]
    pairs = own + custom
    if len({name.lower() for name, _ in pairs}) < len(pairs):  # rare: find the offender
        seen: set[str] = set()
        for name, _ in pairs:
            key = name.lower()
            if key in SINGLE_INSTANCE and key in seen:
                raise bad_request(f"Duplicate header '{name}'.")
            seen.add(key)
    return dict(pairs)


def _content_type(rendered: Rendered) -> str:
    if rendered.body.has_html and rendered.body.has_text:
        return "multipart/alternative"
    if rendered.body.has_html:
        return "text/html; charset=UTF-8"
    return "text/plain; charset=UTF-8"


def tag_dict(members: list[dict[str, str]] | None) -> dict[str, str]:
    """EmailTags as a dict; SES allows only ASCII letters, digits, `_` and `-` (≤ 256)."""
    tags: dict[str, str] = {}
    for tag in members or []:
        for part in ("Name", "Value"):
            if not _TAG_TEXT.match(tag[part]):
                raise bad_request(
                    f"Invalid tag {part.lower()} {tag[part]!r}: use only ASCII letters, "
                    "digits, '_' and '-' (at most 256)."
                )
        tags[tag["Name"]] = tag["Value"]
    return tags


def raw_ses_headers(parsed: EmailMessage) -> tuple[str | None, dict[str, str]]:
    """X-SES-CONFIGURATION-SET and X-SES-MESSAGE-TAGS of a Raw message (API members win)."""
    configuration_set = parsed.get("X-SES-CONFIGURATION-SET")
    tags: dict[str, str] = {}
    for pair in str(parsed.get("X-SES-MESSAGE-TAGS", "")).split(","):
        name, sep, value = pair.partition("=")
        if sep:
            tags[name.strip()] = value.strip()
    return (str(configuration_set) if configuration_set else None), tags
