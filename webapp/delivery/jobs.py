"""The worker's background jobs: system mails (and the public forms' requests that call for
them, webapp.delivery.form_requests), the redaction of erased readers' outbox files, and long
work an admin or editor started (a readers' CSV import or export, English drafts).

Each job is a row written in the same transaction as the change that calls for it (see
webapp.mailer.queue_mail and webapp.readers.own_data.erase). The worker claims due rows,
commits, does the work outside any transaction, then records the outcome: done, or tried again
later with exponential backoff, or given up (a permanent error, or MAX_ATTEMPTS). A worker that
dies between the claim and the record leaves the row to be claimed again once its lease ends,
so a mail may (rarely) go twice but is never lost.

Long work renews its claim at each batch and commits its progress with the batch, so it may
outlast one lease; a worker that finds its claim taken over stops without touching the job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker, undefer

from emails import Transport
from emails.transports.errors import Rejected, classify_client_error
from webapp.config import Settings
from webapp.delivery.form_requests import UnknownRequest, answer_request
from webapp.delivery.outages import DatabaseLost, Outage, is_operational
from webapp.editions.drafting_job import run_translation_job
from webapp.editions.machine_translation import Translator, translate_client
from webapp.editions.outbox import delivery_of, message_names, recipient_of
from webapp.editions.records import EditionError
from webapp.mailer import is_request, payload_message, record_outbox_file, transport
from webapp.models import (
    BackgroundJob,
    Delivery,
    JobKind,
    JobStatus,
    OutboxFile,
    Subscriber,
    SubscriberStatus,
    Suppression,
    email_key,
    utcnow,
)
from webapp.readers.csv_jobs import run_csv_export, run_csv_import
from webapp.readers.own_data import empty_log, mark_redacted, reader_files, redact_file

log = logging.getLogger(__name__)

INDEX_BATCH = 500  # files indexed per transaction by the one-off index job
CLAIM_SIZE = 20  # jobs claimed at once: a few seconds of work at most
LEASE = timedelta(minutes=5)  # a claimed job is taken again after this if never recorded
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
KEPT_AFTER = timedelta(days=30)  # finished jobs stay this long (visible, then gone)
MAX_ATTEMPTS = 12  # about five hours of retries (30 s, doubling to an hour) before giving up
# Done after the others of a claim: they take seconds, and their leases must not run out
# while a long import goes on.
LONG_WORK = frozenset({JobKind.CSV_IMPORT, JobKind.CSV_EXPORT, JobKind.TRANSLATE})
# Seconds of import work before the job goes back to the queue, due at once: system mails
# queued meanwhile are claimed before it, so a large import never holds them up for long.
LONG_WORK_SLICE = 15.0


class PermanentJobError(Exception):
    """Trying again cannot help (the address was refused or suppressed, the row is unusable)."""


class ClaimLost(Exception):
    """The job's lease ran out and another worker took it (or it was given up meanwhile)."""


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: JobKind
    subscriber_id: int | None
    payload: dict[str, Any] | None
    attempts: int  # this attempt included


@dataclass
class JobsRun:
    done: int = 0
    retried: int = 0
    failed: int = 0
    paused: int = 0  # long work that used its slice and is due again at once

    @property
    def worked(self) -> int:
        return self.done + self.retried + self.failed + self.paused


@dataclass(frozen=True)
class _Outcome:
    file: str | None = None  # a mail written by the outbox transport
    redacted: list[str] = field(default_factory=list)  # outbox files redacted
    more: bool = False  # long work stopped after its slice, with more to do
    recorded: bool = False  # done and recorded in the work's own transaction (a form's request)


def backoff(attempts: int) -> timedelta:
    """30 s after the first failed attempt, doubling, at most an hour."""
    return min(BACKOFF_MAX, BACKOFF_BASE * (1 << min(max(0, attempts - 1), 20)))


def claim_jobs(session: Session, worker: str, size: int, now: datetime) -> list[ClaimedJob]:
    """Take up to `size` due jobs, oldest due first; the caller commits at once.

    SKIP LOCKED lets several workers on PostgreSQL claim disjoint jobs without waiting on each
    other (SQLite ignores it and has one writer anyway). The claim moves `next_attempt_at` a
    lease ahead and counts the attempt in the same transaction: no other worker takes the job
    meanwhile, and one that dies mid-job leaves it to be taken again when the lease ends.
    """
    stmt = (
        select(BackgroundJob)
        .where(BackgroundJob.status == JobStatus.PENDING, BackgroundJob.next_attempt_at <= now)
        .order_by(BackgroundJob.next_attempt_at, BackgroundJob.id)
        .limit(size)
        .with_for_update(skip_locked=True)
        .options(undefer(BackgroundJob.payload))
    )
    claimed = []
    for job in session.scalars(stmt):
        job.attempts += 1
        job.next_attempt_at = now + LEASE
        job.claimed_by = worker
        claimed.append(
            ClaimedJob(job.id, job.kind, job.subscriber_id, job.payload, job.attempts)
        )
    # The long ones last (a stable sort keeps the due order among the others).
    return sorted(claimed, key=lambda job: job.kind in LONG_WORK)


def hold_claim(
    session: Session, job_id: int, worker: str, attempt: int, now: datetime
) -> BackgroundJob:
    """The job's row, locked, when this worker's claim still stands, with its lease renewed.

    Long work calls it at the start of every batch's transaction: a worker that outlived its
    lease and lost the job to another stops there (ClaimLost) instead of doing it twice.
    """
    job = session.scalar(
        select(BackgroundJob).where(BackgroundJob.id == job_id).with_for_update()
    )
    if (
        job is None
        or job.status != JobStatus.PENDING
        or job.claimed_by != worker
        or job.attempts != attempt
    ):
        raise ClaimLost(f"job {job_id} is no longer claimed by {worker}")
    job.next_attempt_at = now + LEASE
    return job


class JobRunner:
    """Runs due jobs for one worker; the mail transport is built once, when first needed."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        *,
        worker: str,
        mail_transport: Transport | None = None,
        translator: Translator | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.worker = worker
        self.clock = clock
        self._transport = mail_transport
        self._translator = translator

    def run_once(self, size: int = CLAIM_SIZE) -> JobsRun:
        """Claim due jobs and do them, each outcome recorded in its own short transaction."""
        result = JobsRun()
        with self.sessions() as session:
            claimed = claim_jobs(session, self.worker, size, self.clock())
            session.commit()
        for job in claimed:
            try:
                outcome = self._perform(job)
            except ClaimLost:
                log.warning("background job taken over by another worker", extra={"fields": {
                    "job": job.id, "kind": job.kind.value}})
                continue
            except PermanentJobError as error:
                self._record_failure(job, str(error), permanent=True, result=result)
            except Exception as error:
                log.warning(
                    "background job failed",
                    exc_info=True,
                    extra={"fields": {"job": job.id, "kind": job.kind.value,
                                      "attempt": job.attempts}},
                )
                self._record_failure(job, _describe(error), permanent=False, result=result)
            else:
                if outcome.more:
                    self._record_pause(job)
                    result.paused += 1
                elif outcome.recorded:
                    result.done += 1
                else:
                    self._record_done(job, outcome)
                    result.done += 1
        return result

    def run_until(self, stop: threading.Event, poll: float, outage: Outage | None = None) -> None:
        """The worker's jobs thread: run due jobs until stopped. The thread never ends on an
        error: a database that fails is ridden out through the worker's `outage` (shared with
        its other threads, which end the worker once it lasts too long); anything else is
        logged and tried again after a pause."""
        quiet = 0
        while not stop.is_set():
            try:
                worked = self.run_once().worked
                quiet = 0
                if outage is not None:
                    outage.succeeded()
            except SQLAlchemyError as error:
                if outage is None or not is_operational(error):
                    quiet += 1
                    log.exception("background jobs: could not run, trying again")
                    stop.wait(min(60.0, poll * 2 ** min(quiet, 5)))
                    continue
                try:
                    stop.wait(outage.failed(error, "run background jobs"))
                except DatabaseLost:
                    return  # the main thread ends the worker, with its exit status
                continue
            except Exception:  # logged; the next round tries again
                quiet += 1
                log.exception("background jobs: could not run, trying again")
                worked = 0
            if not worked:
                stop.wait(min(60.0, poll * 2 ** min(quiet, 5)))

    # --- doing a job ---------------------------------------------------------------------

    def _perform(self, job: ClaimedJob) -> _Outcome:
        if job.kind == JobKind.MAIL:
            return self._send_mail(job)
        if job.kind == JobKind.REDACT_OUTBOX:
            return self._redact(job)
        if job.kind == JobKind.INDEX_OUTBOX:
            index_older_files(self.sessions, Path(self.settings.outbox_dir))
            return _Outcome()
        if job.kind == JobKind.CSV_IMPORT:
            try:
                finished = run_csv_import(
                    self.sessions, self._hold(job), erasure_key=self.settings.erasure_key,
                    budget=LONG_WORK_SLICE, payload=job.payload,
                )
            except ValueError as error:  # the CSV is gone or unreadable: trying cannot help
                raise PermanentJobError(str(error)) from None
            return _Outcome(more=not finished)
        if job.kind == JobKind.CSV_EXPORT:
            run_csv_export(self.sessions, self._hold(job), var_dir=self.settings.var_dir)
            return _Outcome()
        if job.kind == JobKind.TRANSLATE:
            return self._translate(job)
        raise PermanentJobError(f"unknown job kind {job.kind}")

    def _translate(self, job: ClaimedJob) -> _Outcome:
        """Machine drafts of an edition's missing English. A run takes a minute or so for a
        whole report (one request per text), so it is not sliced: its claim is renewed with
        each item. A failed item is the run's result, not the job's failure."""
        if self.settings.translate != "aws":
            raise PermanentJobError("TRANSLATE is off: set TRANSLATE=aws to draft English")
        if self._translator is None:
            self._translator = Translator(
                translate_client(self.settings), terminology=self.settings.translate_terminology
            )
        try:
            run_translation_job(self.sessions, self._hold(job), self._translator)
        except (EditionError, KeyError) as error:  # the edition is gone or locked
            raise PermanentJobError(str(error)) from None
        return _Outcome()

    def _hold(self, job: ClaimedJob) -> Callable[[Session], BackgroundJob]:
        def hold(session: Session) -> BackgroundJob:
            return hold_claim(session, job.id, self.worker, job.attempts, self.clock())

        return hold

    def _send_mail(self, job: ClaimedJob) -> _Outcome:
        if is_request(job.payload):
            try:
                answer_request(
                    self.sessions, self.settings, job.payload or {}, self._hold(job), self.clock()
                )
            except (UnknownRequest, KeyError, TypeError, ValueError) as error:
                raise PermanentJobError(f"unusable request: {error!r}") from None
            return _Outcome(recorded=True)
        try:
            message = payload_message(job.payload or {})
        except ValueError as error:
            raise PermanentJobError(str(error)) from None
        with self.sessions() as session:
            # An address suppressed since the mail was queued (a bounce, a complaint, an
            # admin) is never written to, not even to confirm.
            key = email_key(message.to)
            if session.scalar(select(Suppression.id).where(Suppression.email_key == key)):
                raise PermanentJobError("the address is suppressed")
        if self._transport is None:
            self._transport = transport(self.settings)
        try:
            sent = self._transport.send(message)
        except ClientError as error:
            classified = classify_client_error(dict(error.response))
            if isinstance(classified, Rejected):
                raise PermanentJobError(classified.reason) from error
            raise
        except Rejected as error:  # an SMTP server refused the address or the message (5xx)
            raise PermanentJobError(error.reason) from error
        return _Outcome(file=sent.file)

    def _redact(self, job: ClaimedJob) -> _Outcome:
        if job.subscriber_id is None:
            return _Outcome()
        with self.sessions() as session:
            names = reader_files(session, job.subscriber_id)
        directory = Path(self.settings.outbox_dir)
        for name in names:  # outside any transaction: file work waits on no lock
            redact_file(directory, name)
        # The erasure has committed: SQLite's log still holds the pages it changed as they
        # were before, until it is emptied.
        with self.sessions() as session:
            empty_log(session)
        return _Outcome(redacted=names)

    # --- recording the outcome -----------------------------------------------------------

    def _record_done(self, job: ClaimedJob, outcome: _Outcome) -> None:
        now = self.clock()
        with self.sessions() as session:
            row = session.get(BackgroundJob, job.id)
            if outcome.file:
                self._index(session, outcome.file, job.subscriber_id, erased=row is None)
            if outcome.redacted:
                mark_redacted(session, outcome.redacted, now)
            if row is not None:
                row.status, row.done_at = JobStatus.DONE, now
                row.last_error = row.claimed_by = None
                if row.kind in (JobKind.MAIL, JobKind.CSV_IMPORT):
                    row.payload = None  # sent or imported: the message or the CSV is not kept
            session.commit()

    def _index(
        self, session: Session, name: str, subscriber_id: int | None, *, erased: bool
    ) -> None:
        """Index a written mail's file. Its row gone means the reader was erased (or purged)
        while it was being sent: its file is redacted by a new job, as erasure would have."""
        reader = session.get(Subscriber, subscriber_id) if subscriber_id is not None else None
        record_outbox_file(session, name, subscriber_id=reader.id if reader else None)
        if erased and reader is not None and reader.status == SubscriberStatus.ERASED:
            session.add(BackgroundJob(kind=JobKind.REDACT_OUTBOX, subscriber_id=reader.id))

    def _record_pause(self, job: ClaimedJob) -> None:
        """Long work that used its slice: due again at once, behind what is due already; the
        claim it took is not counted as an attempt (only failures are)."""
        with self.sessions() as session:
            row = session.get(BackgroundJob, job.id)
            if row is not None and row.claimed_by == self.worker:
                row.next_attempt_at = self.clock()
                row.claimed_by = None
                row.attempts = max(0, row.attempts - 1)
            session.commit()

    def _record_failure(
        self, job: ClaimedJob, error: str, *, permanent: bool, result: JobsRun
    ) -> None:
        now = self.clock()
        with self.sessions() as session:
            row = session.get(BackgroundJob, job.id)
            if row is None:  # erased meanwhile: nothing left to try
                return
            row.last_error, row.claimed_by = error[:2000], None
            if permanent or job.attempts >= MAX_ATTEMPTS:
                row.status = JobStatus.FAILED
                result.failed += 1
                log.error("background job given up", extra={"fields": {
                    "job": job.id, "kind": job.kind.value, "attempts": job.attempts,
                    "error": error}})
            else:
                row.next_attempt_at = now + backoff(job.attempts)
                result.retried += 1
            session.commit()


def index_older_files(sessions: sessionmaker[Session], directory: Path) -> int:
    """Index the outbox files written before the index existed (run once, after the upgrade):
    an edition's file by the delivery its name carries, a system mail by its recipient.
    Headers are read between transactions, a batch at a time; returns the files indexed."""
    names = message_names(directory)
    indexed = 0
    for start in range(0, len(names), INDEX_BATCH):
        batch = names[start : start + INDEX_BATCH]
        with sessions() as session:
            known = set(session.scalars(select(OutboxFile.name).where(OutboxFile.name.in_(batch))))
        todo = [name for name in batch if name not in known]
        addressed = {
            name: recipient_of(directory, name) for name in todo if delivery_of(name) is None
        }
        with sessions() as session:
            deliveries = {
                d for n in todo if (d := delivery_of(n)) is not None
            }
            readers_of_deliveries = dict(
                session.execute(
                    select(Delivery.id, Delivery.subscriber_id).where(Delivery.id.in_(deliveries))
                ).tuples().all()
            )
            keys = {email_key(a) for a in addressed.values() if a}
            readers_by_key = dict(
                session.execute(
                    select(Subscriber.email_key, Subscriber.id).where(
                        Subscriber.email_key.in_(keys)
                    )
                ).tuples().all()
            )
            rows = []
            for name in todo:
                delivery = delivery_of(name)
                if delivery is not None:
                    known_delivery = delivery in readers_of_deliveries
                    rows.append({"name": name,
                                 "delivery_id": delivery if known_delivery else None,
                                 "subscriber_id": readers_of_deliveries.get(delivery)})
                else:
                    address = addressed.get(name)
                    reader = readers_by_key.get(email_key(address)) if address else None
                    rows.append({"name": name, "delivery_id": None, "subscriber_id": reader})
            if rows:
                session.execute(insert(OutboxFile), rows)
            session.commit()
        indexed += len(todo)
    if indexed:
        log.info("outbox: older files indexed", extra={"fields": {"files": indexed}})
    return indexed


def _describe(error: Exception) -> str:
    if isinstance(error, ClientError):
        return classify_client_error(dict(error.response)).reason
    if isinstance(error, BotoCoreError):
        return f"could not reach the mail service: {error}"
    return f"{type(error).__name__}: {error}"


def retry_job(session: Session, job: BackgroundJob, now: datetime | None = None) -> None:
    """An admin's "try again" for a job given up: due at once, attempts counted afresh."""
    job.status, job.attempts = JobStatus.PENDING, 0
    job.next_attempt_at = now or utcnow()


def purge_finished_jobs(session: Session, now: datetime) -> int:
    """Delete jobs done or given up more than KEPT_AFTER ago (run daily): a mail given up still
    holds its message, which is personal data; a month is long enough to look into it."""
    stmt = delete(BackgroundJob).where(
        BackgroundJob.status.in_([JobStatus.DONE, JobStatus.FAILED]),
        BackgroundJob.updated_at < now - KEPT_AFTER,
    )
    return int(getattr(session.execute(stmt), "rowcount", 0) or 0)
