"""Dashboard stats over a sent edition with ~3 events per delivery, bulk-loaded in SQL."""

from __future__ import annotations

import statistics
import time
from typing import Any

from sqlalchemy import func, insert, literal, select, update
from sqlalchemy.orm import Session

from webapp.models import Delivery, DeliveryStatus, Edition, Event
from webapp.services.stats import stats_json

# kind, share of sent deliveries (per mille) it happened to, the first-seen column it sets
KINDS = (("send", 1000, None), ("delivery", 985, "delivered_at"), ("open", 420, "opened_at"),
         ("click", 120, "clicked_at"), ("bounce", 15, "bounced_at"))


def load_events(session: Session, edition_id: int) -> int:
    """Events as SES and tracking would have left them; returns how many were written."""
    sent = (Delivery.edition_id == edition_id) & (Delivery.status == DeliveryStatus.SENT)
    for kind, per_mille, column in KINDS:
        chosen = (Delivery.id * 7919) % 1000 < per_mille
        if kind == "bounce":
            chosen = (Delivery.id * 7919) % 1000 >= 985
        source = "tracking" if kind in ("open", "click") else "ses"
        rows = select(
            literal(kind), literal(source), Delivery.id, Delivery.subscriber_id,
            Delivery.edition_id, Delivery.message_id, Delivery.sent_at, Delivery.sent_at,
            literal(False),
        ).where(sent, chosen)
        session.execute(insert(Event).from_select(
            ["kind", "source", "delivery_id", "subscriber_id", "edition_id", "ses_message_id",
             "occurred_at", "received_at", "suspected_scanner"], rows))
        if column:
            session.execute(update(Delivery).where(sent, chosen)
                            .values({column: Delivery.sent_at}))
    session.commit()
    return session.scalar(select(func.count(Event.id)).where(Event.edition_id == edition_id)) or 0


def stats_latency(session: Session, edition_id: int, repeats: int = 5) -> dict[str, Any]:
    """Milliseconds per stats_json() call (what the dashboard and `yuebao stats` use)."""
    edition = session.get(Edition, edition_id)
    assert edition is not None
    stats_json(session, edition)  # warm caches, as a dashboard that is in use has them
    times = []
    for _ in range(repeats):
        session.expire_all()
        start = time.perf_counter()
        stats_json(session, edition)
        times.append((time.perf_counter() - start) * 1000)
    return {"stats_ms": round(statistics.median(times), 1), "stats_ms_max": round(max(times), 1)}
