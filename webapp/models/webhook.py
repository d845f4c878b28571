"""Outgoing webhooks: the endpoints the firm's systems registered, and the durable queue of
messages to them (written in the same transaction as the change they tell of)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, UTCDateTime, str_enum, utcnow

# The events an endpoint can ask for, in the order the console lists them.
WEBHOOK_EVENTS = (
    "subscriber.confirmed",
    "subscriber.updated",
    "subscriber.unsubscribed",
    "subscriber.erased",
    "delivery.bounced",
    "delivery.complained",
    "edition.sent",
)
# Sent only by the console's "send test event" button, to one endpoint, whatever it asked for.
TEST_EVENT = "webhook.test"


class WebhookEndpoint(Base):
    """A URL that receives the events it asked for, signed with its own secret.

    The secret is kept encrypted with a key derived from SECRET_KEY (webapp.webhook_queue) and
    shown once, when it is made or rotated.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret_encrypted: Mapped[str] = mapped_column(String(500))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    # Attempts in a row that failed; any success sets it back to 0.
    failure_count: Mapped[int] = mapped_column(Integer, default=0)
    # The first failure of the current run of failures (None after a success).
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    def wants(self, event_type: str) -> bool:
        return event_type in (self.events or [])

    def __repr__(self) -> str:
        return f"<WebhookEndpoint {self.id} {self.url}>"


class WebhookStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookMessage(Base):
    """One event for one endpoint, and how sending it went.

    A pending message is due at `next_attempt_at`; a sender claims it by moving that time past
    its own deadline, so a sender that dies mid-attempt leaves it to be tried again.
    """

    __tablename__ = "webhook_messages"
    __table_args__ = (
        # The sender's claim: due pending messages, oldest first.
        Index("ix_webhook_messages_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The Standard Webhooks `webhook-id`: the same on every retry, so receivers can dedupe.
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True
    )
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    # The reader the payload is about, so erasing them purges it.
    subscriber_id: Mapped[int | None] = mapped_column(Integer, index=True)
    status: Mapped[WebhookStatus] = mapped_column(
        str_enum(WebhookStatus, "webhook_status"), default=WebhookStatus.PENDING,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_response_ms: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(300))

    def __repr__(self) -> str:
        return f"<WebhookMessage {self.message_id} {self.event_type} {self.status}>"
