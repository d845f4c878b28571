"""Deliveries: one edition to one subscriber, planned before anything is sent."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.models.base import Base, UTCDateTime, str_enum, utcnow

if TYPE_CHECKING:
    from webapp.models.edition import Edition
    from webapp.models.subscriber import Subscriber


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a worker, not yet handed to the transport
    IN_DOUBT = "in_doubt"  # handed to the transport, answer not yet recorded
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"  # unsubscribed, suppressed or cancelled after the plan


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        # The promise that a reader never receives an edition twice starts here.
        UniqueConstraint("edition_id", "subscriber_id", name="uq_deliveries_edition_subscriber"),
        # The batch claim walks one edition's queued rows in id order.
        Index("ix_deliveries_edition_status_id", "edition_id", "status", "id"),
        # SES events find their delivery by message id; a row has one only once sent, so the
        # plan's million inserts need not touch this index.
        Index(
            "ix_deliveries_message_id",
            "message_id",
            postgresql_where=text("message_id IS NOT NULL"),
            sqlite_where=text("message_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    variant_key: Mapped[str] = mapped_column(String(600))
    # Random, unguessable: serves /v/, /o/ and /c/ for this one message.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[DeliveryStatus] = mapped_column(
        str_enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message_id: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the message was handed to the transport without a recorded answer (yet).
    in_doubt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # First-seen times of what happened next, kept as events arrive.
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    complained_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    edition: Mapped[Edition] = relationship()
    subscriber: Mapped[Subscriber] = relationship()
