"""SES events (event publishing `eventType`, identity notifications `notificationType`) as
typed values the app can store and act on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from emails.sns import SnsError
from emails.transports.batch import DELIVERY_TAG

KINDS = {
    "Send": "send",
    "Delivery": "delivery",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Reject": "reject",
    "DeliveryDelay": "delivery_delay",
    "Rendering Failure": "rendering_failure",
    "RenderingFailure": "rendering_failure",
    "Open": "ses_open",
    "Click": "ses_click",
    "Subscription": "ses_subscription",
}
# SES's own open/click tracking must be off: we track opens and clicks ourselves.
UNWANTED_KINDS = frozenset({"ses_open", "ses_click"})
_DETAIL_KEYS = {
    "bounce": "bounce",
    "complaint": "complaint",
    "delivery": "delivery",
    "reject": "reject",
    "delivery_delay": "deliveryDelay",
    "rendering_failure": "failure",
    "send": "send",
}


@dataclass(frozen=True)
class SesEvent:
    kind: str
    message_id: str  # SES's MessageId (SES replaces the message's own Message-ID)
    delivery_id: int | None  # our delivery tag, when the message carried one
    recipients: tuple[str, ...]  # the addresses this event is about
    occurred_at: datetime
    bounce_type: str | None = None  # Permanent | Transient | Undetermined
    bounce_subtype: str | None = None
    complaint_type: str | None = None

    @property
    def permanent_bounce(self) -> bool:
        return self.kind == "bounce" and self.bounce_type == "Permanent"


def _time(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return fallback
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return fallback


def _addresses(items: Any) -> tuple[str, ...]:
    if not isinstance(items, list):
        return ()
    found = []
    for item in items:
        value = item.get("emailAddress") if isinstance(item, dict) else item
        if isinstance(value, str):
            # "Name <a@b>" appears in some notifications; keep the address part.
            found.append(value.rsplit("<", 1)[-1].rstrip(">").strip())
    return tuple(found)


def _delivery_tag(mail: dict[str, Any]) -> int | None:
    tags = mail.get("tags")
    values = tags.get(DELIVERY_TAG) if isinstance(tags, dict) else None
    if isinstance(values, list) and values and str(values[0]).isdigit():
        return int(values[0])
    return None


def parse_ses_event(event: Any, *, now: datetime | None = None) -> SesEvent:
    """One SES event from the SNS Message's JSON (already parsed); SnsError when malformed."""
    now = now or datetime.now(UTC)
    if not isinstance(event, dict):
        raise SnsError("the SES event is not an object")
    raw_kind = event.get("eventType") or event.get("notificationType")
    kind = KINDS.get(str(raw_kind))
    if kind is None:
        raise SnsError(f"unknown SES event type {raw_kind!r}")
    mail = event.get("mail")
    if not isinstance(mail, dict) or not isinstance(mail.get("messageId"), str):
        raise SnsError("the SES event has no mail.messageId")
    detail = event.get(_DETAIL_KEYS.get(kind, ""), {})
    detail = detail if isinstance(detail, dict) else {}
    recipients: tuple[str, ...]
    if kind == "bounce":
        recipients = _addresses(detail.get("bouncedRecipients"))
    elif kind == "complaint":
        recipients = _addresses(detail.get("complainedRecipients"))
    elif kind in {"delivery", "delivery_delay"}:
        recipients = _addresses(detail.get("recipients") or detail.get("delayedRecipients"))
    else:
        recipients = ()
    recipients = recipients or _addresses(mail.get("destination"))
    return SesEvent(
        kind=kind,
        message_id=mail["messageId"],
        delivery_id=_delivery_tag(mail),
        recipients=recipients,
        occurred_at=_time(detail.get("timestamp") or mail.get("timestamp"), now),
        bounce_type=detail.get("bounceType") if kind == "bounce" else None,
        bounce_subtype=detail.get("bounceSubType") if kind == "bounce" else None,
        complaint_type=detail.get("complaintFeedbackType") if kind == "complaint" else None,
    )
