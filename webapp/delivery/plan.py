"""The recipient plan: one delivery row per eligible reader, written before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Text,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.orm import Session

from webapp.delivery.variants import (
    edition_topic_slugs,
    eligible_readers_filter,
    english_reach_filter,
    topic_lists,
    variant_key_column,
)
from webapp.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    Subscriber,
    SubscriberStatus,
    Suppression,
)


@dataclass(frozen=True)
class PlanResult:
    planned: int
    excluded_no_match: int
    excluded_suppressed: int
    excluded_paused: int
    # English readers whose items were all left out of English editions (no English text
    # and the edition's policy is `omit`): an email with no item is not sent.
    excluded_untranslated: int = 0

    @property
    def excluded(self) -> int:
        return (
            self.excluded_no_match
            + self.excluded_suppressed
            + self.excluded_paused
            + self.excluded_untranslated
        )

    def as_json(self) -> dict[str, int]:
        return {
            "planned": self.planned,
            "excluded": self.excluded,
            "excluded_no_match": self.excluded_no_match,
            "excluded_suppressed": self.excluded_suppressed,
            "excluded_paused": self.excluded_paused,
            "excluded_untranslated": self.excluded_untranslated,
        }


def random_token(dialect: str) -> ColumnElement[str]:
    """64 hex characters of strong randomness per row, made by the database in the INSERT."""
    if dialect == "postgresql":
        # gen_random_uuid() (core since PostgreSQL 13) draws from pg_strong_random.
        halves = [func.replace(cast(func.gen_random_uuid(), Text), "-", "") for _ in range(2)]
        return func.concat(*halves)
    return func.lower(func.hex(func.randomblob(32)))


def plan_deliveries(session: Session, edition: Edition, now: datetime) -> PlanResult:
    """Write the plan in one INSERT … SELECT and count who was left out and why.

    Set-based on purpose: a Python loop over readers would take minutes for a large list and
    could be interrupted half-way; one statement inside the caller's transaction cannot.
    """
    slugs = edition_topic_slugs(edition)
    eligible_readers = (
        session.scalar(select(func.count(Subscriber.id)).where(eligible_readers_filter())) or 0
    )
    reach = english_reach_filter(edition)
    untranslated = 0
    if slugs:
        dialect = session.get_bind().dialect.name
        topics = topic_lists(dialect, slugs)
        if reach is not None:
            untranslated = session.scalar(
                select(func.count(Subscriber.id))
                .join(topics, topics.c.subscriber_id == Subscriber.id)
                .where(eligible_readers_filter(), ~reach)
            ) or 0
        variant_key = variant_key_column(topics).label("variant_key")
        eligible = (
            select(
                literal(edition.id),
                Subscriber.id,
                variant_key,
                random_token(dialect),
                literal(DeliveryStatus.QUEUED.value),
                literal(0),
                literal(now, Delivery.created_at.type),
                literal(now, Delivery.updated_at.type),
            )
            .join(topics, topics.c.subscriber_id == Subscriber.id)
            .where(eligible_readers_filter(), *([reach] if reach is not None else []))
            # In variant order, so ids run variant by variant: a claim of consecutive ids then
            # fills whole SendBulkEmail calls of one template instead of a reader or two each.
            .order_by(variant_key, Subscriber.id)
        )
        columns = ["edition_id", "subscriber_id", "variant_key", "token", "status", "attempts",
                   "created_at", "updated_at"]
        if dialect == "postgresql":
            # The variant-order sort of a million rows spills to disk at the default 4 MB;
            # for this transaction only, let it sort in memory.
            session.execute(text("SET LOCAL work_mem = '256MB'"))
        session.execute(insert(Delivery).from_select(columns, eligible))
    # Counted, not taken from rowcount: drivers do not all report it for INSERT … SELECT.
    planned = (
        session.scalar(select(func.count(Delivery.id)).where(Delivery.edition_id == edition.id))
        or 0
    )
    active = Subscriber.status == SubscriberStatus.ACTIVE
    suppressed = exists().where(Suppression.email_key == Subscriber.email_key)

    def count(*conditions: ColumnElement[bool]) -> int:
        return session.scalar(select(func.count(Subscriber.id)).where(*conditions)) or 0

    return PlanResult(
        planned=planned,
        # Eligible readers who got no delivery had none of the edition's topics, or (English
        # readers) only topics whose items were all left out of English editions.
        excluded_no_match=max(0, eligible_readers - planned - untranslated),
        excluded_suppressed=count(active, suppressed),
        excluded_paused=count(Subscriber.status == SubscriberStatus.PAUSED),
        excluded_untranslated=untranslated,
    )
