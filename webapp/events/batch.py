"""Applying stored SES events in batches: what the workers do with the inbox.

Each batch is claimed and applied in one transaction: the claim marks the rows processed, so
a crash before the commit leaves them unprocessed for the next worker, and a notification
stored twice (its MessageId is unique) or seen by two workers is applied once.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from emails.ses_events import parse_ses_event
from emails.sns import SnsError
from webapp.delivery.outages import Outage, is_operational
from webapp.events.ses import record_ses_event
from webapp.models import utcnow
from webapp.models.event import SnsReceipt

log = logging.getLogger(__name__)

BATCH_SIZE = 500

_RECEIPTS: Table = SnsReceipt.__table__  # type: ignore[assignment]


class StoredEvent(NamedTuple):
    id: int
    message: str | None
    received_at: datetime


# The claim, in one statement: the oldest unprocessed rows are marked processed and returned.
# On PostgreSQL SKIP LOCKED lets several workers claim disjoint batches without waiting on
# each other; SQLite has one writer at a time, and the UPDATE takes its lock. Either way a row
# is claimed by one transaction only, and goes back to the inbox if that one rolls back.
_CLAIM = (
    update(_RECEIPTS)
    .where(
        _RECEIPTS.c.id.in_(
            select(_RECEIPTS.c.id)
            .where(_RECEIPTS.c.processed_at.is_(None))
            .order_by(_RECEIPTS.c.id)
            .limit(bindparam("size"))
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
    )
    .values(processed_at=bindparam("now"))
    .returning(_RECEIPTS.c.id, _RECEIPTS.c.message, _RECEIPTS.c.received_at)
)
# Once applied, the event row holds the payload (redacted on erasure, trimmed with age).
_FORGET_MESSAGES = (
    update(_RECEIPTS)
    .where(_RECEIPTS.c.id.in_(bindparam("ids", expanding=True)))
    .values(message=None)
)


def claim_stored_events(session: Session, size: int, now: datetime) -> list[StoredEvent]:
    """Take up to `size` unprocessed notifications, oldest first, for this transaction."""
    rows = session.connection().execute(_CLAIM, {"size": size, "now": now})
    return sorted((StoredEvent(*row) for row in rows), key=lambda row: row.id)


def apply_stored_events(
    session: Session,
    *,
    bounce_suppress_after: int,
    size: int = BATCH_SIZE,
    now: datetime | None = None,
) -> int:
    """Claim and apply up to `size` stored SES events; returns how many. The caller commits."""
    claimed = claim_stored_events(session, size, now or utcnow())
    if not claimed:
        return 0
    apply_events(session, claimed, bounce_suppress_after=bounce_suppress_after)
    session.connection().execute(_FORGET_MESSAGES, {"ids": [row.id for row in claimed]})
    return len(claimed)


def _payload(message: str | None) -> dict[str, Any] | None:
    try:
        payload = json.loads(message) if message is not None else None
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def apply_events(
    session: Session, claimed: Sequence[StoredEvent], *, bounce_suppress_after: int
) -> None:
    """The events' effects, as the hook applied each one when it arrived."""
    for row in claimed:
        payload = _payload(row.message)
        try:
            event = parse_ses_event(payload, now=row.received_at)
        except SnsError as error:  # the receiver checked it: only a hand-made row gets here
            log.warning("stored SES event not readable; left out",
                        extra={"fields": {"receipt": row.id, "reason": error.reason}})
            continue
        assert payload is not None
        record_ses_event(session, event, payload, bounce_suppress_after=bounce_suppress_after,
                         received_at=row.received_at)


class EventProcessor:
    """Drains the inbox in batches, each in its own transaction."""

    def __init__(
        self, sessions: sessionmaker[Session], *, bounce_suppress_after: int,
        size: int = BATCH_SIZE,
    ) -> None:
        self.sessions = sessions
        self.bounce_suppress_after = bounce_suppress_after
        self.size = size

    def apply_batch(self, size: int | None = None) -> int:
        with self.sessions() as session:
            applied = apply_stored_events(
                session, bounce_suppress_after=self.bounce_suppress_after,
                size=size or self.size,
            )
            session.commit()
            return applied

    def drain(self, stop: threading.Event | None = None) -> int:
        """Apply batches until the inbox is empty; returns how many events were applied.

        A batch that fails is rolled back and its first notification tried alone: one that
        still fails for a reason other than the database is set aside (marked processed, its
        message kept for a look) so that it cannot hold back every event after it.
        """
        applied = 0
        while stop is None or not stop.is_set():
            try:
                done = self.apply_batch()
            except SQLAlchemyError as error:
                if is_operational(error):
                    raise
                log.exception("SES event batch failed; applying its events one by one")
                done = self._one_by_one()
            except Exception:
                log.exception("SES event batch failed; applying its events one by one")
                done = self._one_by_one()
            if not done:
                break
            applied += done
        return applied

    def _one_by_one(self) -> int:
        try:
            return self.apply_batch(size=1)
        except SQLAlchemyError as error:
            if is_operational(error):
                raise
        except Exception:
            pass
        with self.sessions() as session:
            row = claim_stored_events(session, 1, utcnow())
            session.commit()
        if row:
            log.error("SES event could not be applied; set aside with its message",
                      extra={"fields": {"receipt": row[0].id}})
        return len(row)

    def run_until(self, stop: threading.Event, poll: float, outage: Outage) -> None:
        """The worker's events thread: drain, then look again every `poll` seconds."""
        while not stop.is_set():
            try:
                applied = outage.retry(lambda: self.drain(stop), "apply SES events")
            except Exception:
                log.exception("SES events not applied now; trying again")
                applied = 0
            if not applied:
                stop.wait(poll)
