"""Which readers share a variant: the key computed in SQL, never reader by reader.

The key is emails.variant_key's format, `<language>:<sorted slugs of the reader's topics that
the edition carries>`, so the delivery plan can store it per delivery in one INSERT … SELECT.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, and_, exists, func, literal, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from webapp.models import (
    Edition,
    Subscriber,
    SubscriberStatus,
    Suppression,
    Topic,
    subscriber_topics,
)


def parse_variant_key(key: str) -> tuple[str, list[str]]:
    """`zh-CN:ai,data` → ("zh-CN", ["ai", "data"])."""
    language, _, slugs = key.partition(":")
    return language, [s for s in slugs.split(",") if s]


def edition_topic_slugs(edition: Edition) -> list[str]:
    return sorted({t.slug for s in edition.sections for i in s.items for t in i.topics})


def topic_list_column(dialect: str, slugs: Collection[str]) -> ColumnElement[str | None]:
    """Per subscriber (correlated): their topics among `slugs`, sorted and comma-joined."""
    mine = (
        select(Topic.slug)
        .join(subscriber_topics, subscriber_topics.c.topic_id == Topic.id)
        .where(subscriber_topics.c.subscriber_id == Subscriber.id, Topic.slug.in_(slugs))
    )
    if dialect == "postgresql":
        ordered = aggregate_order_by(literal(","), Topic.slug)
        return mine.with_only_columns(func.string_agg(Topic.slug, ordered)).scalar_subquery()
    # SQLite before 3.44 has no ORDER BY inside aggregates; group_concat keeps the order of an
    # ordered subquery, which is the documented idiom for a sorted concatenation there.
    inner = mine.order_by(Topic.slug).correlate(Subscriber).subquery()
    return select(func.group_concat(inner.c.slug, ",")).scalar_subquery()


def variant_key_column(dialect: str, slugs: Collection[str]) -> ColumnElement[str]:
    return Subscriber.language + ":" + func.coalesce(topic_list_column(dialect, slugs), "")


def eligible_readers_filter() -> ColumnElement[bool]:
    """Active readers whose address is not suppressed (paused readers are not active)."""
    suppressed = exists().where(Suppression.email_key == Subscriber.email_key)
    return and_(Subscriber.status == SubscriberStatus.ACTIVE, ~suppressed)


def count_variants(session: Session, edition: Edition) -> dict[str, int]:
    """Readers per variant key for this edition; readers with no matching topic are left out."""
    slugs = edition_topic_slugs(edition)
    if not slugs:
        return {}
    dialect = session.get_bind().dialect.name
    topics = topic_list_column(dialect, slugs)
    key = variant_key_column(dialect, slugs).label("key")
    stmt = (
        select(key, func.count())
        .where(eligible_readers_filter(), topics.is_not(None))
        .group_by(key)
        .order_by(func.count().desc(), key)
    )
    return {k: n for k, n in session.execute(stmt).tuples()}
