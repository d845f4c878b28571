"""`yuebao worker` with SES_EVENTS_QUEUE_URL, against moto's SQS server: killed with SIGKILL
mid-batch, its messages come back after the visibility timeout and each event is applied once;
SIGTERM ends it cleanly."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import drop_postgres_database, new_postgres_database
from tests.factories import Factories
from tests.tools.bench.sqs import TOPIC, applied, ready_worker, signed_delivery_events
from tests.tools.moto_sqs import LocalSqs
from tests.tools.postgres import PostgresServer
from tests.tools.ses_simulator import sns
from webapp.models import Delivery, EditionStatus, SnsReceipt

pytestmark = pytest.mark.servers  # starts servers and processes

YUEBAO = str(Path(sys.executable).parent / "yuebao")
EVENTS = 60


@pytest.fixture
def database_url(postgres_server: PostgresServer, postgres_template: str) -> Iterator[str]:
    """PostgreSQL only, as in production: the worker and the test each connect to it."""
    url = new_postgres_database(postgres_server, postgres_template)
    yield url
    drop_postgres_database(postgres_server, url)


@pytest.fixture(scope="module")
def sqs() -> Iterator[LocalSqs]:
    server = LocalSqs().start()
    yield server
    server.stop()


class Setup:
    def __init__(self, env: dict[str, str], log: Path, queue: str, ids: list[int]) -> None:
        self.env, self.log, self.queue, self.ids = env, log, queue, ids

    def worker(self, crash: str | None = None) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "tests.tools.crash_points", crash] if crash else [YUEBAO]
        return ready_worker(command, self.env, self.log)


@pytest.fixture
def setup(
    sqs: LocalSqs, database_url: str, factories: Factories, tmp_path: Path
) -> Callable[[], Setup]:
    def make() -> Setup:
        edition = factories.edition("2024-07", status=EditionStatus.SENDING,
                                    items={"policy": [{"topics": ["ai"]}]})
        ids = factories.sent_to(edition, EVENTS)
        identity = sns.default_identity()
        cert = tmp_path / "sns-test.pem"
        cert.write_bytes(identity.cert_pem)
        queue = sqs.create_queue(visibility_timeout=2)
        rows = factories.session.execute(
            select(Delivery.id, Delivery.message_id).where(Delivery.id.in_(ids))).tuples()
        sqs.send(queue, signed_delivery_events([(i, m or "") for i, m in rows], identity))
        env = {
            **os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "k", "ERASURE_KEY": "e",
            "YUEBAO_VAR_DIR": str(tmp_path / "var"), "BASE_URL": "https://news.example.com",
            "SES_EVENTS_QUEUE_URL": queue, "SES_EVENTS_QUEUE_WAIT_SECONDS": "1",
            "SES_EVENTS_QUEUE_THREADS": "2", "SNS_TEST_CERT": str(cert), "SNS_TOPIC_ARNS": TOPIC,
            "AWS_ACCESS_KEY_ID": "moto", "AWS_SECRET_ACCESS_KEY": "moto",
        }
        return Setup(env, tmp_path / "worker.log", queue, ids)

    return make


def _wait_until(check: Callable[[], bool], log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; worker log: {log.read_text()[-3000:]}")
        time.sleep(0.1)


def _stored(session: Session) -> int:
    found = session.scalar(select(func.count(SnsReceipt.id))) or 0
    session.rollback()
    return found


def _finish_and_check(sqs: LocalSqs, setup: Setup, session: Session) -> None:
    """A fresh worker applies everything; each event once; SIGTERM ends it with status 0."""
    worker = setup.worker()
    try:
        _wait_until(lambda: applied(session, setup.ids)[1] >= EVENTS
                    and sqs.depth(setup.queue) == (0, 0), setup.log)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0, setup.log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()
    assert applied(session, setup.ids) == (EVENTS, EVENTS)  # none lost, none applied twice
    assert _stored(session) == EVENTS


def test_a_worker_killed_after_storing_a_batch_leaves_nothing_lost_or_doubled(
    sqs: LocalSqs, setup: Callable[[], Setup], session: Session
) -> None:
    stage = setup()
    killed = stage.worker(crash="queue_stored:2")  # the second batch committed, not deleted
    assert killed.wait(timeout=90) == -signal.SIGKILL, stage.log.read_text()[-3000:]
    assert _stored(session) > 0
    assert sqs.depth(stage.queue)[1] > 0  # stored but still in the queue: they come back

    _finish_and_check(sqs, stage, session)


def test_a_worker_killed_at_a_random_moment_leaves_nothing_lost_or_doubled(
    sqs: LocalSqs, setup: Callable[[], Setup], session: Session
) -> None:
    stage = setup()
    worker = stage.worker()
    _wait_until(lambda: _stored(session) > 0, stage.log)
    time.sleep(random.uniform(0.0, 0.5))  # nosec B311: a moment, not a secret
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)

    _finish_and_check(sqs, stage, session)
