"""Compile an edition once per variant (topic set ∩ edition topics, language)."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from emails.compiler import RenderError, render_html
from emails.content import EditionContent, MailSettings, UrlLinks, resolve_layout
from emails.i18n import format_month, has_cjk, strings
from emails.mime import (
    ONE_CLICK,
    base64_budget,
    base64_bytes,
    feedback_id,
    list_id,
    payload_bytes,
)
from emails.shorten import shorten_summaries
from emails.slots import SlotMarkers, SlotTemplate
from emails.teasers import clip
from emails.text import edition_text
from emails.views import (
    SOURCE_LANGUAGE,
    ItemView,
    SectionView,
    build_sections,
    untranslated_items,
    variant_key,
    variant_topics,
)

# Gmail clips an HTML part above ~102 KB as it receives it: encoded, line ends included.
MAX_HTML_BYTES: Final = 100_000
# The guard holds every reader's HTML to what base64 writes in MAX_HTML_BYTES: 73,074 bytes of
# UTF-8 with CRLF line ends (1,282 lines of 57 bytes make 99,996 bytes of base64). yuebao writes
# the shorter of base64 and quoted-printable, so its own MIME is never larger; SES builds its
# own from the same HTML, and base64 is the encoding that budget assumes there.
MAX_HTML_PAYLOAD: Final = base64_budget(MAX_HTML_BYTES)
MAX_URL_LENGTH: Final = 256  # per-reader URLs (after HTML escaping) may not be longer…
# …unless BASE_URL itself is long (up to 200 characters is supported): then BASE_URL plus the
# longest per-reader path, `/c/<64-character delivery token>/<item number>`, with room to spare.
MAX_PATH_CHARS: Final = 80
MAX_NAME_CHARS: Final = 100  # longer names are cut when filling
TOC_MIN_ITEMS: Final = 7  # a table of contents only when there are more than six items
TOC_LINES: Final = 8  # then at most eight titles, and "and N more"
HOOK_CHARS: Final = 60  # the subject's hook (its first item title), so phones show it whole
# Digest teasers, in columns (a Chinese character takes two, a Latin letter one, as the text
# really is, whatever the reader's language): a summary's first ~40 Chinese characters or ~80
# letters (about two lines on a phone), and one line of commentary (after its label) or of the
# table of contents at 390 px.
SUMMARY_COLUMNS: Final = 80
LINE_COLUMNS: Final = 44
TOC_COLUMNS: Final = 40  # the table of contents sits in a padded box: a little narrower
TEMPLATE: Final = "edition.mjml"

PIXEL_HTML: Final = (
    '<img src="{}" width="1" height="1" alt="" '
    'style="display:block;width:1px;height:1px;border:0;">'
)


@dataclass(frozen=True)
class LinkSlot:
    slot: str
    number: int
    url: str  # the item's own URL, used when a reader is not tracked
    url_html: str


@dataclass(frozen=True)
class Variant:
    """One compiled body shared by all readers with the same topics and language."""

    key: str
    topics: tuple[str, ...]  # the reader's topics that this edition carries, sorted
    language: str
    month: str
    subject: str
    html: SlotTemplate
    text: SlotTemplate
    links: tuple[LinkSlot, ...]
    item_ids: tuple[int, ...]
    shortened: tuple[int, ...]
    max_html_bytes: int  # no reader's filled HTML (UTF-8, decoded) can be larger
    max_sent_html_bytes: int  # …nor its HTML part as sent, in base64: ≤ MAX_HTML_BYTES
    archive_url: str  # the view-online target for readers without a delivery token
    greeting: tuple[str, str, str]  # named prefix, named suffix, anonymous greeting
    sender: str
    reply_to: str | None
    unsubscribe_mailto: str | None
    headers: tuple[tuple[str, str], ...]  # headers shared by every reader
    tags: tuple[tuple[str, str], ...]
    url_limit: int = MAX_URL_LENGTH  # the longest per-reader URL the size guard allowed for
    # English variants: items on the reader's topics without English text, either shown in
    # Chinese and marked (`in_chinese`) or left out (`omitted`), by the edition's policy.
    in_chinese: tuple[int, ...] = ()
    omitted: tuple[int, ...] = ()
    preheader: str = ""  # the inbox preview text this variant carries
    layout: str = "full"  # "full" or "digest": the edition's choice resolved for this variant


def columns(text: str) -> int:
    """How wide `text` is in a phone's font, in half-width columns."""
    return sum(2 if has_cjk(c) else 1 for c in text)


def fitting(text: str, width: int) -> int:
    """How many characters of `text` fill `width` columns (Chinese text: half as many)."""
    return width // 2 if has_cjk(text) else width


def digest_teasers(items: Sequence[ItemView], label: str) -> dict[int, tuple[str, str]]:
    """Each item's summary teaser and one-line commentary teaser (empty without commentary),
    by item number."""
    room = max(16, LINE_COLUMNS - columns(label))
    return {
        i.number: (
            clip(i.summary, fitting(i.summary, SUMMARY_COLUMNS)),
            clip(i.commentary, fitting(i.commentary, room)) if i.commentary else "",
        )
        for i in items
    }


def url_limit(base_url: str) -> int:
    """The longest per-reader URL, after HTML escaping, under this BASE_URL."""
    return max(MAX_URL_LENGTH, len(base_url.rstrip("/")) + MAX_PATH_CHARS)


def _greeting(language: str) -> tuple[str, str, str]:
    t = strings(language)
    prefix, _, suffix = t["greeting_named"].partition("{name}")
    return prefix, suffix, t["greeting_anonymous"]


def slot_budgets(
    links: Sequence[LinkSlot], language: str, archive_url: str, limit: int = MAX_URL_LENGTH
) -> dict[str, int]:
    """The most UTF-8 bytes each HTML slot can take for any reader (URLs up to `limit`)."""
    prefix, suffix, anonymous = _greeting(language)
    named = len(html.escape(prefix + suffix).encode()) + MAX_NAME_CHARS * len("&quot;")
    budgets = {
        "greeting": max(named, len(html.escape(anonymous).encode())),
        "unsubscribe": limit,
        "preferences": limit,
        "view": max(limit, len(html.escape(archive_url).encode())),
        "pixel": len(PIXEL_HTML.format("x" * limit)),
    }
    for link in links:
        budgets[link.slot] = max(limit, len(link.url_html.encode()))
    return budgets


def _footer_text(
    t: dict[str, str], why: str, settings: MailSettings, slot: SlotMarkers, language: str
) -> list[str]:
    colon = t["colon"]
    extra = settings.footer_text(language)
    return [
        f"{t['view_online']}{colon}{slot('view')}",
        f"{t['preferences']}{colon}{slot('preferences')}",
        f"{t['unsubscribe']}{colon}{slot('unsubscribe')}",
        "",
        why,
        settings.org(language),
        settings.org_postal_address,
        *([extra] if extra else []),
    ]


def report_title(edition: EditionContent, language: str, org_name: str) -> str:
    """The edition's name for readers of `language`; for English never Chinese unless an
    editor wrote it so: the English title, else one made from the firm's name."""
    if language != "en":
        return edition.title
    if edition.title_en:
        return edition.title_en
    return english_report_name(org_name)


def english_report_name(org_name: str) -> str:
    """'<firm> monthly report', or 'Monthly report' when the firm's name is written in Chinese."""
    t = strings("en")
    if org_name and not has_cjk(org_name):
        return t["report_of"].format(org=org_name)
    return t["report"]


def intro_for(edition: EditionContent, language: str) -> tuple[str, str | None]:
    """The intro for readers of `language` and the language it is really in."""
    if language != "en" or edition.intro_en:
        return (edition.intro_en if language == "en" else edition.intro), None
    if edition.intro and edition.untranslated == "marked":
        return edition.intro, SOURCE_LANGUAGE
    return "", None


def _compile(
    edition: EditionContent,
    sections: tuple[SectionView, ...],
    language: str,
    settings: MailSettings,
    preheader: str,
    layout: str,
) -> tuple[SlotTemplate, SlotTemplate]:
    t = strings(language)
    slot = SlotMarkers()
    month_label = format_month(edition.month, language)
    title = report_title(edition, language, settings.org(language))
    intro, intro_lang = intro_for(edition, language)
    why = t["why_edition"].format(org=settings.org(language), report=title)
    every = [i for s in sections for i in s.items]
    with_toc = len(every) >= TOC_MIN_ITEMS
    digest = layout == "digest"
    label = settings.commentary_label(language)
    teasers = digest_teasers(every, label + t["colon"]) if digest else None
    context = {
        "lang": language,
        "t": t,
        "commentary_label": settings.commentary_label(language),
        "doc_title": f"{title} · {month_label}",
        "preheader": preheader,
        "top_link": (t["view_online"], slot("view")),
        "org_name": settings.org(language),
        "palette": settings.palette,
        "logo": settings.logo,
        "footer_text": settings.footer_text(language),
        "org_postal_address": settings.org_postal_address,
        "header_title": title,
        "header_subtitle": month_label,
        "footer_links": [
            (t["view_online"], slot("view")),
            (t["preferences"], slot("preferences")),
            (t["unsubscribe"], slot("unsubscribe")),
        ],
        "footer_why": why,
        "pixel": slot("pixel"),
        "greeting": slot("greeting"),
        "intro": intro,
        "intro_lang": intro_lang,
        "in_chinese": t["in_chinese"],
        "digest": digest,
        "toc": (
            {
                "entries": [
                    {
                        "anchor": i.anchor,
                        "title": clip(i.title, fitting(i.title, TOC_COLUMNS)),
                        "title_lang": i.title_lang,
                    }
                    for i in every[:TOC_LINES]
                ],
                "more": (
                    t["toc_more"].format(count=len(every) - TOC_LINES)
                    if len(every) > TOC_LINES
                    else None
                ),
            }
            if with_toc
            else None
        ),
        "sections": [
            {
                "heading": s.heading,
                "entries": [
                    {
                        "anchor": i.anchor,
                        "href": slot(i.slot),
                        "title": i.title,
                        "meta": i.meta,
                        "summary": i.summary,
                        "read_more": slot("view") if i.shortened or digest else None,
                        "commentary": i.commentary,
                        "teaser": teasers[i.number][0] if teasers else "",
                        "commentary_teaser": teasers[i.number][1] if teasers else "",
                        "title_lang": i.title_lang,
                        "summary_lang": i.summary_lang,
                        "commentary_lang": i.commentary_lang,
                        "marker": i.marker,
                    }
                    for i in s.items
                ],
            }
            for s in sections
        ],
    }
    html_part = slot.split(render_html(TEMPLATE, context))
    text_part = edition_text(
        t=t,
        title=title,
        month_label=month_label,
        intro=intro,
        intro_marker=t["in_chinese"] if intro_lang else None,
        commentary_label=settings.commentary_label(language),
        sections=sections,
        toc_lines=TOC_LINES if with_toc else 0,
        teasers=teasers,
        footer=_footer_text(t, why, settings, slot, language),
        slot=slot,
    )
    return html_part, slot.split(text_part)


def compile_variant(
    edition: EditionContent,
    topics: Iterable[str],
    language: str,
    *,
    settings: MailSettings,
    layout: str | None = None,
) -> Variant:
    """Render the edition for one topic set and language; shorten summaries if it would clip.

    `layout` overrides the edition's own choice (a preview of another layout). Raises
    ValueError when no item matches or the layout is unknown, RenderError when it cannot be
    made to fit.
    """
    chosen = variant_topics(topics, edition.topics)
    sections = build_sections(edition, chosen, language)
    if not sections:
        raise ValueError(f"no items of edition {edition.month} match topics {sorted(chosen)}")
    count = sum(len(s.items) for s in sections)
    resolved = resolve_layout(layout or edition.layout, count)
    # An empty subject or preheader means "automatic": made from this variant's own items, so
    # no reader's inbox preview names an item their email does not hold.
    report = report_title(edition, language, settings.org(language))
    if language == "en":
        # Only titles that are English: the automatic English subject never holds Chinese.
        titles = [
            i.title for s in sections for i in s.items if not i.title_lang and not has_cjk(i.title)
        ]
        subject = edition.subject_en or english_subject(
            edition.title_en, settings.org("en"), edition.month, titles[:1]
        )
        if has_cjk(report):  # an editor's Chinese English title stays out of automatic texts
            report = english_report_name(settings.org("en"))
        preheader = edition.preheader_en or variant_preheader(
            report, edition.month, titles, count, language
        )
    else:
        titles = [i.title for s in sections for i in s.items]
        subject = edition.subject or default_subject(
            edition.title, edition.month, titles[:1], language
        )
        preheader = edition.preheader or variant_preheader(
            edition.title, edition.month, titles, count, language
        )
    archive_url = UrlLinks(settings.base_url).archive(edition.month)
    links = tuple(
        LinkSlot(i.slot, i.number, i.url, html.escape(i.url)) for s in sections for i in s.items
    )
    limit = url_limit(settings.base_url)
    budgets = slot_budgets(links, language, archive_url, limit)
    summaries: dict[int, str] = {}
    for _ in range(12):
        html_part, text_part = _compile(
            edition, sections, language, settings, preheader, resolved
        )
        size = html_part.max_bytes(budgets)
        payload = payload_bytes(size, html_part.line_breaks())
        if payload <= MAX_HTML_PAYLOAD:
            break
        summaries = shorten_summaries(sections, summaries, excess=payload - MAX_HTML_PAYLOAD)
        sections = build_sections(edition, chosen, language, summaries)
    else:
        raise RenderError(TEMPLATE, f"variant {variant_key(chosen, language, chosen)} too large")
    return Variant(
        key=variant_key(chosen, language, chosen),
        topics=tuple(sorted(chosen)),
        language=language,
        month=edition.month,
        subject=subject,
        html=html_part,
        text=text_part,
        links=links,
        item_ids=tuple(i.id for s in sections for i in s.items),
        shortened=tuple(i.id for s in sections for i in s.items if i.shortened),
        max_html_bytes=size,
        max_sent_html_bytes=base64_bytes(payload),
        archive_url=archive_url,
        greeting=_greeting(language),
        sender=settings.mail_from,
        reply_to=settings.reply_to,
        unsubscribe_mailto=settings.unsubscribe_mailto,
        headers=(
            ("List-Unsubscribe-Post", ONE_CLICK),
            ("List-Id", list_id(settings.list_id)),
            ("Feedback-ID", feedback_id("edition", settings.feedback_id)),
        ),
        tags=(("kind", "edition"), ("edition", edition.month)),
        url_limit=limit,
        in_chinese=tuple(i.id for s in sections for i in s.items if i.marker),
        omitted=(
            tuple(i.id for i in untranslated_items(edition, chosen))
            if language == "en" and edition.untranslated == "omit"
            else ()
        ),
        preheader=preheader,
        layout=resolved,
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def default_subject(title: str, month: str, first_titles: Sequence[str], language: str) -> str:
    """'<hook>｜<report> · <month>': the first item title first, so that a phone's inbox
    shows it, cut to HOOK_CHARS; without one, the report's name and month."""
    t = strings(language)
    if not first_titles:
        separator = ", " if language == "en" else " · "
        return f"{title}{separator}{format_month(month, language)}"
    return t["subject"].format(
        title=title, month=format_month(month, language), first=clip(first_titles[0], HOOK_CHARS)
    )


def english_subject(
    title_en: str, org_name: str, month: str, first_titles: Sequence[str]
) -> str:
    """The automatic English subject: never a Chinese character, whatever the report holds.

    The English title if it is free of Chinese, else '<firm> monthly report' (or 'Monthly
    report' when the firm's name is Chinese), the month, and the first English item title.
    """
    title = title_en if title_en and not has_cjk(title_en) else english_report_name(org_name)
    first = [t for t in first_titles if not has_cjk(t)]
    subject = default_subject(title, month, first, "en")
    if has_cjk(subject):  # cannot happen with the parts above; kept as the promise itself
        return f"{english_report_name('')}, {format_month(month, 'en')}"
    return subject


def default_preheader(title: str, month: str, first_titles: Sequence[str], language: str) -> str:
    """The first three item titles, as inbox preview text."""
    t = strings(language)
    if not first_titles:
        return f"{title} · {format_month(month, language)}"
    joined = t["list_separator"].join(first_titles[:3])
    return _clip(t["preheader"].format(titles=joined), 140)


def variant_preheader(
    title: str, month: str, titles: Sequence[str], count: int, language: str
) -> str:
    """The automatic preheader of a variant: how many items it holds and the titles after the
    first (the subject's hook), so the inbox preview adds to the subject instead of repeating
    it; without a second title, how many items and the report's name and month."""
    t = strings(language)
    others = [clip(x, 40) for x in titles[1:4]]
    if not others:
        named = f"{title} · {format_month(month, language)}"
        return named if count < 2 else f"{t['preheader_count'].format(count=count)} · {named}"
    joined = t["list_separator"].join(others)
    return clip(t["preheader_more"].format(count=count, titles=joined), 140)
