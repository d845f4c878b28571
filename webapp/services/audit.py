"""Record who changed what."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from webapp.models import AuditEntry, User


def record_audit(
    session: Session,
    action: str,
    *,
    actor: User | str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the session; it commits with the change it describes."""
    entry = AuditEntry(
        actor_id=actor.id if isinstance(actor, User) else None,
        actor=actor.email if isinstance(actor, User) else actor,
        action=action,
        target=target,
        detail=detail,
    )
    session.add(entry)
    return entry
