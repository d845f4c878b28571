from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from webapp import db
from webapp.config import current_settings
from webapp.delivery.heartbeat import Heartbeat, requeue_stale_claims
from webapp.delivery.jobs import JobRunner
from webapp.delivery.locks import WorkerLockHeld, worker_lock
from webapp.delivery.memory import limit_malloc_arenas
from webapp.delivery.outages import EXIT_DATABASE_LOST, DatabaseLost, Outage, is_operational
from webapp.delivery.runner import run_pending, worker_name
from webapp.events.batch import EventProcessor
from webapp.events.sqs import QueuePoller, queue_client, queue_settings, start_queue_threads
from webapp.logs import configure_logging
from webapp.scheduler.host import SchedulerHost, run_host

log = logging.getLogger("webapp.worker")


@click.command("worker", help="Send queued editions and system mails, apply stored SES "
               "events (and, with SES_EVENTS_QUEUE_URL, receive them from SQS), redact erased "
               "readers' outbox files and, if it holds the lease, run the scheduler. SIGTERM "
               "finishes the batch in flight and exits. A database outage longer than "
               "WORKER_DB_GRACE_SECONDS ends it with status 75, for its supervisor to restart "
               "it.")
@click.option("--once", is_flag=True, help="Run what is waiting now, then stop.")
@click.option("--poll", default=2.0, show_default=True, help="Seconds between looks for work.")
@click.option("--no-scheduler", is_flag=True, help="Only send; never run the scheduler.")
@with_appcontext
def worker_command(once: bool, poll: float, no_scheduler: bool) -> None:
    configure_logging()
    limit_malloc_arenas()  # before any thread starts
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("worker stopping", extra={"fields": {"signal": signum}})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    settings = current_settings()
    sessions = db.database().sessionmaker
    name = worker_name()
    # One for the whole worker: a database restart is ridden out for WORKER_DB_GRACE_SECONDS.
    outage = Outage(settings.worker_db_grace_seconds, stop=stop)

    def requeue() -> int:
        with sessions() as session:  # claims of workers that died go back to the queue
            returned = requeue_stale_claims(session)
            session.commit()
            return returned

    try:
        with worker_lock(settings.database_url), Heartbeat(sessions, name) as heartbeat:
            returned = outage.retry(requeue, "return stale claims")
            if returned:
                log.info("stale claims returned", extra={"fields": {"deliveries": returned}})
            scheduler_thread = None
            if not once and not no_scheduler:

                def scheduling(running: bool) -> None:
                    heartbeat.scheduler = running

                host = SchedulerHost(settings, sessions, name, on_change=scheduling)
                scheduler_thread = threading.Thread(
                    target=run_host, args=(host, stop), name="scheduler", daemon=True
                )
                scheduler_thread.start()
            # System mails and erasures' redactions have a thread of their own: a confirmation
            # goes out within seconds even while an edition takes hours to send.
            jobs = JobRunner(settings, sessions, worker=name)
            jobs_thread = None
            if not once:
                jobs_thread = threading.Thread(
                    target=jobs.run_until, args=(stop, poll, outage), name="jobs", daemon=True
                )
                jobs_thread.start()
            # SES events stored by /hooks/ses are applied by every worker, in batches: a long
            # send never holds them back, nor they the send.
            events = EventProcessor(sessions, bounce_suppress_after=settings.bounce_suppress_after)
            events_thread = None
            if not once:
                events_thread = threading.Thread(
                    target=events.run_until, args=(stop, min(poll, 1.0), outage), name="events",
                    daemon=True,
                )
                events_thread.start()
            # SES_EVENTS_QUEUE_URL: SES events also come from SQS, stored by threads of their own.
            queue = queue_settings(settings)
            queue_threads = []
            if queue is not None and not once:
                queue_threads = start_queue_threads(queue, sessions, stop, outage)
            log.info("worker ready", extra={"fields": {"name": name}})
            try:
                while not stop.is_set():
                    try:
                        worked = run_pending(settings, sessions, stop, heartbeat=heartbeat,
                                             outage=outage)
                    except SQLAlchemyError as error:
                        if not is_operational(error):
                            raise
                        if stop.is_set():
                            # Stopping while the database is away: what was claimed goes back
                            # when the next worker starts; what was handed over is in doubt.
                            log.warning("worker stopping without the database")
                            break
                        # Whatever step let it through, the worker waits and looks again.
                        stop.wait(outage.failed(error, "run the sends"))
                        continue
                    if once:
                        if queue is not None:  # what waits in the queue, then applied below
                            QueuePoller(queue, sessions, queue_client(queue)).run_until(
                                stop, outage, until_empty=True)
                        outage.retry(lambda: events.drain(stop), "apply SES events")
                        while outage.retry(jobs.run_once, "run background jobs").worked:
                            if stop.is_set():
                                break
                        break
                    if not worked:
                        stop.wait(poll)
            finally:
                stop.set()
                for thread in (jobs_thread, events_thread, scheduler_thread):
                    if thread is not None:
                        thread.join(timeout=10)
                for thread in queue_threads:  # a long poll, then the batch it brings
                    thread.join(timeout=queue.wait_seconds + 30 if queue else 0)
    except WorkerLockHeld as error:
        raise click.ClickException(str(error)) from None
    except DatabaseLost as error:
        # Logged with its figures where it was decided; the distinct status tells the
        # supervisor (systemd Restart=always) to start a fresh worker.
        log.error("worker exiting: database lost", extra={"fields": {"reason": str(error)}})
        sys.exit(EXIT_DATABASE_LOST)
    log.info("worker stopped")
