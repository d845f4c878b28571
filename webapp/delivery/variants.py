"""Which readers share a variant: the key computed in SQL, never reader by reader.

The key is emails.variant_key's format, `<language>:<sorted slugs of the reader's topics that
the edition carries>`, so the delivery plan can store it per delivery in one INSERT … SELECT.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Subquery, and_, exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from webapp.mailer import edition_content
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


def topic_lists(dialect: str, slugs: Collection[str]) -> Subquery:
    """(subscriber_id, topics): each reader's topics among `slugs`, sorted and comma-joined;
    readers with none of them have no row. One grouped pass over subscriber_topics, which the
    database does as a hash aggregate: a subquery per reader cost a plan seconds per 100,000."""
    link = subscriber_topics.c.subscriber_id
    mine = (
        select(link.label("subscriber_id"), Topic.slug.label("slug"))
        .join(Topic, subscriber_topics.c.topic_id == Topic.id)
        .where(Topic.slug.in_(slugs))
    )
    if dialect == "postgresql":
        ordered = aggregate_order_by(literal(","), Topic.slug)
        grouped = mine.with_only_columns(link.label("subscriber_id"),
                                         func.string_agg(Topic.slug, ordered).label("topics"))
        return grouped.group_by(link).subquery("topic_lists")
    # SQLite before 3.44 has no ORDER BY inside aggregates; group_concat keeps the order of an
    # ordered subquery, which is the documented idiom for a sorted concatenation there.
    inner = mine.order_by(link, Topic.slug).subquery()
    return (
        select(inner.c.subscriber_id, func.group_concat(inner.c.slug, ",").label("topics"))
        .group_by(inner.c.subscriber_id)
        .subquery("topic_lists")
    )


def variant_key_column(topics: Subquery) -> ColumnElement[str]:
    """`<language>:<topics>` for a reader joined to `topic_lists`."""
    return Subscriber.language + ":" + topics.c.topics


def eligible_readers_filter() -> ColumnElement[bool]:
    """Active readers whose address is not suppressed (paused readers are not active)."""
    suppressed = exists().where(Suppression.email_key == Subscriber.email_key)
    return and_(Subscriber.status == SubscriberStatus.ACTIVE, ~suppressed)


def next_edition_readers_filter() -> ColumnElement[bool]:
    """Readers the next edition goes to: those a plan takes (`eligible_readers_filter`) who
    chose at least one topic; a reader without one matches no item and gets no delivery.
    (Whether the edition carries their topics is known only once it is imported.)"""
    has_topic = exists().where(subscriber_topics.c.subscriber_id == Subscriber.id)
    return and_(eligible_readers_filter(), has_topic)


def english_topic_slugs(edition: Edition) -> list[str]:
    """The topics of the items English readers get: with the `omit` policy, untranslated
    items are left out of English editions, and so are the topics only they carry."""
    return sorted(edition_content(edition).topics_in("en"))


def _has_topic_among(slugs: Collection[str]) -> ColumnElement[bool]:
    chosen = select(Topic.id).where(Topic.slug.in_(slugs))
    return exists().where(
        subscriber_topics.c.subscriber_id == Subscriber.id,
        subscriber_topics.c.topic_id.in_(chosen),
    )


def english_reach_filter(edition: Edition) -> ColumnElement[bool] | None:
    """Leaves out English readers whose topics hold only items left out of English editions
    (they would get an empty email); None when every topic has an item for them, so the plan
    of an edition without omitted items costs nothing more."""
    english = english_topic_slugs(edition)
    if set(english) == set(edition_topic_slugs(edition)):
        return None
    if not english:
        return Subscriber.language != "en"
    return or_(Subscriber.language != "en", _has_topic_among(english))


def count_variants(session: Session, edition: Edition) -> dict[str, int]:
    """Readers per variant key for this edition; readers with no matching topic are left out,
    as are English readers whose matching items are all left out of English editions."""
    slugs = edition_topic_slugs(edition)
    if not slugs:
        return {}
    topics = topic_lists(session.get_bind().dialect.name, slugs)
    key = variant_key_column(topics).label("key")
    reach = english_reach_filter(edition)
    stmt = (
        select(key, func.count())
        .join(topics, topics.c.subscriber_id == Subscriber.id)
        .where(eligible_readers_filter(), *([reach] if reach is not None else []))
        .group_by(key)
        .order_by(func.count().desc(), key)
    )
    return {k: n for k, n in session.execute(stmt).tuples()}


@dataclass(frozen=True)
class EnglishExposure:
    """English readers who would get items in Chinese, and how many such items they get."""

    readers: int
    items: int


def english_exposure(session: Session, edition: Edition) -> EnglishExposure:
    """Who would receive untranslated items (the edition's policy is `marked`): eligible English
    readers with a topic of such an item, and the untranslated items on their topics.

    With `omit` nobody does: those items are left out of English editions.
    """
    content = edition_content(edition)
    if content.untranslated != "marked":
        return EnglishExposure(0, 0)
    untranslated = [i for s in content.sections for i in s.items if i.topics and not i.translated]
    slugs = {slug for item in untranslated for slug in item.topics}
    if not slugs:
        return EnglishExposure(0, 0)
    english = and_(eligible_readers_filter(), Subscriber.language == "en")
    readers = session.scalar(
        select(func.count(Subscriber.id)).where(english, _has_topic_among(slugs))
    ) or 0
    if not readers:
        return EnglishExposure(0, 0)
    # One EXISTS per topic (a handful), each stopping at its first reader, rather than a
    # DISTINCT over every English reader's topics.
    chosen = {
        slug
        for slug in slugs
        if session.scalar(
            select(Subscriber.id).where(english, _has_topic_among([slug])).limit(1)
        ) is not None
    }
    return EnglishExposure(readers, sum(1 for item in untranslated if item.topics & chosen))
