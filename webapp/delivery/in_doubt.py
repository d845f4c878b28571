"""Settling deliveries that were handed to the transport without a recorded answer.

The guarantee: a delivery in doubt is re-queued only with evidence that SES did not take it —
the hook kept receiving Send events of the same send after the moment it went in doubt, yet
none came for it within IN_DOUBT_WAIT_MINUTES. Without that evidence it stays in doubt,
counted and shown to editors, who choose "resend" or "mark sent": never re-sent blindly,
never silently dropped. For the outbox the evidence is the file itself (written atomically).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from webapp.audit import record_audit
from webapp.delivery import store
from webapp.models import Delivery, DeliveryStatus, Edition, OutboxFile, User, utcnow
from webapp.models.event import Event


@dataclass(frozen=True)
class Settled:
    sent: int = 0
    requeued: int = 0
    still_in_doubt: int = 0


def outbox_file(directory: Path, delivery_id: int) -> Path | None:
    matches = sorted(directory.glob(f"*-d{delivery_id}-*.eml"))
    return matches[0] if matches else None


def settle_outbox(session: Session, directory: Path, now: datetime | None = None) -> Settled:
    """The outbox writes each file atomically and names it by delivery: a file means sent."""
    now = now or utcnow()
    sent = requeued = 0
    for delivery in session.scalars(
        select(Delivery).where(Delivery.status == DeliveryStatus.IN_DOUBT)
    ):
        path = outbox_file(directory, delivery.id)
        if path is not None:
            delivery.status, delivery.sent_at, delivery.error = DeliveryStatus.SENT, now, None
            # Written before the crash that left it in doubt: index it now, for erasure.
            if session.get(OutboxFile, path.name) is None:
                store.index_outbox_files(session, [(delivery.id, path.name)])
            sent += 1
        else:
            delivery.status, delivery.claimed_by, delivery.in_doubt_at = (
                DeliveryStatus.QUEUED, None, None
            )
            requeued += 1
    return Settled(sent=sent, requeued=requeued)


def settle_ses(session: Session, wait: timedelta, now: datetime | None = None) -> Settled:
    """Re-queue in-doubt deliveries SES demonstrably never took; leave the rest in doubt."""
    now = now or utcnow()
    # Evidence that the hook was alive for this send after the delivery went in doubt.
    hook_alive = exists().where(
        Event.kind == "send",
        Event.edition_id == Delivery.edition_id,
        Event.received_at > Delivery.in_doubt_at,
    )
    own_send = exists().where(Event.kind == "send", Event.delivery_id == Delivery.id)
    stmt = select(Delivery.id).where(
        Delivery.status == DeliveryStatus.IN_DOUBT,
        Delivery.in_doubt_at.is_not(None),
        Delivery.in_doubt_at < now - wait,
        hook_alive,
        ~own_send,
    )
    ids = list(session.scalars(stmt))
    store.set_status(
        session,
        ids,
        DeliveryStatus.QUEUED,
        error="re-queued: SES reported no Send for it while reporting others",
    )
    remaining = session.scalar(
        select(func.count(Delivery.id)).where(Delivery.status == DeliveryStatus.IN_DOUBT)
    )
    return Settled(requeued=len(ids), still_in_doubt=remaining or 0)


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
    if resend:
        store.set_status(session, ids, DeliveryStatus.QUEUED)
    elif ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(status=DeliveryStatus.SENT, sent_at=utcnow(), error=None)
        )
    record_audit(
        session,
        "edition.in_doubt_resend" if resend else "edition.in_doubt_mark_sent",
        actor=actor,
        target=edition.month,
        detail={"deliveries": len(ids)},
    )
    return len(ids)
