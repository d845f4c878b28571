"""SNS ingest through the real HTTP stack: gunicorn serving the app, signatures verified.

A sample of sent deliveries gets one SES Delivery event each, signed like SNS signs (the
simulator's test identity; SNS_TEST_CERT tells the app to trust it), posted to /hooks/ses by a
few keep-alive clients at once. Events are signed, and requests prepared, before the clock
starts, which is when every gunicorn worker has loaded the app and every client has its
connection: only the receiving side is measured. Afterwards every event must be stored (in the
inbox, for the workers to apply: tests/tools/bench/inbox.py times that), none lost. The CPU
the gunicorn processes spent (user + system, from /proc) over the timed part, divided by the
events, is the server's CPU per event.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.tools.bench.sqs import signed_delivery_events
from tests.tools.ses_simulator import sns
from webapp.models import Delivery, DeliveryStatus, SnsReceipt

TOPIC = "arn:aws:sns:us-east-1:123456789012:yuebao-bench"
CERT_URL = "http://127.0.0.1:9/cert.pem"  # not SNS's host: the app uses SNS_TEST_CERT
PROCFILE = Path(__file__).resolve().parents[3] / "Procfile"
_DEFAULTED = re.compile(r"\$\{[A-Z_]+:-([^}]*)\}")


def procfile_web_options(procfile: Path = PROCFILE) -> list[str]:
    """The gunicorn options of the Procfile's web line, variables at their defaults, without
    its --bind and the application: the bench measures gunicorn as the product runs it."""
    line = next(line for line in procfile.read_text().splitlines() if line.startswith("web:"))
    words = shlex.split(_DEFAULTED.sub(r"\1", line.removeprefix("web:")))
    if words[0] != "gunicorn":
        raise ValueError(f"the Procfile's web line does not run gunicorn: {line}")
    options, skip = [], False
    for word in words[1:-1]:  # the last word is the application
        if skip or word in ("--bind", "-b"):
            skip = not skip
            continue
        if not word.startswith(("--bind=", "-b")):
            options.append(word)
    return options


def _option(options: Sequence[str], name: str, default: int) -> int:
    """An integer option's last value (gunicorn takes the last), `--name N` or `--name=N`."""
    value = default
    for at, word in enumerate(options):
        if word == name and at + 1 < len(options):
            value = int(options[at + 1])
        elif word.startswith(f"{name}="):
            value = int(word.split("=", 1)[1])
    return value


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
    bodies = signed_delivery_events(list(rows), identity, TOPIC, version="1")
    return [body.encode() for body in bodies], identity.cert_pem


def _request(port: int, body: bytes) -> bytes:
    """One POST /hooks/ses as SNS sends it, ready to write to the socket."""
    head = (
        f"POST /hooks/ses HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n"
        "x-amz-sns-message-type: Notification\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class _KeepAliveClient:
    """A minimal HTTP/1.1 client on one kept-alive socket.

    http.client spent about half a millisecond of CPU per request — an eighth of the 4 ms two
    cores have per event at 500/s, taken from the server it measures; this writes prepared
    bytes and reads the status line and Content-Length only (about a tenth of that).
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""

    def send(self, request: bytes) -> int:
        """Write one prepared request and read its answer; the status code."""
        for attempt in range(2):
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.buffer = b""
                fresh = True
            else:
                fresh = False
            try:
                self.sock.sendall(request)
                status, close = self._response()
            except ConnectionError:
                # The server closed a kept-alive connection before reading this request; SNS
                # would retry, and a repeat changes nothing (the receipt), so send it again.
                self.close()
                if fresh or attempt:
                    raise
                continue
            if close:
                self.close()
            return status
        raise AssertionError("unreachable")

    def _response(self) -> tuple[int, bool]:
        assert self.sock is not None
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip().lower()
        length = int(headers.get(b"content-length", b"0"))
        self.buffer = rest
        while len(self.buffer) < length:
            self._read()
        self.buffer = self.buffer[length:]
        return status, headers.get(b"connection") == b"close"

    def _read(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


def _post_all(
    port: int, requests: Sequence[bytes], failures: list[int], ready: threading.Barrier
) -> None:
    """Open the connection with a /healthz call, wait for the others, then post everything."""
    client = _KeepAliveClient(port)
    done = 0
    try:
        try:
            warm = client.send(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        except OSError:
            ready.abort()  # the others must not wait for this one
            raise
        ready.wait()
        if warm != 200:
            raise OSError(f"/healthz answered {warm}")
        for request in requests:
            status = client.send(request)
            done += 1
            if status != 200:
                failures.append(status)
    except (OSError, threading.BrokenBarrierError):
        failures.extend([0] * (len(requests) - done))  # not answered: counted as refused
    finally:
        client.close()


def _stored(session: Session) -> int:
    count = session.scalar(
        select(func.count(SnsReceipt.id)).where(SnsReceipt.type == "Notification")
    )
    session.rollback()
    return int(count or 0)


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU of these processes so far (fields 14 and 15 of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def ingest(
    env: dict[str, str], session: Session, root: Path, count: int, *, clients: int = 8,
) -> dict[str, Any]:
    """`count` events through gunicorn with the Procfile's options; every one must be stored."""
    bodies, cert_pem = signed_events(session, count)
    session.rollback()
    before = _stored(session)
    figures = post_through_gunicorn(env, root, bodies, cert_pem, clients=clients,
                                    options=procfile_web_options())
    stored = _stored(session) - before
    return {**figures, "sns_stored": stored, "sns_lost": len(bodies) - stored}


def post_through_gunicorn(
    env: dict[str, str], root: Path, bodies: Sequence[bytes], cert_pem: bytes, *,
    clients: int = 8, options: Sequence[str] = (),
    around: Callable[[Sequence[int]], contextlib.AbstractContextManager[object]] | None = None,
    config_extra: str = "",
) -> dict[str, Any]:
    """Start gunicorn on the app, post every body to /hooks/ses from `clients` keep-alive
    clients, stop it; the rate and the gunicorn processes' CPU per event over the posting.
    `options` are gunicorn's command-line options (its defaults: one sync worker); `around`, given
    the worker processes' ids, wraps the posting (a profiler, say)."""
    cert = root / "sns-test-cert.pem"
    cert.write_bytes(cert_pem)
    port = _free_port()
    requests = [_request(port, body) for body in bodies]
    env = {**os.environ, **env, "SNS_TEST_CERT": str(cert), "SNS_TOPIC_ARNS": TOPIC}
    ready_dir = root / "gunicorn-ready"
    shutil.rmtree(ready_dir, ignore_errors=True)
    ready_dir.mkdir()
    config = root / "gunicorn-bench.py"
    config.write_text(_READY_HOOK.format(ready_dir=str(ready_dir)) + config_extra)
    workers, threads = _option(options, "--workers", 1), _option(options, "--threads", 1)
    command = [sys.executable, "-m", "gunicorn", "--config", str(config),
               "--bind", f"127.0.0.1:{port}", "--log-level", "warning", *options,
               "webapp:create_app()"]
    log = (root / "gunicorn.log").open("wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for(server, root / "gunicorn.log", ready_dir, workers)
        failures: list[int] = []
        share = [part for part in (requests[i::clients] for i in range(clients)) if part]
        ready = threading.Barrier(len(share) + 1)
        posters = [threading.Thread(target=_post_all, args=(port, part, failures, ready))
                   for part in share]
        for poster in posters:
            poster.start()
        worker_pids = [int(p.name) for p in ready_dir.iterdir()]
        pids = [server.pid, *worker_pids]
        with around(worker_pids) if around else contextlib.nullcontext():
            # Every client has its connection and has had an answer: the clock starts now.
            with contextlib.suppress(threading.BrokenBarrierError):
                ready.wait(timeout=60)
            start, cpu_start = time.monotonic(), _cpu_seconds(pids)
            for poster in posters:
                poster.join()
            elapsed, cpu = time.monotonic() - start, _cpu_seconds(pids) - cpu_start
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    return {
        "sns_events": len(bodies),
        "sns_events_per_s": round(len(bodies) / elapsed, 1),
        "events_received_per_s": round(len(bodies) / elapsed, 1),
        "events_received_cpu_ms": round(cpu * 1000 / max(len(bodies), 1), 3),
        "sns_refused": len(failures),
        "sns_gunicorn": f"{workers} workers x {threads} threads",
        "sns_log_tail": (root / "gunicorn.log").read_text()[-600:] if failures else "",
    }


# Each worker marks itself ready once it has loaded the app: the master opens the port
# before its workers have imported anything, and connections made then all go to whichever
# worker is up first.
_READY_HOOK = """
import os


def post_worker_init(worker):
    open(os.path.join({ready_dir!r}, str(worker.pid)), "w").close()
"""


def _wait_for(
    server: subprocess.Popen[bytes], log: Path, ready_dir: Path, workers: int
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {log.read_text()[-2000:]}")
        if len(list(ready_dir.iterdir())) >= workers:
            return
        time.sleep(0.1)
    raise RuntimeError("gunicorn did not start")
