"""The delivery store: every query the engine makes, each shaped for one reason."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    String,
    any_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from webapp.models import (
    BackgroundJob,
    Delivery,
    DeliveryStatus,
    Edition,
    EditionStatus,
    JobKind,
    OutboxFile,
    Subscriber,
    SubscriberStatus,
    Suppression,
    utcnow,
)

T = TypeVar("T")
Db = Session | Connection  # the store's statements run on either


def _postgres(db: Db) -> bool:
    bind = db if isinstance(db, Connection) else db.get_bind()
    return bind.dialect.name == "postgresql"


def _among(column: Any, postgres: bool, name: str = "ids") -> ColumnElement[bool]:
    """`column IN :ids`, the ids given at execution. On PostgreSQL `= ANY(:ids)` with one
    array parameter: the statement's text is the same however many ids, so SQLAlchemy
    compiles it once, psycopg parses it once and prepares it on the server (an IN list of n
    parameters was a new statement for each n, and its rendering cost more than the row
    updates); elsewhere an expanding IN."""
    if postgres:
        return column == any_(bindparam(name, type_=ARRAY(Integer)))  # type: ignore[no-any-return]
    return column.in_(bindparam(name, expanding=True))  # type: ignore[no-any-return]


_BUILT: dict[tuple[str, bool], Any] = {}


def _built(name: str, postgres: bool, build: Callable[[bool], T]) -> T:
    """A hot statement, built once per dialect with bind parameters and reused: SQLAlchemy
    then keeps its cache key too, instead of building and hashing it on every call."""
    statement: T | None = _BUILT.get((name, postgres))
    if statement is None:
        statement = _BUILT[(name, postgres)] = build(postgres)
    return statement


def _now() -> Any:
    return bindparam("now", type_=Delivery.__table__.c.updated_at.type)


class Autocommit:
    """One connection, held, that runs single statements each committed on its own (a worker's
    statements on the hot path: a chunk's in-doubt mark, a block of the schedule).

    A unit of work through a Session took a pooled connection (pinged), BEGIN, the statement
    and COMMIT: four round trips, and the ORM's bookkeeping, for one UPDATE; here it is one. A
    single statement is atomic, so committing it alone keeps every rule its transaction kept.
    PostgreSQL only (`for_sessions` gives None elsewhere: SQLite's writes go through the
    process's write lock, webapp.sqlite_writes). Shared by threads, one statement at a time
    (each is a short UPDATE); a connection lost with the database is dropped, and the next
    statement opens a new one (the caller's Outage retries).
    """

    def __init__(self, bind: Engine) -> None:
        self._bind = bind.execution_options(isolation_level="AUTOCOMMIT")
        self._connection: Connection | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_sessions(cls, sessions: object) -> Autocommit | None:
        bind = sessions.kw.get("bind") if isinstance(sessions, sessionmaker) else None
        if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
            return cls(bind)
        return None

    def run(self, statement: Callable[[Connection], T]) -> T:
        with self._lock:
            connection = self._connection
            if connection is None or connection.closed or connection.invalidated:
                connection = self._connection = self._bind.connect()
            try:
                return statement(connection)
            except DBAPIError as error:
                if error.connection_invalidated or connection.invalidated:
                    self.close()
                raise

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(DBAPIError):  # it was lost already
                connection.close()


@dataclass(frozen=True)
class ClaimedDelivery:
    """A claimed delivery with what sending it needs from its reader, read in one join."""

    id: int
    token: str
    variant_key: str
    email: str | None
    name: str | None
    subscriber_token: str
    language: str
    tracking: bool  # the reader has not opted out of open/click tracking
    eligible: bool  # still active and not suppressed at send time


def claim_batch(session: Db, edition_id: int, size: int, worker: str) -> list[int]:
    """Take up to `size` queued deliveries for this worker, lowest ids first.

    SKIP LOCKED lets several workers on PostgreSQL claim disjoint batches without waiting on
    each other; SQLite ignores it, and there a lock allows one worker only. The status moves to
    `sending` in the same transaction, so a claimed row is never claimed twice. On PostgreSQL
    it is one statement, built once (an ORM update of a thousand-id IN list was a twentieth of
    a worker's CPU).
    """
    if _postgres(session):
        return sorted(session.scalars(_built("claim", True, _claim), {
            "claim_edition": edition_id, "size": size, "worker": worker, "now": utcnow(),
        }))
    stmt = (
        select(Delivery.id)
        .where(Delivery.edition_id == edition_id, Delivery.status == DeliveryStatus.QUEUED)
        .order_by(Delivery.id)
        .limit(size)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(stmt))
    if ids:
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ids))
            .values(
                status=DeliveryStatus.SENDING,
                claimed_by=worker,
                claimed_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    return ids


def edition_sending(db: Db, edition_id: int) -> bool:
    status = db.scalar(select(Edition.__table__.c.status)
                       .where(Edition.__table__.c.id == edition_id))
    return bool(status == EditionStatus.SENDING)


def _claim(_postgres: bool) -> Any:
    table = Delivery.__table__.c
    queued = (
        select(table.id)
        .where(table.edition_id == bindparam("claim_edition"),
               table.status == DeliveryStatus.QUEUED)
        .order_by(table.id)
        .limit(bindparam("size", type_=Integer))
        .with_for_update(skip_locked=True)
    )
    return (
        update(Delivery.__table__)  # type: ignore[arg-type]
        .where(table.id.in_(queued.scalar_subquery()))
        .values(status=DeliveryStatus.SENDING, claimed_by=bindparam("worker"),
                claimed_at=_now(), updated_at=_now())
        .returning(table.id)
    )


def load_claimed(session: Db, ids: Sequence[int]) -> list[ClaimedDelivery]:
    """The claimed rows with their readers; eligibility is read now, not at planning time,
    so an unsubscribe or a suppression after the plan still stops the message."""
    stmt = _built("load_claimed", _postgres(session), _load_claimed)
    return [ClaimedDelivery(*row) for row in session.execute(stmt, {"ids": list(ids)}).tuples()]


def _load_claimed(postgres: bool) -> Any:
    delivery, subscriber = Delivery.__table__.c, Subscriber.__table__.c
    suppressed = exists().where(Suppression.__table__.c.email_key == subscriber.email_key)
    return (
        select(
            delivery.id,
            delivery.token,
            delivery.variant_key,
            subscriber.email,
            subscriber.name,
            subscriber.token,
            subscriber.language,
            subscriber.tracking,
            (subscriber.status == SubscriberStatus.ACTIVE) & ~suppressed,
        )
        .join_from(Delivery.__table__, Subscriber.__table__,
                   subscriber.id == delivery.subscriber_id)
        .where(_among(delivery.id, postgres))
        .order_by(delivery.id)
    )


def set_status(
    session: Session,
    ids: Sequence[int],
    status: DeliveryStatus,
    *,
    error: str | None = None,
    failed_attempt: bool = False,
    only_from: DeliveryStatus | None = None,
) -> int:
    """Move deliveries to `status` (one UPDATE for the lot); returns how many moved.

    `only_from` moves only those still in that status, for callers that chose the ids a moment
    earlier and must not overwrite what another process recorded since.
    """
    if not ids:
        return 0
    values: dict[str, object] = {"status": status, "error": error, "updated_at": utcnow()}
    if failed_attempt:
        values["attempts"] = Delivery.attempts + 1
    if status == DeliveryStatus.QUEUED:
        values.update(claimed_by=None, claimed_at=None, in_doubt_at=None)
    elif status == DeliveryStatus.IN_DOUBT:
        values["in_doubt_at"] = utcnow()
    elif status == DeliveryStatus.SENT:
        values["sent_at"] = utcnow()
    stmt = update(Delivery).where(Delivery.id.in_(ids))
    if only_from is not None:
        stmt = stmt.where(Delivery.status == only_from)
    result = session.execute(stmt.values(**values))
    return int(getattr(result, "rowcount", 0) or 0)


def mark_in_doubt(
    session: Db, ids: Sequence[int], worker: str, *, while_sending: int | None = None
) -> list[int] | None:
    """Mark this worker's claimed deliveries in doubt, right before their call; returns the ids
    that were still its own.

    A worker cut off from the database for longer than its heartbeat allows may have had its
    claims given back (and taken by another worker): only rows still claimed by it may be
    sent. Rows it already marked count as its own, so a retry after a commit whose answer was
    lost finds them again.

    `while_sending`: only while that edition is still `sending`, checked in the same
    statement; None (nothing marked) once it is not, so a pause or a cancel takes effect
    chunk by chunk.
    """
    return _mark_in_doubt(session, ids, worker, while_sending)


def _mark_in_doubt(
    db: Db, ids: Sequence[int], worker: str, edition_id: int | None
) -> list[int] | None:
    if not ids:
        return []
    postgres = _postgres(db)
    params = {"ids": list(ids), "worker": worker, "now": utcnow()}
    if edition_id is None:
        return list(db.scalars(_built("in_doubt", postgres, _in_doubt), params))
    marked = list(db.scalars(_built("in_doubt_while_sending", postgres, _in_doubt_while_sending),
                             params | {"sending_edition": edition_id}))
    if marked:
        return marked
    # Nothing marked: the edition left `sending`, or every claim was lost.
    status = db.scalar(select(Edition.__table__.c.status)
                       .where(Edition.__table__.c.id == edition_id))
    return [] if status == EditionStatus.SENDING else None


def _in_doubt(postgres: bool) -> Any:
    table = Delivery.__table__.c
    return (
        update(Delivery.__table__)  # type: ignore[arg-type]
        .where(
            _among(table.id, postgres),
            table.claimed_by == bindparam("worker"),
            table.status.in_([DeliveryStatus.SENDING, DeliveryStatus.IN_DOUBT]),
        )
        .values(status=DeliveryStatus.IN_DOUBT, in_doubt_at=_now(), error=None,
                updated_at=_now())
        .returning(table.id)
    )


def _in_doubt_while_sending(postgres: bool) -> Any:
    editions = Edition.__table__.c
    sending = select(editions.status).where(editions.id == bindparam("sending_edition"))
    return _in_doubt(postgres).where(sending.scalar_subquery() == EditionStatus.SENDING)


def note_in_doubt(session: Session, ids: Sequence[int], reason: str) -> None:
    """Why these deliveries stay in doubt, on those still in doubt; their `in_doubt_at` is
    kept (it dates the evidence SES's events are weighed against)."""
    if not ids:
        return
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.IN_DOUBT)
        .values(error=reason, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def release_claims(session: Session, ids: Sequence[int], worker: str) -> None:
    """Claimed deliveries that were never handed over go back to the queue — those this worker
    still holds (another may have taken them while this one was cut off)."""
    if not ids:
        return
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.claimed_by == worker,
               Delivery.status == DeliveryStatus.SENDING)
        .values(status=DeliveryStatus.QUEUED, claimed_by=None, claimed_at=None,
                in_doubt_at=None, error=None, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def mark_sent(session: Session, delivery_id: int, message_id: str | None) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(
            status=DeliveryStatus.SENT,
            message_id=message_id,
            sent_at=utcnow(),
            error=None,
            updated_at=utcnow(),
        )
    )


def mark_sent_many(session: Db, sent: Sequence[tuple[int, str | None]]) -> None:
    """mark_sent for a whole chunk in one statement (one per row cost ~20% of a message's CPU).

    On PostgreSQL an UPDATE … FROM unnest(ids, message ids), so the tally triggers run once
    per chunk (an executemany ran them per row and doubled a chunk's settling time); two array
    parameters keep the statement's text the same for every chunk, so SQLAlchemy compiles it
    once (a VALUES list of the chunk's rows was compiled anew for each, ~15% of a message's
    CPU). SQLite counts row by row anyway, so there it is an executemany.
    """
    if not sent:
        return
    now = utcnow()
    if _postgres(session):
        session.execute(_built("sent_many", True, _sent_many), {
            "ids": [i for i, _ in sent], "message_ids": [m for _, m in sent], "now": now,
        })
        return
    session.execute(
        _built("sent_many", False, _sent_many),
        [{"delivery_id": i, "ses_message_id": m, "now": now} for i, m in sent],
    )


def _sent_many(postgres: bool) -> Any:
    table = Delivery.__table__
    settled = {"status": DeliveryStatus.SENT, "sent_at": _now(), "error": None,
               "updated_at": _now()}
    if postgres:
        answers = (
            func.unnest(
                cast(bindparam("ids"), ARRAY(Integer)),
                cast(bindparam("message_ids"), ARRAY(String)),
            )
            .table_valued("delivery_id", "ses_message_id")
            .render_derived(name="answers")
        )
        return (
            update(table)  # type: ignore[arg-type]
            .where(table.c.id == answers.c.delivery_id)
            .values(message_id=answers.c.ses_message_id, **settled)
        )
    return (
        update(table)  # type: ignore[arg-type]
        .where(table.c.id == bindparam("delivery_id"))
        .values(message_id=bindparam("ses_message_id"), **settled)
    )


def index_outbox_files(session: Session, files: Sequence[tuple[int, str]]) -> None:
    """Record which outbox file holds which delivery (and so whose message), in the
    transaction that records them sent: erasure finds a reader's files here, never by reading
    the whole outbox."""
    if not files:
        return
    readers = dict(
        session.execute(
            select(Delivery.id, Delivery.subscriber_id).where(
                Delivery.id.in_([delivery_id for delivery_id, _ in files])
            )
        ).tuples().all()
    )
    session.execute(
        insert(OutboxFile),
        [
            {"name": name, "delivery_id": delivery_id, "subscriber_id": readers.get(delivery_id)}
            for delivery_id, name in files
        ],
    )
    # A reader erased while their message was on its way: its file came after the erasure's
    # redaction, so it gets one of its own.
    erased = session.scalars(
        select(Subscriber.id).where(
            Subscriber.id.in_(set(readers.values())),
            Subscriber.status == SubscriberStatus.ERASED,
        )
    )
    for reader_id in erased:
        session.add(BackgroundJob(kind=JobKind.REDACT_OUTBOX, subscriber_id=reader_id))


def attempts_of(session: Session, ids: Sequence[int]) -> dict[int, int]:
    if not ids:  # every settled chunk asks, almost always for none: no statement for that
        return {}
    stmt = select(Delivery.id, Delivery.attempts).where(Delivery.id.in_(ids))
    return dict(session.execute(stmt).tuples().all())


def editions_with_work(session: Session) -> list[int]:
    """Editions in `sending` that still have queued deliveries, oldest send first."""
    has_queued = exists().where(
        Delivery.edition_id == Edition.id, Delivery.status == DeliveryStatus.QUEUED
    )
    stmt = (
        select(Edition.id)
        .where(Edition.status == EditionStatus.SENDING, has_queued)
        .order_by(Edition.send_started_at, Edition.id)
    )
    return list(session.scalars(stmt))
