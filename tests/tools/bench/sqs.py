"""SES events through SQS: moto's SQS server → `yuebao worker` → stored, applied; and a kill -9.

Sent deliveries each get one SES Delivery event, signed as SNS signs (the simulator's test
identity; SNS_TEST_CERT tells the worker to trust it) and put in a queue of moto's server
(`tests.tools.moto_sqs`), at most DEPTH at a time. A real `yuebao worker` process with
SES_EVENTS_QUEUE_URL then drains the queue: the clock runs from the first notification stored
to the last event applied. A second queue is drained by a worker killed with SIGKILL half way
and a fresh one after it: every event must be applied exactly once.

moto slows down with the depth of a queue (it scans every message on each receive and each
delete: quadratic in the depth), hence the feeding; even so the rate measures moto as much as the
worker, so it is a correctness figure, not a speed target.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.tools.moto_sqs import LocalSqs
from tests.tools.ses_simulator import events, sns
from webapp.models import Delivery, DeliveryStatus, Event, SnsReceipt

TOPIC = "arn:aws:sns:us-east-1:123456789012:yuebao-sqs-bench"
CERT_URL = "http://127.0.0.1:9/cert.pem"  # not SNS's host: the worker uses SNS_TEST_CERT
YUEBAO = str(Path(sys.executable).parent / "yuebao")
ROOT = Path(__file__).resolve().parents[3]  # the checkout: `python -m tests.tools…` from there
VISIBILITY_TIMEOUT = 3  # seconds before a killed worker's messages come back
DEPTH = 200  # messages kept in the queue (moto scans all of them on every receive and delete)


def delivery_mail(
    delivery_id: int, message_id: str | None, now: datetime
) -> tuple[str, dict[str, Any]]:
    """The bench reader's address and SES's `mail` object for one sent delivery."""
    address = f"reader{delivery_id}@bench.example.com"
    return address, {
        "timestamp": events.iso(now), "source": "bench@example.com",
        "messageId": message_id, "destination": [address],
        "tags": {"delivery": [str(delivery_id)]},
    }


def signed_delivery_events(
    deliveries: Sequence[tuple[int, str | None]], identity: sns.SigningIdentity,
    topic: str = TOPIC, version: str = "2",
) -> list[str]:
    """One SNS envelope (SES Delivery event) per (delivery id, SES message id), signed."""
    now = datetime.now(UTC)
    bodies = []
    for delivery_id, message_id in deliveries:
        address, mail = delivery_mail(delivery_id, message_id, now)
        envelope = sns.notification(
            topic, json.dumps(events.delivery(mail, address, now)), CERT_URL, CERT_URL)
        bodies.append(json.dumps(sns.sign(envelope, identity, version)))
    return bodies


def applied(session: Session, delivery_ids: Sequence[int], after: int = 0) -> tuple[int, int]:
    """(deliveries with a Delivery event, Delivery events) among `delivery_ids`, counting only
    events recorded after event id `after` (earlier steps of the bench apply events too)."""
    counted = session.execute(
        select(func.count(func.distinct(Event.delivery_id)), func.count(Event.id)).where(
            Event.source == "ses", Event.kind == "delivery",
            Event.delivery_id.in_(delivery_ids), Event.id > after)
    ).one()
    session.rollback()
    return int(counted[0]), int(counted[1])


def _stored(session: Session) -> int:
    count = session.scalar(select(func.count(SnsReceipt.id)))
    session.rollback()
    return int(count or 0)


def _wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def ready_worker(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`yuebao worker` started, once it has logged "worker ready" (its SIGTERM handler is set:
    before that, SIGTERM would kill it)."""
    text = log.read_text() if log.exists() else ""
    before = text.count('"worker ready"')
    with log.open("ab") as handle:
        worker = subprocess.Popen([*command, "worker", "--no-scheduler", "--poll", "0.2"],
                                  env=env, cwd=ROOT, stdout=handle, stderr=handle)
    _wait(lambda: worker.poll() is not None or log.read_text().count('"worker ready"') > before,
          60, "the worker to start")
    return worker


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return ready_worker([YUEBAO], env, log)


def _stop(worker: subprocess.Popen[bytes]) -> float:
    """SIGTERM, and the CPU seconds the process used (user + system)."""
    worker.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(worker.pid, 0)
    worker.returncode = os.waitstatus_to_exitcode(status)
    if worker.returncode != 0:
        raise RuntimeError(f"the worker exited with {worker.returncode}")
    return usage.ru_utime + usage.ru_stime


def sqs_path(env: dict[str, str], session: Session, root: Path, count: int) -> dict[str, Any]:
    """`count` events through one worker, then `count // 2` through a worker killed half way."""
    rows = list(session.execute(
        select(Delivery.id, Delivery.message_id)
        .where(Delivery.status == DeliveryStatus.SENT, Delivery.message_id.is_not(None))
        .order_by(Delivery.id.desc())  # the newest: the HTTP ingest takes the oldest
        .limit(count + count // 2)
    ).tuples())
    first = session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0
    session.rollback()
    identity = sns.default_identity()
    cert = root / "sns-sqs-bench.pem"
    cert.write_bytes(identity.cert_pem)
    local = LocalSqs().start()
    log = root / "sqs-worker.log"
    try:
        timed, killed = rows[:count], rows[count:]
        queue = local.create_queue(visibility_timeout=VISIBILITY_TIMEOUT)
        feeder = local.feed(
            queue, signed_delivery_events([(i, m or "") for i, m in timed], identity), DEPTH)
        worker_env = {**os.environ, **env, "SES_EVENTS_QUEUE_URL": queue,
                      "SES_EVENTS_QUEUE_WAIT_SECONDS": "1", "SNS_TEST_CERT": str(cert),
                      "SNS_TOPIC_ARNS": TOPIC, "LOG_LEVEL": "WARNING"}
        before = _stored(session)
        ids = [i for i, _ in timed]
        worker = _worker(worker_env, log)
        _wait(lambda: _stored(session) > before, 60, "the first stored event")
        start = time.monotonic()
        _wait(lambda: _stored(session) >= before + len(ids), 600, "every event stored")
        stored_s = time.monotonic() - start
        _wait(lambda: applied(session, ids, first)[1] >= len(ids), 600, "every event applied")
        elapsed = time.monotonic() - start
        cpu = _stop(worker)
        feeder.join()
        done, total = applied(session, ids, first)

        again = local.create_queue(visibility_timeout=VISIBILITY_TIMEOUT)
        feeder = local.feed(
            again, signed_delivery_events([(i, m or "") for i, m in killed], identity), DEPTH)
        kill_ids = [i for i, _ in killed]
        worker = _worker({**worker_env, "SES_EVENTS_QUEUE_URL": again}, log)
        _wait(lambda: applied(session, kill_ids, first)[1] >= len(kill_ids) // 2, 300,
              "half applied")
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
        in_flight = local.depth(again)[1]
        worker = _worker({**worker_env, "SES_EVENTS_QUEUE_URL": again}, log)
        _wait(lambda: applied(session, kill_ids, first)[1] >= len(kill_ids) and local.depth(again)
              == (0, 0), 300, "every event applied after the kill")
        _stop(worker)
        feeder.join()
        kill_done, kill_total = applied(session, kill_ids, first)
    finally:
        local.stop()
    return {
        "sqs_events": len(ids),
        "sqs_events_per_s": round(len(ids) / elapsed, 1),
        "sqs_received_per_s": round(len(ids) / stored_s, 1),
        "sqs_worker_cpu_ms_per_event": round(cpu * 1000 / len(ids), 2),
        "sqs_lost": (len(ids) - done) + (len(kill_ids) - kill_done),
        "sqs_applied_twice": (total - done) + (kill_total - kill_done),
        "sqs_kill_events": len(kill_ids),
        "sqs_kill_in_flight": in_flight,
    }
