"""The inbox of SES events: stored fast when they arrive, applied later by the workers.

Receiving an event (over HTTP from SNS, or from an SQS queue) must cost far less than applying
it: SNS retries a slow or failing endpoint only a few times, so a fast send to a big list would
lose events. The receiver verifies the notification and stores it here, one row per SNS
MessageId in `sns_receipts` (a repeat changes nothing); the workers drain the rows that have not
been applied yet, hundreds at a time (webapp.events.batch).

A crash between receipt and processing loses nothing: the row stays unprocessed until a
worker's transaction that applied it commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import Connection, TextClause, bindparam, text

from webapp.models import utcnow
from webapp.models.event import SnsReceipt

# Rows per INSERT: 5 parameters each stays under every driver's limit (SQLite's 32,766).
MAX_ROWS_PER_STATEMENT = 1000


@dataclass(frozen=True)
class Notification:
    """One verified SNS notification of an SES event, as the receiver stores it.

    `message_id` is SNS's MessageId (the key that makes a repeat change nothing), `message`
    the SES event exactly as SNS carried it (JSON text), `occurred_at` SES's own time of the
    event when the receiver read it (None: the worker reads it from the message).
    """

    message_id: str
    topic_arn: str
    message: str
    occurred_at: datetime | None = None


_TYPE = SnsReceipt.__table__.c.received_at.type


@lru_cache(maxsize=64)
def _insert(rows: int) -> TextClause:
    """INSERT … VALUES (…), (…) ON CONFLICT DO NOTHING RETURNING id for `rows` rows.

    One statement for the whole batch, and RETURNING counts the new rows on both backends (a
    repeat, or a concurrent duplicate waiting on the first one's commit, returns none).
    Written as text, one per batch size, because SQLAlchemy 2.0 does not cache the dialects'
    own insert() constructs: they would be compiled on every call.
    """
    values = ", ".join(
        f"(:m{n}, 'Notification', :t{n}, :received_at, :x{n}, :o{n})" for n in range(rows)
    )
    return text(
        "INSERT INTO sns_receipts (message_id, type, topic_arn, received_at, message, "  # nosec B608: only numbered placeholders are formatted in
        f"occurred_at) VALUES {values} ON CONFLICT (message_id) DO NOTHING RETURNING id"
    ).bindparams(
        bindparam("received_at", type_=_TYPE),
        *(bindparam(f"o{n}", type_=_TYPE) for n in range(rows)),
    )


def store(
    connection: Connection, notifications: Sequence[Notification], now: datetime | None = None
) -> int:
    """Store already-verified notifications for the workers; returns how many were new.

    One INSERT … ON CONFLICT DO NOTHING per MAX_ROWS_PER_STATEMENT rows. The caller commits:
    only then may it answer SNS (or delete the SQS messages).
    """
    received_at = now or utcnow()
    stored = 0
    for start in range(0, len(notifications), MAX_ROWS_PER_STATEMENT):
        chunk = notifications[start:start + MAX_ROWS_PER_STATEMENT]
        params: dict[str, object] = {"received_at": received_at}
        for n, notification in enumerate(chunk):
            params[f"m{n}"] = notification.message_id
            params[f"t{n}"] = notification.topic_arn
            params[f"x{n}"] = notification.message
            params[f"o{n}"] = notification.occurred_at
        stored += len(connection.execute(_insert(len(chunk)), params).fetchall())
    return stored


# INSERT … ON CONFLICT DO NOTHING RETURNING (PostgreSQL, SQLite 3.35+): a repeat returns no
# row, and a concurrent duplicate waits for the first one's commit and returns none either —
# one round trip instead of a SELECT and an INSERT. Only SES events wait in the inbox: any
# other SNS message is done with once kept.
_KEEP_RECEIPT = text(
    "INSERT INTO sns_receipts (message_id, type, topic_arn, received_at, processed_at) "
    "VALUES (:message_id, :type, :topic_arn, :received_at, :received_at) "
    "ON CONFLICT (message_id) DO NOTHING RETURNING id"
).bindparams(bindparam("received_at", type_=_TYPE))


def keep_receipt(
    connection: Connection, message_id: str, type_: str, topic_arn: str,
    now: datetime | None = None,
) -> bool:
    """Keep the MessageId of an SNS message that needs no processing (a subscription
    confirmation…); False when it was kept before (the message is a repeat)."""
    params = {"message_id": message_id, "type": type_, "topic_arn": topic_arn,
              "received_at": now or utcnow()}
    return connection.execute(_KEEP_RECEIPT, params).first() is not None


class Inbox(Protocol):
    """Where a receiver keeps verified SNS messages; each method says False for a repeat."""

    def notification(self, notification: Notification) -> bool: ...

    def receipt(self, message_id: str, type_: str, topic_arn: str) -> bool: ...


@dataclass(frozen=True)
class ConnectionInbox:
    """The inbox through an SQLAlchemy connection; its owner commits."""

    connection: Connection

    def notification(self, notification: Notification) -> bool:
        return store(self.connection, [notification]) == 1

    def receipt(self, message_id: str, type_: str, topic_arn: str) -> bool:
        return keep_receipt(self.connection, message_id, type_, topic_arn)


_PG_STORE = (
    "INSERT INTO sns_receipts (message_id, type, topic_arn, received_at, message, occurred_at, "
    "processed_at) VALUES (%s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (message_id) DO NOTHING RETURNING id"
)


@dataclass(frozen=True)
class PsycopgInbox:
    """The same statements straight on a psycopg cursor of a connection in autocommit mode:
    each is a transaction of its own. /hooks/ses on PostgreSQL stores one notification per
    request, and SQLAlchemy's execution machinery (checkout, begin, parameter processing,
    commit) measured four times the CPU of the INSERT itself (0.24 of 0.30 ms). The cursor may
    be kept for the connection's life (a new one per request cost ~10 µs)."""

    cursor: Any

    def _insert(self, params: tuple[object, ...]) -> bool:
        # prepare=True: a server-side prepared statement from the first use on a connection.
        self.cursor.execute(_PG_STORE, params, prepare=True)
        return self.cursor.fetchone() is not None

    def notification(self, notification: Notification) -> bool:
        return self._insert((notification.message_id, "Notification", notification.topic_arn,
                             utcnow(), notification.message, notification.occurred_at, None))

    def receipt(self, message_id: str, type_: str, topic_arn: str) -> bool:
        now = utcnow()
        return self._insert((message_id, type_, topic_arn, now, None, None, now))
