"""The audit log: record who changed what, and search it for the admin console."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.models import AuditEntry, User
from webapp.paging import Page, contains_pattern, paginate


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


# What an entry's action starts with, by the kind of thing it changed.
TARGET_KINDS = (
    "edition", "topic", "subscriber", "suppression", "user", "api_key", "webhook"
)


@dataclass(frozen=True)
class AuditFilter:
    kind: str = ""  # one of TARGET_KINDS, or "" for all
    actor: str = ""
    target: str = ""
    page: int = 1


def search_audit(session: Session, wanted: AuditFilter) -> Page[AuditEntry]:
    """Entries matching every filter given, newest first."""
    stmt = select(AuditEntry)
    if wanted.kind in TARGET_KINDS:
        stmt = stmt.where(AuditEntry.action.like(f"{wanted.kind}%"))
    if wanted.actor.strip():
        stmt = stmt.where(
            AuditEntry.actor.ilike(contains_pattern(wanted.actor.strip()), escape="\\")
        )
    if wanted.target.strip():
        stmt = stmt.where(
            AuditEntry.target.ilike(contains_pattern(wanted.target.strip()), escape="\\")
        )
    page: Page[AuditEntry] = paginate(
        session, stmt.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()), wanted.page
    )
    return page
