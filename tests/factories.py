"""Row factories: each returns a committed row with sensible defaults that a test can override."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.models import (
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
)
from webapp.services.users import hash_password

_seq = itertools.count(1)


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
        return self._save(User(role=role, password_hash=hash_password(password), **kw))  # type: ignore[no-any-return]

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
