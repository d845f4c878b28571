"""The SES simulator in its own process, so the sender's CPU time is the sender's alone."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from types import TracebackType
from typing import Any


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class SimulatorProcess:
    """`python -m tests.tools.ses_simulator` on a loopback port, driven by its /_sim admin API."""

    def __init__(
        self, *, rate: float, latency_ms: float = 30.0, jitter_ms: float = 0.0,
        events_url: str | None = None, cert_file: str | None = None,
    ) -> None:
        self.port = _free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable, "-m", "tests.tools.ses_simulator", "--port", str(self.port),
            "--max-send-rate", str(rate), "--max-24-hour-send", "100000000",
            "--latency-ms", str(latency_ms), "--jitter-ms", str(jitter_ms),
            "--record-mode", "digest",
        ]
        if events_url:
            command += ["--events-url", events_url]
        if cert_file:
            command += ["--cert-file", cert_file]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=dict(os.environ)
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self._call("GET", "/_sim/health")
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"simulator exited: {self.process.stderr!r}") from None
                time.sleep(0.05)
        raise RuntimeError("the simulator did not start")

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.endpoint_url + path, data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"null")

    def configure(self, **settings: float) -> None:
        """max_send_rate, latency (s), jitter (s): effective for the next request."""
        self._call("POST", "/_sim/config", settings)

    def reset(self) -> None:
        self._call("POST", "/_sim/reset", {})

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/_sim/stats")
        return result

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
