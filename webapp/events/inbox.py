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

from psycopg import errors, pq
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
    b"INSERT INTO sns_receipts (message_id, type, topic_arn, received_at, message, occurred_at, "
    b"processed_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
    b"ON CONFLICT (message_id) DO NOTHING RETURNING id"
)
_PG_STORE_NAME = b"yuebao_sns_store"
_TEXT, _TIMESTAMPTZ = 25, 1184  # PostgreSQL's type oids of the statement's parameters
_PG_STORE_TYPES = [_TEXT, _TEXT, _TEXT, _TIMESTAMPTZ, _TEXT, _TIMESTAMPTZ, _TIMESTAMPTZ]
_NO_SUCH_STATEMENT = b"26000"  # invalid_sql_statement_name: not prepared on this connection


def _text(value: str | None) -> bytes | None:
    return None if value is None else value.encode()


def _time(value: datetime | None) -> bytes | None:
    return None if value is None else value.isoformat().encode()


@dataclass(frozen=True)
class PsycopgInbox:
    """The same statements through libpq itself (psycopg's `pq` layer) on a psycopg
    connection in autocommit mode, this inbox's alone: each INSERT is a transaction of its own.

    /hooks/ses on PostgreSQL stores one notification per request. SQLAlchemy's execution
    machinery (checkout, begin, parameter processing, commit) measured four times the CPU of
    the INSERT itself; psycopg's own (cursor, adapting each parameter, its wait loop) was
    still a quarter of the hook's CPU. Here the statement is prepared once per connection and
    each INSERT is one blocking libpq call (psycopg's C implementation releases the GIL in it)
    with the parameters as text, which PostgreSQL reads with the prepared types.
    """

    connection: Any

    def _insert(self, params: list[bytes | None]) -> bool:
        pgconn = self.connection.pgconn
        result = pgconn.exec_prepared(_PG_STORE_NAME, params)
        if (result.status == pq.ExecStatus.FATAL_ERROR
                and result.error_field(pq.DiagnosticField.SQLSTATE) == _NO_SUCH_STATEMENT):
            prepared = pgconn.prepare(_PG_STORE_NAME, _PG_STORE, _PG_STORE_TYPES)
            if prepared.status != pq.ExecStatus.COMMAND_OK:
                raise errors.error_from_result(prepared)
            result = pgconn.exec_prepared(_PG_STORE_NAME, params)
        if result.status != pq.ExecStatus.TUPLES_OK:
            raise errors.error_from_result(result)
        stored: bool = result.ntuples == 1
        return stored

    def notification(self, notification: Notification) -> bool:
        return self._insert([
            _text(notification.message_id), b"Notification", _text(notification.topic_arn),
            _time(utcnow()), _text(notification.message), _time(notification.occurred_at), None,
        ])

    def receipt(self, message_id: str, type_: str, topic_arn: str) -> bool:
        now = _time(utcnow())
        return self._insert([_text(message_id), _text(type_), _text(topic_arn), now, None, None,
                             now])
