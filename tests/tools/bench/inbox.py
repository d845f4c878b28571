"""SES events applied from the inbox: what a worker's events thread does, timed.

Sent deliveries each get an SES Send and a Delivery notification (with our delivery tag, as
SES reports them), stored in the inbox beforehand with webapp.events.inbox.store — the
receiving side is ingest.py's. Then one EventProcessor drains the inbox in batches, as a worker
does; the clock and this process's CPU (user + system) run over the drain only, and on
PostgreSQL the CPU of the server process that served it (its backend, from /proc: the tally
triggers run there). Afterwards every
event must have been applied once and every delivery be delivered. `events_only` is the
`--events-only` mode: a list planned and marked sent in SQL, then ingest and apply.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String, cast, func, literal, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from tests.tools.bench.ingest import _cpu_seconds
from tests.tools.bench.sqs import delivery_mail
from webapp.events.batch import BATCH_SIZE, EventProcessor
from webapp.events.inbox import Notification, store
from webapp.models import Delivery, DeliveryStatus, Event, SnsReceipt, utcnow

TOPIC = "arn:aws:sns:us-east-1:123456789012:yuebao-bench"


def _event(kind: str, delivery_id: int, message_id: str, now: datetime) -> dict[str, Any]:
    address, mail = delivery_mail(delivery_id, message_id, now)
    stamp = mail["timestamp"]
    if kind == "Send":
        return {"eventType": "Send", "mail": mail, "send": {}}
    return {"eventType": "Delivery", "mail": mail,
            "delivery": {"timestamp": stamp, "recipients": [address], "smtpResponse": "250 ok",
                         "processingTimeMillis": 900, "reportingMTA": "a8-1.smtp-out.aws"}}


def stock_inbox(session: Session, deliveries: int) -> int:
    """A Send and a Delivery notification for up to `deliveries` sent, undelivered ones."""
    rows = session.execute(
        select(Delivery.id, Delivery.message_id)
        .where(Delivery.status == DeliveryStatus.SENT, Delivery.delivered_at.is_(None))
        .order_by(Delivery.id)
        .limit(deliveries)
    ).all()
    now = datetime.now(UTC)
    notifications = [
        Notification(f"bench-{kind}-{delivery_id}", TOPIC,
                     json.dumps(_event(kind, delivery_id, message_id, now)), now)
        for delivery_id, message_id in rows
        for kind in ("Send", "Delivery")
    ]
    stored = store(session.connection(), notifications)
    session.commit()
    return stored


def _unprocessed(session: Session) -> int:
    count = session.scalar(
        select(func.count(SnsReceipt.id)).where(SnsReceipt.processed_at.is_(None))
    )
    session.rollback()
    return int(count or 0)


def applied_per_s(
    sessions: sessionmaker[Session], session: Session, deliveries: int
) -> dict[str, Any]:
    """Drain an inbox of 2 × `deliveries` events (plus whatever ingest left) and time it."""
    stock_inbox(session, deliveries)
    waiting = _unprocessed(session)
    events_before = session.scalar(select(func.count(Event.id))) or 0
    session.rollback()
    processor = EventProcessor(sessions, bounce_suppress_after=3)
    backend = _backend_pid(sessions)  # the pool hands the drain's batches this connection
    start, cpu_start = time.monotonic(), time.process_time()
    db_start = _cpu_seconds([backend]) if backend else 0.0
    applied = processor.drain()
    elapsed, cpu = time.monotonic() - start, time.process_time() - cpu_start
    db_cpu = _cpu_seconds([backend]) - db_start if backend else None
    same_backend = backend is not None and _backend_pid(sessions) == backend
    events_after = session.scalar(select(func.count(Event.id))) or 0
    session.rollback()
    return {
        "events_applied": applied,
        "events_applied_per_s": round(applied / elapsed, 1) if elapsed else 0.0,
        "events_applied_cpu_ms": round(cpu * 1000 / max(applied, 1), 3),
        "events_applied_db_cpu_ms": (round(db_cpu * 1000 / max(applied, 1), 3)
                                     if db_cpu is not None and same_backend else None),
        "events_applied_batch": BATCH_SIZE,
        "events_applied_lost": waiting - (events_after - events_before),
        "events_left_unprocessed": _unprocessed(session),
    }


def _backend_pid(sessions: sessionmaker[Session]) -> int | None:
    with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            return None
        pid: int | None = session.scalar(text("SELECT pg_backend_pid()"))
        return pid


def mark_sent(session: Session, edition_id: int) -> None:
    """Every delivery of the edition sent, with an SES message id, in one statement."""
    session.execute(
        update(Delivery).where(Delivery.edition_id == edition_id)
        .values(status=DeliveryStatus.SENT, sent_at=utcnow(),
                message_id=literal("bench-") + cast(Delivery.id, String))
    )
    session.commit()


def event_lines(f: dict[str, Any]) -> list[str]:
    """The report's lines for events received over HTTP and applied from the inbox."""
    def line(name: str, value: str, target: str, met: bool) -> str:
        return f"{name:<44} {value:>18}   {target:<34} {'met' if met else 'MISSED'}"

    rows = [
        line("SES events received (gunicorn, verified, stored)",
             f"{f['events_received_per_s']:g}/s",
             f"≥ 1,500/s, lost {f['sns_lost']} of {f['sns_events']}",
             f["events_received_per_s"] >= 1500 and f["sns_lost"] == 0),
        line("  server CPU per event received", f"{f['events_received_cpu_ms']:.3f} ms",
             "≤ 0.5 ms", f["events_received_cpu_ms"] <= 0.5),
    ]
    if "events_applied_per_s" in f:
        rows += [
            line(f"SES events applied (batches of {f['events_applied_batch']})",
                 f"{f['events_applied_per_s']:g}/s",
                 f"≥ 5,000/s, lost {f['events_applied_lost']} of {f['events_applied']}",
                 f["events_applied_per_s"] >= 5000 and f["events_applied_lost"] == 0),
            line("  worker CPU per event applied", f"{f['events_applied_cpu_ms']:.3f} ms",
                 "(the database's CPU not included)", True),
        ]
        if f.get("events_applied_db_cpu_ms") is not None:
            rows.append(line("  PostgreSQL backend CPU per event applied",
                             f"{f['events_applied_db_cpu_ms']:.3f} ms",
                             "worker + database ≤ 0.4 ms for 5,000/s on 2 cores",
                             f["events_applied_cpu_ms"] + f["events_applied_db_cpu_ms"] <= 0.4))
    return rows
