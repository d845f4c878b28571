"""Aggregates the stats pages read instead of the raw events, kept as events arrive.

The deliveries table already holds one row per (edition, reader) with first-seen times of
delivery, bounce, complaint, open and click; delivery_outcomes, item_clicks and reader_months
hold the rest, each row standing for one reader (never one hit). The tallies count those rows
per edition and variant, and per minute, and the item_clicks rows per edition and link. Every
counter here is kept by database triggers (migrations 0010, 0012 and 0029;
webapp.stats.aggregates says why), never by the app, so a stats page
reads a few dozen rows per edition however many readers it went to.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
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
MONTH_FIGURES = ("joined", *DEPARTURES.values())  # the counters of a reader_months row


# The funnel's figures, in webapp.stats.figures.Funnel's order: one column each in the tallies.
TALLY_FIGURES = (
    "planned",
    "queued",
    "sending",
    "in_doubt",
    "sent",
    "failed",
    "skipped",
    "delivered",
    "bounced",
    "hard_bounced",
    "complained",
    "opened",
    "clicked",
    "unsubscribed",
)
MINUTE_FIGURES = ("sent", "delivered")


def month_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def _counter() -> Mapped[int]:
    return mapped_column(Integer, default=0, server_default="0")


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


class ItemTally(Base):
    """An edition's item_clicks rows of one link, counted: the readers who followed it and
    their clicks, what grouping item_clicks would give (migration 0029)."""

    __tablename__ = "item_tallies"

    edition_id: Mapped[int] = mapped_column(
        ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True
    )
    item_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    readers: Mapped[int] = _counter()
    clicks: Mapped[int] = _counter()


class ItemTallyChange(Base):
    """PostgreSQL: one transaction's changes to an item's tally, folded in when it commits
    with the other tallies (see EditionTallyChange). Empty on SQLite."""

    __tablename__ = "item_tally_changes"

    txid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    edition_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    readers: Mapped[int] = _counter()
    clicks: Mapped[int] = _counter()


ITEM_FIGURES = ("readers", "clicks")


class ReaderMonth(Base):
    """Readers who started and stopped receiving the report in one calendar month (UTC)."""

    __tablename__ = "reader_months"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    joined: Mapped[int] = mapped_column(Integer, default=0)
    unsubscribed: Mapped[int] = mapped_column(Integer, default=0)
    bounced: Mapped[int] = mapped_column(Integer, default=0)
    complained: Mapped[int] = mapped_column(Integer, default=0)
    erased: Mapped[int] = mapped_column(Integer, default=0)


class ReaderMonthChange(Base):
    """PostgreSQL: one transaction's joins and departures, folded into `reader_months` when it
    commits (the month's row is locked only then). Empty on SQLite."""

    __tablename__ = "reader_month_changes"

    txid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    joined: Mapped[int] = _counter()
    unsubscribed: Mapped[int] = _counter()
    bounced: Mapped[int] = _counter()
    complained: Mapped[int] = _counter()
    erased: Mapped[int] = _counter()


class _Figures:
    """The tallied figures (see TALLY_FIGURES); written by triggers only, never by the app."""

    planned: Mapped[int] = _counter()  # deliveries
    queued: Mapped[int] = _counter()  # deliveries per status …
    sending: Mapped[int] = _counter()
    in_doubt: Mapped[int] = _counter()
    sent: Mapped[int] = _counter()
    failed: Mapped[int] = _counter()
    skipped: Mapped[int] = _counter()
    delivered: Mapped[int] = _counter()  # … with a first-seen time set …
    bounced: Mapped[int] = _counter()
    hard_bounced: Mapped[int] = _counter()  # … or an outcome
    complained: Mapped[int] = _counter()
    opened: Mapped[int] = _counter()
    clicked: Mapped[int] = _counter()
    unsubscribed: Mapped[int] = _counter()


class EditionTally(_Figures, Base):
    """An edition's deliveries of one variant, counted: what the stats roll-up would give."""

    __tablename__ = "edition_tallies"

    edition_id: Mapped[int] = mapped_column(
        ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True
    )
    variant_key: Mapped[str] = mapped_column(String(600), primary_key=True)


class EditionMinute(Base):
    """An edition's messages sent and delivered in one UTC minute (the timeline)."""

    __tablename__ = "edition_minutes"

    edition_id: Mapped[int] = mapped_column(
        ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True
    )
    minute: Mapped[str] = mapped_column(String(16), primary_key=True)  # YYYY-MM-DDTHH:MM
    sent: Mapped[int] = _counter()
    delivered: Mapped[int] = _counter()


class EditionTallyChange(_Figures, Base):
    """PostgreSQL: one transaction's changes to a tally, folded in when it commits (so the
    tally rows are locked only at commit, in key order). Empty on SQLite."""

    __tablename__ = "edition_tally_changes"

    txid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    # No foreign key: the edition may be going in the same transaction (the fold skips it).
    edition_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    variant_key: Mapped[str] = mapped_column(String(600), primary_key=True)


class EditionMinuteChange(Base):
    """PostgreSQL: one transaction's changes to a minute of the timeline (see above)."""

    __tablename__ = "edition_minute_changes"

    txid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    edition_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    minute: Mapped[str] = mapped_column(String(16), primary_key=True)
    sent: Mapped[int] = _counter()
    delivered: Mapped[int] = _counter()
