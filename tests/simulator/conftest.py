"""Fixtures for the SES simulator: a running simulator, boto3 clients for it, an SNS receiver."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.config import Config
from types_boto3_sesv2.client import SESV2Client

from tests.tools.ses_simulator import SesSimulator, SimulatorConfig

SENDER = "Yuebao <yuebao@example.com>"


def ses_client(target: SesSimulator | str, **config: Any) -> SESV2Client:
    """A sesv2 client for a simulator (or its endpoint URL); no retries unless asked.

    `total_max_attempts`, not `max_attempts`: in botocore's legacy retry mode `max_attempts: 1`
    still means one retry.
    """
    options: dict[str, Any] = {"retries": {"total_max_attempts": 1}, **config}
    return boto3.client(
        "sesv2",
        endpoint_url=target if isinstance(target, str) else target.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(**options),
    )


@pytest.fixture
def make_simulator() -> Iterator[Callable[..., SesSimulator]]:
    """Start simulators with any options; all are stopped after the test."""
    started: list[SesSimulator] = []

    def make(**options: Any) -> SesSimulator:
        defaults: dict[str, Any] = {"max_send_rate": 10_000, "max_24_hour_send": 1_000_000}
        simulator = SesSimulator(SimulatorConfig(**{**defaults, **options})).start()
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        simulator.stop()


@pytest.fixture
def sim(make_simulator: Callable[..., SesSimulator]) -> SesSimulator:
    return make_simulator()


@pytest.fixture
def ses(sim: SesSimulator) -> SESV2Client:
    return ses_client(sim)


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float = field(default_factory=time.monotonic)


@dataclass
class Receiver:
    """A stand-in for the app's /hooks/ses: records POSTs, can answer errors on demand."""

    url: str = ""
    posts: list[Post] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)  # statuses for the next POSTs
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, count: int, status: int = 500) -> None:
        with self.lock:
            self.failures.extend([status] * count)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Post]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.posts) >= count:
                    return list(self.posts)
            time.sleep(0.01)
        raise AssertionError(f"expected {count} notifications, got {len(self.posts)}")

    def messages(self) -> list[dict[str, Any]]:
        """The SES event records inside the Notification envelopes received so far."""
        with self.lock:
            return [
                json.loads(post.body["Message"])
                for post in self.posts
                if post.body.get("Type") == "Notification"
            ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with state.lock:
                status = state.failures.pop(0) if state.failures else 200
                if status == 200:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    state.posts.append(Post(self.path, headers, json.loads(body)))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/ses"
    yield state
    server.shutdown()
    server.server_close()


def simple_email(to: str | list[str], subject: str = "Hello", **extra: Any) -> dict[str, Any]:
    """SendEmail parameters for a Simple message."""
    recipients = [to] if isinstance(to, str) else to
    return {
        "FromEmailAddress": SENDER,
        "Destination": {"ToAddresses": recipients},
        "Content": {
            "Simple": {
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": "text body", "Charset": "UTF-8"},
                    "Html": {"Data": "<p>html body</p>", "Charset": "UTF-8"},
                },
            }
        },
        **extra,
    }


def bulk_email(
    addresses: list[str], template: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    """SendBulkEmail parameters: one entry per address, inline template content."""
    content = template or {"Subject": "Hi {{name}}", "Text": "{{name}}", "Html": "<p>{{name}}</p>"}
    return {
        "FromEmailAddress": SENDER,
        "DefaultContent": {"Template": {"TemplateContent": content, "TemplateData": "{}"}},
        "BulkEmailEntries": [
            {
                "Destination": {"ToAddresses": [address]},
                "ReplacementEmailContent": {
                    "ReplacementTemplate": {
                        "ReplacementTemplateData": json.dumps({"name": address.split("@")[0]})
                    }
                },
            }
            for address in addresses
        ],
        **extra,
    }
