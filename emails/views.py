"""A reader's share of an edition, localized: what the HTML and text parts both show."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from emails.content import SECTION_KEYS, EditionContent, ItemContent
from emails.i18n import format_date, strings


@dataclass(frozen=True)
class ItemView:
    id: int
    number: int
    url: str
    title: str
    meta: str  # "date · source"
    summary: str
    commentary: str | None
    shortened: bool

    @property
    def anchor(self) -> str:
        return f"item-{self.number}"

    @property
    def slot(self) -> str:
        """The slot holding this item's link (a click URL or the item's own URL)."""
        return f"link_{self.number}"


@dataclass(frozen=True)
class SectionView:
    key: str
    heading: str
    items: tuple[ItemView, ...]


def variant_topics(topics: Iterable[str], edition_topics: Iterable[str]) -> tuple[str, ...]:
    """The reader's topics that this edition carries, sorted."""
    return tuple(sorted(set(topics) & set(edition_topics)))


def variant_key(topics: Iterable[str], language: str, edition_topics: Iterable[str]) -> str:
    """`"<language>:<sorted topics ∩ edition topics, comma-joined>"`, e.g. "zh-CN:ai,data".

    The delivery engine computes the same string in SQL; keep the format this simple.
    """
    return f"{language}:{','.join(variant_topics(topics, edition_topics))}"


def _localized(item: ItemContent, language: str) -> tuple[str, str]:
    if language == "en":
        return item.title_en or item.title, item.summary_en or item.summary
    return item.title, item.summary


def build_sections(
    edition: EditionContent,
    topics: Iterable[str],
    language: str,
    summaries: Mapping[int, str] | None = None,
) -> tuple[SectionView, ...]:
    """Sections in policy/industry/deals order holding only items on `topics`; empty ones dropped.

    `summaries` replaces the summary of the given item ids (shortened ones).
    """
    text = strings(language)
    wanted = frozenset(topics)
    overrides = summaries or {}
    order = {key: i for i, key in enumerate(SECTION_KEYS)}
    ordered = sorted(edition.sections, key=lambda s: order.get(s.key, len(order)))
    views = []
    for section in ordered:
        items = []
        for item in section.items:
            if not item.topics & wanted:
                continue
            title, summary = _localized(item, language)
            items.append(
                ItemView(
                    id=item.id,
                    number=item.number,
                    url=item.url,
                    title=title,
                    meta=f"{format_date(item.published_on, language)} · {item.source}",
                    summary=overrides.get(item.id, summary),
                    commentary=item.commentary,
                    shortened=item.id in overrides,
                )
            )
        if items:
            heading = text.get(f"section.{section.key}", section.key)
            views.append(SectionView(key=section.key, heading=heading, items=tuple(items)))
    return tuple(views)
