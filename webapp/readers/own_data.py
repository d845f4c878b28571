"""A reader's own data: export it as JSON, or erase it.

Erasure removes the personal fields of the reader and of their ledger entries, keeps a keyed
hash of the address as a suppression (so it is never mailed again unless the person
subscribes anew), takes back mails not yet sent to them, scrubs the address from any other
stored text, and queues the redaction of their outbox files: the worker redacts them through
the index of outbox files, so the request never reads the outbox, however large.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, String, Table, Text, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session

from webapp.config import Settings
from webapp.mailer import is_request
from webapp.models import (
    BackgroundJob,
    Base,
    ConsentSource,
    Delivery,
    Edition,
    Event,
    JobKind,
    JobStatus,
    OutboxFile,
    Subscriber,
    SubscriberStatus,
    Suppression,
    email_key,
    utcnow,
)
from webapp.readers.consent import (
    ConsentAction,
    Origin,
    consent_fields,
    record_consent,
    redact_consents,
)
from webapp.readers.erasure_journal import ErasureEntry, append_erasure, journal_path
from webapp.readers.subscriptions import LINK_REQUEST, SUBSCRIBE_REQUEST
from webapp.readers.suppressions import address_hash
from webapp.webhook_queue import enqueue_subscriber_event, purge_webhook_payloads

log = logging.getLogger(__name__)

REDACTED = "[erased]"
# Handled field by field in erase(); every other table is scrubbed generically, except what
# belongs to console accounts: an editor who also reads the report and erases their reader
# data keeps their sign-in, and the audit log keeps who did what in the console. Jobs: the
# reader's own mails are deleted, the others are mails to console users (password resets).
# The outbox index holds file names only, and grows with the outbox: it is never scanned.
_NOT_SCRUBBED = frozenset(
    {
        "subscribers.*",
        "consent_records.*",
        "suppressions.*",
        "users.*",
        "audit_log.actor",
        "background_jobs.*",
        "outbox_files.*",
    }
)


def export_data(session: Session, subscriber: Subscriber) -> dict[str, Any]:
    """Profile, topics, consent records, deliveries and events, as the reader downloads them."""

    def when(moment: Any) -> str | None:
        return moment.isoformat() if moment is not None else None

    return {
        "exported_at": utcnow().isoformat(),
        "profile": {
            "email": subscriber.email,
            "name": subscriber.name,
            "company": subscriber.company,
            "language": subscriber.language,
            "status": subscriber.status.value,
            "tracking": subscriber.tracking,
            "paused_until": when(subscriber.paused_until),
            "pending_email": subscriber.new_email,
            "subscribed_at": when(subscriber.created_at),
            "confirmed_at": when(subscriber.confirmed_at),
        },
        "topics": [
            {"slug": t.slug, "name_zh": t.name_zh, "name_en": t.name_en}
            for t in subscriber.topics
        ],
        "consent_records": [
            {**consent_fields(record), "at": when(record.created_at)}
            for record in subscriber.consents
        ],
        "deliveries": [
            {
                "edition": month,
                "status": delivery.status.value,
                "variant": delivery.variant_key,
                "sent_at": when(delivery.sent_at),
                "delivered_at": when(delivery.delivered_at),
                "opened_at": when(delivery.opened_at),
                "clicked_at": when(delivery.clicked_at),
                "bounced_at": when(delivery.bounced_at),
                "complained_at": when(delivery.complained_at),
            }
            for delivery, month in session.execute(
                select(Delivery, Edition.month)
                .join(Edition, Edition.id == Delivery.edition_id)
                .where(Delivery.subscriber_id == subscriber.id)
                .order_by(Delivery.id)
            ).tuples()
        ],
        "events": [
            {
                "at": when(event.occurred_at),
                "kind": event.kind,
                "link": event.item_number,
                "bounce_type": event.bounce_type,
                "detail": event.payload,
            }
            for event in session.scalars(
                select(Event).where(Event.subscriber_id == subscriber.id).order_by(Event.id)
            )
        ],
    }


def export_json(session: Session, subscriber: Subscriber) -> str:
    return json.dumps(export_data(session, subscriber), ensure_ascii=False, indent=2)


def erase(
    session: Session, settings: Settings, subscriber: Subscriber, origin: Origin
) -> None:
    """Erase the reader's personal data from the database; the caller commits.

    Their outbox files are redacted after the commit by a job (webapp.delivery.jobs) that finds
    them through the index of outbox files: the request costs the same whatever the outbox
    holds, and the job is committed with the erasure, so it cannot be lost.
    """
    if subscriber.status == SubscriberStatus.ERASED:
        return
    keys = sorted({email_key(a) for a in (subscriber.email, subscriber.new_email) if a})
    # The erase entry itself carries no IP or user agent: they would be personal data too.
    record_consent(session, subscriber, ConsentAction.ERASE, origin.source, text_version=None)
    session.flush()
    redact_consents(session, subscriber.id)
    # Mails to them not yet sent go (sent ones keep no message any more).
    session.execute(
        delete(BackgroundJob).where(
            BackgroundJob.subscriber_id == subscriber.id, BackgroundJob.kind == JobKind.MAIL
        )
    )
    _drop_unanswered_requests(session, keys)
    # Stored SES events and tracking hits carry addresses, IPs and user agents: what happened
    # and when stays (for the edition's figures), the payload goes.
    # Only rows that hold one: on PostgreSQL every row updated leaves a dead copy behind.
    session.execute(
        update(Event)
        .where(Event.subscriber_id == subscriber.id, Event.payload.is_not(None))
        .values(payload=None)
    )
    for key in keys:
        _keep_hash_only(session, settings.erasure_key, key)
    subscriber.email = subscriber.email_key = subscriber.new_email = None
    subscriber.name = subscriber.company = None
    subscriber.status = SubscriberStatus.ERASED
    subscriber.paused_until = None
    subscriber.topics = []
    session.flush()
    purge_webhook_payloads(session, subscriber.id)
    enqueue_subscriber_event(session, "subscriber.erased", subscriber)
    for key in keys:
        scrub_address(session, key)
    # Before the commit: should the commit fail, a later restore erases a reader who asked to
    # be erased, which errs on the reader's side.
    append_erasure(journal_path(settings.var_dir), ErasureEntry(
        at=utcnow(), subscriber_id=subscriber.id,
        hashes=tuple(address_hash(settings.erasure_key, key) for key in keys),
    ))
    session.add(BackgroundJob(kind=JobKind.REDACT_OUTBOX, subscriber_id=subscriber.id))


READER_REQUESTS = frozenset({SUBSCRIBE_REQUEST, LINK_REQUEST})


def _drop_unanswered_requests(session: Session, keys: Sequence[str]) -> None:
    """The public forms' requests for these addresses that the worker has not answered yet
    (webapp.mailer.queue_request): they hold the address, and answering them after the
    erasure would only mail someone who asked to be forgotten. Requests name no reader (the
    forms do not look the address up), so they are found by the address in their fields; an
    answered request keeps no fields. A password reset is a console account's and stays."""
    pending = session.scalars(
        select(BackgroundJob).where(
            BackgroundJob.kind == JobKind.MAIL,
            BackgroundJob.subscriber_id.is_(None),
            BackgroundJob.status != JobStatus.DONE,
        )
    )
    for job in pending:
        payload = job.payload or {}
        fields = payload.get("fields")
        if (
            is_request(payload)
            and payload.get("request") in READER_REQUESTS
            and isinstance(fields, dict)
            and email_key(str(fields.get("email", ""))) in keys
        ):
            session.delete(job)


@dataclass(frozen=True)
class Reapplied:
    erased: int  # readers in the restored database erased again
    suppressed: int  # hashes suppressed of readers who came after the backup
    skipped: int  # entries the restored database already reflects


def _live_hashes(session: Session, erasure_key: str) -> dict[str, int]:
    """The address hash of every reader not erased, to their id."""
    rows = session.execute(
        select(Subscriber.id, Subscriber.email, Subscriber.new_email)
        .where(Subscriber.status != SubscriberStatus.ERASED)
    )
    found: dict[str, int] = {}
    for reader_id, address, new_address in rows:
        for value in (address, new_address):
            if value:
                found[address_hash(erasure_key, value)] = reader_id
    return found


# Journal lines are written just before their erasure commits: an entry this much older than
# the backup's mark may still have committed after the copy was taken.
REAPPLY_MARGIN = timedelta(minutes=10)


def reapply_erasures(
    session: Session, settings: Settings, entries: Iterable[ErasureEntry],
    since: datetime | None,
) -> Reapplied:
    """Erase again, in a restored database, the readers the journal says were erased after
    the backup (`since`; None: every entry). The caller commits.

    An entry applies to its reader only while their address still hashes to one of the
    entry's hashes: a reader erased before the backup and subscribed anew since is left alone.
    """
    erased = suppressed = skipped = 0
    origin = Origin(ConsentSource.ADMIN)
    by_hash: dict[str, int] | None = None
    for entry in entries:
        if since is not None and entry.at < since - REAPPLY_MARGIN:
            continue
        subscriber = session.get(Subscriber, entry.subscriber_id)
        if subscriber is None:
            # The reader came after the backup. Their address may still be in it on another
            # row (a pending sign-up purged since, say): hash every live address once to find it.
            if by_hash is None:
                by_hash = _live_hashes(session, settings.erasure_key)
            for hashed in entry.hashes:
                if hashed in by_hash:
                    other = session.get(Subscriber, by_hash.pop(hashed))
                    if other is not None and other.status != SubscriberStatus.ERASED:
                        erase(session, settings, other, origin)
                        erased += 1
                if session.scalar(
                    select(Suppression.id).where(Suppression.address_hash == hashed)
                ) is None:
                    session.add(Suppression(address_hash=hashed, reason="erased",
                                            source="reader"))
                    suppressed += 1
            session.flush()
            continue
        addresses = [a for a in (subscriber.email, subscriber.new_email) if a]
        own = {address_hash(settings.erasure_key, a) for a in addresses}
        if subscriber.status == SubscriberStatus.ERASED or not own & set(entry.hashes):
            skipped += 1
            continue
        erase(session, settings, subscriber, origin)
        erased += 1
    return Reapplied(erased=erased, suppressed=suppressed, skipped=skipped)


def _keep_hash_only(session: Session, erasure_key: str, key: str) -> None:
    """Replace a suppression by address with one by hash, or add an `erased` one."""
    hashed = address_hash(erasure_key, key)
    by_hash = session.scalar(select(Suppression).where(Suppression.address_hash == hashed))
    by_key = session.scalar(select(Suppression).where(Suppression.email_key == key))
    if by_key is not None and by_hash is None:
        # Keep the reason (a complaint stays a complaint); only the address goes.
        by_key.email_key, by_key.address_hash, by_key.note = None, hashed, None
    elif by_key is not None:
        session.delete(by_key)
    elif by_hash is None:
        session.add(Suppression(address_hash=hashed, reason="erased", source="reader"))
    session.flush()


def _text_columns(table: Table) -> Iterable[Any]:
    for column in table.columns:
        if isinstance(column.type, String | Text | JSON):
            yield column


def _replace(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(REDACTED, value)
    if isinstance(value, list):
        return [_replace(v, pattern) for v in value]
    if isinstance(value, dict):
        return {k: _replace(v, pattern) for k, v in value.items()}
    return value


def scrub_address(session: Session, key: str) -> int:
    """Replace the address wherever else it was written (audit details, test sends, error
    texts …) with a marker; returns the number of rows changed.

    A full scan of every text column: erasure is rare, and a list of known places would
    silently miss the next table that stores an address.
    """
    pattern = re.compile(re.escape(key), re.IGNORECASE)
    # JSON columns may hold a non-ASCII address as \\u escapes.
    needles = sorted({key, json.dumps(key)[1:-1].lower()})
    changed = 0
    for table in Base.metadata.sorted_tables:
        if f"{table.name}.*" in _NOT_SCRUBBED:
            continue
        primary = list(table.primary_key.columns)
        for column in _text_columns(table):
            if f"{table.name}.{column.name}" in _NOT_SCRUBBED:
                continue
            text = cast(column, Text) if isinstance(column.type, JSON) else column
            found = or_(*(func.lower(text).contains(n, autoescape=True) for n in needles))
            for *ids, value in session.execute(select(*primary, column).where(found)).all():
                stmt = (
                    update(table)
                    .where(*(pk == ident for pk, ident in zip(primary, ids, strict=True)))
                    .values({column.name: _replace(value, pattern)})
                )
                session.execute(stmt)
                changed += 1
    return changed


def reader_files(session: Session, subscriber_id: int) -> list[str]:
    """The reader's outbox files not yet redacted, from the index: their editions (by
    delivery) and their system mails (by reader)."""
    theirs = select(Delivery.id).where(Delivery.subscriber_id == subscriber_id)
    stmt = (
        select(OutboxFile.name)
        .where(
            OutboxFile.redacted_at.is_(None),
            or_(OutboxFile.subscriber_id == subscriber_id, OutboxFile.delivery_id.in_(theirs)),
        )
        .order_by(OutboxFile.name)
    )
    return list(session.scalars(stmt))


def mark_redacted(session: Session, names: Sequence[str], now: datetime) -> None:
    if names:
        session.execute(
            update(OutboxFile).where(OutboxFile.name.in_(names)).values(redacted_at=now)
        )


class LogNotEmptied(RuntimeError):
    """SQLite's write-ahead log could not be emptied yet (a reader held an old snapshot)."""


def empty_log(session: Session) -> None:
    """On SQLite, copy the write-ahead log into the database file and cut it to zero bytes.

    The log keeps whole pages as they were before each commit, an erased reader's among them,
    until it is reused from the start; with secure_delete on, the checkpointed file keeps none
    of what was erased. TRUNCATE waits (busy timeout) for readers on an older snapshot and
    writers, and reports busy if they outlast it: LogNotEmptied, for the job to try again.
    PostgreSQL needs no call here and has no cheap equivalent (README: a rewrite of the tables).
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    busy, pages, copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    if busy:
        raise LogNotEmptied(f"checkpoint busy: {copied} of {pages} log pages copied")


def _redacted_note(raw: bytes) -> bytes:
    """A valid message in place of the original, keeping only what identifies the send."""
    original = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    note = EmailMessage(policy=policy.SMTP)
    for header in ("From", "Date", "Message-ID"):
        if original[header]:
            note[header] = str(original[header])
    note["Subject"] = "[redacted]"
    note["X-Yuebao-Redacted"] = "erased"
    note.set_content(
        "This message was redacted because its recipient erased their data.\n"
        "本邮件的收件人已删除其个人数据，邮件内容已被清除。\n"
    )
    return note.as_bytes()


def redact_file(directory: Path, name: str) -> bool:
    """Overwrite one outbox file with a short redacted note; False if it is not there.

    Redacted rather than deleted: the file list still shows that something was sent then. The
    file is replaced atomically (temporary file, then os.replace). Only a plain file name
    directly in the outbox is accepted: the index never leads anywhere else.
    """
    if Path(name).name != name or name.startswith("."):
        raise ValueError(f"not an outbox file name: {name!r}")
    path = directory / name
    try:
        raw = path.read_bytes()
    except FileNotFoundError:  # removed by hand since: nothing left to redact
        return False
    fd, temp = tempfile.mkstemp(dir=directory, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(_redacted_note(raw))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    log.info("outbox: redacted a message of an erased reader", extra={"fields": {"file": name}})
    return True
