"""Sending at a target rate for a fixed window: achieved rate, throttling and client CPU.

The real engine (build_engine: GetAccount, the shared database bucket, SendBulkEmail through
boto3) sends an edition's queued deliveries to the simulator process for `seconds`, then is
asked to stop; what it claimed but did not send goes back to the queue. The achieved rate is
the slope of messages sent after a warm-up second (the bucket's first window is a burst).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from webapp.bench.simproc import SimulatorProcess
from webapp.delivery.engine import RunResult
from webapp.delivery.runner import build_engine
from webapp.models import RateBucket

WARM_UP = 1.0  # seconds


def _reset_bucket(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        session.execute(delete(RateBucket))
        session.commit()


def send_window(
    config: Mapping[str, Any], sessions: sessionmaker[Session], sim: SimulatorProcess,
    edition_id: int, rate: float, seconds: float, latency: float,
) -> dict[str, Any]:
    sim.configure(max_send_rate=rate, latency=latency, jitter=0.0)
    sim.reset()
    _reset_bucket(sessions)
    stop = threading.Event()
    samples: list[tuple[float, int]] = []

    def progress(result: RunResult) -> None:
        samples.append((time.monotonic(), result.sent))

    engine = build_engine(config, sessions, stop=stop, on_progress=progress)
    before = sim.stats()  # GetAccount calls made while building the engine
    timer = threading.Timer(seconds, stop.set)
    cpu0, start = time.process_time(), time.monotonic()
    timer.start()
    result = engine.run(edition_id)
    elapsed = time.monotonic() - start
    cpu = time.process_time() - cpu0
    timer.cancel()
    steady = [(t, n) for t, n in samples if t - start >= WARM_UP and t - start <= seconds]
    if len(steady) >= 2:
        (t0, n0), (t1, n1) = steady[0], steady[-1]
        achieved = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
    else:
        achieved = result.sent / elapsed
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
