"""Values that cross into emails/: edition content, settings, recipients and link builders."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from emails.branding import Logo, Palette

LANGUAGES = ("zh-CN", "en")
# What English readers get for an item without English text: left out, or shown in Chinese
# with a visible marker and lang="zh-CN" on that text.
UNTRANSLATED = ("omit", "marked")
SECTION_KEYS = ("policy", "industry", "deals")
# How an edition is laid out: every item whole ("full"), each item as a teaser that links to
# the reader's web version ("digest"), or "auto": digest when the reader's variant holds more
# than DIGEST_ABOVE items, else full.
LAYOUTS = ("auto", "full", "digest")
DIGEST_ABOVE = 10


def resolve_layout(layout: str, item_count: int) -> str:
    """The layout ("full" or "digest") a variant of `item_count` items gets under `layout`."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    if layout == "auto":
        return "digest" if item_count > DIGEST_ABOVE else "full"
    return layout


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
    commentary_en: str | None = None
    # False while the English fields are a machine draft no editor accepted yet.
    english_accepted: bool = True

    @property
    def translated(self) -> bool:
        """Every text the item has in Chinese has an accepted English counterpart."""
        return (
            self.english_accepted
            and bool(self.title_en)
            and (bool(self.summary_en) or not self.summary)
            and (bool(self.commentary_en) or not self.commentary)
        )


@dataclass(frozen=True)
class SectionContent:
    key: str  # "policy" | "industry" | "deals"
    items: tuple[ItemContent, ...]
    title: str = ""  # the section's name; empty: the usual name of its key
    title_en: str = ""


@dataclass(frozen=True)
class EditionContent:
    month: str  # "YYYY-MM"
    title: str
    subject: str
    preheader: str
    intro: str
    sections: tuple[SectionContent, ...]
    # For English readers: empty title, subject and preheader are automatic, never Chinese.
    title_en: str = ""
    subject_en: str = ""
    preheader_en: str = ""
    intro_en: str = ""
    untranslated: str = "marked"  # "omit" | "marked": see UNTRANSLATED
    layout: str = "auto"  # see LAYOUTS

    @property
    def topics(self) -> frozenset[str]:
        """Every topic carried by at least one item."""
        return frozenset(t for s in self.sections for i in s.items for t in i.topics)

    def topics_in(self, language: str) -> frozenset[str]:
        """The topics of the items a reader of `language` can get (English: not omitted)."""
        return frozenset(
            t for s in self.sections for i in s.items if self.shows(i, language) for t in i.topics
        )

    def shows(self, item: ItemContent, language: str) -> bool:
        """Whether readers of `language` get this item at all."""
        return language != "en" or item.translated or self.untranslated != "omit"


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
    commentary_label_zh: str
    commentary_label_en: str
    # The branding set in the console (webapp.branding); empty: `org_name` / nothing.
    org_name_en: str = ""
    footer_text_zh: str = ""
    footer_text_en: str = ""
    palette: Palette = field(default_factory=Palette)
    logo: Logo | None = None

    def commentary_label(self, language: str) -> str:
        return self.commentary_label_en if language == "en" else self.commentary_label_zh

    def org(self, language: str) -> str:
        """The firm's name for readers of `language`."""
        return (self.org_name_en or self.org_name) if language == "en" else self.org_name

    def footer_text(self, language: str) -> str:
        return self.footer_text_en if language == "en" else self.footer_text_zh


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
