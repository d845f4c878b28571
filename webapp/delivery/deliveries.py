"""A delivery as its reader sees it: the email as a web page, its links."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from emails import Message, Recipient, compile_variant, fill
from emails.edition import intro_for, report_title
from emails.i18n import format_month, strings
from emails.views import SectionView, build_sections
from webapp.branding import mail_brand
from webapp.config import Settings
from webapp.delivery.variants import parse_variant_key
from webapp.editions.records import get_edition
from webapp.mailer import edition_content, links
from webapp.models import Delivery, Edition, Item, Section, SubscriberStatus
from webapp.models.base import looks_like_token


class ReaderErased(LookupError):
    """The delivery's reader erased their data: their email is not rebuilt for anyone."""

    def __init__(self, delivery_id: int) -> None:
        super().__init__(f"the reader of delivery {delivery_id} erased their data")
        self.delivery_id = delivery_id


def find_delivery(session: Session, token: str) -> Delivery | None:
    if not looks_like_token(token):
        return None
    stmt = select(Delivery).where(Delivery.token == token).options(
        joinedload(Delivery.subscriber), joinedload(Delivery.edition)
    )
    return session.scalar(stmt)


def delivery_message(session: Session, settings: Settings, delivery: Delivery) -> Message:
    """The delivery's email, rebuilt from its edition and variant (links untracked); refused
    (ReaderErased) once its reader erased their data."""
    if delivery.subscriber.status == SubscriberStatus.ERASED:
        raise ReaderErased(delivery.id)
    edition = get_edition(session, delivery.edition.month)
    assert edition is not None  # nosec B101: narrows the type; the delivery's edition exists
    language, topics = parse_variant_key(delivery.variant_key)
    variant = compile_variant(
        edition_content(edition), topics, language, settings=mail_brand(session, settings)
    )
    reader = delivery.subscriber
    recipient = Recipient(
        email=reader.email or "",
        name=reader.name,
        subscriber_token=reader.token,
        delivery_token=delivery.token,
        language=language,
        tracking=False,
    )
    return fill(variant, recipient, links(settings))


@dataclass(frozen=True)
class WebVersion:
    """A delivery's email as a page of the site: the reader's items whole, in their language.

    Digest emails link each item to its anchor here (`/v/<token>#item-N`).
    """

    language: str
    title: str
    month_label: str
    greeting: str
    intro: tuple[str, ...]
    intro_lang: str | None
    sections: tuple[SectionView, ...]
    commentary_label: str
    in_chinese: str
    subscriber_token: str


def delivery_page(session: Session, settings: Settings, delivery: Delivery) -> WebVersion:
    """The delivery's edition as its reader's variant holds it, every summary whole; refused
    (ReaderErased) once its reader erased their data."""
    if delivery.subscriber.status == SubscriberStatus.ERASED:
        raise ReaderErased(delivery.id)
    edition = get_edition(session, delivery.edition.month)
    assert edition is not None  # nosec B101: narrows the type; the delivery's edition exists
    language, topics = parse_variant_key(delivery.variant_key)
    content = edition_content(edition)
    mail = mail_brand(session, settings)
    t = strings(language)
    name = " ".join((delivery.subscriber.name or "").split())
    intro, intro_lang = intro_for(content, language)
    return WebVersion(
        language=language,
        title=report_title(content, language, mail.org(language)),
        month_label=format_month(edition.month, language),
        greeting=t["greeting_named"].format(name=name) if name else t["greeting_anonymous"],
        intro=tuple(p.strip() for p in intro.split("\n\n") if p.strip()),
        intro_lang=intro_lang,
        sections=build_sections(content, topics, language),
        commentary_label=mail.commentary_label(language),
        in_chinese=t["in_chinese"],
        subscriber_token=delivery.subscriber.token,
    )


def link_target(session: Session, token: str, number: int) -> str | None:
    """The URL of link `number` of the delivery's edition: taken from the database, so the
    redirect can never be pointed anywhere else."""
    if not looks_like_token(token):
        return None
    stmt = (
        select(Item.url)
        .join(Section, Section.id == Item.section_id)
        .join(Edition, Edition.id == Section.edition_id)
        .join(Delivery, Delivery.edition_id == Edition.id)
        .where(Delivery.token == token)
        .order_by(Section.position, Item.position, Item.id)
    )
    urls = list(session.scalars(stmt))
    return urls[number - 1] if 1 <= number <= len(urls) else None
