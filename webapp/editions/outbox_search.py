"""Searching the outbox transport's files: by recipient, subject, edition and time written,
newest first, paged by keyset.

The files are the record (the outbox index holds whose message a file is, not its subject), so
the search walks the file names, which start with the UTC time they were written: the name is
the keyset. A page is the first `per_page` matches after a cursor name, never an OFFSET, so a
message written while someone pages never shifts what they see or shows one twice. Filters are
applied cheapest first: the time from the name, the edition from the delivery id in the name
(one query per batch of names), then the headers, read only for files still in the running and
remembered per file version, so paging on reads each file's headers once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from functools import lru_cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.editions.outbox import (
    OutboxEntry,
    delivery_of,
    is_message_name,
    message_names,
    written_at_of,
)
from webapp.models import Delivery, Edition

PAGE_SIZE = 50
# Names judged per round trip to the database (edition filter) and to the disk.
_BATCH = 200


class UnknownEditionFilter(LookupError):
    """No edition for the month asked for."""


class BadCursor(ValueError):
    """A paging link that does not name an outbox file (edited or truncated by hand)."""


@dataclass(frozen=True)
class OutboxQuery:
    """What to look for; empty parts match everything. Times are UTC, `until` exclusive."""

    recipient: str = ""
    subject: str = ""
    month: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def filtered(self) -> bool:
        return bool(self.recipient or self.subject or self.month or self.since or self.until)


@dataclass(frozen=True)
class OutboxResults:
    """One page of matches, newest first, and the cursors to the pages either side."""

    entries: list[OutboxEntry]
    newer_than: str | None  # pass as `after` for the newer page; None when there is none
    older_than: str | None  # pass as `before` for the older page; None when there is none


@dataclass(frozen=True)
class _Headers:
    to: str
    addresses: str  # the To addresses alone, lowercase, for the recipient search
    subject: str
    size: int


_HEAD_CHUNK = 8192
_HEAD_LIMIT = 256 * 1024  # headers longer than this are cut (ours are a few KB)


def _head(path: str) -> bytes:
    """The file up to the blank line that ends its headers: a message's body (tens of KB)
    is never read for a search."""
    head = b""
    with open(path, "rb") as handle:
        while len(head) < _HEAD_LIMIT:
            chunk = handle.read(_HEAD_CHUNK)
            if not chunk:
                break
            start = max(0, len(head) - 3)
            head += chunk
            end = min((i for i in (head.find(b"\r\n\r\n", start), head.find(b"\n\n", start))
                       if i >= 0), default=-1)
            if end >= 0:
                return head[: end + 2]
    return head


def _decoded(raw: object) -> str:
    """A header's text, unfolded, with RFC 2047 encoded words decoded."""
    if raw is None:
        return ""
    text = str(raw)
    try:
        return str(make_header(decode_header(text)))
    except (HeaderParseError, LookupError, UnicodeDecodeError):
        return text


_FOLD = re.compile(r"\r?\n(?=[ \t])")


def _fields(head: bytes) -> dict[str, str]:
    """The header fields of a message head, by lowercase name (the first of each), unfolded.

    A plain scan: the files are the outbox's own, and the email package's parser costs a
    millisecond a file, which a search through every file of a large outbox would feel."""
    fields: dict[str, str] = {}
    text = _FOLD.sub("", head.decode("utf-8", "replace"))
    for line in text.splitlines():
        name, colon, value = line.partition(":")
        if colon and name and name == name.strip():
            fields.setdefault(name.lower(), value.strip())
    return fields


@lru_cache(maxsize=20_000)
def _headers_of(path: str, _mtime_ns: int, size: int) -> _Headers:
    # Keyed by the file's version too: an erasure rewrites a reader's files (redaction).
    fields = _fields(_head(path))
    to = _decoded(fields.get("to"))
    # The address part alone: "Name <address>" or a bare address (or several).
    addresses = " ".join(re.findall(r"<([^<>]*)>", to) or [to])
    return _Headers(to=to, addresses=addresses.lower(), subject=_decoded(fields.get("subject")),
                    size=size)


def _read_headers(root: Path, name: str) -> _Headers | None:
    path = root / name
    try:
        stat = path.stat()
        return _headers_of(str(path), stat.st_mtime_ns, stat.st_size)
    except FileNotFoundError:  # removed between the listing and now
        return None


def _edition_id(session: Session, month: str) -> int:
    found = session.scalar(select(Edition.id).where(Edition.month == month))
    if found is None:
        raise UnknownEditionFilter(month)
    return found


def _of_edition(session: Session, edition_id: int, names: list[str]) -> set[str]:
    """The names among `names` holding a delivery of the edition (test sends carry none)."""
    by_delivery = {d: n for n in names if (d := delivery_of(n)) is not None}
    if not by_delivery:
        return set()
    # Through the deliveries' primary key: one indexed lookup per name, whatever the size of
    # the edition.
    kept = session.scalars(
        select(Delivery.id).where(
            Delivery.id.in_(list(by_delivery)), Delivery.edition_id == edition_id
        )
    )
    return {by_delivery[d] for d in kept}


def _matches(
    session: Session, root: Path, query: OutboxQuery, names: list[str]
) -> Iterator[OutboxEntry]:
    """The entries among `names` (in the order given) that the query keeps."""
    edition_id = _edition_id(session, query.month) if query.month else None
    recipient = query.recipient.strip().lower()
    subject = query.subject.strip().casefold()
    for start in range(0, len(names), _BATCH):
        batch = names[start : start + _BATCH]
        timed: list[tuple[str, datetime]] = []
        for name in batch:
            at = written_at_of(root / name)
            if at is None:
                continue
            if (query.since is None or at >= query.since) and (
                query.until is None or at < query.until
            ):
                timed.append((name, at))
        if edition_id is not None:
            kept = _of_edition(session, edition_id, [n for n, _ in timed])
            timed = [(n, at) for n, at in timed if n in kept]
        for name, at in timed:
            headers = _read_headers(root, name)
            if headers is None:
                continue
            if recipient and recipient not in headers.addresses:
                continue
            if subject and subject not in headers.subject.casefold():
                continue
            yield OutboxEntry(name=name, written_at=at, to=headers.to, subject=headers.subject,
                              size=headers.size)


def _first(entries: Iterator[OutboxEntry], count: int) -> list[OutboxEntry]:
    found: list[OutboxEntry] = []
    for entry in entries:
        found.append(entry)
        if len(found) == count:
            break
    return found


def search_outbox(
    session: Session,
    directory: str | Path,
    query: OutboxQuery,
    *,
    before: str | None = None,
    after: str | None = None,
    per_page: int = PAGE_SIZE,
) -> OutboxResults:
    """One page of the messages matching `query`, newest first: the newest of all, those
    written before the file `before` (the older page), or after the file `after` (the newer).

    Raises UnknownEditionFilter or BadCursor for a query no page can answer.
    """
    for cursor in (before, after):
        if cursor is not None and not is_message_name(cursor):
            raise BadCursor(cursor)
    root = Path(directory)
    names = message_names(root)  # newest first
    if after is not None:
        # The newer page: walk up from the cursor, keep the `per_page` closest to it.
        upward = [n for n in reversed(names) if n > after]
        page = _first(_matches(session, root, query, upward), per_page + 1)
        more_newer = len(page) > per_page
        entries = list(reversed(page[:per_page]))
        older = [n for n in names if n <= after]
        more_older = bool(entries) and bool(_first(_matches(session, root, query, older), 1))
    else:
        downward = [n for n in names if before is None or n < before]
        page = _first(_matches(session, root, query, downward), per_page + 1)
        more_older = len(page) > per_page
        entries = page[:per_page]
        newer = [n for n in reversed(names) if before is not None and n >= before]
        more_newer = bool(entries) and bool(_first(_matches(session, root, query, newer), 1))
    return OutboxResults(
        entries=entries,
        newer_than=entries[0].name if entries and more_newer else None,
        older_than=entries[-1].name if entries and more_older else None,
    )


def edition_months(session: Session) -> list[str]:
    """The months the edition filter offers, newest first."""
    return list(session.scalars(select(Edition.month).order_by(Edition.month.desc())))
