"""What the editor console shows around a preview: every variant with its readers, a real
reader's own email, the preheader and shortened items of a variant, and the test sends."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emails import Recipient, fill
from emails.views import untranslated_items
from webapp.config import Settings
from webapp.delivery.variants import count_variants, edition_topic_slugs, parse_variant_key
from webapp.editions.previews import Preview, PreviewError, render_preview
from webapp.mailer import edition_content, links
from webapp.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    Item,
    Subscriber,
    SubscriberStatus,
    Suppression,
    TestSend,
    email_key,
)


@dataclass(frozen=True)
class VariantReaders:
    key: str
    language: str
    topics: tuple[str, ...]
    readers: int
    # English variants: items on these topics without English text (shown in Chinese or
    # left out, by the edition's policy); 0 for Chinese ones.
    untranslated: int = 0

    @property
    def topics_param(self) -> str:
        return ",".join(self.topics)


@dataclass(frozen=True)
class ReaderPreview:
    preview: Preview
    subscriber: Subscriber
    # Whether the reader would get this edition if it were sent now (active, not suppressed).
    eligible: bool


class ReaderNotFound(PreviewError):
    """No reader has this address."""


class ReaderGetsNothing(PreviewError):
    """None of the reader's topics has an item in this edition: they get no email."""


@dataclass(frozen=True)
class EditionProgress:
    planned: int
    sent: int
    failed: int
    skipped: int

    @property
    def settled(self) -> int:
        return self.sent + self.failed + self.skipped

    @property
    def percent(self) -> int:
        return int(100 * self.settled / self.planned) if self.planned else 0


def variant_readers(session: Session, edition: Edition) -> list[VariantReaders]:
    """Every variant the edition would be sent as now, most readers first."""
    rows = []
    content = edition_content(edition)
    for key, readers in count_variants(session, edition).items():
        language, slugs = parse_variant_key(key)
        untranslated = len(untranslated_items(content, slugs)) if language == "en" else 0
        rows.append(VariantReaders(key, language, tuple(slugs), readers, untranslated))
    return rows


def preview_for_reader(
    session: Session,
    settings: Settings,
    edition: Edition,
    address: str,
    *,
    layout: str | None = None,
) -> ReaderPreview:
    """This reader's own email (greeting with their name), with links that lead nowhere real;
    in `layout` rather than the edition's own when given."""
    subscriber = session.scalar(
        select(Subscriber).where(Subscriber.email_key == email_key(address))
    )
    if subscriber is None or subscriber.email is None:
        raise ReaderNotFound(f"no reader has the address {address!r}")
    slugs = sorted({t.slug for t in subscriber.topics} & set(edition_topic_slugs(edition)))
    # An English reader whose items are all left out of English editions gets no email either.
    reachable = edition_content(edition).topics_in(subscriber.language)
    if not set(slugs) & reachable:
        raise ReaderGetsNothing(f"none of {address}'s topics has an item in {edition.month}")
    preview = render_preview(
        session, settings, edition.month, topics=",".join(slugs), language=subscriber.language,
        layout=layout,
    )
    recipient = Recipient(
        email=subscriber.email,
        name=subscriber.name,
        subscriber_token="test-" + secrets.token_urlsafe(16),
        delivery_token=None,
        language=subscriber.language,
        tracking=False,
    )
    message = fill(preview.variant, recipient, links(settings))
    eligible = subscriber.status == SubscriberStatus.ACTIVE and not _suppressed(
        session, subscriber
    )
    return ReaderPreview(
        preview=Preview(edition=preview.edition, variant=preview.variant, message=message),
        subscriber=subscriber,
        eligible=eligible,
    )


def _suppressed(session: Session, subscriber: Subscriber) -> bool:
    found = session.scalar(
        select(func.count(Suppression.id)).where(Suppression.email_key == subscriber.email_key)
    )
    return bool(found)


def preheader_of(preview: Preview) -> str:
    """The inbox preview text of this variant (the edition's own, or the automatic one)."""
    return preview.variant.preheader


def shortened_items(preview: Preview) -> list[Item]:
    """Items whose summary was cut (with a "read more" link) to keep the email under the limit."""
    by_id = {i.id: i for s in preview.edition.sections for i in s.items}
    return [by_id[i] for i in preview.variant.shortened if i in by_id]


def recent_test_sends(session: Session, edition: Edition, limit: int = 10) -> list[TestSend]:
    stmt = (
        select(TestSend)
        .where(TestSend.edition_id == edition.id)
        .order_by(TestSend.sent_at.desc(), TestSend.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def progress_by_edition(session: Session) -> dict[int, EditionProgress]:
    """Deliveries per edition and status for the editions list, in one grouped query."""
    counts: dict[int, dict[str, int]] = {}
    stmt = select(Delivery.edition_id, Delivery.status, func.count(Delivery.id)).group_by(
        Delivery.edition_id, Delivery.status
    )
    for edition_id, status, count in session.execute(stmt).tuples():
        counts.setdefault(edition_id, {})[status.value] = count
    return {
        edition_id: EditionProgress(
            planned=sum(by_status.values()),
            sent=by_status.get(DeliveryStatus.SENT.value, 0),
            failed=by_status.get(DeliveryStatus.FAILED.value, 0),
            skipped=by_status.get(DeliveryStatus.SKIPPED.value, 0),
        )
        for edition_id, by_status in counts.items()
    }
