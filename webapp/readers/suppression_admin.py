"""Suppressions as an admin manages them: look up, add by hand, lift with a reason."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from webapp.audit import record_audit
from webapp.models import Suppression, User, email_key
from webapp.paging import Page, contains_pattern, paginate
from webapp.readers.subscriptions import InvalidAddress, normalize_address
from webapp.readers.suppressions import address_hash, suppress

MAX_NOTE = 500


class SuppressionError(ValueError):
    """A suppression change the console cannot make; each subclass is one reason."""


class SuppressionAddressInvalid(SuppressionError):
    def __init__(self, detail: str) -> None:
        super().__init__(f"not a valid email address: {detail}")
        self.detail = detail


class LiftWithoutReason(SuppressionError):
    def __init__(self) -> None:
        super().__init__("give a reason for lifting the suppression")


def search_suppressions(
    session: Session, text: str, page: int, *, erasure_key: str
) -> Page[Suppression]:
    """Suppressions whose address contains `text` (an erased address is found by its full
    address only, through the keyed hash kept of it), newest first."""
    stmt = select(Suppression)
    text = text.strip()
    if text:
        conditions = [
            Suppression.email_key.like(contains_pattern(text), escape="\\"),
            Suppression.reason == text.lower(),
            Suppression.source == text.lower(),
        ]
        if "@" in text:
            conditions.append(Suppression.address_hash == address_hash(erasure_key, text))
        stmt = stmt.where(or_(*conditions))
    result: Page[Suppression] = paginate(
        session, stmt.order_by(Suppression.created_at.desc(), Suppression.id.desc()), page
    )
    return result


def suppressions_after(session: Session, after_id: int, limit: int) -> list[Suppression]:
    """Up to `limit` suppressions with an id above `after_id`, in id order: keyset paging for
    a system that copies the whole list (OFFSET would skip or repeat rows added meanwhile)."""
    stmt = (
        select(Suppression)
        .where(Suppression.id > after_id)
        .order_by(Suppression.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def add_suppression(
    session: Session, address: str, note: str, *, actor: User | str, source: str = "admin"
) -> Suppression:
    """Never mail this address again (idempotent); the caller commits. `source` says who:
    the admin console, or a firm's system through the API."""
    try:
        normalized = normalize_address(address)
    except InvalidAddress as error:
        raise SuppressionAddressInvalid(str(error)) from None
    key = email_key(normalized)
    existing = session.scalar(select(Suppression).where(Suppression.email_key == key))
    if existing is not None:
        return existing
    row = suppress(
        session, normalized, reason="manual", source=source, note=note.strip()[:MAX_NOTE] or None
    )
    session.flush()
    record_audit(
        session,
        "suppression.add",
        actor=actor,
        target=key,
        detail={"note": row.note} if row.note else None,
    )
    return row


def remove_suppression(
    session: Session, suppression: Suppression, reason: str, *, actor: User | str
) -> None:
    """Lift a suppression; a reason is required and kept in the audit log. The caller commits.

    The reader's status does not change: a bounced or complaining reader comes back only by
    subscribing again themselves.
    """
    reason = " ".join(reason.split())
    if not reason:
        raise LiftWithoutReason
    target = suppression.email_key or f"hash:{(suppression.address_hash or '')[:12]}"
    record_audit(
        session,
        "suppression.remove",
        actor=actor,
        target=target,
        detail={
            "reason": reason[:MAX_NOTE],
            "was": {
                "reason": suppression.reason,
                "source": suppression.source,
                "since": suppression.created_at.isoformat(),
            },
        },
    )
    session.delete(suppression)
