"""Sending at a target rate for a fixed window: achieved rate, throttling and client CPU.

The real engine (build_engine: GetAccount, the shared database bucket, SendBulkEmail through
boto3) sends an edition's queued deliveries to the simulator process for `seconds`, then is
asked to stop; what it claimed but did not send goes back to the queue. The achieved rate is
read from the deliveries' `sent_at` (set per call as its answer is settled): messages settled
after a warm-up second, between the first and the last call settled then. The warm-up leaves
out the first claim and compile and the schedule's short catch-up burst.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from tests.tools.bench.simproc import SimulatorProcess
from webapp.config import Settings
from webapp.delivery.runner import build_engine
from webapp.models import Delivery, RateBucket, utcnow

WARM_UP = 1.0  # seconds


def _reset_bucket(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        session.execute(delete(RateBucket))
        session.commit()


def _settled_rate(sessions: sessionmaker[Session], edition_id: int, since: datetime) -> float:
    """Messages per second settled between the first and the last call settled after `since`.

    A call's messages share one `sent_at`, so the first call's are left out: they were sent
    before its stamp (counting them would add up to a call's worth to a short window).
    """
    with sessions() as session:
        stamps = session.scalars(
            select(Delivery.sent_at).where(
                Delivery.edition_id == edition_id, Delivery.sent_at > since
            )
        ).all()
    calls = Counter(stamp for stamp in stamps if stamp is not None)
    if len(calls) < 2:
        return 0.0
    first, last = min(calls), max(calls)
    return (sum(calls.values()) - calls[first]) / (last - first).total_seconds()


def send_window(
    settings: Settings, sessions: sessionmaker[Session], sim: SimulatorProcess,
    edition_id: int, rate: float, seconds: float, latency: float,
) -> dict[str, Any]:
    sim.configure(max_send_rate=rate, latency=latency, jitter=0.0)
    sim.reset()
    _reset_bucket(sessions)
    stop = threading.Event()
    engine = build_engine(settings, sessions, stop=stop)
    before = sim.stats()  # GetAccount calls made while building the engine
    timer = threading.Timer(seconds, stop.set)
    began = utcnow()
    cpu0 = time.process_time()
    timer.start()
    result = engine.run(edition_id)
    cpu = time.process_time() - cpu0
    timer.cancel()
    achieved = _settled_rate(sessions, edition_id, began + timedelta(seconds=WARM_UP))
    counts = sim.stats()
    requests = int(counts.get("requests", 0) - before.get("requests", 0))
    throttled = int(counts.get("requests.429", 0) - before.get("requests.429", 0))
    return {
        "rate_target": rate,
        "rate_achieved": round(achieved, 1),
        "rate_ratio": round(achieved / rate, 4),
        "sent": result.sent,
        "requests": requests,
        "throttled": throttled,
        "throttled_ratio": round(throttled / max(1, requests), 5),
        "retried": result.retried,
        "cpu_ms_per_msg": round(cpu / max(result.sent, 1) * 1000, 3),
        "chunk": engine.config.chunk_size,
        "concurrency": engine.config.concurrency,
    }
