"""The SES transport: SES v2 SendEmail with Simple content (SES builds the MIME)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, parseaddr
from typing import TYPE_CHECKING, Any

import boto3

from emails.mime import VERBATIM_HEADERS, Message, MessageUnbuildable, check_verbatim
from emails.transports import SendResult

if TYPE_CHECKING:
    from types_boto3_sesv2.client import SESV2Client

_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# SES sets these itself from the request; passing them as Headers is rejected.
_RESERVED = frozenset({"from", "to", "cc", "bcc", "subject", "reply-to", "date", "message-id"})


def tag_text(value: str) -> str:
    """SES tag names and values allow only ASCII letters, digits, `_` and `-` (max 256)."""
    return _TAG_UNSAFE.sub("_", value)[:256]


def header_value(name: str, value: str) -> str:
    """SES header values must be printable ASCII: RFC 2047-encode anything else, unfolded.

    The list and feedback headers are sent as they are or refused (VERBATIM_HEADERS)."""
    if name.lower() in VERBATIM_HEADERS:
        return check_verbatim(name, value)
    if value.isascii() and value.isprintable():
        return value
    return Header(value, "utf-8").encode(linesep=" ")


_BARE_ADDRESS = re.compile(r"[^\s<>()\[\]\",;:\\]+@[^\s<>()\[\]\",;:\\@]+")


def address(value: str) -> str:
    """A `Name <addr>` with a non-ASCII name encoded as RFC 2047 (SES requires it);
    MessageUnbuildable for a value that cannot be one header line."""
    if not value.isprintable():
        raise MessageUnbuildable(f"{value[:80]!r} cannot be written as an address")
    if _BARE_ADDRESS.fullmatch(value):
        return value  # a plain address (every reader's): parsing would give it back unchanged
    name, addr = parseaddr(value)
    return formataddr((name, addr), charset="utf-8") if name else addr


class SesTransport:
    """Sends through `sesv2.send_email`; errors from botocore are raised unchanged."""

    def __init__(
        self,
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        configuration_set: str | None = None,
        client: SESV2Client | None = None,
    ) -> None:
        self.client: SESV2Client = client or boto3.client(
            "sesv2", region_name=region, endpoint_url=endpoint_url
        )
        self.configuration_set = configuration_set

    def request(self, message: Message) -> dict[str, Any]:
        """The SendEmail parameters for `message`."""
        utf8 = "UTF-8"
        request: dict[str, Any] = {
            "FromEmailAddress": address(message.sender),
            "Destination": {"ToAddresses": [address(message.to)]},
            "Content": {
                "Simple": {
                    "Subject": {"Data": message.subject, "Charset": utf8},
                    "Body": {
                        "Text": {"Data": message.text, "Charset": utf8},
                        "Html": {"Data": message.html, "Charset": utf8},
                    },
                    "Headers": [
                        {"Name": name, "Value": header_value(name, value)}
                        for name, value in message.headers.items()
                        if name.lower() not in _RESERVED
                    ],
                }
            },
        }
        if message.reply_to:
            request["ReplyToAddresses"] = [address(message.reply_to)]
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        tags = [
            {"Name": tag_text(name), "Value": tag_text(value)}
            for name, value in message.tags.items()
            if tag_text(name) and tag_text(value)
        ]
        if tags:
            request["EmailTags"] = tags
        return request

    def send(self, message: Message) -> SendResult:
        response = self.client.send_email(**self.request(message))
        return SendResult(message_id=response["MessageId"])


@dataclass(frozen=True)
class AccountQuota:
    max_send_rate: float  # recipients per second
    max_24_hour_send: float
    sent_last_24_hours: float
    sending_enabled: bool

    @property
    def remaining_24_hours(self) -> float:
        return max(0.0, self.max_24_hour_send - self.sent_last_24_hours)


def account_quota(client: SESV2Client) -> AccountQuota:
    """SES GetAccount: the sending rate and daily quota the pacing must respect."""
    answer = client.get_account()
    quota = answer.get("SendQuota", {})
    return AccountQuota(
        max_send_rate=float(quota.get("MaxSendRate", 1.0)),
        max_24_hour_send=float(quota.get("Max24HourSend", 200.0)),
        sent_last_24_hours=float(quota.get("SentLast24Hours", 0.0)),
        sending_enabled=bool(answer.get("SendingEnabled", True)),
    )
