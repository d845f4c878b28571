"""Real worker processes against the SES simulator, with the app's hook live for SES events."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

from tests.conftest import app_config, new_postgres_database
from tests.factories import Factories
from tests.support.inbox import drain
from tests.tools.postgres import PostgresServer
from tests.tools.ses_simulator import SesSimulator, SimulatorConfig
from webapp import create_app
from webapp.config import settings_of
from webapp.db import database
from webapp.delivery import sending
from webapp.delivery.in_doubt import settle_ses
from webapp.models import Delivery, DeliveryStatus, utcnow

ROOT = Path(__file__).resolve().parents[2]
YUEBAO = str(Path(sys.executable).parent / "yuebao")


@dataclass
class Stage:
    """One send set up on its own PostgreSQL database, its hook served over HTTP."""

    app: Flask
    url: str
    env: dict[str, str]
    sim: SesSimulator
    log: Path

    def worker(self, *args: str, crash: str | None = None) -> subprocess.Popen[bytes]:
        # With a crash point the same command runs under tests.tools.crash_points.
        command = [sys.executable, "-m", "tests.tools.crash_points", crash] if crash else [YUEBAO]
        handle = self.log.open("ab")
        return subprocess.Popen(
            [*command, "worker", "--no-scheduler", "--poll", "0.2", *args],
            env=self.env, cwd=ROOT, stdout=handle, stderr=handle,
        )

    def statuses(self) -> dict[str, int]:
        with database(self.app).sessionmaker() as session:
            counts: dict[str, int] = {}
            for status in session.scalars(select(Delivery.status)):
                counts[status.value] = counts.get(status.value, 0) + 1
            return counts

    def wait_until(self, check: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.1)
        raise AssertionError(f"timed out; deliveries: {self.statuses()}")


def _serve(app: Flask) -> tuple[str, Callable[[], None]]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.server_port}", server.shutdown


@pytest.fixture
def stage(
    postgres_server: PostgresServer, postgres_template: str, tmp_path: Path
) -> Iterator[Callable[..., Stage]]:
    made: list[tuple[SesSimulator, Callable[[], None]]] = []

    def make(readers: int, *, rate: float, sim_rate: float = 10_000, **sim: Any) -> Stage:
        url = new_postgres_database(postgres_server, postgres_template)
        simulator = SesSimulator(SimulatorConfig(
            max_send_rate=sim_rate, max_24_hour_send=1_000_000, **sim)).start()
        cert = simulator.write_cert(tmp_path / f"sns-{len(made)}.pem")
        settings = {
            "DATABASE_URL": url, "MAIL_TRANSPORT": "ses", "SES_REGION": "us-east-1",
            "SES_ENDPOINT_URL": simulator.endpoint_url, "SES_MAX_SEND_RATE": str(rate),
            "SNS_TEST_CERT": str(cert), "SNS_TOPIC_ARNS": simulator.topic_arn,
            "SECRET_KEY": "k", "ERASURE_KEY": "e", "BASE_URL": "https://news.example.com",
            "YUEBAO_VAR_DIR": str(tmp_path / "var"),
        }
        app = create_app(app_config(url, tmp_path, **{k: v for k, v in settings.items()
                                                       if k != "SES_MAX_SEND_RATE"}))
        base, shutdown = _serve(app)
        made.append((simulator, shutdown))
        simulator.events_url = f"{base}/hooks/ses"
        with database(app).sessionmaker() as session:
            factories = Factories(session)
            factories.edition("2024-07", status=sending.EditionStatus.APPROVED,
                              items={"policy": [{"topics": ["ai"]}, {"topics": ["data"]}]})
            factories.many_subscribers(readers, [["ai"], ["data"], ["ai", "data"]])
            sending.start_send(session, sending.load_edition(session, "2024-07"), actor="test")
            session.commit()
        env = {**os.environ, **settings, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
        return Stage(app, url, env, simulator, tmp_path / f"worker-{len(made)}.log")

    yield make
    for simulator, shutdown in made:
        simulator.stop()
        shutdown()


def finish(stage: Stage) -> None:
    """Run a worker to the end and let SES's events arrive; then, as IN_DOUBT_WAIT_MINUTES
    later, settle what SES never reported and run a worker again."""
    done = stage.worker("--once")
    assert done.wait(timeout=120) == 0, stage.log.read_text()[-3000:]
    assert stage.sim.flush_events(timeout=30)
    drain(stage.app)  # what the hook stored, applied as a running worker would
    if stage.statuses().get(DeliveryStatus.IN_DOUBT.value):
        later = utcnow() + timedelta(minutes=settings_of(stage.app).in_doubt_wait_minutes + 1)
        with database(stage.app).sessionmaker() as session:
            settle_ses(session, timedelta(minutes=settings_of(stage.app).in_doubt_wait_minutes),
                       later)
            session.commit()
        again = stage.worker("--once")
        assert again.wait(timeout=120) == 0, stage.log.read_text()[-3000:]
        assert stage.sim.flush_events(timeout=30)
        drain(stage.app)
    stage.wait_until(lambda: set(stage.statuses()) == {DeliveryStatus.SENT.value})


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
