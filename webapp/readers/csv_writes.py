"""Reading and writing imported readers set-based: a few statements per thousand rows, never one
per row.

A list of 100,000 readers must be checked and written in seconds. On PostgreSQL a statement
takes its rows as one JSON parameter (`json_to_recordset`, `json_array_elements_text`): one
short, cached statement whatever the number of rows, where an `IN (…)` or a multi-row VALUES
of a thousand placeholders costs more to build and parse than to run, and a batch is written
in one statement. SQLite has no such thing: it gets `IN` chunks and executemany (SQLAlchemy's
"insertmanyvalues"), which it runs in-process.

Readers are upserted with `INSERT … ON CONFLICT (email_key) DO UPDATE … RETURNING`, guarded so
that a reader who left since the rows were checked is not opted in again. On PostgreSQL the
statement also leaves out every suppressed address itself (`NOT EXISTS` against the
suppressions, by email key and by the hash kept of an erased one): a batch needs no check
before it, and a suppression or a departure that came after the preview still wins.

A confirmed import on PostgreSQL goes one step further: its rows are copied into import_rows
once (COPY, copy_import_rows) and each of the worker's batches is one INSERT … SELECT that takes
its lines out of that table (write_staged_pg), so the worker builds and sends nothing per row.
What is left of a batch's time is the database's own: chiefly the foreign-key checks of the
topic links and consent records, one per row inserted, which PostgreSQL runs whatever the
statement (only a superuser could skip them).
"""

from __future__ import annotations

import base64
import hmac
import json
import os
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


def new_tokens(count: int) -> list[str]:
    """`count` of new_token()'s tokens (32 random bytes, URL-safe base64, unpadded), from one
    read of the system's random source instead of one each."""
    blob = os.urandom(32 * count)
    return [base64.urlsafe_b64encode(blob[i : i + 32]).rstrip(b"=").decode()
            for i in range(0, 32 * count, 32)]


def _chunks(items: Sequence[_T], size: int = CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _among(
    session: Session, column: Any, values: Sequence[Any]
) -> Iterator[ColumnElement[bool] | TextClause]:
    """`column` is one of `values`: one JSON array parameter on PostgreSQL, `IN` chunks on
    SQLite."""
    if is_postgresql(session):
        kind = "integer" if values and isinstance(values[0], int) else "varchar"
        name = f"among_{column.table.name}_{column.name}"
        among = (f"IN (SELECT CAST(value AS {kind}) "  # nosec B608: our column, a named type; values bound
                 f"FROM json_array_elements_text(CAST(:{name} AS json)))")
        yield text(f"{column.table.name}.{column.name} {among}").bindparams(
            **{name: json.dumps(list(values))})
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


def address_hash_of(secret: bytes, key: str) -> str:
    """address_hash's HMAC-SHA256, by the one-shot C function: a tenth of the time a key."""
    return hmac.digest(secret, key.encode(), "sha256").hex()


def suppressed_among(session: Session, keys: list[str], erasure_key: str) -> set[str]:
    """The email keys among `keys` that are suppressed, by address or by the hash kept of an
    erased one (as webapp.readers.suppressions.suppressed_keys, set-based)."""
    secret = erasure_key.encode()
    key_of_hash = {address_hash_of(secret, key): key for key in set(keys)}
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
    suppressed: list[CsvRow] = field(default_factory=list)  # PostgreSQL's guarded write only
    # The status of each refused reader who left, by email key, where the statement saw it.
    left: dict[str, str] = field(default_factory=dict)


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
    """Create or update the rows' readers (SQLite); their ids by email key (not the ones who
    left)."""
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
    session.execute(insert(_CONSENTS), [
        {"subscriber_id": s, "action": a, "source": ConsentSource.CSV.value, "detail": d,
         "created_at": at}
        for s, a, d in records
    ])


# PostgreSQL: a batch in one statement and one round trip. An address suppressed (by key, or by
# the hash kept of an erased one) is marked in the input and never inserted. The readers are
# upserted (a new row has xmax = 0: that tells created from updated); of a known reader's
# topics only those the row no longer names are deleted, and the others inserted unless there,
# so the two never touch the same link; every reader written gets a consent record built from
# its row and the attestation. A reader who left is untouched by the guard, absent from
# RETURNING, and so gets neither topics nor a record. The rows refused come back with why:
# `suppressed`, else the status of the reader who left as the statement saw it.
_WRITE_PG = text("""
WITH input AS (
    SELECT r.*,
           EXISTS (SELECT 1 FROM suppressions AS s WHERE s.email_key = r.email_key)
           OR EXISTS (SELECT 1 FROM suppressions AS s WHERE s.address_hash = r.address_hash)
           AS suppressed
    FROM json_to_recordset(CAST(:rows AS json))
        AS r(email varchar, email_key varchar, name varchar, language varchar,
             status varchar, token varchar, topic_ids json, topics json,
             address_hash varchar)
), up AS (
    INSERT INTO subscribers
        (email, email_key, name, language, status, token, tracking, created_at, updated_at)
    SELECT email, email_key, name, language, status, token, true, :at, :at FROM input
    WHERE NOT input.suppressed
    ON CONFLICT (email_key) DO UPDATE SET
        name = COALESCE(EXCLUDED.name, subscribers.name),
        language = EXCLUDED.language,
        status = EXCLUDED.status,
        updated_at = EXCLUDED.updated_at
    WHERE subscribers.status NOT IN ('unsubscribed', 'bounced', 'complained', 'erased')  -- _LEFT
       OR EXCLUDED.status = 'unsubscribed'
    RETURNING id, email_key, (xmax = 0) AS created
), wanted AS (
    SELECT up.id AS subscriber_id, CAST(t.value AS integer) AS topic_id
    FROM up JOIN input USING (email_key), json_array_elements_text(input.topic_ids) AS t
), unlinked AS (
    DELETE FROM subscriber_topics AS st USING up
    WHERE st.subscriber_id = up.id AND NOT up.created
      AND NOT EXISTS (SELECT 1 FROM wanted
                      WHERE wanted.subscriber_id = st.subscriber_id
                        AND wanted.topic_id = st.topic_id)
), linked AS (
    INSERT INTO subscriber_topics (subscriber_id, topic_id)
    SELECT subscriber_id, topic_id FROM wanted
    ON CONFLICT DO NOTHING
), recorded AS (
    INSERT INTO consent_records (subscriber_id, action, source, detail, created_at)
    SELECT up.id, CASE WHEN up.created THEN 'import' ELSE 'import-update' END, :source,
           CAST(jsonb_build_object('status', input.status, 'topics', input.topics,
                                   'language', input.language)
                || CAST(:consent AS jsonb) AS json),
           :at
    FROM up JOIN input USING (email_key)
)
SELECT email_key, created, NULL AS refused FROM up
UNION ALL
SELECT input.email_key, NULL, CASE WHEN input.suppressed THEN 'suppressed'
                                   ELSE COALESCE(CAST(s.status AS varchar), '') END
FROM input LEFT JOIN subscribers AS s USING (email_key)
WHERE input.email_key NOT IN (SELECT email_key FROM up)
""")


def write_guarded_pg(
    session: Session, rows: Sequence[CsvRow], topic_ids: dict[str, int], *,
    erasure_key: str, consent: dict[str, Any], now: datetime | None = None,
) -> Written:
    """write_rows on PostgreSQL with the database's checks in the statement: suppressed rows
    and readers who left are refused, in `suppressed` and `refused` (with `left`)."""
    secret = erasure_key.encode()
    values = [
        {"email": r.email, "email_key": (key := r.email.strip().lower()), "name": r.name,
         "language": r.language, "status": str(r.status), "token": token,
         "topic_ids": [topic_ids[slug] for slug in r.topics], "topics": r.topics,
         "address_hash": address_hash_of(secret, key)}
        for r, token in zip(rows, new_tokens(len(rows)), strict=True)
    ]
    result = session.execute(_WRITE_PG, {
        "rows": json.dumps(values, ensure_ascii=False),
        "consent": json.dumps(consent, ensure_ascii=False),
        "source": ConsentSource.CSV.value,
        "at": now or utcnow(),
    })
    written = Written()
    suppressed: set[str] = set()
    for key, created, refused in result:
        if refused is None:
            written.created += bool(created)
            written.updated += not created
        elif refused == "suppressed":
            suppressed.add(key)
        else:
            written.left[key] = refused
    for row in rows:
        key = row.email.strip().lower()
        if key in suppressed:
            written.suppressed.append(row)
        elif key in written.left:
            written.refused.append(row)
    return written


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
    record each (`consent` is added to every record's detail); the caller commits. SQLite's
    way: PostgreSQL's, checks included, is write_guarded_pg.

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


# --- a confirmed import's rows in the database (PostgreSQL) ---------------------------------

_IMPORT_ROW_COLUMNS = ("job_id", "line", "email", "email_key", "name", "language", "status",
                       "topics", "token", "address_hash")


def copy_import_rows(
    session: Session, job_id: int, rows: Sequence[Sequence[Any]], *, erasure_key: str
) -> None:
    """Copy a confirmed import's checked rows (csv_staged.row_fields: line, email, name,
    topics, language, status) into import_rows for the job, in one COPY, with each one's new
    reader token and address hash: the worker's batches then need nothing from the app but
    where to stop. PostgreSQL only."""
    secret = erasure_key.encode()
    # The session's own connection, so the rows come and go with the job's transaction.
    connection = session.connection().connection.driver_connection
    assert connection is not None  # nosec B101: a live session's connection is open
    columns = ", ".join(_IMPORT_ROW_COLUMNS)
    topics_json: dict[tuple[str, ...], str] = {}  # a list has a few sets of topics
    with connection.cursor() as cursor, cursor.copy(
        f"COPY import_rows ({columns}) FROM STDIN"  # nosec B608: our column names
    ) as copy:
        for (line, email, name, topics, language, status), token in zip(
            rows, new_tokens(len(rows)), strict=True
        ):
            key = email.strip().lower()
            chosen = tuple(topics)
            if (cell := topics_json.get(chosen)) is None:
                cell = topics_json[chosen] = json.dumps(topics, ensure_ascii=False)
            copy.write_row((job_id, line, email, key, name, language, status, cell, token,
                            address_hash_of(secret, key)))


class Refusal(NamedTuple):
    """A staged row the worker's statement did not import, and why: `topic_gone`,
    `suppressed`, else the status of the reader who left (as the statement saw it)."""

    line: int
    email: str
    why: str


@dataclass
class StagedWritten:
    rows: int = 0  # taken from import_rows
    created: int = 0
    updated: int = 0
    refused: list[Refusal] = field(default_factory=list)


# One batch of a confirmed import, in one statement: the job's rows up to a line are taken out
# of import_rows (so each is imported once, and a batch is undone with its transaction) and
# written as _WRITE_PG writes them, with the same guards: a row naming a topic retired or gone
# since the preview is refused, so is a suppressed address (by key, or by the hash of an erased
# one), and a reader who left is untouched. Topics are named by short name and found here.
# The rows of lines up to `after` were taken by the batches before.
_WRITE_STAGED_PG = text("""
WITH taken AS (
    -- Bounded below too: the index still holds the rows taken by the batches before.
    DELETE FROM import_rows WHERE job_id = :job AND line > :after AND line <= :upto
    RETURNING import_rows
), input AS (
    -- Through unnest: the planner takes it for 100 rows, as json_to_recordset above, and so
    -- joins the batch to the readers written by hashing. It would count the rows taken as
    -- the table's statistics say, often none (analysed when empty): then it joins them by
    -- nested loops, 5,000 × 5,000.
    SELECT r.*,
           EXISTS (SELECT 1 FROM json_array_elements_text(r.topics) AS t
                   WHERE NOT EXISTS (SELECT 1 FROM topics
                                     WHERE topics.slug = t.value AND NOT topics.retired))
           AS topic_gone,
           EXISTS (SELECT 1 FROM suppressions AS s WHERE s.email_key = r.email_key)
           OR EXISTS (SELECT 1 FROM suppressions AS s WHERE s.address_hash = r.address_hash)
           AS suppressed
    FROM unnest(ARRAY(SELECT import_rows FROM taken)) AS r
), up AS (
    INSERT INTO subscribers
        (email, email_key, name, language, status, token, tracking, created_at, updated_at)
    SELECT email, email_key, name, language, status, token, true, :at, :at FROM input
    WHERE NOT input.topic_gone AND NOT input.suppressed
    ON CONFLICT (email_key) DO UPDATE SET
        name = COALESCE(EXCLUDED.name, subscribers.name),
        language = EXCLUDED.language,
        status = EXCLUDED.status,
        updated_at = EXCLUDED.updated_at
    WHERE subscribers.status NOT IN ('unsubscribed', 'bounced', 'complained', 'erased')  -- _LEFT
       OR EXCLUDED.status = 'unsubscribed'
    RETURNING id, email_key, (xmax = 0) AS created
), wanted AS (
    SELECT up.id AS subscriber_id, topics.id AS topic_id, up.created
    FROM up JOIN input USING (email_key)
    CROSS JOIN json_array_elements_text(input.topics) AS t
    JOIN topics ON topics.slug = t.value
), unlinked AS (
    DELETE FROM subscriber_topics AS st USING up
    WHERE st.subscriber_id = up.id AND NOT up.created
      AND NOT EXISTS (SELECT 1 FROM wanted
                      WHERE wanted.subscriber_id = st.subscriber_id
                        AND wanted.topic_id = st.topic_id)
), linked AS (
    -- A reader created here has no links yet: a plain insert, cheaper than ON CONFLICT's.
    INSERT INTO subscriber_topics (subscriber_id, topic_id)
    SELECT subscriber_id, topic_id FROM wanted WHERE created
), relinked AS (
    INSERT INTO subscriber_topics (subscriber_id, topic_id)
    SELECT subscriber_id, topic_id FROM wanted WHERE NOT created
    ON CONFLICT DO NOTHING
), recorded AS (
    INSERT INTO consent_records (subscriber_id, action, source, detail, created_at)
    SELECT up.id, CASE WHEN up.created THEN 'import' ELSE 'import-update' END, :source,
           CAST(jsonb_build_object('status', input.status, 'topics', input.topics,
                                   'language', input.language)
                || CAST(:consent AS jsonb) AS json),
           :at
    FROM up JOIN input USING (email_key)
)
SELECT 'written' AS kind, CAST(NULL AS integer) AS line, CAST(NULL AS varchar) AS email,
       CAST(count(*) AS integer) AS rows,
       CAST(count(*) FILTER (WHERE up.created) AS integer) AS created,
       CAST(NULL AS varchar) AS refused
FROM up
UNION ALL
SELECT 'taken', NULL, NULL, CAST(count(*) AS integer), NULL, NULL FROM input
UNION ALL
SELECT 'refused', input.line, input.email, NULL, NULL,
       CASE WHEN input.topic_gone THEN 'topic_gone'
            WHEN input.suppressed THEN 'suppressed'
            ELSE COALESCE((SELECT CAST(s.status AS varchar) FROM subscribers AS s
                           WHERE s.email_key = input.email_key), '') END
FROM input
WHERE input.email_key NOT IN (SELECT email_key FROM up)
""")


def write_staged_pg(
    session: Session, job_id: int, after: int, upto: int, *, consent: dict[str, Any],
    now: datetime | None = None,
) -> StagedWritten:
    """Import the job's rows in import_rows after line `after` up to line `upto`
    (write_guarded_pg's way, from the table instead of a parameter); the caller commits."""
    result = session.execute(_WRITE_STAGED_PG, {
        "job": job_id, "after": after, "upto": upto,
        "consent": json.dumps(consent, ensure_ascii=False),
        "source": ConsentSource.CSV.value,
        "at": now or utcnow(),
    })
    written = StagedWritten()
    for kind, line, email, rows, created, refused in result:
        if kind == "refused":
            written.refused.append(Refusal(int(line), str(email), str(refused)))
        elif kind == "taken":
            written.rows = int(rows)
        else:
            written.created = int(created)
            written.updated = int(rows) - written.created
    written.refused.sort()
    return written
