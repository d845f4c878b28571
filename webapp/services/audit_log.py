"""Reading the audit log: who did what to which edition, topic, reader, suppression or user."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.models import AuditEntry
from webapp.services.paging import Page, contains_pattern, paginate

# What an entry's action starts with, by the kind of thing it changed.
TARGET_KINDS = ("edition", "topic", "subscriber", "suppression", "user")


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
