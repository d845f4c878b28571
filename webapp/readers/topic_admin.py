"""Topics as an admin manages them: add, rename, describe, reorder, retire, keyword rules.

A retired topic leaves the subscribe and preferences forms and the importer's suggestions;
readers keep the link to it (so restoring it gives it back) and keep their other topics.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.audit import record_audit
from webapp.models import Subscriber, Topic, User, subscriber_topics
from webapp.models.stats import RECEIVING

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_NAME = 120
MAX_KEYWORD = 60


class TopicError(ValueError):
    """A topic change the console cannot make; each subclass is one reason, `field` the form
    field it belongs to."""

    field = "name_zh"


class TopicNamesMissing(TopicError):
    def __init__(self) -> None:
        super().__init__("a topic needs a Chinese and an English name")


class TopicTextTooLong(TopicError):
    """A name or keyword is longer than `limit` characters."""

    def __init__(self, field: str, limit: int) -> None:
        super().__init__(f"{field}: at most {limit} characters")
        self.field = field
        self.limit = limit


class TopicSlugInvalid(TopicError):
    field = "slug"

    def __init__(self) -> None:
        super().__init__("the short name uses lower-case letters, digits and hyphens")


class TopicExists(TopicError):
    field = "slug"

    def __init__(self, slug: str) -> None:
        super().__init__(f"a topic {slug!r} exists already")
        self.slug = slug


class LastActiveTopic(TopicError):
    """Retiring it would leave readers nothing to choose."""

    def __init__(self) -> None:
        super().__init__("readers need at least one topic to choose")


@dataclass(frozen=True)
class TopicText:
    """What the topic form edits."""

    name_zh: str
    name_en: str
    description_zh: str = ""
    description_en: str = ""
    keywords: Sequence[str] = ()


def parse_keywords(text: str) -> list[str]:
    """One keyword per line (or separated by commas), blanks and repeats dropped."""
    words = (w.strip() for w in re.split(r"[\n,，、]", text))
    return list(dict.fromkeys(w for w in words if w))


def _apply(topic: Topic, text: TopicText) -> dict[str, object]:
    name_zh, name_en = " ".join(text.name_zh.split()), " ".join(text.name_en.split())
    if not name_zh or not name_en:
        raise TopicNamesMissing
    for field, name in (("name_zh", name_zh), ("name_en", name_en)):
        if len(name) > MAX_NAME:
            raise TopicTextTooLong(field, MAX_NAME)
    keywords = [k for k in dict.fromkeys(k.strip() for k in text.keywords) if k]
    if any(len(k) > MAX_KEYWORD for k in keywords):
        raise TopicTextTooLong("keywords", MAX_KEYWORD)
    wanted: dict[str, object] = {
        "name_zh": name_zh,
        "name_en": name_en,
        "description_zh": text.description_zh.strip(),
        "description_en": text.description_en.strip(),
        "keywords": keywords,
    }
    changed = {k: v for k, v in wanted.items() if getattr(topic, k) != v}
    for key, value in changed.items():
        setattr(topic, key, value)
    return changed


def all_topics(session: Session) -> list[Topic]:
    """Every topic in display order, retired ones last."""
    return list(session.scalars(select(Topic).order_by(Topic.retired, Topic.position, Topic.id)))


def create_topic(session: Session, slug: str, text: TopicText, *, actor: User) -> Topic:
    slug = slug.strip().lower()
    if not SLUG.match(slug) or len(slug) > 64:
        raise TopicSlugInvalid
    if session.scalar(select(Topic.id).where(Topic.slug == slug)) is not None:
        raise TopicExists(slug)
    last = session.scalar(select(func.max(Topic.position))) or 0
    topic = Topic(slug=slug, position=last + 1, retired=False, keywords=[])
    _apply(topic, text)
    session.add(topic)
    session.flush()
    record_audit(session, "topic.create", actor=actor, target=slug)
    return topic


def update_topic(session: Session, topic: Topic, text: TopicText, *, actor: User) -> bool:
    """Rename, describe and set keyword rules; False when nothing changed."""
    changed = _apply(topic, text)
    if changed:
        record_audit(
            session,
            "topic.edit",
            actor=actor,
            target=topic.slug,
            detail={"fields": sorted(changed)},
        )
    return bool(changed)


def move_topic(session: Session, topic: Topic, step: int, *, actor: User) -> bool:
    """Swap places with the neighbouring active topic (step -1 up, +1 down)."""
    order = [t for t in all_topics(session) if not t.retired]
    if topic not in order:
        return False
    index = order.index(topic)
    other = index + (1 if step > 0 else -1)
    if not 0 <= other < len(order):
        return False
    order[index], order[other] = order[other], order[index]
    for position, each in enumerate(order, start=1):
        each.position = position
    record_audit(
        session, "topic.move", actor=actor, target=topic.slug, detail={"position": other + 1}
    )
    return True


def readers_of(session: Session, topic: Topic) -> tuple[int, int]:
    """(receiving readers who chose the topic, those for whom it is the only topic)."""
    chose = (
        select(subscriber_topics.c.subscriber_id)
        .join(Subscriber, Subscriber.id == subscriber_topics.c.subscriber_id)
        .where(subscriber_topics.c.topic_id == topic.id, Subscriber.status.in_(RECEIVING))
    )
    readers = session.scalar(select(func.count()).select_from(chose.subquery())) or 0
    other_active = (
        select(subscriber_topics.c.subscriber_id)
        .join(Topic, Topic.id == subscriber_topics.c.topic_id)
        .where(Topic.id != topic.id, Topic.retired.is_(False))
    )
    only = session.scalar(
        select(func.count()).select_from(
            chose.where(subscriber_topics.c.subscriber_id.not_in(other_active)).subquery()
        )
    )
    return readers, only or 0


def set_retired(session: Session, topic: Topic, retired: bool, *, actor: User) -> bool:
    if topic.retired == retired:
        return False
    if retired and len([t for t in all_topics(session) if not t.retired]) <= 1:
        raise LastActiveTopic
    topic.retired = retired
    if not retired:
        topic.position = (session.scalar(select(func.max(Topic.position))) or 0) + 1
    record_audit(
        session, "topic.retire" if retired else "topic.restore", actor=actor, target=topic.slug
    )
    return True
