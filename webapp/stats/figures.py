"""Delivery stats: per edition, per variant and topic, per item, over time, and across editions.

Every figure is read from aggregates, never from the raw `events` table: the funnels, send
progress and timeline from the tallies the database keeps per edition and variant and per
minute (webapp.stats.tallies: counts of the per-reader first-seen columns of `deliveries` and
of `delivery_outcomes`, a row per variant however many readers), items from `item_tallies`,
growth from `reader_months` (webapp.stats.aggregates: all kept by database triggers).
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from webapp.delivery.variants import next_edition_readers_filter, parse_variant_key
from webapp.models import (
    Edition,
    Item,
    Section,
    Subscriber,
    SubscriberStatus,
    Topic,
    subscriber_topics,
    utcnow,
)
from webapp.models.stats import DEPARTURES, RECEIVING, month_of
from webapp.stats import tallies
from webapp.stats.aggregates import reader_months
from webapp.stats.progress import send_progress


@dataclass(frozen=True)
class Funnel:
    """One group of deliveries (an edition, a variant, a topic) from plan to click."""

    planned: int = 0
    queued: int = 0
    sending: int = 0
    in_doubt: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    delivered: int = 0
    bounced: int = 0
    hard_bounced: int = 0
    complained: int = 0
    opened: int = 0  # approximate: mail clients and proxies fetch images by themselves
    clicked: int = 0  # readers who followed at least one link (scanners left out)
    unsubscribed: int = 0

    @property
    def soft_bounced(self) -> int:
        return self.bounced - self.hard_bounced

    @property
    def reached(self) -> int:
        """Sent and not bounced: the base of engagement rates, which works with the outbox
        transport too (it never reports deliveries)."""
        return self.sent - self.bounced

    def __add__(self, other: Funnel) -> Funnel:
        # By the instances' own value dicts (in field order): a dashboard adds a few hundred
        # funnels per page, and getattr per field was a tenth of its time.
        return Funnel(*map(operator.add, self.__dict__.values(), other.__dict__.values()))

    def rates(self) -> dict[str, float | None]:
        """Shares as fractions: delivery and reputation figures of `sent`, engagement of
        `reached`; None when there is nothing to divide by."""

        def share(part: int, whole: int) -> float | None:
            return part / whole if whole else None

        return {
            "delivered": share(self.delivered, self.sent),
            "bounced": share(self.bounced, self.sent),
            "hard_bounced": share(self.hard_bounced, self.sent),
            "soft_bounced": share(self.soft_bounced, self.sent),
            "complained": share(self.complained, self.sent),
            "failed": share(self.failed, self.planned),
            "opened": share(self.opened, self.reached),
            "clicked": share(self.clicked, self.reached),
            "unsubscribed": share(self.unsubscribed, self.reached),
        }

    def event_figures(self) -> dict[str, Any]:
        """What `stats --json` adds to the send-progress shape."""
        rates = self.rates()
        return {
            "delivered": self.delivered,
            "bounced": self.bounced,
            "hard_bounced": self.hard_bounced,
            "soft_bounced": self.soft_bounced,
            "complained": self.complained,
            "unique_opens": self.opened,
            "unique_opens_approximate": True,
            "unique_clicks": self.clicked,
            "unsubscribed": self.unsubscribed,
            "rates": {name: None if v is None else round(v, 4) for name, v in rates.items()},
        }


# ---- funnels -----------------------------------------------------------------------------


def edition_funnels(
    session: Session, edition_ids: Sequence[int] | None = None
) -> dict[int, Funnel]:
    """Funnel per edition (editions without deliveries are absent)."""
    return {
        edition_id: Funnel(**figures)
        for edition_id, figures in tallies.tallies(session, edition_ids, by_variant=False).items()
    }


def edition_funnel(session: Session, edition_id: int) -> Funnel:
    return edition_funnels(session, [edition_id]).get(edition_id, Funnel())


def variant_funnels(session: Session, edition_id: int) -> dict[str, Funnel]:
    """Funnel per variant key (`<language>:<topics>`), largest first."""
    rows = {
        key: Funnel(**figures)
        for (_, key), figures in tallies.tallies(session, [edition_id], by_variant=True).items()
    }
    return dict(sorted(rows.items(), key=lambda kv: (-kv[1].planned, kv[0])))


def topic_funnels(variants: dict[str, Funnel]) -> dict[str, Funnel]:
    """Funnel per topic slug: a reader counts under each topic of their variant."""
    topics: dict[str, Funnel] = {}
    for key, funnel in variants.items():
        for slug in parse_variant_key(key)[1]:
            topics[slug] = topics.get(slug, Funnel()) + funnel
    return topics


def language_funnels(variants: dict[str, Funnel]) -> dict[str, Funnel]:
    languages: dict[str, Funnel] = {}
    for key, funnel in variants.items():
        language = parse_variant_key(key)[0]
        languages[language] = languages.get(language, Funnel()) + funnel
    return languages


# ---- items --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemStats:
    number: int  # link n of /c/<token>/<n>
    section: str
    title: str
    url: str
    topics: tuple[str, ...]
    recipients: int  # readers whose variant carried the item (sent)
    readers: int  # readers who followed its link
    clicks: int  # every click on it by a person

    @property
    def rate(self) -> float | None:
        return self.readers / self.recipients if self.recipients else None


def item_stats(session: Session, edition: Edition, variants: dict[str, Funnel]) -> list[ItemStats]:
    """Clicks per item, numbered as the email numbers its links (mail.edition_content)."""
    clicked = tallies.items(session, edition.id)
    variant_topics = [(set(parse_variant_key(k)[1]), f.sent) for k, f in variants.items()]
    # The sections, their items and the items' topics in three statements, not a round trip
    # per section and per item (the relationships' own order: the email's link numbers).
    sections = session.scalars(
        select(Section).where(Section.edition_id == edition.id).order_by(Section.position)
        .options(selectinload(Section.items).selectinload(Item.topics))
    )
    result: list[ItemStats] = []
    number = 0
    for section in sections:
        for item in section.items:
            number += 1
            slugs = tuple(t.slug for t in item.topics)
            recipients = sum(sent for topics, sent in variant_topics if topics & set(slugs))
            readers, clicks = clicked.get(number, (0, 0))
            result.append(
                ItemStats(
                    number, section.title, item.title, item.url, slugs, recipients, readers, clicks
                )
            )
    return result


# ---- timeline -----------------------------------------------------------------------------

STEPS = tuple(
    timedelta(seconds=n)
    for n in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
              43200, 86400)
)
MAX_POINTS = 120  # at most this many buckets; the ladder then gives at least ~20 when it can
MIN_POINTS = 20
# Sub-minute buckets are counted from the deliveries themselves (the tallies are per minute),
# which is cheap only for a send of few messages (10,000 cost the page ~10 ms on a quiet
# machine, ~40 ms on a busy one). A larger send that lasted under 20 minutes keeps minute
# buckets.
FINE_LIMIT = 10_000


@dataclass(frozen=True)
class Timeline:
    step: timedelta  # bucket width
    buckets: list[tuple[datetime, int, int]]  # (start, sent, delivered)

    @property
    def unit(self) -> str:
        """The largest unit the step is a whole number of: second, minute, hour or day."""
        seconds = int(self.step.total_seconds())
        for name, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds % size == 0:
                return name
        return "second"

    @property
    def count(self) -> int:
        """The step in its unit (5 for five minutes)."""
        size = {"day": 86400, "hour": 3600, "minute": 60, "second": 1}[self.unit]
        return int(self.step.total_seconds()) // size


def _step_for(span: timedelta, finest: timedelta) -> timedelta:
    """The finest step of the ladder that draws `span` in at most MAX_POINTS buckets."""
    return next((s for s in STEPS if s >= finest and span / s <= MAX_POINTS), STEPS[-1])


def _parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("UTC"))


def timeline(session: Session, edition_id: int) -> Timeline:
    """Messages sent and delivered over time, in buckets sized to the send's length: seconds
    for a send of seconds, minutes for an hour, hours for days (20 to 120 points where the
    send allows)."""
    per_minute = tallies.minutes(session, edition_id)
    if not per_minute:
        return Timeline(STEPS[0], [])
    counts = {_parse_utc(text): pair for text, pair in per_minute.items()}
    first, last = min(counts), max(counts)
    minute = timedelta(minutes=1)
    span = last - first + minute
    sent = sum(s for s, _ in counts.values())
    if span / minute < MIN_POINTS and sent <= FINE_LIMIT:
        counts = {
            _parse_utc(text): pair
            for text, pair in tallies.recount_seconds(session, edition_id).items()
        }
        if counts:
            first, last = min(counts), max(counts)
            span = last - first + timedelta(seconds=1)
        step = _step_for(span, STEPS[0])
    else:
        step = _step_for(span, minute)
    epoch = datetime(2000, 1, 1, tzinfo=ZoneInfo("UTC"))
    origin = first - (first - epoch) % step
    buckets: dict[datetime, list[int]] = {}
    moment = origin
    while moment <= last:
        buckets[moment] = [0, 0]
        moment += step
    for start, (sent_n, delivered) in counts.items():
        bucket = buckets[start - (start - epoch) % step]
        bucket[0] += sent_n
        bucket[1] += delivered
    return Timeline(step, [(start, s, d) for start, (s, d) in buckets.items()])


# ---- one edition, all together ------------------------------------------------------------


@dataclass(frozen=True)
class EditionReport:
    edition: Edition
    progress: dict[str, Any]
    funnel: Funnel
    variants: dict[str, Funnel]
    topics: dict[str, Funnel]
    languages: dict[str, Funnel]
    items: list[ItemStats]
    timeline: Timeline


def edition_report(session: Session, edition: Edition) -> EditionReport:
    variants = variant_funnels(session, edition.id)
    return EditionReport(
        edition=edition,
        progress=send_progress(session, edition),
        funnel=total(variants.values()),
        variants=variants,
        topics=topic_funnels(variants),
        languages=language_funnels(variants),
        items=item_stats(session, edition, variants),
        timeline=timeline(session, edition.id),
    )


def stats_json(session: Session, edition: Edition) -> dict[str, Any]:
    """DESIGN.md's send-progress shape plus the event figures (`yuebao stats MONTH --json`)."""
    report = edition_report(session, edition)
    data = dict(report.progress)
    data.update(report.funnel.event_figures())
    data["topics"] = {
        slug: f.event_figures() | {"sent": f.sent} for slug, f in report.topics.items()
    }
    data["items"] = [
        {
            "number": i.number,
            "title": i.title,
            "recipients": i.recipients,
            "unique_clicks": i.readers,
            "clicks": i.clicks,
        }
        for i in report.items
    ]
    return data


# ---- across editions ---------------------------------------------------------------------


def editions_with_stats(session: Session, limit: int | None = None) -> list[tuple[Edition, Funnel]]:
    """Editions whose send started, newest month first (the `limit` newest), with funnels.

    The roll-up is filtered to these editions' ids, so the dashboard reads the deliveries of
    the editions it shows, not of every edition ever sent.
    """
    stmt = (
        select(Edition)
        .where(Edition.send_started_at.is_not(None))
        .order_by(Edition.month.desc())
        .limit(limit)
    )
    editions = list(session.scalars(stmt))
    funnels = edition_funnels(session, [e.id for e in editions])
    return [(e, funnels.get(e.id, Funnel())) for e in editions]


@dataclass(frozen=True)
class GrowthMonth:
    month: str
    joined: int
    left: dict[str, int]  # unsubscribed, bounced, complained, erased
    readers: int  # receiving the report at the end of the month

    @property
    def churned(self) -> int:
        return sum(self.left.values())


def _months_back(now: datetime, count: int) -> list[str]:
    year, month = now.year, now.month
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months[::-1]


def reader_growth(
    session: Session, months: int = 12, now: datetime | None = None,
    receiving: int | None = None,
) -> list[GrowthMonth]:
    """Joins and departures per month, and readers at each month's end.

    Month-end counts are worked back from today's count, so readers from before the aggregate
    existed still count.
    """
    now = now or utcnow()
    wanted = _months_back(now, months)
    rows = reader_months(session)
    if receiving is None:  # else given, from a count the caller has (reader_figures)
        receiving = (
            session.scalar(
                select(func.count(Subscriber.id)).where(Subscriber.status.in_(RECEIVING))
            )
            or 0
        )
    later_net = sum(
        row["joined"] - sum(row[c] for c in DEPARTURES.values())
        for month, row in rows.items()
        if month > month_of(now)
    )
    readers_at_end = receiving - later_net
    result: list[GrowthMonth] = []
    for month in reversed(wanted):
        row = rows.get(month, {})
        joined = row.get("joined", 0)
        left = {c: row.get(c, 0) for c in DEPARTURES.values()}
        result.append(GrowthMonth(month, joined, left, readers_at_end))
        readers_at_end -= joined - sum(left.values())
    return result[::-1]


@dataclass(frozen=True)
class Receiving:
    """Who the next edition goes to, and who among the readers who might expect it does not."""

    readers: int  # active, not suppressed, with at least one topic
    paused: int
    pending: int  # waiting for confirmation
    held_back: int  # active, but suppressed or without a topic


def readers_receiving(session: Session, by_status: dict[str, int]) -> Receiving:
    """The dashboard's "readers receiving" figure, by the recipient plan's own rule
    (webapp.delivery.variants.next_edition_readers_filter), beside `by_status`
    (readers.subscribers.count_by_status). The rule is a WHERE of its own, not a FILTER
    beside the status counts: there PostgreSQL turns its EXISTS into hash joins, where as a
    FILTER it probed two indexes per reader (2.5 times slower at a million)."""
    receiving = (
        session.scalar(select(func.count(Subscriber.id)).where(next_edition_readers_filter()))
        or 0
    )
    active = by_status[SubscriberStatus.ACTIVE.value]
    return Receiving(
        receiving,
        by_status[SubscriberStatus.PAUSED.value],
        by_status[SubscriberStatus.PENDING.value],
        active - receiving,
    )


def topic_popularity(session: Session) -> list[tuple[Topic, int]]:
    """Readers receiving the report per topic, in topic order (retired ones too, if chosen)."""
    stmt = (
        select(Topic, func.count(Subscriber.id))
        .outerjoin(subscriber_topics, subscriber_topics.c.topic_id == Topic.id)
        .outerjoin(
            Subscriber,
            (Subscriber.id == subscriber_topics.c.subscriber_id) & Subscriber.status.in_(RECEIVING),
        )
        .group_by(Topic.id)
        .order_by(Topic.position, Topic.id)
    )
    return [
        (topic, count)
        for topic, count in session.execute(stmt).tuples()
        if not topic.retired or count
    ]


def total(funnels: Iterable[Funnel]) -> Funnel:
    result = Funnel()
    for funnel in funnels:
        result = result + funnel
    return result
