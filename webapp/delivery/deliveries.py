"""A delivery as its reader sees it: the email as a web page, its links."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from emails import Message, Recipient, compile_variant, fill
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
