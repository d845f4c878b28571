"""Transports hand a finished message to the outside world: SES, an SMTP server, or `.eml`
files (outbox)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from emails.mime import Message


@dataclass(frozen=True)
class SendResult:
    message_id: str  # SES MessageId, or (outbox, SMTP) our Message-ID without brackets
    file: str | None = None  # the outbox file's name, for the index of whose message it holds


class Transport(Protocol):
    def send(self, message: Message) -> SendResult: ...


def _outbox(**options: Any) -> Transport:
    from emails.transports.outbox import OutboxTransport

    return OutboxTransport(**options)


def _ses(**options: Any) -> Transport:
    from emails.transports.ses import SesTransport  # boto3 is imported only when SES is used

    return SesTransport(**options)


def _smtp(**options: Any) -> Transport:
    from emails.transports.smtp import SmtpTransport

    return SmtpTransport(**options)


TRANSPORTS: dict[str, Callable[..., Transport]] = {"ses": _ses, "outbox": _outbox, "smtp": _smtp}


def make_transport(name: str, **options: Any) -> Transport:
    """Build a transport by its configured name (`MAIL_TRANSPORT`)."""
    try:
        factory = TRANSPORTS[name]
    except KeyError:
        known = sorted(TRANSPORTS)
        raise ValueError(f"unknown mail transport {name!r}; use one of {known}") from None
    return factory(**options)


__all__ = ["TRANSPORTS", "SendResult", "Transport", "make_transport"]
