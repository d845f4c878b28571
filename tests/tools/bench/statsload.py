"""Dashboard stats over a sent edition with ~3 events per delivery, bulk-loaded in SQL.

The load writes what the event and tracking services would have left: the events, the
first-seen columns of `deliveries` and the unsubscribes' outcomes, so the dashboard's queries
read as many rows as they would in use. The counters follow by themselves (the database's
triggers count each of these statements: the tallies, migration 0010; hard bounces and clicks
per item, 0012); `stats_latency` checks the tallies against a recount before timing.
"""

from __future__ import annotations

import logging
import statistics
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, case, func, insert, literal, select, update
from sqlalchemy.orm import Session

from webapp.models import (
    Delivery,
    DeliveryOutcome,
    DeliveryStatus,
    Edition,
    Event,
    Item,
    Role,
    Section,
    User,
)
from webapp.stats import tallies
from webapp.stats.figures import editions_with_stats, stats_json

if TYPE_CHECKING:
    from flask import Flask

# kind, share of sent deliveries (per mille) it happened to, the first-seen column it sets
KINDS = (("send", 1000, None), ("delivery", 985, "delivered_at"), ("open", 420, "opened_at"),
         ("click", 120, "clicked_at"), ("bounce", 15, "bounced_at"))
HARD_BOUNCES = 10  # per mille: two in three bounces are permanent
UNSUBSCRIBES = 3  # per mille, among readers the message reached
DASHBOARD_EDITIONS = 12  # the editions webapp.admin.dashboard lists


def _roll() -> ColumnElement[int]:
    """A delivery's fixed draw in 0..999, spread evenly over the ids: (id * 7919) mod 1000,
    reduced first so that the product stays within a 32-bit integer at any id."""
    return ((Delivery.id % 1000) * 7919) % 1000


def load_events(session: Session, edition_id: int) -> int:
    """Events as SES and tracking would have left them; returns how many were written."""
    sent = (Delivery.edition_id == edition_id) & (Delivery.status == DeliveryStatus.SENT)
    items = session.scalar(
        select(func.count(Item.id)).join(Section).where(Section.edition_id == edition_id)
    )
    item_number = Delivery.id % (items or 1) + 1  # the link the reader followed
    for kind, per_mille, column in KINDS:
        chosen = _roll() < per_mille
        if kind == "bounce":
            chosen = _roll() >= 985
        source = "tracking" if kind in ("open", "click") else "ses"
        hard = case((_roll() >= 1000 - HARD_BOUNCES, "Permanent"), else_="Transient")
        rows = select(
            literal(kind), literal(source), Delivery.id, Delivery.subscriber_id,
            Delivery.edition_id, Delivery.message_id, Delivery.sent_at, Delivery.sent_at,
            literal(False),
            item_number if kind == "click" else literal(None, Event.item_number.type),
            hard if kind == "bounce" else literal(None, Event.bounce_type.type),
        ).where(sent, chosen)
        session.execute(insert(Event).from_select(
            ["kind", "source", "delivery_id", "subscriber_id", "edition_id", "ses_message_id",
             "occurred_at", "received_at", "suspected_scanner", "item_number", "bounce_type"],
            rows))
        if column:
            session.execute(update(Delivery).where(sent, chosen)
                            .values({column: Delivery.sent_at}))
    # Hard bounces and clicks per item were counted by the triggers as the events went in
    # (migration 0012); unsubscribes are credited when a reader's status changes, which this
    # load does not do, so their outcome rows are written here (different readers).
    no_time = literal(None, Delivery.sent_at.type)
    unsubscribed = select(Delivery.id, Delivery.edition_id, no_time, Delivery.sent_at).where(
        sent, _roll() >= 500, _roll() < 500 + UNSUBSCRIBES
    )
    session.execute(insert(DeliveryOutcome).from_select(
        ["delivery_id", "edition_id", "hard_bounced_at", "unsubscribed_at"], unsubscribed))
    session.commit()
    return session.scalar(select(func.count(Event.id)).where(Event.edition_id == edition_id)) or 0


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
    # The first request compiles the templates and counts the reader-wide figures (a
    # process's first dashboard does; later ones read the snapshot, webapp.stats.reader_figures).
    start = time.perf_counter()
    first = client.get(path)
    cold = (time.perf_counter() - start) * 1000
    if first.status_code != 200:
        raise RuntimeError(f"dashboard answered {first.status_code}")
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
    }
