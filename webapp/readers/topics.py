"""Topics: the ones readers can choose and the keyword rules the importer uses."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.models import Topic


def active_topics(session: Session) -> list[Topic]:
    """Topics readers can choose, in display order (retired ones leave the forms)."""
    stmt = select(Topic).where(Topic.retired.is_(False)).order_by(Topic.position, Topic.id)
    return list(session.scalars(stmt))


def topics_by_slug(session: Session) -> dict[str, Topic]:
    """Every topic, retired or not, by slug (imports must recognise and refuse retired ones)."""
    return {topic.slug: topic for topic in session.scalars(select(Topic))}


def with_retired(chosen: list[Topic], current: list[Topic]) -> list[Topic]:
    """The topics chosen on a form plus the retired ones the reader has: retired topics are not
    on the forms, and a reader keeps them so that restoring a topic gives it back."""
    kept = [t for t in current if t.retired and t not in chosen]
    return [*chosen, *kept]


def keyword_rules(session: Session) -> dict[str, list[str]]:
    """The suggester's rules, in topic order: slug -> keywords."""
    return {topic.slug: list(topic.keywords or []) for topic in active_topics(session)}
