"""`python -m tests.tools.ses_simulator` runs the simulator in its own process."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.simulator.conftest import ses_client

pytestmark = pytest.mark.servers  # starts servers or processes: not under libfaketime

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_command_line_starts_a_simulator_the_app_can_reach(tmp_path: Path) -> None:
    port = free_port()
    cert = tmp_path / "sns.pem"
    command = [
        sys.executable, "-m", "tests.tools.ses_simulator", "--port", str(port),
        "--max-send-rate", "14",
        "--max-24-hour-send", "50000", "--latency-ms", "30", "--cert-file", str(cert),
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip().endswith(f"127.0.0.1:{port}")
        endpoint = f"http://127.0.0.1:{port}"
        start = time.monotonic()
        quota = ses_client(endpoint).get_account()["SendQuota"]
        assert time.monotonic() - start >= 0.03
        assert (quota["MaxSendRate"], quota["Max24HourSend"]) == (14.0, 50_000.0)
        with urllib.request.urlopen(f"{endpoint}/_sim/stats", timeout=5) as response:
            assert json.loads(response.read())["requests"] == 1
        assert cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_the_command_line_refuses_a_non_loopback_events_url() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.tools.ses_simulator", "--events-url", "http://example.com/hooks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "loopback" in result.stderr
