"""A local HTTPS webhook receiver: records what it is sent and answers as a test tells it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.smtp_server import TestCA


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Behaviour:
    status: int = 200
    delay: float = 0.0  # seconds before answering (longer than the sender's timeout: a hang)
    received: list[Received] = field(default_factory=list)


def _handler(behaviour: Behaviour) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            behaviour.received.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            if behaviour.delay:
                time.sleep(behaviour.delay)
            self.send_response(behaviour.status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def https_receiver(ca: TestCA, port: int, behaviour: Behaviour) -> Iterator[Behaviour]:
    """Serve on 127.0.0.1:`port` with the test certificate until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(behaviour))
    server.daemon_threads = True
    context = ca.server_context()
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield behaviour
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def loopback(host: str, port: int) -> list[str]:
    """A resolver for tests: every name is this machine."""
    return ["127.0.0.1"]


__all__ = ["Behaviour", "Received", "https_receiver", "loopback"]
