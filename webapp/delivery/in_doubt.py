"""Settling deliveries that were handed to the transport without a recorded answer.

The guarantee: a delivery in doubt is re-queued only with evidence that SES did not take it —
SES kept reporting Send events of the same send (by SES's own timestamps) after the moment it
went in doubt, yet none came for it within IN_DOUBT_WAIT_MINUTES, and every event received
before that wait began has been applied (a backlog in the inbox is no evidence: the missing
Send may be waiting in it). Without that evidence it stays in doubt,
counted and shown to editors, who choose "resend" or "mark sent": never re-sent blindly,
never silently dropped. For the outbox the evidence is the file itself (written atomically).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.orm import Session

from webapp.audit import record_audit
from webapp.delivery import store
from webapp.delivery.heartbeat import live_workers
from webapp.editions.outbox import delivery_of
from webapp.models import Delivery, DeliveryStatus, Edition, OutboxFile, User, utcnow
from webapp.models.event import Event, SnsReceipt


@dataclass(frozen=True)
class Settled:
    sent: int = 0
    requeued: int = 0
    still_in_doubt: int = 0


def outbox_files(directory: Path) -> dict[int, str]:
    """Each delivery with a message in the outbox, and its file's name (the first, by name):
    one listing of the directory for all the deliveries being settled."""
    found: dict[int, str] = {}
    for path in sorted(directory.glob("*.eml")):
        delivery_id = delivery_of(path.name)
        if delivery_id is not None:
            found.setdefault(delivery_id, path.name)
    return found


def settle_outbox(
    session: Session, directory: Path, wait: timedelta, now: datetime | None = None
) -> Settled:
    """The outbox writes each file atomically and names it by delivery: a file means sent.

    A delivery goes in doubt before its file is written, so while its worker is alive the
    write may be under way: it is settled only once that worker is gone (no write can follow)
    or it has been in doubt longer than `wait`. And each row changes only if it is still in
    doubt, so a worker that records the send meanwhile is never overwritten.
    """
    now = now or utcnow()
    live = live_workers(session, now)
    nobody_writing = or_(
        Delivery.claimed_by.is_(None),
        Delivery.claimed_by.not_in(live) if live else Delivery.claimed_by.is_not(None),
        Delivery.in_doubt_at.is_(None),
        Delivery.in_doubt_at < now - wait,
    )
    candidates = list(session.scalars(
        select(Delivery.id).where(Delivery.status == DeliveryStatus.IN_DOUBT, nobody_writing)
    ))
    sent = requeued = 0
    written = outbox_files(directory) if candidates else {}
    for delivery_id in candidates:
        name = written.get(delivery_id)
        found = name is not None
        values: dict[str, object] = (
            {"status": DeliveryStatus.SENT, "sent_at": now, "error": None}
            if found
            else {"status": DeliveryStatus.QUEUED, "claimed_by": None, "claimed_at": None,
                  "in_doubt_at": None}
        )
        changed = session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == DeliveryStatus.IN_DOUBT)
            .values(updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        if getattr(changed, "rowcount", 0):
            sent, requeued = (sent + 1, requeued) if found else (sent, requeued + 1)
            # Written before the crash that left it in doubt: index it now, for erasure.
            if name is not None and session.get(OutboxFile, name) is None:
                store.index_outbox_files(session, [(delivery_id, name)])
    remaining = session.scalar(
        select(func.count(Delivery.id)).where(Delivery.status == DeliveryStatus.IN_DOUBT)
    )
    return Settled(sent=sent, requeued=requeued, still_in_doubt=remaining or 0)


# Workers apply stored events within seconds; a backlog older than this (or than the wait, if
# shorter) may hide the Send of a delivery that went in doubt just before the wait began.
BACKLOG_TOLERANCE = timedelta(minutes=1)


def _in_doubt_count(session: Session) -> int:
    return session.scalar(
        select(func.count(Delivery.id)).where(Delivery.status == DeliveryStatus.IN_DOUBT)
    ) or 0


def backlog_before(session: Session, moment: datetime) -> bool:
    """Whether an SES event received before `moment` is still waiting in the inbox to be
    applied (the partial index on unprocessed receipts: a look at the backlog only)."""
    return session.scalar(
        select(SnsReceipt.id)
        .where(SnsReceipt.processed_at.is_(None), SnsReceipt.received_at < moment)
        .limit(1)
    ) is not None


def settle_ses(session: Session, wait: timedelta, now: datetime | None = None) -> Settled:
    """Re-queue in-doubt deliveries SES demonstrably never took; leave the rest in doubt."""
    now = now or utcnow()
    if backlog_before(session, now - min(wait, BACKLOG_TOLERANCE)):
        # The workers are behind: a delivery's own Send may be among the stored events.
        return Settled(still_in_doubt=_in_doubt_count(session))
    # Evidence that SES reported on this send after the delivery went in doubt: its Send
    # events' own times, not when they reached us (a backlog applied late proves nothing).
    hook_alive = exists().where(
        Event.kind == "send",
        Event.edition_id == Delivery.edition_id,
        Event.occurred_at > Delivery.in_doubt_at,
    )
    own_send = exists().where(Event.kind == "send", Event.delivery_id == Delivery.id)
    stmt = select(Delivery.id).where(
        Delivery.status == DeliveryStatus.IN_DOUBT,
        Delivery.in_doubt_at.is_not(None),
        Delivery.in_doubt_at < now - wait,
        hook_alive,
        ~own_send,
    )
    requeued = store.set_status(
        session,
        list(session.scalars(stmt)),
        DeliveryStatus.QUEUED,
        error="re-queued: SES reported no Send for it while reporting others",
        only_from=DeliveryStatus.IN_DOUBT,
    )
    return Settled(requeued=requeued, still_in_doubt=_in_doubt_count(session))


def resolve_in_doubt(
    session: Session, edition: Edition, *, resend: bool, actor: User | str
) -> int:
    """An editor's choice for the edition's remaining in-doubt deliveries."""
    ids = list(
        session.scalars(
            select(Delivery.id).where(
                Delivery.edition_id == edition.id, Delivery.status == DeliveryStatus.IN_DOUBT
            )
        )
    )
    # Only those still in doubt: an event may have settled some since they were counted.
    if resend:
        moved = store.set_status(
            session, ids, DeliveryStatus.QUEUED, only_from=DeliveryStatus.IN_DOUBT
        )
    else:
        moved = store.set_status(
            session, ids, DeliveryStatus.SENT, only_from=DeliveryStatus.IN_DOUBT
        )
    record_audit(
        session,
        "edition.in_doubt_resend" if resend else "edition.in_doubt_mark_sent",
        actor=actor,
        target=edition.month,
        detail={"deliveries": moved},
    )
    return moved
