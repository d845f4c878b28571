"""Writing imported readers set-based: a few statements per thousand rows, never one per row.

A list of 100,000 readers must be checked and written in seconds, on PostgreSQL and SQLite
alike: the readers are upserted with `INSERT … ON CONFLICT (email_key) DO UPDATE … RETURNING`,
their topics replaced and their consent records appended with multi-row inserts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

from sqlalchemy import Table, delete, func, insert, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from webapp.models import (
    ConsentRecord,
    ConsentSource,
    Subscriber,
    SubscriberStatus,
    Topic,
    subscriber_topics,
    utcnow,
)
from webapp.models.base import new_token

if TYPE_CHECKING:
    from webapp.readers.subscribers_csv import CsvRow

# Rows a statement carries: 9 parameters a reader stays far below SQLite's 32,766 and
# PostgreSQL's 65,535 bound parameters.
CHUNK = 1000

_T = TypeVar("_T")

_SUBSCRIBERS = cast(Table, Subscriber.__table__)
_CONSENTS = cast(Table, ConsentRecord.__table__)


def _chunks(items: Sequence[_T], size: int = CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Current(NamedTuple):
    """What a reader named by an imported row is now."""

    id: int
    status: SubscriberStatus
    name: str | None
    language: str
    topics: tuple[str, ...]  # short names


def current_readers(session: Session, keys: list[str]) -> dict[str, Current]:
    """The readers with these email keys, by key, with their topics' short names.

    Plain rows in chunks, not ORM objects: a list may name 100,000 readers.
    """
    found: dict[str, tuple[int, SubscriberStatus, str | None, str]] = {}
    for part in _chunks(sorted(set(keys))):
        stmt = select(
            Subscriber.email_key, Subscriber.id, Subscriber.status, Subscriber.name,
            Subscriber.language,
        ).where(Subscriber.email_key.in_(part))
        for key, *values in session.execute(stmt):
            if key:
                found[key] = (values[0], values[1], values[2], values[3])
    slugs: dict[int, list[str]] = {}
    ids = [values[0] for values in found.values()]
    for part_ids in _chunks(ids):
        stmt = (
            select(subscriber_topics.c.subscriber_id, Topic.slug)
            .join(Topic, Topic.id == subscriber_topics.c.topic_id)
            .where(subscriber_topics.c.subscriber_id.in_(part_ids))
            .order_by(Topic.position, Topic.id)
        )
        for subscriber_id, slug in session.execute(stmt):
            slugs.setdefault(subscriber_id, []).append(slug)
    return {
        key: Current(id_, status, name, language, tuple(slugs.get(id_, ())))
        for key, (id_, status, name, language) in found.items()
    }


@dataclass
class Written:
    created: int = 0
    updated: int = 0
    refused: list[CsvRow] = field(default_factory=list)  # readers who left since the check


def _upsert(session: Session) -> Any:
    """Create the reader, or update the one with that address unless they left in the
    meantime (the guard holds even against a change committed after the rows were checked)."""
    dialect = session.get_bind().dialect.name
    insert_of = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert_of(_SUBSCRIBERS)
    left = [s.value for s in (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED,
                              SubscriberStatus.COMPLAINED, SubscriberStatus.ERASED)]
    return stmt.on_conflict_do_update(
        index_elements=[_SUBSCRIBERS.c.email_key],
        set_={
            "name": func.coalesce(stmt.excluded.name, _SUBSCRIBERS.c.name),
            "language": stmt.excluded.language,
            "status": stmt.excluded.status,
            "updated_at": stmt.excluded.updated_at,
        },
        where=or_(
            _SUBSCRIBERS.c.status.not_in(left),
            stmt.excluded.status == SubscriberStatus.UNSUBSCRIBED.value,
        ),
    ).returning(_SUBSCRIBERS.c.id, _SUBSCRIBERS.c.email_key)


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
    by_key = {row.email.strip().lower(): row for row in rows}
    ids: dict[str, int] = {}
    upsert = _upsert(session)
    for part in _chunks(rows):
        values = [
            {
                "email": row.email,
                "email_key": row.email.strip().lower(),
                "name": row.name,
                "language": row.language,
                "status": row.status,
                "token": new_token(),
                "tracking": True,
                "created_at": at,
                "updated_at": at,
            }
            for row in part
        ]
        stmt = upsert.values(values)
        ids.update({key: id_ for id_, key in session.execute(stmt)})
    for key, row in by_key.items():
        if key not in ids:
            written.refused.append(row)
    known = [ids[key] for key in ids if key in existing]
    for part_ids in _chunks(known):
        session.execute(
            delete(subscriber_topics).where(subscriber_topics.c.subscriber_id.in_(part_ids))
        )
    links = [
        {"subscriber_id": id_, "topic_id": topic_ids[slug]}
        for key, id_ in ids.items()
        for slug in by_key[key].topics
    ]
    for part_links in _chunks(links):
        session.execute(insert(subscriber_topics).values(list(part_links)))
    records = []
    for key, id_ in ids.items():
        row = by_key[key]
        is_new = key not in existing
        written.created += is_new
        written.updated += not is_new
        records.append({
            "subscriber_id": id_,
            "action": "import" if is_new else "import-update",
            "source": ConsentSource.CSV.value,
            "detail": {"status": row.status.value, "topics": list(row.topics),
                       "language": row.language, **consent},
            "created_at": at,
        })
    for part_records in _chunks(records):
        session.execute(insert(_CONSENTS).values(list(part_records)))
    return written
