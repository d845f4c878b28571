"""A finished message and its RFC 5322 form."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

ONE_CLICK = "List-Unsubscribe=One-Click"


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

    def to_email(
        self, *, message_id: str | None = None, date: datetime | None = None
    ) -> EmailMessage:
        """multipart/alternative (text, then HTML); the subject is RFC 2047-encoded on output."""
        mail = EmailMessage(policy=SMTP)
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
        mail.set_content(self.text, subtype="plain", charset="utf-8")
        mail.add_alternative(self.html, subtype="html", charset="utf-8")
        for part in mail.iter_parts():
            del part["MIME-Version"]  # add_alternative puts one on the part; it belongs on top
        return mail

    def to_bytes(self, *, message_id: str | None = None, date: datetime | None = None) -> bytes:
        """RFC 5322 bytes with CRLF line ends, a Message-ID and a Date."""
        return self.to_email(message_id=message_id, date=date).as_bytes()


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
