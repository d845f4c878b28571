"""The delivery store: every query the engine makes, each shaped for one reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    ARRAY,
    Integer,
    String,
    bindparam,
    cast,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from webapp.models import (
    BackgroundJob,
    Delivery,
    DeliveryStatus,
    Edition,
    EditionStatus,
    JobKind,
    OutboxFile,
    Subscriber,
    SubscriberStatus,
    Suppression,
    utcnow,
)


@dataclass(frozen=True)
class ClaimedDelivery:
    """A claimed delivery with what sending it needs from its reader, read in one join."""

    id: int
    token: str
    variant_key: str
    email: str | None
    name: str | None
    subscriber_token: str
    language: str
    tracking: bool  # the reader has not opted out of open/click tracking
    eligible: bool  # still active and not suppressed at send time


def claim_batch(session: Session, edition_id: int, size: int, worker: str) -> list[int]:
    """Take up to `size` queued deliveries for this worker, lowest ids first.

    SKIP LOCKED lets several workers on PostgreSQL claim disjoint batches without waiting on
    each other; SQLite ignores it, and there a lock allows one worker only. The status moves to
    `sending` in the same transaction, so a claimed row is never claimed twice.
    """
    stmt = (
        select(Delivery.id)
        .where(Delivery.edition_id == edition_id, Delivery.status == DeliveryStatus.QUEUED)
        .order_by(Delivery.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(stmt))
    if ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(
                status=DeliveryStatus.SENDING,
                claimed_by=worker,
                claimed_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    return ids


def load_claimed(session: Session, ids: Sequence[int]) -> list[ClaimedDelivery]:
    """The claimed rows with their readers; eligibility is read now, not at planning time,
    so an unsubscribe or a suppression after the plan still stops the message."""
    suppressed = exists().where(Suppression.email_key == Subscriber.email_key)
    stmt = (
        select(
            Delivery.id,
            Delivery.token,
            Delivery.variant_key,
            Subscriber.email,
            Subscriber.name,
            Subscriber.token,
            Subscriber.language,
            Subscriber.tracking,
            (Subscriber.status == SubscriberStatus.ACTIVE) & ~suppressed,
        )
        .join(Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.id.in_(ids))
        .order_by(Delivery.id)
    )
    return [ClaimedDelivery(*row) for row in session.execute(stmt).tuples()]


def set_status(
    session: Session,
    ids: Sequence[int],
    status: DeliveryStatus,
    *,
    error: str | None = None,
    failed_attempt: bool = False,
    only_from: DeliveryStatus | None = None,
) -> int:
    """Move deliveries to `status` (one UPDATE for the lot); returns how many moved.

    `only_from` moves only those still in that status, for callers that chose the ids a moment
    earlier and must not overwrite what another process recorded since.
    """
    if not ids:
        return 0
    values: dict[str, object] = {"status": status, "error": error, "updated_at": utcnow()}
    if failed_attempt:
        values["attempts"] = Delivery.attempts + 1
    if status == DeliveryStatus.QUEUED:
        values.update(claimed_by=None, claimed_at=None, in_doubt_at=None)
    elif status == DeliveryStatus.IN_DOUBT:
        values["in_doubt_at"] = utcnow()
    elif status == DeliveryStatus.SENT:
        values["sent_at"] = utcnow()
    stmt = update(Delivery).where(Delivery.id.in_(ids))
    if only_from is not None:
        stmt = stmt.where(Delivery.status == only_from)
    result = session.execute(stmt.values(**values))
    return int(getattr(result, "rowcount", 0) or 0)


def mark_in_doubt(session: Session, ids: Sequence[int], worker: str) -> list[int]:
    """Mark this worker's claimed deliveries in doubt, right before their call; returns the ids
    that were still its own.

    A worker cut off from the database for longer than its heartbeat allows may have had its
    claims given back (and taken by another worker): only rows still claimed by it may be
    sent. Rows it already marked count as its own, so a retry after a commit whose answer was
    lost finds them again.
    """
    if not ids:
        return []
    stmt = (
        update(Delivery)
        .where(
            Delivery.id.in_(ids),
            Delivery.claimed_by == worker,
            Delivery.status.in_([DeliveryStatus.SENDING, DeliveryStatus.IN_DOUBT]),
        )
        .values(status=DeliveryStatus.IN_DOUBT, in_doubt_at=utcnow(), error=None,
                updated_at=utcnow())
        .returning(Delivery.id)
        .execution_options(synchronize_session=False)
    )
    return list(session.scalars(stmt))


def note_in_doubt(session: Session, ids: Sequence[int], reason: str) -> None:
    """Why these deliveries stay in doubt, on those still in doubt; their `in_doubt_at` is
    kept (it dates the evidence SES's events are weighed against)."""
    if not ids:
        return
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.IN_DOUBT)
        .values(error=reason, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def release_claims(session: Session, ids: Sequence[int], worker: str) -> None:
    """Claimed deliveries that were never handed over go back to the queue — those this worker
    still holds (another may have taken them while this one was cut off)."""
    if not ids:
        return
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.claimed_by == worker,
               Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.QUEUED, claimed_by=None, claimed_at=None,
                in_doubt_at=None, error=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def mark_sent(session: Session, delivery_id: int, message_id: str | None) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(
            status=DeliveryStatus.SENT,
            message_id=message_id,
            sent_at=utcnow(),
            error=None,
            updated_at=utcnow(),
        )
    )


def mark_sent_many(session: Session, sent: Sequence[tuple[int, str | None]]) -> None:
    """mark_sent for a whole chunk in one statement (one per row cost ~20% of a message's CPU).

    On PostgreSQL an UPDATE … FROM unnest(ids, message ids), so the tally triggers run once
    per chunk (an executemany ran them per row and doubled a chunk's settling time); two array
    parameters keep the statement's text the same for every chunk, so SQLAlchemy compiles it
    once (a VALUES list of the chunk's rows was compiled anew for each, ~15% of a message's
    CPU). SQLite counts row by row anyway, so there it is an executemany.
    """
    if not sent:
        return
    now = utcnow()
    table = Delivery.__table__
    settled = {"status": DeliveryStatus.SENT, "sent_at": now, "error": None, "updated_at": now}
    if session.get_bind().dialect.name == "postgresql":
        answers = (
            func.unnest(
                cast(bindparam("ids", [i for i, _ in sent]), ARRAY(Integer)),
                cast(bindparam("message_ids", [m for _, m in sent]), ARRAY(String)),
            )
            .table_valued("delivery_id", "ses_message_id")
            .render_derived(name="answers")
        )
        session.execute(
            update(table)  # type: ignore[arg-type]
            .where(table.c.id == answers.c.delivery_id)
            .values(message_id=answers.c.ses_message_id, **settled)
        )
        return
    session.execute(
        update(table)  # type: ignore[arg-type]
        .where(table.c.id == bindparam("delivery_id"))
        .values(message_id=bindparam("ses_message_id"), **settled),
        [{"delivery_id": i, "ses_message_id": m} for i, m in sent],
    )


def index_outbox_files(session: Session, files: Sequence[tuple[int, str]]) -> None:
    """Record which outbox file holds which delivery (and so whose message), in the
    transaction that records them sent: erasure finds a reader's files here, never by reading
    the whole outbox."""
    if not files:
        return
    readers = dict(
        session.execute(
            select(Delivery.id, Delivery.subscriber_id).where(
                Delivery.id.in_([delivery_id for delivery_id, _ in files])
            )
        ).tuples().all()
    )
    session.execute(
        insert(OutboxFile),
        [
            {"name": name, "delivery_id": delivery_id, "subscriber_id": readers.get(delivery_id)}
            for delivery_id, name in files
        ],
    )
    # A reader erased while their message was on its way: its file came after the erasure's
    # redaction, so it gets one of its own.
    erased = session.scalars(
        select(Subscriber.id).where(
            Subscriber.id.in_(set(readers.values())),
            Subscriber.status == SubscriberStatus.ERASED,
        )
    )
    for reader_id in erased:
        session.add(BackgroundJob(kind=JobKind.REDACT_OUTBOX, subscriber_id=reader_id))


def attempts_of(session: Session, ids: Sequence[int]) -> dict[int, int]:
    if not ids:  # every settled chunk asks, almost always for none: no statement for that
        return {}
    stmt = select(Delivery.id, Delivery.attempts).where(Delivery.id.in_(ids))
    return dict(session.execute(stmt).tuples().all())


def editions_with_work(session: Session) -> list[int]:
    """Editions in `sending` that still have queued deliveries, oldest send first."""
    has_queued = exists().where(
        Delivery.edition_id == Edition.id, Delivery.status == DeliveryStatus.QUEUED
    )
    stmt = (
        select(Edition.id)
        .where(Edition.status == EditionStatus.SENDING, has_queued)
        .order_by(Edition.send_started_at, Edition.id)
    )
    return list(session.scalars(stmt))
