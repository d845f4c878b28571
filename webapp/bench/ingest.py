"""SNS ingest through the real HTTP stack: gunicorn serving the app, signatures verified.

A sample of sent deliveries gets one SES Delivery event each, signed like SNS signs (the
simulator's test identity; SNS_TEST_CERT tells the app to trust it), posted to /hooks/ses by a
few keep-alive clients at once. Events are signed before the clock starts: only the receiving
side is measured. Afterwards every event must be stored, none lost.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emails.simulator import events, sns
from webapp.models import Delivery, DeliveryStatus, Event

TOPIC = "arn:aws:sns:us-east-1:123456789012:yuebao-bench"
CERT_URL = "http://127.0.0.1:9/cert.pem"  # not SNS's host: the app uses SNS_TEST_CERT


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def signed_events(session: Session, count: int) -> tuple[list[bytes], bytes]:
    identity = sns.default_identity()
    rows = session.execute(
        select(Delivery.id, Delivery.message_id)
        .where(Delivery.status == DeliveryStatus.SENT, Delivery.delivered_at.is_(None))
        .order_by(Delivery.id)
        .limit(count)
    ).tuples()
    now = datetime.now(UTC)
    bodies = []
    for delivery_id, message_id in rows:
        address = f"reader{delivery_id}@bench.example.com"
        mail: dict[str, Any] = {
            "timestamp": events.iso(now), "source": "bench@example.com",
            "messageId": message_id, "destination": [address],
            "tags": {"delivery": [str(delivery_id)]},
        }
        event = events.delivery(mail, address, now)
        envelope = sns.notification(TOPIC, json.dumps(event), CERT_URL, CERT_URL)
        bodies.append(json.dumps(sns.sign(envelope, identity, "1")).encode())
    return bodies, identity.cert_pem


def _post_all(port: int, bodies: Sequence[bytes], failures: list[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for body in bodies:
        conn.request("POST", "/hooks/ses", body=body, headers={
            "Content-Type": "text/plain; charset=UTF-8",
            "x-amz-sns-message-type": "Notification",
        })
        answer = conn.getresponse()
        answer.read()
        if answer.status != 200:
            failures.append(answer.status)
    conn.close()


def ingest(
    env: dict[str, str], session: Session, root: Path, count: int, *, clients: int = 8,
    workers: int = 2,
) -> dict[str, Any]:
    bodies, cert_pem = signed_events(session, count)
    session.rollback()
    cert = root / "sns-test-cert.pem"
    cert.write_bytes(cert_pem)
    port = _free_port()
    env = {**os.environ, **env, "SNS_TEST_CERT": str(cert), "SNS_TOPIC_ARNS": TOPIC}
    command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
               "--workers", str(workers), "--threads", "4", "--log-level", "warning",
               "webapp:create_app()"]
    log = (root / "gunicorn.log").open("wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(port, server, root / "gunicorn.log")
        failures: list[int] = []
        share = [bodies[i::clients] for i in range(clients)]
        threads = [threading.Thread(target=_post_all, args=(port, part, failures))
                   for part in share if part]
        start = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - start
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    stored = session.scalar(
        select(func.count(Event.id)).where(Event.source == "ses", Event.kind == "delivery")
    ) or 0
    return {
        "sns_events": len(bodies),
        "sns_events_per_s": round(len(bodies) / elapsed, 1),
        "sns_refused": len(failures),
        "sns_stored": int(stored),
        "sns_lost": len(bodies) - int(stored),
        "sns_log_tail": (root / "gunicorn.log").read_text()[-600:] if failures else "",
    }


def _wait_for(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")
