"""Keeping the stats aggregates current as events arrive, in the same transaction.

Where each figure lives, and why there:
- delivered, bounced, complained, opened, clicked: the first-seen columns of `deliveries`
  (one row per edition and reader), which webapp.events.ses and .tracking already set in
  the event's own transaction — retroactive scanner flags included. A counter table would only
  copy them and could drift from them.
- hard bounces and unsubscribes: `delivery_outcomes`, one row per delivery that had one
  (`note_ses_event`; the status listener below).
- clicks per item: `item_clicks`, one row per delivery and link a person followed
  (`note_click`).
- readers joining and leaving per month: `reader_months`, one row per month, counted by a
  session listener whenever a reader's status enters or leaves `active`/`paused` — status
  changes happen in many services (subscribe, unsubscribe, bounces, CSV import, erasure, the
  console), and one listener sees them all.
Every write is an atomic upsert, so concurrent web and worker processes never lose a count.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table, case, delete, event, func, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from emails.ses_events import SesEvent
from webapp.models import (
    Delivery,
    DeliveryOutcome,
    DeliveryStatus,
    Event,
    ItemClick,
    ReaderMonth,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from webapp.models.stats import DEPARTURES, RECEIVING, month_of
from webapp.stats.reputation import check_thresholds


def _upsert(
    session: Session,
    table: Table,
    keys: dict[str, Any],
    values: dict[str, Any],
    on_conflict: dict[str, Any],
) -> None:
    """INSERT … ON CONFLICT DO UPDATE (PostgreSQL and SQLite 3.24+ share the syntax).

    Run on the session's connection: it joins the transaction without triggering a flush, so
    it is safe inside a flush listener.
    """
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).values(**keys, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: make(stmt.excluded) for name, make in on_conflict.items()},
    )
    session.connection().execute(stmt)


def _earliest(table: Table, column: str) -> Any:
    """ON CONFLICT value: keep the earlier of the stored and the new time (NULL-safe)."""

    def make(excluded: Any) -> ColumnElement[Any]:
        stored, new = table.c[column], excluded[column]
        # Not LEAST(): PostgreSQL's ignores NULLs, SQLite's min() returns NULL on one.
        return case(
            (stored.is_(None), new), (new.is_(None), stored), (stored <= new, stored), else_=new
        )

    return make


# ---- SES events -------------------------------------------------------------------------


class EventDelivery(Protocol):
    """What note_ses_event reads of a delivery: a Delivery, or the columns the hook fetched."""

    @property
    def id(self) -> int: ...

    @property
    def edition_id(self) -> int: ...

    @property
    def complained_at(self) -> datetime | None: ...


def note_ses_event(session: Session, delivery: EventDelivery, ses_event: SesEvent) -> None:
    """Call before the event is applied to the delivery: stores a hard bounce, and checks the
    edition's reputation when this is the delivery's first hard bounce or complaint."""
    hard_added = 0
    if ses_event.permanent_bounce:
        table = DeliveryOutcome.__table__
        stored = (
            session.connection()
            .execute(
                select(DeliveryOutcome.hard_bounced_at).where(
                    DeliveryOutcome.delivery_id == delivery.id
                )
            )
            .scalar()
        )
        hard_added = 0 if stored is not None else 1
        _upsert(
            session,
            table,  # type: ignore[arg-type]
            {"delivery_id": delivery.id},
            {"edition_id": delivery.edition_id, "hard_bounced_at": ses_event.occurred_at},
            {"hard_bounced_at": _earliest(table, "hard_bounced_at")},  # type: ignore[arg-type]
        )
    complaint_added = int(ses_event.kind == "complaint" and delivery.complained_at is None)
    if hard_added or complaint_added:
        check_thresholds(
            session,
            delivery.edition_id,
            hard_bounces_added=hard_added,
            complaints_added=complaint_added,
        )


# ---- clicks -----------------------------------------------------------------------------


def note_click(
    session: Session,
    delivery: Delivery,
    number: int,
    *,
    at: datetime,
    scanner: bool,
    reclassified: bool,
) -> None:
    """Count a stored click. When it revealed a scanner burst (`reclassified`: earlier clicks
    were flagged after the fact), the delivery's rows are recounted from its own clicks."""
    if reclassified:
        recount_delivery_clicks(session, delivery.id)
        return
    if scanner:
        return
    table = ItemClick.__table__
    _upsert(
        session,
        table,  # type: ignore[arg-type]
        {"delivery_id": delivery.id, "item_number": number},
        {"edition_id": delivery.edition_id, "clicks": 1, "first_clicked_at": at},
        {
            "clicks": lambda _excluded: table.c.clicks + 1,
            "first_clicked_at": _earliest(table, "first_clicked_at"),  # type: ignore[arg-type]
        },
    )


def recount_delivery_clicks(session: Session, delivery_id: int) -> None:
    """Rebuild one delivery's item_clicks rows from its stored clicks (a handful of rows)."""
    session.flush()
    session.execute(delete(ItemClick).where(ItemClick.delivery_id == delivery_id))
    genuine = (
        select(
            Event.item_number,
            Event.edition_id,
            func.count(Event.id),
            func.min(Event.occurred_at),
        )
        .where(
            Event.delivery_id == delivery_id,
            Event.kind == "click",
            Event.suspected_scanner.is_(False),
            Event.item_number.is_not(None),
        )
        .group_by(Event.item_number, Event.edition_id)
    )
    for number, edition_id, clicks, first in session.execute(genuine).tuples():
        session.add(
            ItemClick(
                delivery_id=delivery_id,
                item_number=number,
                edition_id=edition_id,
                clicks=clicks,
                first_clicked_at=first,
            )
        )
    session.flush()


# ---- readers joining and leaving --------------------------------------------------------


def _count_month(session: Session, column: str, moment: datetime) -> None:
    table = ReaderMonth.__table__
    counts = {name: 0 for name in ("joined", *DEPARTURES.values())}
    counts[column] = 1
    _upsert(
        session,
        table,  # type: ignore[arg-type]
        {"month": month_of(moment)},
        counts,
        {column: lambda _excluded: table.c[column] + 1},
    )


def credit_unsubscribe(session: Session, subscriber_id: int, at: datetime) -> None:
    """Credit an unsubscribe to the last edition that reached the reader before it.

    /u/ links carry the reader's token, not the delivery's, so the edition is inferred: the
    latest delivery handed to SES before the unsubscribe.
    """
    latest = (
        session.connection()
        .execute(
            select(Delivery.id, Delivery.edition_id)
            .where(
                Delivery.subscriber_id == subscriber_id,
                Delivery.status == DeliveryStatus.SENT,
                Delivery.sent_at <= at,
            )
            .order_by(Delivery.sent_at.desc(), Delivery.id.desc())
            .limit(1)
        )
        .first()
    )
    if latest is None:
        return
    table = DeliveryOutcome.__table__
    _upsert(
        session,
        table,  # type: ignore[arg-type]
        {"delivery_id": latest.id},
        {"edition_id": latest.edition_id, "unsubscribed_at": at},
        {"unsubscribed_at": _earliest(table, "unsubscribed_at")},  # type: ignore[arg-type]
    )


def _previous_status(session: Session, subscriber: Subscriber) -> SubscriberStatus | None:
    state = inspect(subscriber)
    history = state.attrs.status.history
    if history.deleted:
        return history.deleted[0]  # type: ignore[no-any-return]
    if state.persistent and subscriber.id is not None:
        # The old value was never loaded (expired): the database still has it until the flush.
        stored = (
            session.connection()
            .execute(select(Subscriber.status).where(Subscriber.id == subscriber.id))
            .scalar()
        )
        return stored
    return None


def _status_changes(
    session: Session, objects: Iterable[object]
) -> list[tuple[Subscriber, SubscriberStatus | None, SubscriberStatus]]:
    changes = []
    for obj in objects:
        if not isinstance(obj, Subscriber):
            continue
        history = inspect(obj).attrs.status.history
        if not history.added or obj.status is None:
            continue
        before = _previous_status(session, obj)
        if before != obj.status:
            changes.append((obj, before, obj.status))
    return changes


def count_status_changes(session: Session) -> None:
    """Before a flush: count each reader whose status enters or leaves the receiving ones."""
    changes = _status_changes(session, [*session.new, *session.dirty])
    if not changes:
        return
    now = utcnow()
    for subscriber, before, after in changes:
        was, now_receiving = before in RECEIVING, after in RECEIVING
        if now_receiving and not was:
            _count_month(session, "joined", now)
        elif was and after in DEPARTURES:
            _count_month(session, DEPARTURES[after], now)
        if after == SubscriberStatus.UNSUBSCRIBED and was and subscriber.id is not None:
            credit_unsubscribe(session, subscriber.id, now)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    # Registered on import; webapp.events.ses and .tracking import this module, and every
    # process (web, worker, CLI) builds the app, which imports both.
    count_status_changes(session)
