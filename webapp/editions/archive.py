"""The public archive: editions that were sent, newest first."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.editions.records import get_edition
from webapp.models import Edition, EditionStatus

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def sent_editions(session: Session) -> list[Edition]:
    """Only `sent` editions are public: a paused or cancelled send is not an issue of record."""
    stmt = (
        select(Edition)
        .where(Edition.status == EditionStatus.SENT)
        .order_by(Edition.month.desc())
    )
    return list(session.scalars(stmt))


def sent_edition(session: Session, month: str) -> Edition | None:
    """A sent edition with its sections and items, or None (also for a malformed month)."""
    if not MONTH.match(month):
        return None
    edition = get_edition(session, month)
    return edition if edition is not None and edition.status == EditionStatus.SENT else None
