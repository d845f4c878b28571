"""What an SES answer means for the send: retry, fail one reader, pause, or do not know.

SES v2 reports both the rate limit and the daily quota as 429 TooManyRequestsException and
tells them apart only by the message, so the message is part of the classification.
"""

from __future__ import annotations

import enum
from typing import Any

RATE_EXCEEDED = "Maximum sending rate exceeded."
DAILY_QUOTA_EXCEEDED = "Daily message quota exceeded."


class TransportError(Exception):
    """A whole call failed; subclasses say what to do about it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Throttled(TransportError):
    """Over the sending rate: back off and retry; never a failure."""


class Transient(TransportError):
    """SES answered with a server error, or the request never reached it: retry later."""


class AnswerUnknown(TransportError):
    """The request went out but no answer came back: SES may have sent it. Never re-send
    blindly; the deliveries stay in doubt until SES's own events settle them."""


class QuotaExhausted(TransportError):
    """The daily quota is used up: pause the edition until the quota allows."""


class SendingHalted(TransportError):
    """The account or configuration cannot send now (paused, suspended, unverified …):
    pause the edition with the reason; nothing is lost."""


class Rejected(TransportError):
    """SES refused this one message (MessageRejected): that delivery fails, the send goes on."""


class Unbuildable(Rejected):
    """The call could not even be written (a header the mail library or SES's rules refuse):
    nothing left, and trying again would fail the same way, so its deliveries fail."""


# The entry status a batch transport gives a reader whose own message could not be built.
UNBUILDABLE = "UNBUILDABLE"
# Entry statuses of a transport that answers reader by reader (SMTP): the connection failed
# after this reader's message went; the server refused our sender (the send must pause);
# the reader was no longer this worker's to send, so nothing was done.
ANSWER_UNKNOWN = "ANSWER_UNKNOWN"
SENDING_HALTED = "SENDING_HALTED"
CLAIM_LOST = "CLAIM_LOST"


_HALTING_CODES = frozenset(
    {
        "SendingPausedException",
        "AccountSuspendedException",
        "MailFromDomainNotVerifiedException",
        "ConfigurationSetDoesNotExistException",
        "ConfigurationSetSendingPausedException",
        "NotFoundException",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "BadRequestException",
        "LimitExceededException",
    }
)


def classify_client_error(response: dict[str, Any]) -> TransportError:
    """Turn a botocore ClientError's `response` into one of the errors above."""
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    message = str(error.get("Message", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    reason = f"{code}: {message}" if message else code
    if code in {"TooManyRequestsException", "Throttling", "ThrottlingException"}:
        if DAILY_QUOTA_EXCEEDED.rstrip(".").lower() in message.lower():
            return QuotaExhausted(reason)
        return Throttled(reason)
    if code in {"MessageRejected", "MessageRejectedException"}:
        return Rejected(reason)
    if status >= 500 or code in {"InternalFailure", "ServiceUnavailable", "InternalServerError"}:
        return Transient(reason)
    if code in _HALTING_CODES or 400 <= status < 500:
        return SendingHalted(reason)
    return Transient(reason)


class EntryOutcome(enum.Enum):
    SENT = "sent"
    FAIL = "fail"  # this reader's message failed; the send goes on
    RETRY = "retry"  # try this reader again later, no limit (throttling, transient)
    RETRY_LIMITED = "retry_limited"  # try again a few times, then fail with the reason
    PAUSE = "pause"  # the edition must pause: the account or configuration cannot send
    IN_DOUBT = "in_doubt"  # it may have gone: never re-sent blindly
    NOT_MINE = "not_mine"  # another worker holds it: left as it is


ENTRY_OUTCOMES: dict[str, EntryOutcome] = {
    "SUCCESS": EntryOutcome.SENT,
    "MESSAGE_REJECTED": EntryOutcome.FAIL,
    "INVALID_PARAMETER": EntryOutcome.FAIL,
    UNBUILDABLE: EntryOutcome.FAIL,
    ANSWER_UNKNOWN: EntryOutcome.IN_DOUBT,
    SENDING_HALTED: EntryOutcome.PAUSE,
    CLAIM_LOST: EntryOutcome.NOT_MINE,
    "ACCOUNT_THROTTLED": EntryOutcome.RETRY,
    "TRANSIENT_FAILURE": EntryOutcome.RETRY,
    "FAILED": EntryOutcome.RETRY_LIMITED,
    "ACCOUNT_DAILY_QUOTA_EXCEEDED": EntryOutcome.PAUSE,
    "ACCOUNT_SENDING_PAUSED": EntryOutcome.PAUSE,
    "CONFIGURATION_SET_SENDING_PAUSED": EntryOutcome.PAUSE,
    "ACCOUNT_SUSPENDED": EntryOutcome.PAUSE,
    "MAIL_FROM_DOMAIN_NOT_VERIFIED": EntryOutcome.PAUSE,
    "CONFIGURATION_SET_NOT_FOUND": EntryOutcome.PAUSE,
    "TEMPLATE_NOT_FOUND": EntryOutcome.PAUSE,
    "INVALID_SENDING_POOL_NAME": EntryOutcome.PAUSE,
}


def entry_outcome(status: str) -> EntryOutcome:
    """An unknown status (a newer API) is retried a few times rather than trusted."""
    return ENTRY_OUTCOMES.get(status, EntryOutcome.RETRY_LIMITED)
