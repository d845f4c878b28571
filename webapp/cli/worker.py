from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click
from flask.cli import with_appcontext

from webapp.logs import configure_logging

log = logging.getLogger("webapp.worker")


@click.command("worker", help="Run the scheduler and delivery loop (stops cleanly on SIGTERM).")
@click.option("--once", is_flag=True, help="Start, report ready and stop (for checks).")
@with_appcontext
def worker_command(once: bool) -> None:
    configure_logging()
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("worker stopping", extra={"fields": {"signal": signum}})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info("worker ready")
    while not once and not stop.wait(timeout=5):
        pass
    log.info("worker stopped")
