"""The recipient plan: one delivery row per eligible reader, written before anything is sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from typing import cast as typing_cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CursorResult,
    Text,
    cast,
    exists,
    func,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.orm import Session

from webapp.delivery.variants import (
    edition_topic_slugs,
    eligible_readers_filter,
    english_reach_filter,
    topic_lists,
    variant_key_column,
)
from webapp.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    Subscriber,
    SubscriberStatus,
    Suppression,
)


@dataclass(frozen=True)
class PlanResult:
    planned: int
    excluded_no_match: int
    excluded_suppressed: int
    excluded_paused: int
    # English readers whose items were all left out of English editions (no English text
    # and the edition's policy is `omit`): an email with no item is not sent.
    excluded_untranslated: int = 0

    @property
    def excluded(self) -> int:
        return (
            self.excluded_no_match
            + self.excluded_suppressed
            + self.excluded_paused
            + self.excluded_untranslated
        )

    def as_json(self) -> dict[str, int]:
        return {
            "planned": self.planned,
            "excluded": self.excluded,
            "excluded_no_match": self.excluded_no_match,
            "excluded_suppressed": self.excluded_suppressed,
            "excluded_paused": self.excluded_paused,
            "excluded_untranslated": self.excluded_untranslated,
        }


def random_token(dialect: str) -> ColumnElement[str]:
    """64 hex characters of strong randomness per row, made by the database in the INSERT."""
    if dialect == "postgresql":
        # gen_random_uuid() (core since PostgreSQL 13) draws from pg_strong_random.
        halves = [func.replace(cast(func.gen_random_uuid(), Text), "-", "") for _ in range(2)]
        return func.concat(*halves)
    return func.lower(func.hex(func.randomblob(32)))


def ordered_token(dialect: str) -> ColumnElement[str]:
    """A delivery token that sorts in the order the plan writes its rows: 14 hex digits of the
    row's microsecond (`clock_timestamp()`, as UUIDv7 begins with its millisecond), then 50 of
    strong randomness (≥ 188 random bits, of a uuid and a half).

    The unique index on tokens then grows at its right edge, as the id index does; with wholly
    random tokens each of ten million rows went to a random page of an index of gigabytes, read
    and written back again and again once it outgrew the cache: the plan's step that grew
    faster than the list. The time it gives away is when the plan ran (the email's date says
    as much). SQLite plans are small: random there.
    """
    if dialect != "postgresql":
        return random_token(dialect)
    # date_part, not extract: float8 (exact to the microsecond until 2255), not numeric.
    micros = cast(func.date_part("epoch", func.clock_timestamp()) * 1_000_000, BigInteger)
    uuids = [func.replace(cast(func.gen_random_uuid(), Text), "-", "") for _ in range(2)]
    return func.concat(func.lpad(func.to_hex(micros), 14, "0"), func.substr(uuids[0], 1, 18),
                       uuids[1])


def plan_deliveries(session: Session, edition: Edition, now: datetime) -> PlanResult:
    """Write the plan in one INSERT … SELECT and count who was left out and why.

    Set-based on purpose: a Python loop over readers would take minutes for a large list and
    could be interrupted half-way; one statement inside the caller's transaction cannot.
    """
    slugs = edition_topic_slugs(edition)
    dialect = session.get_bind().dialect.name
    # The readers left out, counted before the plan in one pass over the readers (three counts
    # were three passes: seconds each at ten million).
    active = Subscriber.status == SubscriberStatus.ACTIVE
    suppressed = exists().where(Suppression.email_key == Subscriber.email_key)
    readers = session.execute(select(
        func.count(Subscriber.id).filter(eligible_readers_filter()),
        func.count(Subscriber.id).filter(active, suppressed),
        func.count(Subscriber.id).filter(Subscriber.status == SubscriberStatus.PAUSED),
    )).one()
    eligible_readers, excluded_suppressed, excluded_paused = (n or 0 for n in readers)
    reach = english_reach_filter(edition)
    untranslated = 0
    planned: int | None = 0
    if slugs:
        topics = topic_lists(dialect, slugs)
        if reach is not None:
            untranslated = session.scalar(
                select(func.count(Subscriber.id))
                .join(topics, topics.c.subscriber_id == Subscriber.id)
                .where(eligible_readers_filter(), ~reach)
            ) or 0
        variant_key = variant_key_column(topics).label("variant_key")
        # In variant order, so ids run variant by variant: a claim of consecutive ids then
        # fills whole SendBulkEmail calls of one template instead of a reader or two each.
        # Only the key and the reader are sorted (half the bytes of whole rows: ten million of
        # them outgrow any sort memory); the rest of each row is added as it is written.
        ordered = (
            select(Subscriber.id.label("subscriber_id"), variant_key)
            .join(topics, topics.c.subscriber_id == Subscriber.id)
            .where(eligible_readers_filter(), *([reach] if reach is not None else []))
            .order_by(variant_key, Subscriber.id)
            .subquery("ordered")
        )
        eligible = select(
            literal(edition.id),
            ordered.c.subscriber_id,
            ordered.c.variant_key,
            ordered_token(dialect),
            literal(DeliveryStatus.QUEUED.value),
            literal(0),
            literal(now, Delivery.created_at.type),
            literal(now, Delivery.updated_at.type),
        ).order_by(ordered.c.variant_key, ordered.c.subscriber_id)  # already so: no second sort
        columns = ["edition_id", "subscriber_id", "variant_key", "token", "status", "attempts",
                   "created_at", "updated_at"]
        if dialect == "postgresql":
            # The variant-order sort of a million rows spills to disk at the default 4 MB;
            # for this transaction only, let it sort in memory.
            session.execute(text("SET LOCAL work_mem = '256MB'"))
        written = session.execute(insert(Delivery).from_select(columns, eligible))
        # PostgreSQL's driver reports the rows an INSERT … SELECT wrote; not every driver does.
        if dialect == "postgresql":
            planned = typing_cast(CursorResult[Any], written).rowcount
        else:
            planned = None
    if planned is None or planned < 0:
        planned = session.scalar(
            select(func.count(Delivery.id)).where(Delivery.edition_id == edition.id)
        ) or 0
    return PlanResult(
        planned=planned,
        # Eligible readers who got no delivery had none of the edition's topics, or (English
        # readers) only topics whose items were all left out of English editions.
        excluded_no_match=max(0, eligible_readers - planned - untranslated),
        excluded_suppressed=excluded_suppressed,
        excluded_paused=excluded_paused,
        excluded_untranslated=untranslated,
    )
