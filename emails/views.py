"""A reader's share of an edition, localized: what the HTML and text parts both show."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from emails.content import SECTION_KEYS, EditionContent, ItemContent, SectionContent
from emails.i18n import format_date, strings

SOURCE_LANGUAGE = "zh-CN"  # the language the report is written in


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
    # For an English reader, the parts still in Chinese carry `zh-CN` (else None), and
    # `marker` says so visibly after the title: "(in Chinese)" or "(partly in Chinese)".
    title_lang: str | None = None
    summary_lang: str | None = None
    commentary_lang: str | None = None
    marker: str | None = None

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


@dataclass(frozen=True)
class Localized:
    """An item's texts in a reader's language, each with the language it is really in."""

    title: tuple[str, str | None]
    summary: tuple[str, str | None]
    commentary: tuple[str | None, str | None]
    marker: str | None


def _pick(english: str | None, chinese: str, accepted: bool) -> tuple[str, str | None]:
    if accepted and english:
        return english, None
    return chinese, SOURCE_LANGUAGE if chinese else None


def localize(item: ItemContent, language: str) -> Localized:
    """The item as a reader of `language` sees it; never silently Chinese for English readers."""
    if language != "en":
        return Localized((item.title, None), (item.summary, None), (item.commentary, None), None)
    accepted = item.english_accepted
    title = _pick(item.title_en, item.title, accepted)
    summary = _pick(item.summary_en, item.summary, accepted)
    commentary: tuple[str | None, str | None] = (None, None)
    if item.commentary:
        commentary = _pick(item.commentary_en, item.commentary, accepted)
    marker = None
    if title[1]:
        marker = strings(language)["in_chinese"]
    elif summary[1] or commentary[1]:
        marker = strings(language)["partly_in_chinese"]
    return Localized(title, summary, commentary, marker)


def section_heading(section: SectionContent, language: str) -> str:
    """The section's name as edited, or the usual name of its key in `language`."""
    name = section.title_en if language == "en" else section.title
    return name or strings(language).get(f"section.{section.key}", section.key)


def untranslated_items(
    edition: EditionContent, topics: Iterable[str]
) -> tuple[ItemContent, ...]:
    """Items on `topics` without (accepted) English text: omitted or marked for English readers."""
    wanted = frozenset(topics)
    return tuple(
        i for s in edition.sections for i in s.items if i.topics & wanted and not i.translated
    )


def build_sections(
    edition: EditionContent,
    topics: Iterable[str],
    language: str,
    summaries: Mapping[int, str] | None = None,
) -> tuple[SectionView, ...]:
    """Sections in policy/industry/deals order holding only items on `topics`; empty ones dropped.

    `summaries` replaces the summary of the given item ids (shortened ones).
    """
    wanted = frozenset(topics)
    overrides = summaries or {}
    order = {key: i for i, key in enumerate(SECTION_KEYS)}
    ordered = sorted(edition.sections, key=lambda s: order.get(s.key, len(order)))
    views = []
    for section in ordered:
        items = []
        for item in section.items:
            if not item.topics & wanted or not edition.shows(item, language):
                continue
            local = localize(item, language)
            items.append(
                ItemView(
                    id=item.id,
                    number=item.number,
                    url=item.url,
                    title=local.title[0],
                    meta=f"{format_date(item.published_on, language)} · {item.source}",
                    summary=overrides.get(item.id, local.summary[0]),
                    commentary=local.commentary[0],
                    shortened=item.id in overrides,
                    title_lang=local.title[1],
                    summary_lang=local.summary[1],
                    commentary_lang=local.commentary[1],
                    marker=local.marker,
                )
            )
        if items:
            heading = section_heading(section, language)
            views.append(SectionView(key=section.key, heading=heading, items=tuple(items)))
    return tuple(views)
