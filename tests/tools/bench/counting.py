"""`python -m tests.tools.bench.counting [--postgres] [-n N]`: how to keep the stats counters.

Times the candidate mechanisms for the counters beside the tallies (readers joining and leaving
per month, hard bounces and unsubscribes per delivery, clicks per item) on the write paths
that change them, each operation in a transaction of its own as a request has:

- `none`: the write alone, nothing counted (what counting costs is the difference);
- `explicit`: the write in Core, then set-based upserts called by the code (the old
  `webapp.stats.aggregates` functions, as SQL);
- `listener`: the reader's status changed through the ORM, counted by a `before_flush`
  listener (the old design; here registered on this one session, not process-wide);
- `trigger`: the write alone, counted by the database (migration 0012), from Core or the ORM.

The candidates without triggers run on the database downgraded to 0011, the others at head.
Prints ms per operation (bulk: ms for the whole statement) as a table, or JSON with --json.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import click
from sqlalchemy import (
    Engine,
    Table,
    bindparam,
    event,
    func,
    insert,
    inspect,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from tests.tools.bench.population import _numbers, _token, throwaway_database
from webapp import migrate
from webapp.db import make_engine
from webapp.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    EditionStatus,
    Subscriber,
    SubscriberStatus,
    utcnow,
)
from webapp.models.base import UTCDateTime, new_token
from webapp.models.event import Event
from webapp.models.stats import DEPARTURES, MONTH_FIGURES, RECEIVING, month_of

SUBSCRIBERS: Table = Subscriber.__table__  # type: ignore[assignment]
EVENTS: Table = Event.__table__  # type: ignore[assignment]
RECEIVING_VALUES = [s.value for s in RECEIVING]

# The explicit candidate's statements: what aggregates._upsert and credit_unsubscribe ran.
MONTH_UPSERT = text(
    f"INSERT INTO reader_months (month, {', '.join(MONTH_FIGURES)}) "
    f"VALUES (:month, {', '.join(':' + f for f in MONTH_FIGURES)}) ON CONFLICT (month) DO UPDATE "
    f"SET {', '.join(f'{f} = reader_months.{f} + excluded.{f}' for f in MONTH_FIGURES)}"
)
CREDIT_UNSUBSCRIBE = text(
    "INSERT INTO delivery_outcomes (delivery_id, edition_id, unsubscribed_at) "
    "SELECT id, edition_id, :at FROM deliveries WHERE subscriber_id = :reader "
    "AND status = 'sent' AND sent_at <= :at ORDER BY sent_at DESC, id DESC LIMIT 1 "
    "ON CONFLICT (delivery_id) DO UPDATE SET unsubscribed_at = excluded.unsubscribed_at "
    "WHERE delivery_outcomes.unsubscribed_at IS NULL "
    "OR delivery_outcomes.unsubscribed_at > excluded.unsubscribed_at"
).bindparams(bindparam("at", type_=UTCDateTime()))
HARD_BOUNCE_UPSERT = text(
    "INSERT INTO delivery_outcomes (delivery_id, edition_id, hard_bounced_at) "
    "VALUES (:delivery, :edition, :at) "
    "ON CONFLICT (delivery_id) DO UPDATE SET hard_bounced_at = excluded.hard_bounced_at "
    "WHERE delivery_outcomes.hard_bounced_at IS NULL "
    "OR delivery_outcomes.hard_bounced_at > excluded.hard_bounced_at"
).bindparams(bindparam("at", type_=UTCDateTime()))
CLICK_UPSERT = text(
    "INSERT INTO item_clicks (delivery_id, item_number, edition_id, clicks, first_clicked_at) "
    "VALUES (:delivery, :number, :edition, 1, :at) "
    "ON CONFLICT (delivery_id, item_number) DO UPDATE SET clicks = item_clicks.clicks + 1, "
    "first_clicked_at = CASE WHEN excluded.first_clicked_at < item_clicks.first_clicked_at "
    "THEN excluded.first_clicked_at ELSE item_clicks.first_clicked_at END"
).bindparams(bindparam("at", type_=UTCDateTime()))


def count_month(session: Session, figure: str, n: int = 1) -> None:
    counts = dict.fromkeys(MONTH_FIGURES, 0)
    counts[figure] = n
    session.execute(MONTH_UPSERT, {"month": month_of(utcnow()), **counts})


def listen_for_status_changes(session: Session) -> None:
    """The old listener, on this session only: count each reader whose status entered or left
    the receiving ones, before the flush writes it."""

    def before_flush(session: Session, _context: Any, _instances: Any) -> None:
        for obj in [*session.new, *session.dirty]:
            if not isinstance(obj, Subscriber):
                continue
            history = inspect(obj).attrs.status.history
            if not history.added:
                continue
            before = history.deleted[0] if history.deleted else None
            was, now_receiving = before in RECEIVING, obj.status in RECEIVING
            if now_receiving and not was:
                count_month(session, "joined")
            elif was and obj.status in DEPARTURES:
                count_month(session, DEPARTURES[obj.status])
                if obj.status == SubscriberStatus.UNSUBSCRIBED:
                    session.execute(CREDIT_UNSUBSCRIBE, {"reader": obj.id, "at": utcnow()})

    event.listen(session, "before_flush", before_flush)


# ---- the data ---------------------------------------------------------------------------


class Readers:
    """Active readers with one sent delivery each, handed out in disjoint slices."""

    def __init__(self, engine: Engine, count: int) -> None:
        sent_at = utcnow() - timedelta(hours=1)
        with Session(engine) as session:
            edition = Edition(month="2024-07", title="bench", status=EditionStatus.SENT)
            session.add(edition)
            session.flush()
            readers = [
                Subscriber(email=f"r{n}@bench.example.com", email_key=f"r{n}@bench.example.com",
                           status=SubscriberStatus.ACTIVE)
                for n in range(count)
            ]
            session.add_all(readers)
            session.flush()
            session.add_all(
                Delivery(edition_id=edition.id, subscriber_id=r.id, variant_key="zh-CN:ai",
                         token=new_token(), status=DeliveryStatus.SENT, sent_at=sent_at,
                         message_id=f"ses-{r.id}")
                for r in readers
            )
            session.commit()
            rows = session.execute(
                select(Delivery.subscriber_id, Delivery.id, Delivery.edition_id).order_by(
                    Delivery.id
                )
            )
            self.rows = [tuple(row) for row in rows]
        self.next = 0

    def take(self, n: int) -> list[tuple[int, int, int]]:
        """(reader id, delivery id, edition id) of n readers no candidate has touched."""
        chosen = self.rows[self.next : self.next + n]
        assert len(chosen) == n, "not enough readers seeded"
        self.next += n
        return chosen


def per_operation(engine: Engine, rows: list[Any], step: Callable[[Session, Any], None],
                  setup: Callable[[Session], None] | None = None) -> float:
    """ms per row, each row's step in a transaction of its own."""
    with Session(engine, expire_on_commit=False) as session:
        if setup:
            setup(session)
        started = time.perf_counter()
        for row in rows:
            step(session, row)
            session.commit()
        return (time.perf_counter() - started) * 1000 / len(rows)


def new_event(kind: str, row: tuple[int, int, int], **extra: Any) -> dict[str, Any]:
    reader, delivery, edition = row
    values = {
        "kind": kind, "source": "ses", "delivery_id": delivery, "subscriber_id": reader,
        "edition_id": edition, "item_number": None, "ses_message_id": f"ses-{delivery}",
        "bounce_type": None, "bounce_subtype": None, "suspected_scanner": False,
        "occurred_at": utcnow(), "received_at": utcnow(), "payload": None,
    }
    values.update(extra)
    return values


# ---- the write paths ----------------------------------------------------------------------


def unsubscribe_core(session: Session, row: tuple[int, int, int], *, explicit: bool) -> None:
    changed = session.execute(
        update(SUBSCRIBERS)
        .where(SUBSCRIBERS.c.id == row[0], SUBSCRIBERS.c.status.in_(RECEIVING_VALUES))
        .values(status=SubscriberStatus.UNSUBSCRIBED, updated_at=utcnow())
    )
    if explicit and changed.rowcount:  # type: ignore[attr-defined]
        count_month(session, "unsubscribed")
        session.execute(CREDIT_UNSUBSCRIBE, {"reader": row[0], "at": utcnow()})


def unsubscribe_orm(session: Session, row: tuple[int, int, int]) -> None:
    reader = session.get(Subscriber, row[0])
    assert reader is not None
    reader.status = SubscriberStatus.UNSUBSCRIBED


def bounce(session: Session, row: tuple[int, int, int], *, how: str) -> None:
    """A permanent bounce: the event row, the hard bounce, the reader marked bounced."""
    at = utcnow()
    session.execute(insert(EVENTS), new_event("bounce", row, bounce_type="Permanent",
                                              occurred_at=at))
    if how in ("explicit", "listener"):
        session.execute(HARD_BOUNCE_UPSERT, {"delivery": row[1], "edition": row[2], "at": at})
    if how == "listener":
        reader = session.get(Subscriber, row[0])
        assert reader is not None
        reader.status = SubscriberStatus.BOUNCED
        session.flush()
        return
    changed = session.execute(
        update(SUBSCRIBERS)
        .where(SUBSCRIBERS.c.id == row[0], SUBSCRIBERS.c.status.in_(RECEIVING_VALUES))
        .values(status=SubscriberStatus.BOUNCED, updated_at=at)
    )
    if how == "explicit" and changed.rowcount:  # type: ignore[attr-defined]
        count_month(session, "bounced")


def click_event(session: Session, row: tuple[int, int, int], *, explicit: bool) -> None:
    at = utcnow()
    session.execute(insert(EVENTS), new_event("click", row, source="tracking", item_number=1,
                                              occurred_at=at))
    if explicit:
        session.execute(CLICK_UPSERT, {"delivery": row[1], "number": 1, "edition": row[2],
                                       "at": at})


def import_readers_core(session: Session, start: int, count: int) -> None:
    """One INSERT … SELECT of `count` active readers (a CSV import's shape, set-based)."""
    dialect = session.get_bind().dialect.name
    numbers = _numbers(dialect, count).subquery()
    n = numbers.c.n + start
    email = literal("bulk") + func.cast(n, Subscriber.email.type) + "@bench.example.com"
    now = utcnow()
    rows = select(email, email, literal("zh-CN"), literal(SubscriberStatus.ACTIVE.value),
                  _token(dialect, n), literal(now, Subscriber.created_at.type),
                  literal(now, Subscriber.updated_at.type), literal(True)).select_from(numbers)
    columns = ["email", "email_key", "language", "status", "token", "created_at", "updated_at",
               "tracking"]
    session.execute(insert(Subscriber).from_select(columns, rows))


def import_readers_orm(session: Session, start: int, count: int) -> None:
    session.add_all(
        Subscriber(email=f"orm{n}@bench.example.com", email_key=f"orm{n}@bench.example.com",
                   status=SubscriberStatus.ACTIVE)
        for n in range(start, start + count)
    )


def timed_bulk(engine: Engine, step: Callable[[Session], None]) -> float:
    with Session(engine) as session:
        started = time.perf_counter()
        step(session)
        session.commit()
        return (time.perf_counter() - started) * 1000


# ---- the run ------------------------------------------------------------------------------


@contextmanager
def database(postgres: bool) -> Iterator[str]:
    with throwaway_database(postgres) as db:
        yield db.url


def measure(url: str, n: int, bulk: int) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, float]] = {"unsubscribe": {}, "bounce": {}, "click": {},
                                            "bulk import": {}}
    migrate.downgrade(url, "0011")
    engine = make_engine(url)
    readers = Readers(engine, n * 9)
    clicks = readers.rows[: n]

    def core_unsubscribe(explicit: bool) -> Callable[[Session, Any], None]:
        return lambda s, r: unsubscribe_core(s, r, explicit=explicit)

    def bouncing(how: str) -> Callable[[Session, Any], None]:
        return lambda s, r: bounce(s, r, how=how)

    def clicking(explicit: bool) -> Callable[[Session, Any], None]:
        return lambda s, r: click_event(s, r, explicit=explicit)

    unsub, bounces, clicked, imports = (figures[k] for k in figures)
    unsub["none (Core)"] = per_operation(engine, readers.take(n), core_unsubscribe(False))
    unsub["explicit (Core)"] = per_operation(engine, readers.take(n), core_unsubscribe(True))
    unsub["listener (ORM)"] = per_operation(engine, readers.take(n), unsubscribe_orm,
                                            listen_for_status_changes)
    bounces["none"] = per_operation(engine, readers.take(n), bouncing("none"))
    bounces["explicit"] = per_operation(engine, readers.take(n), bouncing("explicit"))
    bounces["listener (until now)"] = per_operation(engine, readers.take(n),
                                                    bouncing("listener"),
                                                    listen_for_status_changes)
    clicked["none"] = per_operation(engine, clicks, clicking(False))
    clicked["explicit"] = per_operation(engine, clicks, clicking(True))
    def import_explicitly(session: Session) -> None:
        import_readers_core(session, bulk, bulk)
        count_month(session, "joined", bulk)

    def import_with_listener(session: Session) -> None:
        listen_for_status_changes(session)
        import_readers_orm(session, 0, bulk)

    imports["none (Core)"] = timed_bulk(engine, lambda s: import_readers_core(s, 0, bulk))
    imports["explicit (Core)"] = timed_bulk(engine, import_explicitly)
    imports["listener (ORM)"] = timed_bulk(engine, import_with_listener)
    engine.dispose()

    migrate.upgrade(url)
    engine = make_engine(url)
    unsub["trigger (Core)"] = per_operation(engine, readers.take(n), core_unsubscribe(False))
    unsub["trigger (ORM)"] = per_operation(engine, readers.take(n), unsubscribe_orm)
    bounces["trigger"] = per_operation(engine, readers.take(n), bouncing("trigger"))
    clicked["trigger"] = per_operation(engine, clicks, clicking(False))
    imports["trigger (Core)"] = timed_bulk(engine, lambda s: import_readers_core(s, 2 * bulk,
                                                                                 bulk))
    imports["trigger (ORM)"] = timed_bulk(engine, lambda s: import_readers_orm(s, bulk, bulk))
    engine.dispose()
    return figures


def table(figures: dict[str, dict[str, dict[str, float]]], n: int, bulk: int) -> str:
    lines = [f"ms per operation (N={n}, each its own transaction); bulk import: ms for {bulk} "
             "readers in one transaction"]
    for backend, paths in figures.items():
        lines.append(f"\n{backend}")
        for path, candidates in paths.items():
            cells = "  ".join(f"{name} {ms:.3f}" for name, ms in candidates.items())
            lines.append(f"  {path:<12} {cells}")
    return "\n".join(lines)


@click.command("counting", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-n", "count", default=1000, show_default=True, help="Operations per candidate.")
@click.option("--bulk", default=10000, show_default=True, help="Readers in the bulk import.")
@click.option("--postgres/--no-postgres", default=True, show_default=True,
              help="Also on a throwaway PostgreSQL server.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def main(count: int, bulk: int, postgres: bool, as_json: bool) -> None:
    """Time the counting mechanisms on SQLite (and PostgreSQL)."""
    figures = {}
    for backend in ("sqlite", "postgresql") if postgres else ("sqlite",):
        with database(backend == "postgresql") as url:
            figures[backend] = measure(url, count, bulk)
    click.echo(json.dumps(figures, indent=2) if as_json else table(figures, count, bulk))


if __name__ == "__main__":
    main(prog_name="python -m tests.tools.bench.counting")
