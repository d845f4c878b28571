"""Dashboard stats over a sent edition with ~2.5 events per delivery, bulk-loaded in SQL.

The load writes what the event and tracking services would have left: the events, the
first-seen columns of `deliveries` and the unsubscribes' outcomes, so the dashboard's queries
read as many rows as they would in use. It is set-based, a few statements per million
deliveries, so ten million load in minutes:

- one UPDATE of the deliveries sets every first-seen column at once (and, for `--stats-only`,
  the sending outcome): the tallies' statement trigger (migration 0010) counts it in one
  grouped pass;
- one INSERT … SELECT writes all the events of the deliveries (a five-row table of kinds
  joined to them: one scan). On PostgreSQL the events' row triggers (migration 0012: a
  permanent bounce upserts its delivery's outcome, a click its `item_clicks` row, one upsert
  per event) are skipped for that statement, with the foreign-key checks (the bench's own
  server; the rows reference the deliveries read), and what they would have written follows
  grouped from the same events, through the same upserts: `item_clicks` (their statement
  triggers count the item tallies, 0029) and the hard bounces' outcomes (0010's outcome
  triggers). SQLite lets the row triggers do it.

`stats_latency` checks the tallies against a recount before timing; `item_figures` the item
tallies against a grouping of `item_clicks`.
"""

from __future__ import annotations

import logging
import statistics
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    case,
    cast,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from webapp.models import (
    Delivery,
    DeliveryOutcome,
    DeliveryStatus,
    Edition,
    Event,
    Item,
    ItemClick,
    Role,
    Section,
    User,
)
from webapp.stats import tallies
from webapp.stats.figures import editions_with_stats, stats_json

if TYPE_CHECKING:
    from flask import Flask

# kind, source, the draws (per mille of sent deliveries) it happened to, the first-seen column
# it sets: every delivery was handed to SES; 98.5% delivered, 1.5% bounced; 42% opened, 12%
# clicked (readers the message reached).
KINDS = (("send", "ses", 0, 1000, None), ("delivery", "ses", 0, 985, "delivered_at"),
         ("open", "tracking", 0, 420, "opened_at"), ("click", "tracking", 0, 120, "clicked_at"),
         ("bounce", "ses", 985, 1000, "bounced_at"))
HARD_BOUNCES = 10  # per mille: two in three bounces are permanent
UNSUBSCRIBES = 3  # per mille, among readers the message reached
DASHBOARD_EDITIONS = 12  # the editions webapp.admin.dashboard lists
CHUNK = 1_000_000  # deliveries per statement (and transaction): the trigger's transition tables


def _roll() -> ColumnElement[int]:
    """A delivery's fixed draw in 0..999, spread evenly over the ids: (id * 7919) mod 1000,
    reduced first so that the product stays within a 32-bit integer at any id."""
    return ((Delivery.id % 1000) * 7919) % 1000


def _chunks(session: Session, edition_id: int) -> list[tuple[int, int]]:
    low, high = session.execute(
        select(func.min(Delivery.id), func.max(Delivery.id))
        .where(Delivery.edition_id == edition_id)
    ).one()
    if low is None:
        return []
    return [(start, min(start + CHUNK - 1, high)) for start in range(low, high + 1, CHUNK)]


def load_events(session: Session, edition_id: int, sent_at: datetime | None = None) -> int:
    """Events as SES and tracking would have left them on the edition's sent deliveries;
    returns how many the edition has. With `sent_at`, every delivery of the edition is first
    marked sent at that time (in the same statement as its first-seen columns)."""
    dialect = session.get_bind().dialect.name
    items = session.scalar(
        select(func.count(Item.id)).join(Section).where(Section.edition_id == edition_id)
    ) or 1
    for low, high in _chunks(session, edition_id):
        chunk = (Delivery.edition_id == edition_id) & Delivery.id.between(low, high)
        _first_seen(session, chunk, sent_at)
        sent = chunk & (Delivery.status == DeliveryStatus.SENT)
        if dialect == "postgresql":
            session.execute(text("SET LOCAL session_replication_role = replica"))
        _insert_events(session, sent, items)
        if dialect == "postgresql":
            session.execute(text("SET LOCAL session_replication_role = DEFAULT"))
            _what_event_triggers_write(session, edition_id, low, high)
        _unsubscribes(session, sent)
        session.commit()
    return session.scalar(select(func.count(Event.id)).where(Event.edition_id == edition_id)) or 0


def _first_seen(session: Session, chunk: ColumnElement[bool], sent_at: datetime | None) -> None:
    """One UPDATE: the first-seen columns of the chunk's sent deliveries (with `sent_at`: every
    delivery of the chunk sent then, its SES message id `bench-<id>`)."""
    values: dict[str, Any] = {}
    when: Any = Delivery.sent_at
    where = chunk
    if sent_at is not None:
        when = literal(sent_at, Delivery.sent_at.type)
        values = {"status": DeliveryStatus.SENT, "sent_at": when,
                  "message_id": literal("bench-") + cast(Delivery.id, String)}
    else:
        where = chunk & (Delivery.status == DeliveryStatus.SENT)
    for _, _, low, high, column in KINDS:
        if column:
            chosen = (_roll() >= low) & (_roll() < high)
            values[column] = case((chosen, when), else_=getattr(Delivery, column))
    session.execute(update(Delivery).where(where).values(values))


def _insert_events(session: Session, sent: ColumnElement[bool], items: int) -> None:
    """Every event of the chunk's sent deliveries in one statement: the kinds, a five-row
    table, joined to the deliveries by each delivery's draw."""
    kinds = union_all(*(
        select(literal(kind, String).label("kind"), literal(source, String).label("source"),
               literal(low, Integer).label("low"), literal(high, Integer).label("high"))
        for kind, source, low, high, _ in KINDS
    )).subquery("k")
    roll = _roll()
    hard = case((roll >= 1000 - HARD_BOUNCES, "Permanent"), else_="Transient")
    rows = (
        select(
            kinds.c.kind, kinds.c.source, Delivery.id, Delivery.subscriber_id,
            Delivery.edition_id, Delivery.message_id, Delivery.sent_at, Delivery.sent_at,
            literal(False),
            case((kinds.c.kind == "click", Delivery.id % items + 1),  # the link followed
                 else_=literal(None, Integer)),
            case((kinds.c.kind == "bounce", hard), else_=literal(None, String)),
        )
        .select_from(Delivery)
        .join(kinds, (roll >= kinds.c.low) & (roll < kinds.c.high))
        .where(sent)
        .order_by(Delivery.id)
    )
    session.execute(insert(Event).from_select(
        ["kind", "source", "delivery_id", "subscriber_id", "edition_id", "ses_message_id",
         "occurred_at", "received_at", "suspected_scanner", "item_number", "bounce_type"],
        rows))


def _what_event_triggers_write(session: Session, edition_id: int, low: int, high: int) -> None:
    """PostgreSQL: what the events' row triggers (0012) would have written for the chunk's
    events, grouped per delivery, through the same upserts (so the tally triggers of
    `item_clicks` and `delivery_outcomes` count them, once per statement)."""
    of_chunk = (Event.edition_id == edition_id) & Event.delivery_id.between(low, high)
    clicks = (
        select(Delivery.id, Event.item_number, Delivery.edition_id, func.count(),
               func.min(Event.occurred_at))
        .join(Delivery, Delivery.id == Event.delivery_id)
        .where(of_chunk, Event.kind == "click", Event.suspected_scanner.is_(False),
               Event.item_number.is_not(None))
        .group_by(Delivery.id, Event.item_number, Delivery.edition_id)
        .order_by(Delivery.id, Event.item_number)
    )
    upsert = postgresql.insert(ItemClick).from_select(
        ["delivery_id", "item_number", "edition_id", "clicks", "first_clicked_at"], clicks)
    session.execute(upsert.on_conflict_do_update(
        index_elements=[ItemClick.delivery_id, ItemClick.item_number],
        set_={"clicks": ItemClick.clicks + upsert.excluded.clicks,
              "first_clicked_at": func.least(ItemClick.first_clicked_at,
                                             upsert.excluded.first_clicked_at)}))
    bounces = (
        select(Delivery.id, Delivery.edition_id, func.min(Event.occurred_at))
        .join(Delivery, Delivery.id == Event.delivery_id)
        .where(of_chunk, Event.kind == "bounce", Event.bounce_type == "Permanent")
        .group_by(Delivery.id, Delivery.edition_id)
        .order_by(Delivery.id)
    )
    outcome = postgresql.insert(DeliveryOutcome).from_select(
        ["delivery_id", "edition_id", "hard_bounced_at"], bounces)
    session.execute(outcome.on_conflict_do_update(
        index_elements=[DeliveryOutcome.delivery_id],
        set_={"hard_bounced_at": outcome.excluded.hard_bounced_at},
        where=DeliveryOutcome.hard_bounced_at.is_(None)
        | (DeliveryOutcome.hard_bounced_at > outcome.excluded.hard_bounced_at)))


def _unsubscribes(session: Session, sent: ColumnElement[bool]) -> None:
    """Unsubscribes are credited when a reader's status changes, which this load does not do,
    so their outcome rows are written here (readers other than the hard bounces)."""
    no_time = literal(None, Delivery.sent_at.type)
    unsubscribed = select(Delivery.id, Delivery.edition_id, no_time, Delivery.sent_at).where(
        sent, _roll() >= 500, _roll() < 500 + UNSUBSCRIBES
    )
    session.execute(insert(DeliveryOutcome).from_select(
        ["delivery_id", "edition_id", "hard_bounced_at", "unsubscribed_at"], unsubscribed))


def dashboard_stats(session: Session, edition: Edition) -> dict[str, Any]:
    """The stats a dashboard request reads: the editions' funnels and one edition's report
    (stats_json is that report plus the send-progress shape)."""
    editions_with_stats(session, limit=DASHBOARD_EDITIONS)
    return stats_json(session, edition)


def stats_latency(session: Session, edition_id: int, repeats: int = 5) -> dict[str, Any]:
    """Milliseconds per dashboard stats request, each in a transaction of its own as a request
    has; and whether the tallies the triggers kept equal a recount of the rows."""
    session.commit()
    expected = tallies.recount(session, [edition_id])
    matches = tallies.tallies(session, [edition_id], by_variant=True) == expected
    matches = matches and tallies.minutes(session, edition_id) == tallies.recount_minutes(
        session, edition_id
    )
    session.rollback()
    edition = session.get(Edition, edition_id)
    assert edition is not None
    dashboard_stats(session, edition)  # warm caches, as a dashboard that is in use has them
    times = []
    for _ in range(repeats):
        session.rollback()
        session.expire_all()
        start = time.perf_counter()
        dashboard_stats(session, edition)
        times.append((time.perf_counter() - start) * 1000)
    return {
        "stats_ms": round(statistics.median(times), 1),
        "stats_ms_max": round(max(times), 1),
        "tallies_match_recount": matches,
    }


def dashboard_latency(app: Flask, session: Session, month: str, repeats: int = 5) -> dict[str, Any]:
    """Milliseconds per rendered dashboard page (`/admin/?month=…`) through the app, as an
    admin's browser asks for it: the stats queries, the template, the figures for the charts.
    The server's time, measured around the request in the same process (no network)."""
    from flask import session as flask_session
    from flask_login import login_user

    admin = User(email="bench-admin@example.com", role=Role.ADMIN, password_hash="!")
    session.add(admin)
    session.commit()
    client = app.test_client()
    with app.test_request_context(environ_base=client.environ_base):
        login_user(admin)
        signed_in = dict(flask_session)
    with client.session_transaction() as cookie_session:
        cookie_session.update(signed_in)
    request_log = logging.getLogger("webapp.request")
    level = request_log.level
    request_log.setLevel(logging.WARNING)  # a line per request on standard output: noise
    try:
        return _time_pages(client, f"/admin/?month={month}&lang=zh_CN", repeats)
    finally:
        request_log.setLevel(level)


def _time_pages(client: Any, path: str, repeats: int) -> dict[str, Any]:
    # The first request compiles the templates and starts the count of the reader-wide figures
    # behind it, waiting READER_FIGURES_FIRST_WAIT_SECONDS at most (webapp.stats.reader_figures);
    # the count is waited for before the later pages, which read its snapshot.
    start = time.perf_counter()
    first = client.get(path)
    cold = (time.perf_counter() - start) * 1000
    if first.status_code != 200:
        raise RuntimeError(f"dashboard answered {first.status_code}")
    counting = "readers-counting" in first.get_data(as_text=True)
    count = client.application.extensions["yuebao.reader_figures"].refresh_thread
    if count is not None:
        count.join()
    counted = (time.perf_counter() - start) * 1000
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return {
        "dashboard_ms": round(statistics.median(times), 1),
        "dashboard_ms_max": round(max(times), 1),
        "dashboard_kb": round(len(first.get_data()) / 1024, 1),
        "dashboard_first_ms": round(cold, 1),
        "dashboard_first_counting": counting,  # the first page said "counting readers…"
        "reader_count_ms": round(counted, 1),  # from the first request to the count's end
    }
