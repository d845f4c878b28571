"""SES event publishing records (Send, Delivery, Bounce, Complaint, Reject, DeliveryDelay).

Shapes follow AWS's "Examples of event data that Amazon SES publishes to Amazon SNS"; `tags`
values are lists, as SES publishes them, so the app can match an event to its delivery.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any

from tests.tools.ses_simulator.config import ACCOUNT_ID
from tests.tools.ses_simulator.faults import Outcome, bare
from tests.tools.ses_simulator.records import SentMessage

REPORTING_MTA = "a1-1.smtp-out.simulator.local"
_BOUNCE_STATUS = {
    "Permanent": ("5.1.1", "smtp; 550 5.1.1 user unknown"),
    "Transient": ("4.2.2", "smtp; 452 4.2.2 mailbox full"),
}

Staged = tuple[int, dict[str, Any]]  # (stage, event): stage 0 is published at once


def iso(moment: datetime) -> str:
    """SES and SNS timestamps: UTC, milliseconds, `Z`."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def feedback_id() -> str:
    return f"0100{uuid.uuid4().hex[:12]}-{uuid.uuid4()}-000000"


def mail_object(message: SentMessage, destination: list[str], region: str) -> dict[str, Any]:
    """The `mail` member every event carries."""
    domain = parseaddr(message.sender)[1].rpartition("@")[2]
    tags: dict[str, list[str]] = {}
    if message.configuration_set:
        tags["ses:configuration-set"] = [message.configuration_set]
    tags["ses:source-ip"] = ["127.0.0.1"]
    tags["ses:from-domain"] = [domain]
    tags["ses:caller-identity"] = ["simulator"]
    tags.update({name: [value] for name, value in message.tags.items()})
    common: dict[str, Any] = {"from": [message.sender], "to": list(message.to)}
    common["messageId"] = message.message_id
    common["subject"] = message.subject
    return {
        "timestamp": iso(message.timestamp),
        "source": message.sender,
        "sourceArn": f"arn:aws:ses:{region}:{ACCOUNT_ID}:identity/{domain}",
        "sendingAccountId": ACCOUNT_ID,
        "messageId": message.message_id,
        "destination": destination,
        "headersTruncated": False,
        "headers": [{"name": n, "value": v} for n, v in message.headers.items()],
        "commonHeaders": common,
        "tags": tags,
    }


def send(mail: dict[str, Any]) -> dict[str, Any]:
    return {"eventType": "Send", "mail": mail, "send": {}}


def delivery(mail: dict[str, Any], recipient: str, now: datetime) -> dict[str, Any]:
    mail = {**mail, "tags": {**mail["tags"], "ses:outgoing-ip": ["127.0.0.1"]}}
    return {
        "eventType": "Delivery",
        "mail": mail,
        "delivery": {
            "timestamp": iso(now),
            "processingTimeMillis": 42,
            "recipients": [recipient],
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": REPORTING_MTA,
        },
    }


def bounce(
    mail: dict[str, Any], recipient: str, bounce_type: str, sub_type: str, now: datetime
) -> dict[str, Any]:
    bounced: dict[str, Any] = {"emailAddress": recipient}
    if bounce_type in _BOUNCE_STATUS:
        status, diagnostic = _BOUNCE_STATUS[bounce_type]
        bounced.update(action="failed", status=status, diagnosticCode=diagnostic)
    return {
        "eventType": "Bounce",
        "mail": mail,
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": sub_type,
            "bouncedRecipients": [bounced],
            "timestamp": iso(now),
            "feedbackId": feedback_id(),
            "reportingMTA": f"dsn; {REPORTING_MTA}",
        },
    }


def complaint(
    mail: dict[str, Any], recipient: str, feedback_type: str, now: datetime
) -> dict[str, Any]:
    return {
        "eventType": "Complaint",
        "mail": mail,
        "complaint": {
            "complainedRecipients": [{"emailAddress": recipient}],
            "timestamp": iso(now),
            "feedbackId": feedback_id(),
            "complaintSubType": None,
            "userAgent": "SES simulator",
            "complaintFeedbackType": feedback_type,
            "arrivalDate": iso(now),
        },
    }


def reject(mail: dict[str, Any], reason: str) -> dict[str, Any]:
    return {"eventType": "Reject", "mail": mail, "reject": {"reason": reason}}


def delivery_delay(
    mail: dict[str, Any], recipient: str, delay_type: str, now: datetime
) -> dict[str, Any]:
    return {
        "eventType": "DeliveryDelay",
        "mail": mail,
        "deliveryDelay": {
            "timestamp": iso(now),
            "delayType": delay_type,
            "expirationTime": iso(now + timedelta(hours=14)),
            "delayedRecipients": [
                {
                    "emailAddress": recipient,
                    "status": "4.4.1",
                    "diagnosticCode": "smtp; 421 4.4.1 Unable to connect to remote host",
                }
            ],
        },
    }


def for_message(
    records: list[SentMessage], outcomes: dict[str, Outcome | None], region: str
) -> list[Staged]:
    """All events one accepted message produces: Send, then what happens per recipient."""
    first = records[0]
    mail = mail_object(first, [r.recipient for r in records], region)
    now = datetime.now(UTC)
    staged: list[Staged] = [(0, send(mail))]
    rejected = False
    for record in records:
        address = parseaddr(record.recipient)[1] or record.recipient
        outcome = outcomes.get(bare(record.recipient))
        if outcome is None:
            staged.append((1, delivery(mail, address, now)))
        elif outcome.kind == "Bounce":
            details = outcome.details
            event = bounce(mail, address, details["bounceType"], details["bounceSubType"], now)
            staged.append((1, event))
        elif outcome.kind == "Complaint":
            staged.append((1, delivery(mail, address, now)))
            feedback = outcome.details["complaintFeedbackType"]
            staged.append((2, complaint(mail, address, feedback, now)))
        elif outcome.kind == "DeliveryDelay":
            delay_type = outcome.details["delayType"]
            staged.append((1, delivery_delay(mail, address, delay_type, now)))
            staged.append((2, delivery(mail, address, now)))
        elif not rejected:  # one Reject for the whole message
            rejected = True
            staged.append((1, reject(mail, outcome.details["reason"])))
    return staged


def single(
    event_type: str, mail: dict[str, Any], recipient: str, details: dict[str, Any]
) -> dict[str, Any]:
    """One event of any type for `recipient`, with defaults for whatever `details` leaves out."""
    now = datetime.now(UTC)
    if event_type == "Send":
        return send(mail)
    if event_type == "Delivery":
        return delivery(mail, recipient, now)
    if event_type == "Bounce":
        kind = details.get("bounce_type", "Permanent")
        return bounce(mail, recipient, kind, details.get("sub_type", "General"), now)
    if event_type == "Complaint":
        return complaint(mail, recipient, details.get("feedback_type", "abuse"), now)
    if event_type == "Reject":
        return reject(mail, details.get("reason", "Bad content"))
    if event_type == "DeliveryDelay":
        delay_type = details.get("delay_type", "TransientCommunicationFailure")
        return delivery_delay(mail, recipient, delay_type, now)
    raise ValueError(f"unknown SES event type {event_type!r}")
