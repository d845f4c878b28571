"""A finished message and its RFC 5322 form."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from email import quoprimime
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, make_msgid
from typing import Any, Final

ONE_CLICK = "List-Unsubscribe=One-Click"
# Receivers read these as machine values: a folded `<https://…>` that no longer fits 78 columns
# would be written as an RFC 2047 encoded word, which no mail client takes for a link. They are
# written on one line as given; RFC 5322 allows 998 characters per line, SES 870 per value.
VERBATIM_HEADERS: Final = frozenset({"list-unsubscribe", "list-unsubscribe-post", "list-id",
                                     "feedback-id"})
MAX_VERBATIM_CHARS: Final = 870
# Gmail's Feedback-ID is `…:<mail type>:<sender id>`; complaint figures are grouped per type.
MAIL_TYPES: Final = ("edition", "confirmation", "system")


class MessageUnbuildable(ValueError):
    """The message cannot be written (a header with a line break, say): nothing left, and
    trying again would fail the same way."""


class VerbatimHeaderError(MessageUnbuildable):
    """A list or feedback header that cannot be written as one plain ASCII line."""


def check_verbatim(name: str, value: str) -> str:
    """`value` if it can go out unchanged on one line, else a VerbatimHeaderError."""
    if not (value.isascii() and value.isprintable()):
        raise VerbatimHeaderError(f"{name} must be printable ASCII on one line: {value[:80]!r}")
    if len(value) > MAX_VERBATIM_CHARS:
        raise VerbatimHeaderError(
            f"{name} is {len(value)} characters; at most {MAX_VERBATIM_CHARS} fit one header line"
        )
    return value


class _MailPolicy(EmailPolicy):
    """The SMTP policy, except that VERBATIM_HEADERS are written unfolded, never encoded."""

    def fold(self, name: str, value: Any) -> str:
        if name.lower() in VERBATIM_HEADERS:
            return f"{name}: {check_verbatim(name, str(value))}{self.linesep}"
        folded: str = super().fold(name, value)
        return folded

    def fold_binary(self, name: str, value: Any) -> bytes:
        if name.lower() in VERBATIM_HEADERS:
            return self.fold(name, value).encode("ascii")
        folded: bytes = super().fold_binary(name, value)
        return folded


MAX_LINE_LENGTH: Final = 78
POLICY: Final = _MailPolicy(linesep="\r\n", max_line_length=MAX_LINE_LENGTH)

# How a text part is written. Python's own choice looks at the first ten lines only: for an
# edition those are the ASCII <head> of the HTML, so Chinese HTML went out quoted-printable at
# 2.2 times its size (65,733 B became 143,965 B; base64 would have been 90,723 B).
SEVEN_BIT: Final = "7bit"
BASE64: Final = "base64"
QUOTED_PRINTABLE: Final = "quoted-printable"
_CRLF: Final = len(POLICY.linesep)
_BASE64_LINE_BYTES: Final = MAX_LINE_LENGTH // 4 * 3  # 57 bytes make a 76-char line
_HIGH_BYTES: Final = bytes(range(127, 256))


def _lines(body: str) -> list[bytes]:
    return body.encode("utf-8").splitlines()


def _embedded(lines: list[bytes]) -> int:
    """What base64 encodes: the lines joined by CRLF, with a CRLF at the end."""
    return sum(map(len, lines)) + _CRLF * max(1, len(lines))


def payload_bytes(decoded: int, line_breaks: int) -> int:
    """The most bytes base64 encodes for a UTF-8 text of `decoded` bytes holding
    `line_breaks` line ends: each becomes CRLF, and one more ends the text."""
    return decoded + (_CRLF - 1) * line_breaks + _CRLF


def base64_bytes(payload: int) -> int:
    """Size of `payload` bytes in base64 as written: 76-character lines, each with a CRLF."""
    return 4 * math.ceil(payload / 3) + _CRLF * math.ceil(payload / _BASE64_LINE_BYTES)


def base64_budget(limit: int) -> int:
    """The most payload bytes whose base64 fits in `limit` bytes (73,074 for 100,000)."""
    line = 4 * _BASE64_LINE_BYTES // 3 + _CRLF  # 78 bytes written per 57 encoded
    whole_lines, rest = divmod(limit, line)
    tail = max(0, rest - _CRLF) // 4 * 3
    return whole_lines * _BASE64_LINE_BYTES + tail


def _qp_bytes(lines: list[bytes]) -> int:
    text = b"\n".join(lines).decode("latin-1") + "\n"
    encoded = quoprimime.body_encode(text, MAX_LINE_LENGTH)
    return len(encoded) + (_CRLF - 1) * encoded.count("\n")


def transfer_encoding(body: str) -> str:
    """7bit when there is nothing to encode, else the shorter of base64 and quoted-printable."""
    lines = _lines(body)
    if all(len(line) <= MAX_LINE_LENGTH and line.isascii() for line in lines):
        return SEVEN_BIT
    base64 = base64_bytes(_embedded(lines))
    # Quoted-printable writes each byte above 126 as three: when that alone reaches the
    # base64 size (any Chinese text) there is no need to encode the body to know.
    size = sum(map(len, lines))
    escaped = size - sum(len(line.translate(None, _HIGH_BYTES)) for line in lines)
    if size + 2 * escaped >= base64:
        return BASE64
    return QUOTED_PRINTABLE if _qp_bytes(lines) < base64 else BASE64


def sent_bytes(body: str, encoding: str | None = None) -> int:
    """Size of a text part's body as written in the message (its encoding, CRLF line ends)."""
    encoding = encoding or transfer_encoding(body)
    lines = _lines(body)
    if encoding == BASE64:
        return base64_bytes(_embedded(lines))
    if encoding == QUOTED_PRINTABLE:
        return _qp_bytes(lines)
    return sum(map(len, lines)) + _CRLF * len(lines)


@dataclass(frozen=True)
class Message:
    """One email to one address: both parts, the custom headers and SES tags."""

    sender: str
    to: str
    subject: str
    html: str
    text: str
    headers: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    reply_to: str | None = None

    def __post_init__(self) -> None:
        for name, value in self.headers.items():
            if name.lower() in VERBATIM_HEADERS:
                check_verbatim(name, value)

    def to_email(
        self, *, message_id: str | None = None, date: datetime | None = None
    ) -> EmailMessage:
        """multipart/alternative (text, then HTML); the subject is RFC 2047-encoded on output,
        the list and feedback headers are written as they are (VERBATIM_HEADERS)."""
        mail = EmailMessage(policy=POLICY)
        mail["From"] = self.sender
        mail["To"] = self.to
        mail["Subject"] = self.subject
        if self.reply_to:
            mail["Reply-To"] = self.reply_to
        mail["Date"] = format_datetime(date or datetime.now().astimezone())
        mail["Message-ID"] = message_id or new_message_id(self.sender)
        mail["MIME-Version"] = "1.0"
        for name, value in self.headers.items():
            mail[name] = value
        mail.set_content(
            self.text, subtype="plain", charset="utf-8", cte=transfer_encoding(self.text)
        )
        mail.add_alternative(
            self.html, subtype="html", charset="utf-8", cte=transfer_encoding(self.html)
        )
        for part in mail.iter_parts():
            del part["MIME-Version"]  # add_alternative puts one on the part; it belongs on top
        return mail

    def to_bytes(self, *, message_id: str | None = None, date: datetime | None = None) -> bytes:
        """RFC 5322 bytes with CRLF line ends, a Message-ID and a Date; MessageUnbuildable when
        the mail library refuses a header."""
        try:
            return self.to_email(message_id=message_id, date=date).as_bytes()
        except ValueError as error:
            raise MessageUnbuildable(str(error)) from error


def new_message_id(sender: str) -> str:
    """A fresh `<…@domain>` Message-ID in the sender's domain."""
    address = sender.rsplit("<", 1)[-1].rstrip(">").strip()
    domain = address.rpartition("@")[2] or "localhost"
    return make_msgid(domain=domain)


def list_unsubscribe(url: str, mailto: str | None) -> str:
    """The RFC 2369 value: the https one-click URL, then the mailto if configured."""
    if not mailto:
        return f"<{url}>"
    if not mailto.startswith("mailto:"):
        mailto = f"mailto:{mailto}"
    return f"<{url}>, <{mailto}>"


def list_id(value: str) -> str:
    """List-Id wants `<list.example.com>`; wrap a bare identifier."""
    return value if "<" in value else f"<{value}>"


def feedback_id(mail_type: str, sender_id: str) -> str:
    """The Feedback-ID of one mail type (`edition`, `confirmation`, `system`) for a sender."""
    if mail_type not in MAIL_TYPES:
        raise ValueError(f"unknown mail type {mail_type!r}; types are {list(MAIL_TYPES)}")
    return f"{mail_type}:{sender_id}"
