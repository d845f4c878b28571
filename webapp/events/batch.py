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

from sqlalchemy import (
    Connection,
    Integer,
    Table,
    Update,
    bindparam,
    case,
    column,
    insert,
    select,
    text,
    update,
    values,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from emails.ses_events import SesEvent, parse_ses_event
from emails.sns import SnsError
from webapp.delivery.outages import Outage, is_operational
from webapp.events.ses import (
    FIRST_SEEN_COLUMNS,
    MatchedDelivery,
    delivery_changes,
    delivery_update,
    record_ses_event,
)
from webapp.models import Delivery, Subscriber, email_key, utcnow
from webapp.models.event import Event, SnsReceipt

log = logging.getLogger(__name__)

# Events claimed and applied in one transaction. Each batch has its fixed costs (the claim,
# the statements per set of changed columns, the commit's tally fold): on PostgreSQL the
# database's CPU per event was 0.165-0.208 ms with 500, 0.159 ms with 1,000 and 0.129 ms with
# 2,000 (bench --events-only, 120,000 events), and a batch of 2,000 holds ~6 MB in the worker.
BATCH_SIZE = 2000

_RECEIPTS: Table = SnsReceipt.__table__  # type: ignore[assignment]
_DELIVERIES: Table = Delivery.__table__  # type: ignore[assignment]
_EVENTS: Table = Event.__table__  # type: ignore[assignment]
_SUBSCRIBERS: Table = Subscriber.__table__  # type: ignore[assignment]
# An executemany: psycopg sends it as one pipeline of prepared statements, which measured
# faster than one multi-row INSERT (a statement that big is parsed anew on every call).
_INSERT_EVENT = insert(_EVENTS)


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
# PostgreSQL claims and forgets the messages in the same statement: the claimed rows' old
# messages come from the locked subquery (RETURNING gives the new row's values), which spares
# a second write of every row.
_CLAIM_PG = text(
    "UPDATE sns_receipts AS r SET processed_at = :now, message = NULL "
    "FROM (SELECT id, message FROM sns_receipts WHERE processed_at IS NULL "
    "ORDER BY id LIMIT :size FOR UPDATE SKIP LOCKED) AS claimed "
    "WHERE r.id = claimed.id RETURNING r.id, claimed.message, r.received_at"
).bindparams(bindparam("now", type_=_RECEIPTS.c.processed_at.type)).columns(
    _RECEIPTS.c.id, _RECEIPTS.c.message, _RECEIPTS.c.received_at
)
# Once applied, the event row holds the payload (redacted on erasure, trimmed with age).
_FORGET_MESSAGES = (
    update(_RECEIPTS)
    .where(_RECEIPTS.c.id.in_(bindparam("ids", expanding=True)))
    .values(message=None)
)


def claim_stored_events(
    session: Session, size: int, now: datetime, *, forget: bool = False
) -> list[StoredEvent]:
    """Take up to `size` unprocessed notifications, oldest first, for this transaction; with
    `forget`, their messages are emptied in the database (the rows returned still hold them)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql" and forget:
        rows = connection.execute(_CLAIM_PG, {"size": size, "now": now})
        return sorted((StoredEvent(*row) for row in rows), key=lambda row: row.id)
    rows = connection.execute(_CLAIM, {"size": size, "now": now})
    claimed = sorted((StoredEvent(*row) for row in rows), key=lambda row: row.id)
    if forget and claimed:
        connection.execute(_FORGET_MESSAGES, {"ids": [row.id for row in claimed]})
    return claimed


def apply_stored_events(
    session: Session,
    *,
    bounce_suppress_after: int,
    size: int = BATCH_SIZE,
    now: datetime | None = None,
) -> int:
    """Claim and apply up to `size` stored SES events; returns how many. The caller commits."""
    claimed = claim_stored_events(session, size, now or utcnow(), forget=True)
    if claimed:
        apply_events(session, claimed, bounce_suppress_after=bounce_suppress_after)
    return len(claimed)


def _payload(message: str | None) -> dict[str, Any] | None:
    try:
        payload = json.loads(message) if message is not None else None
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


class _Parsed(NamedTuple):
    row: StoredEvent
    event: SesEvent
    payload: dict[str, Any]


# The usual events (a Send and a Delivery for every message) change only their delivery and
# add an event row: they are applied together, a few statements for the whole batch. The rest
# (bounces, complaints, rejects…: a reader's status, suppressions, webhooks, reputation) are
# rare and applied one by one by the same code the hook used to run.
_SET_BASED_KINDS = frozenset({"send", "delivery", "delivery_delay"})


def apply_events(
    session: Session, claimed: Sequence[StoredEvent], *, bounce_suppress_after: int
) -> None:
    """The events' effects, the same as applying each one as it arrived."""
    usual: list[_Parsed] = []
    rare: list[_Parsed] = []
    for row in claimed:
        payload = _payload(row.message)
        try:
            event = parse_ses_event(payload, now=row.received_at)
        except SnsError as error:  # the receiver checked it: only a hand-made row gets here
            log.warning("stored SES event not readable; left out",
                        extra={"fields": {"receipt": row.id, "reason": error.reason}})
            continue
        if payload is None:  # parse_ses_event refuses what is not an object: unreachable
            continue
        (usual if event.kind in _SET_BASED_KINDS else rare).append(_Parsed(row, event, payload))
    if usual:
        _apply_usual(session, usual)
    for parsed in rare:
        record_ses_event(session, parsed.event, parsed.payload,
                         bounce_suppress_after=bounce_suppress_after,
                         received_at=parsed.row.received_at)


_MATCH = [_DELIVERIES.c[name] for name in MatchedDelivery._fields]
# Both by primary key or by the partial index on message_id; expanding IN lists, one query
# each for the whole batch.
_DELIVERIES_BY_ID = select(*_MATCH).where(_DELIVERIES.c.id.in_(bindparam("ids", expanding=True)))
_DELIVERIES_BY_MESSAGE_ID = select(*_MATCH).where(
    _DELIVERIES.c.message_id.in_(bindparam("message_ids", expanding=True))
)
_SUBSCRIBERS_BY_KEY = select(_SUBSCRIBERS.c.email_key, _SUBSCRIBERS.c.id).where(
    _SUBSCRIBERS.c.email_key.in_(bindparam("keys", expanding=True))
)


def _match_deliveries(
    connection: Connection, events: Sequence[SesEvent]
) -> list[MatchedDelivery | None]:
    """Each event's delivery, by the rule of webapp.events.ses._match_delivery: by our tag
    when the SES message id agrees (or is not known yet), else by SES's message id."""
    tagged = {e.delivery_id for e in events if e.delivery_id is not None}
    by_id = {row.id: MatchedDelivery(*row) for row in connection.execute(
        _DELIVERIES_BY_ID, {"ids": sorted(tagged)})} if tagged else {}
    found: list[MatchedDelivery | None] = []
    missing: set[str] = set()
    for event in events:
        row = by_id.get(event.delivery_id) if event.delivery_id is not None else None
        if row is not None and row.message_id in (None, event.message_id):
            found.append(row)
        else:
            found.append(None)
            missing.add(event.message_id)
    if missing:
        by_message_id: dict[str, MatchedDelivery] = {}
        for found_row in connection.execute(
            _DELIVERIES_BY_MESSAGE_ID, {"message_ids": sorted(missing)}
        ):
            by_message_id.setdefault(found_row.message_id, MatchedDelivery(*found_row))
        found = [
            match if match is not None else by_message_id.get(event.message_id)
            for match, event in zip(found, events, strict=True)
        ]
    return found


def _apply_usual(session: Session, parsed: Sequence[_Parsed]) -> None:
    """Insert the events, then update each delivery once with what all its events changed."""
    session.flush()
    connection = session.connection()
    events = [p.event for p in parsed]
    matches = _match_deliveries(connection, events)
    keys = {
        email_key(e.recipients[0]) for e, m in zip(events, matches, strict=True)
        if m is None and e.recipients
    }
    readers: dict[str, int] = {
        key: reader_id
        for key, reader_id in connection.execute(_SUBSCRIBERS_BY_KEY, {"keys": sorted(keys)})
    } if keys else {}
    rows = []
    current: dict[int, MatchedDelivery] = {}
    changed: dict[int, dict[str, Any]] = {}
    for item, delivery in zip(parsed, matches, strict=True):
        event = item.event
        subscriber_id = (
            delivery.subscriber_id if delivery is not None
            else readers.get(email_key(event.recipients[0])) if event.recipients else None
        )
        rows.append({
            "kind": event.kind, "source": "ses",
            "delivery_id": delivery.id if delivery else None,
            "subscriber_id": subscriber_id,
            "edition_id": delivery.edition_id if delivery else None,
            "item_number": None, "ses_message_id": event.message_id,
            "bounce_type": None, "bounce_subtype": None, "suspected_scanner": False,
            "occurred_at": event.occurred_at, "received_at": item.row.received_at,
            "payload": item.payload,
        })
        if delivery is None:
            continue
        # Several events of one delivery in a batch (its Send and its Delivery): each sees
        # what the ones before it changed, as if applied one after another.
        state = current.get(delivery.id, delivery)
        changes = delivery_changes(state, event)
        if changes:
            current[delivery.id] = state._replace(**changes)
            changed.setdefault(delivery.id, {}).update(changes)
    connection.execute(_INSERT_EVENT, rows)
    _update_deliveries(connection, changed)


def _update_deliveries(connection: Connection, changed: dict[int, dict[str, Any]]) -> None:
    """Each delivery with changes updated once, one statement per set of changed columns.

    On PostgreSQL one UPDATE … FROM (VALUES …) per set: the tally triggers on deliveries run
    once per statement (with transition tables), so 500 single-row UPDATEs would cost 500
    trigger runs. SQLite's triggers run per row: an executemany of the same statement.
    """
    now = utcnow()
    by_columns: dict[tuple[str, ...], list[tuple[int, dict[str, Any]]]] = {}
    for delivery_id, changes in sorted(changed.items()):  # in id order: no lock-order deadlock
        by_columns.setdefault(tuple(sorted(changes)), []).append((delivery_id, changes))
    for names, rows in by_columns.items():
        if connection.dialect.name == "postgresql":
            connection.execute(_update_from_values(names, rows, now))
            continue
        params_list = []
        for delivery_id, changes in rows:
            params = {f"new_{name}": value for name, value in changes.items()}
            params["new_updated_at"] = now
            params["delivery_id"] = delivery_id
            params_list.append(params)
        connection.execute(delivery_update(names), params_list)


def _update_from_values(
    names: tuple[str, ...], rows: Sequence[tuple[int, dict[str, Any]]], now: datetime
) -> Update:
    """UPDATE deliveries SET … FROM (VALUES (id, new values…), …) for these rows; a first-seen
    time keeps the earlier of the stored and the new one, as the per-event statement does."""
    new = values(
        column("id", Integer),
        *(column(f"new_{name}", _DELIVERIES.c[name].type) for name in names),
        name="changed",
    ).data([(delivery_id, *(changes[name] for name in names)) for delivery_id, changes in rows])
    sets: dict[str, Any] = {"updated_at": now}
    for name in names:
        stored, value = _DELIVERIES.c[name], new.c[f"new_{name}"]
        sets[name] = (
            case((stored.is_(None) | (stored > value), value), else_=stored)
            if name in FIRST_SEEN_COLUMNS else value
        )
    return update(_DELIVERIES).where(_DELIVERIES.c.id == new.c.id).values(sets)


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
                done = self._batch_one_by_one()
            except Exception:
                log.exception("SES event batch failed; applying its events one by one")
                done = self._batch_one_by_one()
            if not done:
                break
            applied += done
        return applied

    def _batch_one_by_one(self) -> int:
        applied = 0
        for _ in range(self.size):
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
            log.exception("SES event not applied; setting it aside")
        except Exception:
            log.exception("SES event not applied; setting it aside")
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
