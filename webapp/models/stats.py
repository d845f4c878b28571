"""Aggregates the stats pages read instead of the raw events, kept as events arrive.

The deliveries table already holds one row per (edition, reader) with first-seen times of
delivery, bounce, complaint, open and click; these tables hold the rest, each row standing for
one reader (never one hit), so a stats page reads a bounded number of rows per edition.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, UTCDateTime
from webapp.models.subscriber import SubscriberStatus

# Readers in these states receive the report (a pause ends by itself); entering them is
# joining, leaving them for one of DEPARTURES is leaving, counted in that reader_months column.
RECEIVING = frozenset({SubscriberStatus.ACTIVE, SubscriberStatus.PAUSED})
DEPARTURES = {
    SubscriberStatus.UNSUBSCRIBED: "unsubscribed",
    SubscriberStatus.BOUNCED: "bounced",
    SubscriberStatus.COMPLAINED: "complained",
    SubscriberStatus.ERASED: "erased",
}


def month_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


class DeliveryOutcome(Base):
    """What a delivery led to beyond its own first-seen times: a hard (permanent) bounce, and
    the unsubscribe it is credited with. Only deliveries with such an outcome have a row."""

    __tablename__ = "delivery_outcomes"

    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    edition_id: Mapped[int] = mapped_column(
        ForeignKey("editions.id", ondelete="CASCADE"), index=True
    )
    hard_bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ItemClick(Base):
    """A person's clicks on one link of one delivery (scanner hits left out)."""

    __tablename__ = "item_clicks"

    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    item_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    edition_id: Mapped[int] = mapped_column(
        ForeignKey("editions.id", ondelete="CASCADE"), index=True
    )
    clicks: Mapped[int] = mapped_column(Integer, default=1)
    first_clicked_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ReaderMonth(Base):
    """Readers who started and stopped receiving the report in one calendar month (UTC)."""

    __tablename__ = "reader_months"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    joined: Mapped[int] = mapped_column(Integer, default=0)
    unsubscribed: Mapped[int] = mapped_column(Integer, default=0)
    bounced: Mapped[int] = mapped_column(Integer, default=0)
    complained: Mapped[int] = mapped_column(Integer, default=0)
    erased: Mapped[int] = mapped_column(Integer, default=0)
