"""Events: what SES told us about a message, and our own opens and clicks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, UTCDateTime, utcnow

# send, delivery, bounce, complaint, reject, delivery_delay, rendering_failure (from SES);
# open, click (our tracking); ses_open, ses_click (SES tracking left on by mistake: not counted).
EVENT_KINDS = (
    "send",
    "delivery",
    "bounce",
    "complaint",
    "reject",
    "delivery_delay",
    "rendering_failure",
    "open",
    "click",
    "ses_open",
    "ses_click",
    "ses_subscription",
)


_UNPROCESSED = text("processed_at IS NULL")


class SnsReceipt(Base):
    """Every SNS message we received, by its MessageId: SNS retries, so a repeat changes nothing.

    It is also the inbox of SES events (webapp.events.inbox): a notification is stored here
    with its raw SES message when it arrives and applied later by a worker, which sets
    `processed_at` and empties `message` (the event row keeps the payload from then on).
    """

    __tablename__ = "sns_receipts"
    __table_args__ = (
        # The unprocessed rows only: the inbox the workers drain and whose age the console shows.
        Index("ix_sns_receipts_unprocessed", "id",
              postgresql_where=_UNPROCESSED, sqlite_where=_UNPROCESSED),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(100), unique=True)
    type: Mapped[str] = mapped_column(String(40))
    topic_arn: Mapped[str] = mapped_column(String(300))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The SES event as SNS delivered it (JSON text), until a worker has applied it.
    message: Mapped[str | None] = mapped_column(Text)
    # SES's own time of the event (not of its arrival): what the in-doubt rule judges by.
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_edition_kind", "edition_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(16))  # ses | tracking
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), index=True
    )
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )
    edition_id: Mapped[int | None] = mapped_column(ForeignKey("editions.id", ondelete="SET NULL"))
    item_number: Mapped[int | None] = mapped_column(Integer)  # clicks: link n of the edition
    ses_message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    bounce_type: Mapped[str | None] = mapped_column(String(32))
    bounce_subtype: Mapped[str | None] = mapped_column(String(64))
    # Mail security scanners open and follow links within seconds of delivery; their hits are
    # kept but left out of unique figures.
    suspected_scanner: Mapped[bool] = mapped_column(Boolean, default=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The raw SES event or request details; personal data, redacted on erasure.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
