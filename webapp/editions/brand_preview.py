"""What an admin sees beside the branding form: an edition and a system mail as readers would
get them with the branding given (the latest edition, or the July 2024 sample when there is
none yet). Nothing is sent or stored; links lead nowhere real."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from emails import (
    EditionContent,
    ItemContent,
    MailSettings,
    Message,
    Recipient,
    SectionContent,
    UrlLinks,
    compile_variant,
    fill,
    render_system_mail,
)
from webapp.editions.importer.parser import parse_report
from webapp.editions.records import get_edition
from webapp.mailer import edition_content
from webapp.models import Edition

SAMPLE_REPORT: Final = Path(__file__).resolve().parent.parent / "data" / "2024-07-report.txt"
PREVIEW_ADDRESS: Final = "preview@example.com"
# A topic every sample item carries, so the preview shows the whole sample edition.
SAMPLE_TOPIC: Final = "sample"


@lru_cache(maxsize=1)
def sample_content() -> EditionContent:
    """The July 2024 sample report shipped with the app, as edition content."""
    report = parse_report(SAMPLE_REPORT.read_text(encoding="utf-8"))
    number = 0
    sections = []
    for section in report.sections:
        items = []
        for item in section.items:
            number += 1
            items.append(ItemContent(
                id=number, number=number, title=item.title, title_en=None,
                published_on=item.published_on, source=item.source, url=item.url,
                summary=item.summary, summary_en=None, commentary=item.commentary,
                topics=frozenset({SAMPLE_TOPIC}), english_accepted=False,
            ))
        sections.append(SectionContent(key=section.key, items=tuple(items), title=section.title))
    return EditionContent(month=report.month, title=report.title, subject="", preheader="",
                          intro="", sections=tuple(sections))


def preview_content(session: Session) -> EditionContent:
    """The latest edition (by month, whatever its state), else the sample."""
    month = session.scalar(select(Edition.month).order_by(Edition.month.desc()).limit(1))
    edition = get_edition(session, month) if month else None
    return edition_content(edition) if edition is not None else sample_content()


def _recipient(language: str) -> Recipient:
    return Recipient(email=PREVIEW_ADDRESS, name=None,
                     subscriber_token="preview-" + secrets.token_urlsafe(12),
                     delivery_token=None, language=language, tracking=False)


def edition_preview(session: Session, mail: MailSettings, language: str) -> Message:
    """The edition for a reader of every topic, branded as `mail` says (ValueError or
    RenderError when it cannot be rendered)."""
    content = preview_content(session)
    variant = compile_variant(content, content.topics_in(language) or content.topics, language,
                              settings=mail)
    return fill(variant, _recipient(language), UrlLinks(mail.base_url))


def system_mail_preview(mail: MailSettings, language: str) -> Message:
    """The welcome mail, as a system mail every reader gets."""
    links = UrlLinks(mail.base_url)
    token = "preview-" + secrets.token_urlsafe(12)
    context = {"to": PREVIEW_ADDRESS, "action_url": links.preferences(token),
               "unsubscribe_url": links.unsubscribe(token)}
    return render_system_mail("welcome", language, context, settings=mail)
