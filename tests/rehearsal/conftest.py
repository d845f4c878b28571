"""A whole installation on loopback: gunicorn, a worker, the SES simulator posting to the hook."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import app_config
from tests.rehearsal.stage import BASE_URL, Stage
from tests.tools.ses_simulator import SesSimulator, SimulatorConfig
from webapp import create_app


@pytest.fixture
def rehearsal_size(request: pytest.FixtureRequest) -> int:
    size: int = request.config.getoption("--rehearsal-size")
    return size


@pytest.fixture
def stage(database_url: str, tmp_path: Path) -> Iterator[Stage]:
    # SNS retries for minutes, as the real one does: events outlive a web restart.
    sim = SesSimulator(SimulatorConfig(
        max_send_rate=10_000, max_24_hour_send=1_000_000, event_retries=12,
        event_retry_backoff=0.1,
    )).start()
    cert = sim.write_cert(tmp_path / "sns-test.pem")
    settings = {
        "DATABASE_URL": database_url, "MAIL_TRANSPORT": "ses", "SES_REGION": "us-east-1",
        "SES_ENDPOINT_URL": sim.endpoint_url, "SES_CONFIGURATION_SET": "yuebao",
        "SNS_TEST_CERT": str(cert), "SNS_TOPIC_ARNS": sim.topic_arn,
        "SECRET_KEY": "rehearsal-secret", "ERASURE_KEY": "rehearsal-erasure", "BASE_URL": BASE_URL,
        "YUEBAO_VAR_DIR": str(tmp_path / "var"), "OUTBOX_DIR": str(tmp_path / "var" / "outbox"),
        # Behind one reverse proxy: each reader is known by their own address.
        "TRUSTED_PROXIES": "1",
    }
    app = create_app(app_config(database_url, tmp_path, **settings))
    env = {**os.environ, **settings, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "PYTHONUNBUFFERED": "1"}
    logs = tmp_path / "logs"
    logs.mkdir()
    stage = Stage(app, env, sim, logs)
    sim.events_url = f"{stage.url}/hooks/ses"
    try:
        yield stage
    finally:
        stage.close()
