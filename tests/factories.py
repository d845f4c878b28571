"""Row factories: each returns a committed row with sensible defaults that a test can override."""

from __future__ import annotations

import functools
import itertools
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from webapp.accounts.users import hash_password
from webapp.models import (
    Delivery,
    DeliveryOutcome,
    DeliveryStatus,
    Edition,
    EditionStatus,
    Item,
    Role,
    Section,
    Subscriber,
    SubscriberStatus,
    Topic,
    User,
    email_key,
    subscriber_topics,
    utcnow,
)
from webapp.models.base import new_token

_seq = itertools.count(1)


@functools.cache
def _password_hash(password: str) -> str:
    """One scrypt hash per password for the whole test session: hashing is slow by design."""
    return hash_password(password)


class Factories:
    def __init__(self, session: Session) -> None:
        self.session = session

    def _save(self, row: Any) -> Any:
        self.session.add(row)
        self.session.commit()
        return row

    def user(self, *, role: Role = Role.EDITOR, password: str = "x" * 12, **kw: Any) -> User:
        n = next(_seq)
        kw.setdefault("email", f"user{n}@example.com")
        user = User(role=role, password_hash=_password_hash(password), **kw)
        return self._save(user)  # type: ignore[no-any-return]

    def topic(self, slug: str | None = None, **kw: Any) -> Topic:
        existing = self.session.scalar(select(Topic).where(Topic.slug == slug)) if slug else None
        if existing is not None:
            return existing
        n = next(_seq)
        slug = slug or f"topic-{n}"
        kw.setdefault("name_zh", f"主题{n}")
        kw.setdefault("name_en", f"Topic {n}")
        kw.setdefault("position", 100 + n)
        return self._save(Topic(slug=slug, **kw))  # type: ignore[no-any-return]

    def subscriber(self, *, topics: list[str] | None = None, **kw: Any) -> Subscriber:
        n = next(_seq)
        kw.setdefault("email", f"reader{n}@example.com")
        kw.setdefault("status", SubscriberStatus.ACTIVE)
        kw["email_key"] = email_key(kw["email"])
        row = Subscriber(**kw)
        row.topics = [self.topic(slug) for slug in (topics or [])]
        return self._save(row)  # type: ignore[no-any-return]

    def many_subscribers(
        self, count: int, topic_sets: list[list[str]], *, prefix: str = "bulk"
    ) -> list[int]:
        """`count` active readers cycling through `topic_sets` and both languages, inserted in
        two statements (a factory call per reader would make large tests slow)."""
        topics = {slug: self.topic(slug).id for s in topic_sets for slug in s}
        rows = [
            {
                "email": f"{prefix}{n}@example.com",
                "email_key": f"{prefix}{n}@example.com",
                "language": "en" if n % 5 == 0 else "zh-CN",
                "status": SubscriberStatus.ACTIVE,
                "token": new_token(),
                "created_at": utcnow(),
                "updated_at": utcnow(),
                "tracking": True,
            }
            for n in range(count)
        ]
        self.session.execute(insert(Subscriber), rows)
        ids = {
            email: id_
            for id_, email in self.session.execute(
                select(Subscriber.id, Subscriber.email).where(
                    Subscriber.email.like(f"{prefix}%@example.com")
                )
            ).tuples()
        }
        links = [
            {"subscriber_id": ids[f"{prefix}{n}@example.com"], "topic_id": topics[slug]}
            for n in range(count)
            for slug in topic_sets[n % len(topic_sets)]
        ]
        if links:
            self.session.execute(insert(subscriber_topics), links)
        self.session.commit()
        return [ids[f"{prefix}{n}@example.com"] for n in range(count)]

    def edition(
        self,
        month: str = "2024-07",
        *,
        status: EditionStatus = EditionStatus.DRAFT,
        items: dict[str, list[dict[str, Any]]] | None = None,
        **kw: Any,
    ) -> Edition:
        """An edition with sections; `items` maps a section key to item field dicts."""
        kw.setdefault("title", "元宇宙与数字经济月报")
        edition = Edition(month=month, status=status, **kw)
        titles = {"policy": "政策速递", "industry": "行业新闻", "deals": "交易资讯"}
        for position, (key, title) in enumerate(titles.items()):
            section = Section(key=key, title=title, position=position)
            for index, fields in enumerate((items or {}).get(key, [])):
                fields = dict(fields)
                slugs = fields.pop("topics", [])
                fields.setdefault("title", f"Item {next(_seq)}")
                fields.setdefault("url", "https://example.com/")
                fields.setdefault("published_on", date(2024, 7, 1))
                item = Item(position=index, **fields)
                item.topics = [self.topic(slug) for slug in slugs]
                section.items.append(item)
            edition.sections.append(section)
        return self._save(edition)  # type: ignore[no-any-return]

    def sent_to(
        self,
        edition: Edition,
        count: int,
        *,
        hard_bounced: int = 0,
        complained: int = 0,
        sent_at: datetime | None = None,
    ) -> list[int]:
        """`edition` sent to `count` new readers, the first `hard_bounced` of them bounced for
        good and the last `complained` complaining; in a few statements, so that volumes like
        SES's (hundreds, thousands) stay fast. Returns the delivery ids."""
        sent_at = sent_at or utcnow() - timedelta(hours=1)
        readers = self.many_subscribers(count, [["ai"]], prefix=f"sent{next(_seq)}x")
        rows = [
            {
                "edition_id": edition.id,
                "subscriber_id": reader,
                "variant_key": "zh-CN:ai",
                "token": new_token(),
                "status": DeliveryStatus.SENT,
                "message_id": f"ses-{edition.id}-{reader}",
                "attempts": 1,
                "sent_at": sent_at,
                "bounced_at": sent_at if n < hard_bounced else None,
                "complained_at": sent_at if n >= count - complained else None,
                "created_at": sent_at,
                "updated_at": sent_at,
            }
            for n, reader in enumerate(readers)
        ]
        self.session.execute(insert(Delivery), rows)
        mine = select(Delivery.id).where(Delivery.subscriber_id.in_(readers))
        bounces = [
            {"delivery_id": id_, "edition_id": edition.id, "hard_bounced_at": sent_at}
            for id_ in self.session.scalars(mine.where(Delivery.bounced_at.is_not(None)))
        ]
        if bounces:
            self.session.execute(insert(DeliveryOutcome), bounces)
        self.session.commit()
        return list(self.session.scalars(mine.order_by(Delivery.id)))

    def delivery(
        self,
        edition: Edition,
        subscriber: Subscriber | None = None,
        *,
        status: DeliveryStatus = DeliveryStatus.QUEUED,
        **kw: Any,
    ) -> Delivery:
        """A delivery of `edition` as the plan writes it (a new `ai` reader unless given)."""
        subscriber = subscriber or self.subscriber(topics=["ai"])
        kw.setdefault("variant_key", f"{subscriber.language}:ai")
        kw.setdefault("token", new_token())
        row = Delivery(edition_id=edition.id, subscriber_id=subscriber.id, status=status, **kw)
        return self._save(row)  # type: ignore[no-any-return]
