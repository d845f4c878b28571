from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext

from webapp import db
from webapp.delivery.locks import WorkerLockHeld, worker_lock
from webapp.delivery.runner import run_pending
from webapp.logs import configure_logging

log = logging.getLogger("webapp.worker")


@click.command("worker", help="Run queued sends; stops cleanly on SIGTERM (finishes its batch).")
@click.option("--once", is_flag=True, help="Run what is waiting now, then stop.")
@click.option("--poll", default=5.0, show_default=True, help="Seconds between looks for work.")
@with_appcontext
def worker_command(once: bool, poll: float) -> None:
    configure_logging()
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("worker stopping", extra={"fields": {"signal": signum}})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    config = current_app.config
    try:
        with worker_lock(config["DATABASE_URL"]):
            log.info("worker ready")
            sessions = db.database().sessionmaker
            while not stop.is_set():
                worked = run_pending(config, sessions, stop)
                if once:
                    break
                if not worked:
                    stop.wait(poll)
    except WorkerLockHeld as error:
        raise click.ClickException(str(error)) from None
    log.info("worker stopped")
