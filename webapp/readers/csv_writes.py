"""Reading and writing imported readers set-based: a few statements per thousand rows, never one
per row.

A list of 100,000 readers must be checked and written in seconds. On PostgreSQL every statement
takes its rows as arrays (`= ANY(:keys)`, `INSERT … SELECT FROM unnest(…)`): one short, cached
statement whatever the number of rows, where an `IN (…)` or a multi-row VALUES of a thousand
placeholders costs more to build and parse than to run. SQLite has no arrays: it gets `IN` and
executemany (SQLAlchemy's "insertmanyvalues"), which it runs in-process.

Readers are upserted with `INSERT … ON CONFLICT (email_key) DO UPDATE … RETURNING`, guarded so
that a reader who left since the rows were checked is not opted in again.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from sqlalchemy import (
    Table,
    and_,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement, TextClause

from webapp.models import (
    ConsentRecord,
    ConsentSource,
    Subscriber,
    SubscriberStatus,
    Suppression,
    Topic,
    subscriber_topics,
    utcnow,
)
from webapp.models.base import new_token

if TYPE_CHECKING:
    from webapp.readers.subscribers_csv import CsvRow

# Rows a SQLite statement carries: far below its 32,766 bound parameters.
CHUNK = 1000

_T = TypeVar("_T")

_SUBSCRIBERS = cast(Table, Subscriber.__table__)
_CONSENTS = cast(Table, ConsentRecord.__table__)
_LEFT = ("unsubscribed", "bounced", "complained", "erased")


def _chunks(items: Sequence[_T], size: int = CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _among(
    session: Session, column: Any, values: Sequence[Any]
) -> Iterator[ColumnElement[bool] | TextClause]:
    """`column` is one of `values`: one JSON array parameter on PostgreSQL, `IN` chunks on
    SQLite."""
    if _postgresql(session):
        kind = "integer" if values and isinstance(values[0], int) else "varchar"
        name = f"among_{column.table.name}_{column.name}"
        yield text(
            f"{column.table.name}.{column.name} IN (SELECT CAST(value AS {kind}) "
            f"FROM json_array_elements_text(CAST(:{name} AS json)))"
        ).bindparams(**{name: json.dumps(list(values))})
        return
    for part in _chunks(values):
        yield column.in_(part)


class Current(NamedTuple):
    """What a reader named by an imported row is now."""

    id: int
    status: SubscriberStatus
    name: str | None
    language: str
    topics: tuple[str, ...]  # short names


def current_readers(session: Session, keys: list[str]) -> dict[str, Current]:
    """The readers with these email keys, by key, with their topics' short names.

    Plain rows, not ORM objects: a list may name 100,000 readers.
    """
    found: dict[str, tuple[int, SubscriberStatus, str | None, str]] = {}
    for where in _among(session, Subscriber.email_key, sorted(set(keys))):
        stmt = select(
            Subscriber.email_key, Subscriber.id, Subscriber.status, Subscriber.name,
            Subscriber.language,
        ).where(where)
        for key, id_, status, name, language in session.execute(stmt):
            if key:
                found[key] = (id_, status, name, language)
    slugs: dict[int, list[str]] = {}
    ids = [values[0] for values in found.values()]
    for where in _among(session, subscriber_topics.c.subscriber_id, ids) if ids else ():
        stmt = (
            select(subscriber_topics.c.subscriber_id, Topic.slug)
            .join(Topic, Topic.id == subscriber_topics.c.topic_id)
            .where(where)
            .order_by(Topic.position, Topic.id)
        )
        for subscriber_id, slug in session.execute(stmt):
            slugs.setdefault(subscriber_id, []).append(slug)
    return {
        key: Current(id_, status, name, language, tuple(slugs.get(id_, ())))
        for key, (id_, status, name, language) in found.items()
    }


def suppressed_among(session: Session, keys: list[str], erasure_key: str) -> set[str]:
    """The email keys among `keys` that are suppressed, by address or by the hash kept of an
    erased one (as webapp.readers.suppressions.suppressed_keys, set-based)."""
    secret = erasure_key.encode()
    # address_hash's HMAC-SHA256, by the one-shot C function: a tenth of the time a key.
    key_of_hash = {hmac.digest(secret, key.encode(), "sha256").hex(): key for key in set(keys)}
    found: set[str] = set()
    by_key = list(_among(session, Suppression.email_key, sorted(set(keys))))
    by_hash = list(_among(session, Suppression.address_hash, sorted(key_of_hash)))
    for where_key, where_hash in zip(by_key, by_hash, strict=True):
        stmt = select(Suppression.email_key, Suppression.address_hash).where(
            or_(where_key, where_hash)
        )
        for key, hashed in session.execute(stmt):
            found.add(key if key else key_of_hash.get(hashed, ""))
    found.discard("")
    return found & set(keys)


@dataclass
class Written:
    created: int = 0
    updated: int = 0
    refused: list[CsvRow] = field(default_factory=list)  # readers who left since the check


# PostgreSQL: every row in one statement, its rows one JSON parameter (a string is passed as
# it is; a list of 100,000 would be adapted value by value). The guard (WHERE) leaves a reader
# who left untouched, and RETURNING then leaves them out: they are the refused rows.
_UPSERT_PG = text(f"""
INSERT INTO subscribers
    (email, email_key, name, language, status, token, tracking, created_at, updated_at)
SELECT r.email, r.email_key, r.name, r.language, r.status, r.token, true, :at, :at
FROM json_to_recordset(CAST(:rows AS json))
     AS r(email varchar, email_key varchar, name varchar, language varchar, status varchar,
          token varchar)
ON CONFLICT (email_key) DO UPDATE SET
    name = COALESCE(EXCLUDED.name, subscribers.name),
    language = EXCLUDED.language,
    status = EXCLUDED.status,
    updated_at = EXCLUDED.updated_at
WHERE subscribers.status NOT IN ({", ".join(f"'{s}'" for s in _LEFT)})
   OR EXCLUDED.status = 'unsubscribed'
RETURNING id, email_key
""")
_LINKS_PG = text(
    "INSERT INTO subscriber_topics (subscriber_id, topic_id) "
    "SELECT r.s, r.t FROM json_to_recordset(CAST(:links AS json)) AS r(s integer, t integer)"
)
_UNLINK_PG = text(
    "DELETE FROM subscriber_topics WHERE subscriber_id IN "
    "(SELECT CAST(value AS integer) FROM json_array_elements_text(CAST(:subscribers AS json)))"
)
_CONSENTS_PG = text("""
INSERT INTO consent_records (subscriber_id, action, source, detail, created_at)
SELECT r.s, r.a, :source, r.d, :at
FROM json_to_recordset(CAST(:records AS json)) AS r(s integer, a varchar, d json)
""")


def _upsert_sqlite() -> Any:
    stmt = sqlite.insert(_SUBSCRIBERS)
    return stmt.on_conflict_do_update(
        index_elements=[_SUBSCRIBERS.c.email_key],
        set_={
            "name": func.coalesce(stmt.excluded.name, _SUBSCRIBERS.c.name),
            "language": stmt.excluded.language,
            "status": stmt.excluded.status,
            "updated_at": stmt.excluded.updated_at,
        },
        # Constants written into the SQL: an executemany takes no list parameter (IN).
        where=or_(
            and_(*(_SUBSCRIBERS.c.status != literal_column(f"'{value}'") for value in _LEFT)),
            stmt.excluded.status == literal_column("'unsubscribed'"),
        ),
    ).returning(_SUBSCRIBERS.c.id, _SUBSCRIBERS.c.email_key)


def _upsert(session: Session, rows: Sequence[CsvRow], at: datetime) -> dict[str, int]:
    """Create or update the rows' readers; their ids by email key (not the ones who left)."""
    if _postgresql(session):
        values = [
            {"email": r.email, "email_key": r.email.strip().lower(), "name": r.name,
             "language": r.language, "status": str(r.status), "token": new_token()}
            for r in rows
        ]
        result = session.execute(_UPSERT_PG, {"rows": json.dumps(values), "at": at})
        return {key: id_ for id_, key in result}
    ids: dict[str, int] = {}
    upsert = _upsert_sqlite()
    for part in _chunks(rows):
        batch: list[dict[str, Any]] = [
            {"email": r.email, "email_key": r.email.strip().lower(), "name": r.name,
             "language": r.language, "status": r.status, "token": new_token(),
             "tracking": True, "created_at": at, "updated_at": at}
            for r in part
        ]
        ids.update({key: id_ for id_, key in session.execute(upsert, batch)})
    return ids


def _replace_topics(
    session: Session, replaced: list[int], links: list[tuple[int, int]]
) -> None:
    if _postgresql(session):
        if replaced:
            session.execute(_UNLINK_PG, {"subscribers": json.dumps(replaced)})
        if links:
            session.execute(_LINKS_PG, {"links": json.dumps([{"s": s, "t": t}
                                                             for s, t in links])})
        return
    for part in _chunks(replaced):
        session.execute(
            delete(subscriber_topics).where(subscriber_topics.c.subscriber_id.in_(part))
        )
    if links:
        session.execute(insert(subscriber_topics),
                        [{"subscriber_id": s, "topic_id": t} for s, t in links])


def _add_consents(session: Session, records: list[tuple[int, str, dict[str, Any]]],
                  at: datetime) -> None:
    if not records:
        return
    if _postgresql(session):
        session.execute(_CONSENTS_PG, {
            "records": json.dumps([{"s": s, "a": a, "d": d} for s, a, d in records],
                                  ensure_ascii=False),
            "source": ConsentSource.CSV.value,
            "at": at,
        })
        return
    session.execute(insert(_CONSENTS), [
        {"subscriber_id": s, "action": a, "source": ConsentSource.CSV.value, "detail": d,
         "created_at": at}
        for s, a, d in records
    ])


def write_rows(
    session: Session,
    rows: Sequence[CsvRow],
    existing: dict[str, Current],
    topic_ids: dict[str, int],
    *,
    consent: dict[str, Any],
    now: datetime | None = None,
) -> Written:
    """Create or update the readers of valid rows, replace their topics and append a consent
    record each (`consent` is added to every record's detail); the caller commits.

    `existing` is what the rows were checked against, to tell new readers from known ones.
    """
    at = now or utcnow()
    written = Written()
    if not rows:
        return written
    by_key = {row.email.strip().lower(): row for row in rows}
    ids = _upsert(session, rows, at)
    written.refused = [row for key, row in by_key.items() if key not in ids]
    _replace_topics(
        session,
        [id_ for key, id_ in ids.items() if key in existing],
        [(id_, topic_ids[slug]) for key, id_ in ids.items() for slug in by_key[key].topics],
    )
    records = []
    for key, id_ in ids.items():
        row = by_key[key]
        is_new = key not in existing
        written.created += is_new
        written.updated += not is_new
        detail = {"status": str(row.status), "topics": list(row.topics),
                  "language": row.language, **consent}
        records.append((id_, "import" if is_new else "import-update", detail))
    _add_consents(session, records, at)
    return written
