"""Subscribers: queries the consoles need."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.models import Subscriber, SubscriberStatus


def count_by_status(session: Session) -> dict[str, int]:
    """Readers per status, every status present (zero when none), in one grouped query."""
    counts = {status.value: 0 for status in SubscriberStatus}
    stmt = select(Subscriber.status, func.count(Subscriber.id)).group_by(Subscriber.status)
    for status, count in session.execute(stmt).tuples():
        counts[status.value] = count
    return counts
