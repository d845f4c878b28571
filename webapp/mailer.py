"""The app's side of email: its settings, links and transport, and editions as email content."""

from __future__ import annotations

from collections.abc import Iterable

from emails import (
    EditionContent,
    ItemContent,
    MailSettings,
    SectionContent,
    Transport,
    UrlLinks,
    make_transport,
)
from webapp.config import Settings
from webapp.models import Edition


def mail_settings(settings: Settings) -> MailSettings:
    return MailSettings(
        org_name=settings.org_name,
        org_postal_address=settings.org_postal_address,
        mail_from=settings.mail_from,
        reply_to=settings.mail_reply_to,
        list_id=settings.list_id,
        feedback_id=settings.feedback_id,
        unsubscribe_mailto=settings.unsubscribe_mailto,
        base_url=settings.base_url,
    )


def links(settings: Settings) -> UrlLinks:
    return UrlLinks(settings.base_url)


def transport(settings: Settings) -> Transport:
    """The configured transport (`MAIL_TRANSPORT`): outbox files or SES."""
    if settings.mail_transport == "outbox":
        return make_transport("outbox", directory=settings.outbox_dir)
    return make_transport(
        "ses",
        region=settings.ses_region,
        endpoint_url=settings.ses_endpoint_url,
        configuration_set=settings.ses_configuration_set,
    )


def edition_content(edition: Edition) -> EditionContent:
    """The edition as emails/ sees it; items are numbered across the whole edition so that
    `/c/<token>/<n>` names one link of the edition."""
    number = 0
    sections: list[SectionContent] = []
    for section in edition.sections:
        items: list[ItemContent] = []
        for item in section.items:
            number += 1
            items.append(
                ItemContent(
                    id=item.id,
                    number=number,
                    title=item.title,
                    title_en=item.title_en,
                    published_on=item.published_on,
                    source=item.source,
                    url=item.url,
                    summary=item.summary,
                    summary_en=item.summary_en,
                    commentary=item.commentary,
                    topics=frozenset(topic.slug for topic in item.topics),
                )
            )
        sections.append(SectionContent(key=section.key, items=tuple(items)))
    return EditionContent(
        month=edition.month,
        title=edition.title,
        subject=edition.subject,
        preheader=edition.preheader,
        intro=edition.intro,
        sections=tuple(sections),
    )


def parse_topics(value: str | None, known: Iterable[str]) -> list[str]:
    """`ai,data` → slugs, every one known; None or empty → every known topic."""
    known_list = list(known)
    if not value:
        return known_list
    slugs = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in slugs if s not in known_list]
    if unknown:
        raise ValueError(
            f"unknown topic(s) {', '.join(unknown)}; known: {', '.join(known_list)}"
        )
    return slugs
