"""SES events over real HTTP: the simulator (or a burst of signed posts) → /hooks/ses."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from tests.conftest import app_config
from tests.factories import Factories
from tests.support.inbox import drain
from tests.support.sns import TOPIC, Signer, ses_event
from tests.tools.ses_simulator import SesSimulator, SimulatorConfig
from webapp import create_app
from webapp.config import settings_of
from webapp.db import database
from webapp.delivery import sending
from webapp.delivery.runner import build_engine
from webapp.models import (
    ConsentRecord,
    Delivery,
    Event,
    SnsReceipt,
    Subscriber,
    SubscriberStatus,
    Suppression,
)

pytestmark = pytest.mark.servers  # starts servers or processes: not under libfaketime


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")


def serve(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[SesSimulator]:
    sim = SesSimulator(SimulatorConfig(max_send_rate=1000, max_24_hour_send=100_000)).start()
    yield sim
    sim.stop()


@pytest.mark.postgres
@pytest.mark.usefixtures("approved")
def test_bounces_and_complaints_from_a_real_send_suppress_exactly_once(
    database_url: str, tmp_path: Path, session: Session, factories: Factories,
    simulator: SesSimulator,
) -> None:
    cert = simulator.write_cert(tmp_path / "sns-test.pem")
    app = create_app(app_config(
        database_url, tmp_path, MAIL_TRANSPORT="ses", SES_ENDPOINT_URL=simulator.endpoint_url,
        SES_REGION="us-east-1", SNS_TEST_CERT=str(cert), SNS_TOPIC_ARNS=simulator.topic_arn,
    ))
    factories.many_subscribers(50, [["ai"], ["data"], ["investment"]])
    simulator.faults.bounce(["bulk3@example.com", "bulk7@example.com"], "Permanent", "General")
    simulator.faults.complain(["bulk11@example.com"])
    for base_url in serve(app):
        simulator.events_url = f"{base_url}/hooks/ses"
        with database(app).sessionmaker() as own:
            edition = sending.load_edition(own, "2024-07")
            sending.start_send(own, edition, actor="test")
            own.commit()
            edition_id = edition.id
        assert build_engine(settings_of(app), database(app).sessionmaker).run(edition_id).finished
        assert simulator.flush_events(timeout=30)
    assert simulator.event_failures == []
    drain(app)

    session.expire_all()
    statuses = {s.email: s.status for s in session.scalars(select(Subscriber))}
    assert statuses["bulk3@example.com"] == SubscriberStatus.BOUNCED
    assert statuses["bulk7@example.com"] == SubscriberStatus.BOUNCED
    assert statuses["bulk11@example.com"] == SubscriberStatus.COMPLAINED
    assert Counter(statuses.values())[SubscriberStatus.ACTIVE] == 47
    suppressed = sorted(s.email_key or "" for s in session.scalars(select(Suppression)))
    assert suppressed == ["bulk11@example.com", "bulk3@example.com", "bulk7@example.com"]
    ledger = Counter(c.action for c in session.scalars(select(ConsentRecord)))
    assert ledger["bounced"] == 2 and ledger["complained"] == 1
    deliveries = list(session.scalars(select(Delivery)))
    assert sum(d.delivered_at is not None for d in deliveries) == 48  # bounces never deliver
    assert all(d.status.value == "sent" for d in deliveries)
    kinds = Counter(e.kind for e in session.scalars(select(Event)))
    assert kinds["send"] == 50 and kinds["bounce"] == 2 and kinds["complaint"] == 1


def test_a_burst_of_5000_signed_notifications_loses_none(
    database_url: str, tmp_path: Path, session: Session
) -> None:
    signer = Signer.create()
    app = create_app(app_config(database_url, tmp_path, SNS_TOPIC_ARNS=TOPIC))
    from webapp.hooks.routes import hook_settings

    settings = hook_settings(app)
    object.__setattr__(settings, "signing_keys", signer.signing_keys())
    bodies = [
        json.dumps(signer.notification(ses_event("Delivery", f"m-{n}"))).encode()
        for n in range(5000)
    ]
    bodies += bodies[:200]  # SNS retries some: the repeats change nothing

    hook = ""

    def post(body: bytes) -> int:
        request = urllib.request.Request(hook, data=body, method="POST")
        with urllib.request.urlopen(request, timeout=60) as answer:
            return int(answer.status)

    for base_url in serve(app):
        hook = f"{base_url}/hooks/ses"
        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = Counter(pool.map(post, bodies))
    assert codes == Counter({200: 5200})
    assert drain(app) == 5000
    assert session.scalar(select(func.count(Event.id))) == 5000
    assert session.scalar(select(func.count(SnsReceipt.id))) == 5000
