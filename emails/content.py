"""Values that cross into emails/: edition content, settings, recipients and link builders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol

LANGUAGES = ("zh-CN", "en")
SECTION_KEYS = ("policy", "industry", "deals")


@dataclass(frozen=True)
class ItemContent:
    """One item of an edition; `number` is its 1-based link ordinal across the whole edition."""

    id: int
    number: int
    title: str
    title_en: str | None
    published_on: date
    source: str
    url: str
    summary: str
    summary_en: str | None
    commentary: str | None
    topics: frozenset[str]


@dataclass(frozen=True)
class SectionContent:
    key: str  # "policy" | "industry" | "deals"
    items: tuple[ItemContent, ...]


@dataclass(frozen=True)
class EditionContent:
    month: str  # "YYYY-MM"
    title: str
    subject: str
    preheader: str
    intro: str
    sections: tuple[SectionContent, ...]

    @property
    def topics(self) -> frozenset[str]:
        """Every topic carried by at least one item."""
        return frozenset(t for s in self.sections for i in s.items for t in i.topics)


@dataclass(frozen=True)
class MailSettings:
    org_name: str
    org_postal_address: str
    mail_from: str
    reply_to: str | None
    list_id: str
    feedback_id: str
    unsubscribe_mailto: str | None
    base_url: str


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str | None
    subscriber_token: str
    delivery_token: str | None
    language: str
    tracking: bool = True


class Links(Protocol):
    """Builds the per-reader URLs of DESIGN.md; tokens are URL-safe."""

    def unsubscribe(self, subscriber_token: str) -> str: ...
    def preferences(self, subscriber_token: str) -> str: ...
    def view(self, delivery_token: str) -> str: ...
    def open_pixel(self, delivery_token: str) -> str: ...
    def click(self, delivery_token: str, number: int) -> str: ...


class UrlLinks:
    """Default `Links`: DESIGN.md's paths under `base_url` (tokens are not re-quoted)."""

    __slots__ = ("base",)

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")

    def unsubscribe(self, subscriber_token: str) -> str:
        return f"{self.base}/u/{subscriber_token}"

    def preferences(self, subscriber_token: str) -> str:
        return f"{self.base}/p/{subscriber_token}"

    def view(self, delivery_token: str) -> str:
        return f"{self.base}/v/{delivery_token}"

    def open_pixel(self, delivery_token: str) -> str:
        return f"{self.base}/o/{delivery_token}.gif"

    def click(self, delivery_token: str, number: int) -> str:
        return f"{self.base}/c/{delivery_token}/{number}"

    def archive(self, month: str) -> str:
        return f"{self.base}/archive/{month}"
