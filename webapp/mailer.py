"""The app's side of email: its settings, links and transport, and editions as email content."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from emails import (
    EditionContent,
    ItemContent,
    MailSettings,
    SectionContent,
    Transport,
    UrlLinks,
    make_transport,
)
from webapp.models import Edition


def mail_settings(config: Mapping[str, Any]) -> MailSettings:
    return MailSettings(
        org_name=config["ORG_NAME"],
        org_postal_address=config["ORG_POSTAL_ADDRESS"],
        mail_from=config["MAIL_FROM"],
        reply_to=config["MAIL_REPLY_TO"],
        list_id=config["LIST_ID"],
        feedback_id=config["FEEDBACK_ID"],
        unsubscribe_mailto=config["UNSUBSCRIBE_MAILTO"],
        base_url=config["BASE_URL"],
    )


def links(config: Mapping[str, Any]) -> UrlLinks:
    return UrlLinks(config["BASE_URL"])


def transport(config: Mapping[str, Any]) -> Transport:
    """The configured transport (`MAIL_TRANSPORT`): outbox files or SES."""
    if config["MAIL_TRANSPORT"] == "outbox":
        return make_transport("outbox", directory=config["OUTBOX_DIR"])
    return make_transport(
        "ses",
        region=config["SES_REGION"],
        endpoint_url=config["SES_ENDPOINT_URL"],
        configuration_set=config["SES_CONFIGURATION_SET"],
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
