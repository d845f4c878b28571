"""The processes of a real installation, each startable, killable and restartable on its own:
gunicorn serving the app (and `/hooks/ses`), the worker (with its scheduler), the SES simulator
posting SNS events to the hook, and the database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.tools.ses_simulator import SesSimulator
from webapp.db import database
from webapp.delivery import sending
from webapp.models import Delivery, Edition

ROOT = Path(__file__).resolve().parents[2]
YUEBAO = str(Path(sys.executable).parent / "yuebao")
# A real domain's length: with ~30 characters or more, headers used to be written as RFC 2047
# encoded words (issue 16, finding 5).
BASE_URL = "https://newsletter.merits-and-tree-consulting.example.com.cn"
assert len(BASE_URL) == 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Exited:
    """How one process we started ended, and whether we ended it."""

    name: str
    status: int | None
    how: str  # "kill -9", "SIGTERM", or "on its own" (never expected)


@dataclass
class Stage:
    app: Flask  # the test's own view of the database (no server)
    env: dict[str, str]
    sim: SesSimulator
    logs: Path
    port: int = field(default_factory=free_port)
    web: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    exits: list[Exited] = field(default_factory=list)
    _runs: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def sessions(self) -> sessionmaker[Session]:
        return database(self.app).sessionmaker

    # --- gunicorn -----------------------------------------------------------------------------

    def start_web(self) -> None:
        """As the Procfile's web line, with threads; answers /healthz before returning."""
        log = (self.logs / "gunicorn.log").open("ab")
        self.web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "2", "--threads", "4", "--graceful-timeout", "2",
             "webapp:create_app()"],
            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill -9 reaches its workers
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.web.poll() is not None:
                raise AssertionError(f"gunicorn exited: {self.read_log('gunicorn')[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.HTTPError):
                pass
            time.sleep(0.1)
        raise AssertionError("gunicorn did not answer /healthz")

    def kill_web(self) -> None:
        """kill -9, master and workers at once, as a crashed host or an OOM kill does."""
        assert self.web is not None
        self._note_alive("gunicorn", self.web)
        os.killpg(self.web.pid, signal.SIGKILL)
        self.exits.append(Exited("gunicorn", self.web.wait(timeout=30), "kill -9"))
        self.web = None

    def stop_web(self) -> None:
        if self.web is not None:
            self._note_alive("gunicorn", self.web)
            self.web.terminate()
            try:
                self.exits.append(Exited("gunicorn", self.web.wait(timeout=30), "SIGTERM"))
            except subprocess.TimeoutExpired:
                os.killpg(self.web.pid, signal.SIGKILL)
                self.web.wait(timeout=30)
            self.web = None

    # --- the worker ---------------------------------------------------------------------------

    def start_worker(self) -> None:
        """`yuebao worker`, scheduler included, looking for work every 0.2 s."""
        self._runs += 1
        log = (self.logs / "worker.log").open("ab")
        log.write(f"\n=== worker run {self._runs} ===\n".encode())
        log.flush()
        self.worker = subprocess.Popen(
            [YUEBAO, "worker", "--poll", "0.2"],
            env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )

    def kill_worker(self) -> None:
        assert self.worker is not None
        self._note_alive("worker", self.worker)
        self.worker.send_signal(signal.SIGKILL)
        self.exits.append(Exited("worker", self.worker.wait(timeout=30), "kill -9"))
        self.worker = None

    def stop_worker(self) -> None:
        """SIGTERM, as a supervisor's stop: the batch in flight is finished first."""
        if self.worker is not None:
            self._note_alive("worker", self.worker)
            self.worker.terminate()
            self.exits.append(Exited("worker", self.worker.wait(timeout=120), "SIGTERM"))
            self.worker = None

    def _note_alive(self, name: str, process: subprocess.Popen[bytes]) -> None:
        # A process that ended before we ended it exited on its own: kept, and asserted on.
        status = process.poll()
        if status is not None:
            self.exits.append(Exited(name, status, "on its own"))

    def read_log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # --- the database -------------------------------------------------------------------------

    def edition(self, session: Session, month: str) -> Edition:
        session.expire_all()
        return sending.load_edition(session, month)

    def statuses(self, edition_id: int) -> dict[str, int]:
        with self.sessions() as session:
            return {k: v for k, v in sending.delivery_counts(session, edition_id).items() if v}

    def deliveries(self) -> list[Delivery]:
        with self.sessions() as session:
            rows = list(session.scalars(select(Delivery).order_by(Delivery.id)))
            session.expunge_all()
            return rows

    def wait_until(self, check: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.1)
        raise AssertionError(
            f"timed out waiting until {what}\n--- worker log ---\n"
            f"{self.read_log('worker')[-4000:]}"
        )

    def close(self) -> None:
        for process in (self.worker, self.web):
            if process is not None and process.poll() is None:
                if process is self.web:
                    os.killpg(process.pid, signal.SIGKILL)
                else:
                    process.kill()
                process.wait(timeout=30)
        self.sim.stop()
        database(self.app).engine.dispose()
