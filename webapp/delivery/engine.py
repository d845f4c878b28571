"""The send loop: claim a batch, skip who left, compile each variant once, send paced chunks
concurrently, settle every answer.

Every delivery is `in_doubt` (committed) before its chunk leaves, and settled from the answer:
a crash in between leaves evidence, never a silent duplicate or a silent drop. A transport that
answers reader by reader (SMTP) is told each step instead (`_ChunkHandover`): each delivery goes
in doubt right before its own message and is recorded sent right after the server's 250.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from emails import (
    EditionContent,
    Links,
    MailSettings,
    Recipient,
    RenderError,
    Variant,
    compile_variant,
)
from emails.cache import Recent
from emails.pacing import TokenBucket
from emails.transports.batch import BatchEntry, BatchTransport, EntryResult, StepwiseBatch
from emails.transports.errors import (
    AnswerUnknown,
    EntryOutcome,
    QuotaExhausted,
    Rejected,
    SendingHalted,
    TransportError,
    entry_outcome,
)
from webapp.delivery import sending, store
from webapp.delivery.outages import Outage, describe, is_operational
from webapp.delivery.store import ClaimedDelivery
from webapp.delivery.variants import parse_variant_key
from webapp.editions.records import get_edition
from webapp.mailer import edition_content
from webapp.models import Delivery, DeliveryStatus, Edition, EditionStatus

log = logging.getLogger(__name__)

MAX_FAILED_ATTEMPTS = 3
CALL_WORK = 0.1  # seconds SES spends on a 50-recipient bulk call besides the round trip
VARIANT_CACHE = 16  # compiled variants a worker keeps
# Calls in flight at most (and HTTP connections kept open for them). Each costs the worker
# about a megabyte while it is out (its request body, ~360 KB, and what building it left
# behind): 32 of them, on an unthrottled send, took a worker from 122 MB to 171-192 MB. Sixteen
# keep 5,000/s busy at SES's ~30 ms round trip (EngineConfig.for_rate asks for 15).
MAX_CONCURRENCY = 16
SETTLE_TOGETHER = 20  # answered chunks settled in one transaction at most
# Seconds at most the settling thread waits for more answers to settle with the first.
SETTLE_WAIT = 0.1
MAX_CLAIM = 2000  # deliveries claimed at once: about a second's work, little memory
QUOTA_PAUSE_PREFIX = "quota: "
DB_GRACE_SECONDS = 120.0  # WORKER_DB_GRACE_SECONDS's default


def call_size(rate: float, max_batch: int) -> int:
    """Recipients per call: never more than half a second's worth of the rate, so an evenly
    paced call that arrives early still finds room in SES's one-second allowance."""
    return max(1, min(max_batch, int(rate / 2)))


@dataclass
class EngineConfig:
    rate: float  # recipients per second (SES MaxSendRate)
    chunk_size: int = 50  # destinations per call (SES allows 50)
    concurrency: int = 1  # calls in flight
    batch_chunks: int = 1  # chunks claimed at once per call in flight: a claim is ~1 s of work
    tracking: bool = True
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    db_grace: float = DB_GRACE_SECONDS  # seconds of database failures in a row ridden out

    @classmethod
    def for_rate(cls, rate: float, latency: float, max_batch: int, **kw: object) -> EngineConfig:
        """Chunks of `call_size`; enough calls in flight to keep the rate busy while each waits
        `latency` for its answer."""
        chunk = call_size(rate, max_batch)
        # A bulk call takes SES's own work for its recipients on top of the round trip that
        # GetAccount measured: CALL_WORK covers it, or calls in flight fall short of the rate.
        in_flight = math.ceil(rate * (latency + CALL_WORK) / chunk) + 1
        concurrency = max(1, min(MAX_CONCURRENCY, in_flight))
        # A claim is about one second of sending (at most MAX_CLAIM rows): claiming 100 rows
        # ten times a second spent the latency of the last call of every claim idle.
        per_claim = chunk * concurrency
        batch_chunks = max(1, min(int(rate), MAX_CLAIM) // per_claim)
        return cls(rate=rate, chunk_size=chunk, concurrency=concurrency,
                   batch_chunks=batch_chunks, **kw)  # type: ignore[arg-type]


@dataclass
class RunResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    in_doubt: int = 0
    retried: int = 0
    paused_reason: str | None = None
    stopped: bool = False
    finished: bool = False

    def add(self, other: RunResult) -> None:
        """Take in the tallies of one settled unit (counted only once it committed)."""
        for name in ("sent", "failed", "skipped", "in_doubt", "retried"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.paused_reason = other.paused_reason or self.paused_reason


@dataclass
class _Chunk:
    variant: Variant
    deliveries: list[ClaimedDelivery]
    entries: list[BatchEntry] = field(default_factory=list)
    recorded: set[int] = field(default_factory=set)  # sent, committed as each went (SMTP)


class _ChunkHandover:
    """For a transport that answers reader by reader (SMTP): each delivery is committed in
    doubt right before its message goes and sent right after the server took it, so a crash
    leaves in doubt only the message under way, not the whole chunk."""

    def __init__(self, engine: DeliveryEngine, chunk: _Chunk) -> None:
        self.engine, self.chunk = engine, chunk

    def handing_over(self, entry: BatchEntry) -> bool:
        engine = self.engine

        def mark() -> list[int] | None:
            with engine.sessions() as session:
                mine = store.mark_in_doubt(session, [entry.delivery_id], engine.worker)
                session.commit()
                return mine

        return bool(engine.outage.retry(mark, "mark in doubt"))

    def handed_over(self, entry: BatchEntry, result: EntryResult) -> None:
        engine = self.engine

        def record() -> None:
            with engine.sessions() as session:
                store.mark_sent_many(session, [(entry.delivery_id, result.message_id)])
                session.commit()

        engine.outage.retry(record, "record a sent message")
        self.chunk.recorded.add(entry.delivery_id)


class Bucket(Protocol):
    def acquire(self, n: float = 1.0) -> float: ...


class Progress(Protocol):
    """Where the engine reports what it is doing (a worker's heartbeat)."""

    edition_id: int | None
    rate: float


class DeliveryEngine:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        transport: BatchTransport,
        links: Links,
        settings: MailSettings,
        config: EngineConfig,
        *,
        worker: str,
        stop: threading.Event | None = None,
        on_progress: Callable[[RunResult], None] | None = None,
        bucket: Bucket | None = None,
        heartbeat: Progress | None = None,
        outage: Outage | None = None,
        branded: Callable[[Session], MailSettings] | None = None,
    ) -> None:
        self.sessions = sessions
        self.transport = transport
        self.links = links
        self.settings = settings
        # The branding in force is read as each run starts: a change applies to the next send.
        self.branded = branded
        self.config = config
        self.worker = worker
        self.stop = stop or threading.Event()
        self.on_progress = on_progress
        self.bucket: Bucket = bucket or TokenBucket(
            config.rate, capacity=max(config.rate, config.chunk_size)
        )
        self.heartbeat = heartbeat
        # Shared with the worker's loop when it passes one: the grace counts every thread's
        # failures in a row.
        self.outage = outage or Outage(config.db_grace, stop=self.stop,
                                       backoff_base=config.backoff_base,
                                       backoff_max=config.backoff_max)
        self._variants: Recent[str, Variant] = Recent(VARIANT_CACHE)
        # A chunk's in-doubt mark is one statement on a held connection (PostgreSQL).
        self._autocommit = store.Autocommit.for_sessions(sessions)
        self._failures_in_a_row = 0
        self._sent_together: list[tuple[int, str | None]] | None = None

    # --- the loop -----------------------------------------------------------------------

    def run(self, edition_id: int) -> RunResult:
        """Send this edition until done, paused, cancelled or asked to stop.

        Each unit of work (a claim, a batch's preparation, a chunk's settlement) is its own
        short transaction, retried through `self.outage` when the database fails; nothing
        waits with a transaction open.
        """
        result = RunResult()
        content = self.outage.retry(lambda: self._content(edition_id), "load the edition")
        batch_size = self.config.chunk_size * self.config.concurrency * self.config.batch_chunks
        if self.heartbeat is not None:
            self.heartbeat.edition_id, self.heartbeat.rate = edition_id, 0.0
        started = time.monotonic()
        # A pause seen while settling: chunks not yet sent, of this batch or the next, stay home.
        halt = threading.Event()
        # The batch in flight: the next one is claimed and prepared while its calls are out,
        # so the pool does not stand idle between batches (at 5,000/s a claim and its
        # preparation took a third of the time the calls of a batch did).
        in_flight: list[tuple[_Chunk, Future[list[EntryResult] | None]]] = []
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            try:
                while not self.stop.is_set():
                    ids = self.outage.retry(
                        lambda: self._claim(edition_id, batch_size), "claim a batch"
                    )
                    if ids is None:
                        break
                    if not ids and in_flight:  # what is out may come back to the queue
                        self._settle_batch(edition_id, in_flight, result, halt)
                        in_flight = []
                        self._report(result, started)
                        if result.paused_reason:
                            break
                        continue
                    if not ids:
                        result.finished = self.outage.retry(
                            lambda: self._finish(edition_id), "finish the send"
                        )
                        break
                    chunks = self._prepare_batch(edition_id, content, ids, result)
                    submitted = [
                        (chunk, pool.submit(self._paced_call, edition_id, chunk, halt))
                        for chunk in chunks
                    ]
                    self._settle_batch(edition_id, in_flight, result, halt)
                    in_flight = submitted
                    self._report(result, started)
                    if result.paused_reason:
                        break
                # Stopped, paused or done claiming: what is out is settled (unsent chunks of a
                # stop or a pause come back as None and return to the queue).
                self._settle_batch(edition_id, in_flight, result, halt)
                if in_flight:
                    self._report(result, started)
            finally:
                halt.set()  # leaving early (the database was lost): what is left stays home
        result.stopped = self.stop.is_set()
        if self._autocommit is not None:
            self._autocommit.close()  # opened again by the next run's first chunk
        if self.heartbeat is not None:
            self.heartbeat.edition_id, self.heartbeat.rate = None, 0.0
        return result

    def _content(self, edition_id: int) -> EditionContent:
        with self.sessions() as session:
            edition = session.get(Edition, edition_id)
            if edition is None:
                raise ValueError(f"no edition {edition_id}")
            loaded = get_edition(session, edition.month)
            assert loaded is not None  # nosec B101: narrows the type; the row was read just above
            if self.branded is not None:
                settings = self.branded(session)
                if settings != self.settings:
                    self.settings = settings
                    self._variants = Recent(VARIANT_CACHE)
            return edition_content(loaded)

    def _claim(self, edition_id: int, size: int) -> list[int] | None:
        """The next batch, claimed and committed; None once the edition is not sending."""
        if self._autocommit is not None:  # one statement, committed as it returns
            return self._autocommit.run(
                lambda db: store.claim_batch(db, edition_id, size, self.worker)
                if store.edition_sending(db, edition_id) else None
            )
        with self.sessions() as session:
            edition = session.get(Edition, edition_id)
            if edition is None or edition.status != EditionStatus.SENDING:
                return None
            ids = store.claim_batch(session, edition_id, size, self.worker)
            session.commit()
            return ids

    def _finish(self, edition_id: int) -> bool:
        with self.sessions() as session:
            edition = session.get(Edition, edition_id)
            finished = edition is not None and sending.finish_if_done(session, edition)
            session.commit()
            return finished

    def _prepare_batch(
        self, edition_id: int, content: EditionContent, ids: list[int], result: RunResult
    ) -> list[_Chunk]:
        """`_prepare` as one unit: retried whole, its tallies counted once it committed. A
        data error pauses the edition with the database's words (retrying would only repeat
        it) and hands the batch back for when an editor resumes."""

        def prepare() -> tuple[list[_Chunk], RunResult]:
            tally = RunResult()
            with self.sessions() as session:
                chunks = self._prepare(session, edition_id, content, ids, tally)
                session.commit()
            return chunks, tally

        try:
            chunks, tally = self.outage.retry(prepare, "prepare a batch")
        except SQLAlchemyError as error:
            if is_operational(error):  # the worker is stopping while the database is away
                raise
            log.exception("a batch could not be prepared", extra={"fields": {"ids": len(ids)}})
            reason = f"database error: {describe(error)}"

            def give_back(session: Session, tally: RunResult) -> bool:
                store.release_claims(session, ids, self.worker)
                self._pause_edition(session, edition_id, reason, tally)
                return False

            self._settle(give_back, result, "hand a batch back")
            return []
        result.add(tally)
        return chunks

    def _prepare(
        self,
        session: Session,
        edition_id: int,
        content: EditionContent,
        ids: list[int],
        result: RunResult,
    ) -> list[_Chunk]:
        """Skip readers who left since the plan; group the rest into chunks per variant (they
        stay `sending` until each chunk is marked in doubt just before it leaves)."""
        claimed = store.load_claimed(session, ids)
        gone = [c.id for c in claimed if not c.eligible or not c.email]
        # A chunk's readers share a variant and agree on tracking: SES then gets the variant's
        # token form (emails.transports.bulk_template), little more than two tokens a reader.
        by_variant: dict[tuple[str, bool], list[ClaimedDelivery]] = defaultdict(list)
        for delivery in claimed:
            if delivery.eligible and delivery.email:
                by_variant[(delivery.variant_key, delivery.tracking)].append(delivery)
        chunks: list[_Chunk] = []
        for (key, _tracking), deliveries in by_variant.items():
            try:
                variant = self._variant(content, key)
            except (ValueError, RenderError) as error:
                # Nothing was handed over: every claimed row goes back, the edition pauses.
                back = [d.id for d in claimed if d.eligible and d.email]
                store.set_status(session, back, DeliveryStatus.QUEUED)
                self._skip(session, gone, result)
                reason = f"variant {key} cannot be rendered: {error}"
                self._pause_edition(session, edition_id, reason, result)
                return []
            # The plan fixed the reader's variant, language included: a language chosen
            # since applies from the next edition, as a change of topics does.
            language, _topics = parse_variant_key(key)
            for start in range(0, len(deliveries), self.config.chunk_size):
                part = deliveries[start : start + self.config.chunk_size]
                chunk = _Chunk(variant, part)
                chunk.entries = [BatchEntry(d.id, self._recipient(d, language)) for d in part]
                chunks.append(chunk)
        # Written after the variants were compiled: on SQLite the first write takes the lock.
        self._skip(session, gone, result)
        return chunks

    def _skip(self, session: Session, ids: list[int], result: RunResult) -> None:
        store.set_status(session, ids, DeliveryStatus.SKIPPED, error="unsubscribed or suppressed")
        result.skipped += len(ids)

    def _variant(self, content: EditionContent, key: str) -> Variant:
        """Compiled once while in use (~100 KB each; see emails.cache.Recent)."""

        def make() -> Variant:
            language, topics = parse_variant_key(key)
            return compile_variant(content, topics, language, settings=self.settings)

        return self._variants.get(key, make)

    def _recipient(self, delivery: ClaimedDelivery, language: str) -> Recipient:
        assert delivery.email is not None  # nosec B101: claims select readers with an address
        return Recipient(
            email=delivery.email,
            name=delivery.name,
            subscriber_token=delivery.subscriber_token,
            delivery_token=delivery.token,
            language=language,
            tracking=self.config.tracking and delivery.tracking,
        )

    # --- sending and settling ------------------------------------------------------------

    def _report(self, result: RunResult, started: float) -> None:
        if self.heartbeat is not None:  # the rate actually achieved, for the consoles
            elapsed = max(time.monotonic() - started, 1e-6)
            self.heartbeat.rate = round(result.sent / elapsed, 2)
        if self.on_progress:
            self.on_progress(result)

    def _settle_batch(
        self,
        edition_id: int,
        futures: list[tuple[_Chunk, Future[list[EntryResult] | None]]],
        result: RunResult,
        halt: threading.Event,
    ) -> None:
        """Each chunk is paced, marked in doubt and sent by a pool thread, right before its
        call: its slot in the shared schedule is then the moment the request leaves, not the
        moment it was queued behind other calls. Backoffs wait here, after the settling
        transaction committed: a transaction left open through a backoff held SQLite's write
        lock for up to `backoff_max`, and the other threads' writes failed as "locked".

        The chunks answered by the time the first of them is settled are settled together, in
        one transaction (at most SETTLE_TOGETHER): at 5,000/s a transaction per chunk kept
        this thread waiting on the database while the pool ran out of work."""
        waiting = list(futures)
        # At 1,000/s a call is answered every 50 ms, and settling each alone was a transaction
        # per chunk (a fifth of the worker's CPU). Waiting for the next answers keeps what
        # they record in doubt (committed: the evidence if the worker dies) a little longer,
        # so only while calls leave close together; at low rates each is settled at once.
        between_calls = self.config.chunk_size / self.config.rate
        linger = 2 * between_calls if 2 * between_calls <= SETTLE_WAIT else 0.0
        while waiting:
            wait([waiting[0][1]])
            if linger:  # the answers due in the next two calls' time join this transaction
                wait([future for _, future in waiting[1:SETTLE_TOGETHER]], timeout=linger)
            done = 1
            while (done < len(waiting) and done < SETTLE_TOGETHER
                   and waiting[done][1].done()):
                done += 1
            settles = [self._settle_of(edition_id, chunk, future.result)
                       for chunk, future in waiting[:done]]
            waiting = waiting[done:]
            for _ in range(self._settle_all(settles, result)):
                self._back_off()
            if result.paused_reason:
                halt.set()

    def _settle_all(
        self, settles: list[Callable[[Session, RunResult], bool]], result: RunResult
    ) -> int:
        """Settle answered chunks in one transaction; on a data error, one by one, so one
        chunk's error leaves only its own rows as they were. Returns how many chunks asked to
        back off (each backs off in turn, as when they were settled one at a time)."""
        if len(settles) == 1:
            return int(self._settle(settles[0], result, "settle a chunk"))
        asked: list[bool] = []

        def together(session: Session, tally: RunResult) -> bool:
            # The chunks' sent readers are recorded in one statement: on PostgreSQL the tally
            # triggers then run once for the lot (settling was a third of a worker's time at
            # 5,000/s). Only this thread settles, so the list is this transaction's own.
            self._sent_together = []
            try:
                asked[:] = [settle(session, tally) for settle in settles]
                store.mark_sent_many(session, self._sent_together)
            finally:
                self._sent_together = None
            return any(asked)

        try:
            self._settle(together, result, "settle chunks", reraise=True)
        except SQLAlchemyError:
            return sum(self._settle(settle, result, "settle a chunk") for settle in settles)
        return sum(asked)

    def _settle_of(
        self,
        edition_id: int,
        chunk: _Chunk,
        answer: Callable[[], list[EntryResult] | None],
    ) -> Callable[[Session, RunResult], bool]:
        """What settling this chunk's answer (or its error) writes."""
        try:
            answers = answer()
        except TransportError as error:
            return partial(self._settle_call_error, edition_id=edition_id, chunk=chunk,
                           error=error)
        except SQLAlchemyError as error:  # before the call: the chunk never left
            if is_operational(error):  # the worker is stopping while the database is away
                raise
            return partial(self._fail_chunk, chunk=chunk, error=error)
        except Exception as error:  # one no one foresaw must not end the worker
            log.exception("a call failed unexpectedly; the send is paused",
                          extra={"fields": {"ids": len(chunk.deliveries)}})
            return partial(self._pause_on_error, edition_id=edition_id, chunk=chunk,
                           error=error)
        if answers is None:  # never handed over: back to the queue
            return partial(self._release_chunk, chunk=chunk)
        return partial(self._settle_answers, edition_id=edition_id, chunk=chunk,
                       answers=answers)

    def _settle(
        self, settle: Callable[[Session, RunResult], bool], result: RunResult, what: str,
        *, reraise: bool = False,
    ) -> bool:
        """Run one settling transaction (retried while the database is away); its tallies
        count once it committed. Returns whether to back off — which the caller does now,
        with the transaction closed. On a data error the rows keep what was committed before
        (handed-over deliveries stay in doubt, for SES's events or an editor to settle)."""

        def unit() -> tuple[RunResult, bool]:
            tally = RunResult()
            with self.sessions() as session:
                back_off = settle(session, tally)
                session.commit()
            return tally, back_off

        try:
            tally, back_off = self.outage.retry(unit, what)
        except SQLAlchemyError:  # the outage let only a data error through
            if reraise:
                raise
            log.exception("settling failed on a database error; left as it was")
            return False
        result.add(tally)
        return back_off

    def _paced_call(
        self, edition_id: int, chunk: _Chunk, halt: threading.Event
    ) -> list[EntryResult] | None:
        """None if the send stopped, paused or was cancelled before this chunk's turn came."""
        if halt.is_set() or self.stop.is_set():
            return None
        self.outage.retry(lambda: self.bucket.acquire(len(chunk.entries)), "reserve a slot")
        if halt.is_set() or self.stop.is_set():
            return None  # its tokens go unused: stopping is rare, a second's rate at most
        if isinstance(self.transport, StepwiseBatch):
            return self.transport.send_each(
                chunk.variant, chunk.entries, self.links, _ChunkHandover(self, chunk)
            )
        marked = self.outage.retry(lambda: self._mark_in_doubt(edition_id, chunk),
                                   "mark in doubt")
        if marked is None:
            return None  # paused or cancelled since the claim: back to the queue
        mine = set(marked)
        if len(mine) < len(chunk.deliveries):
            # Given back while this worker could not reach the database (another took its
            # claims for dead): they are someone else's now and must not be sent from here.
            log.warning("claims lost", extra={"fields": {"ids": len(chunk.deliveries) - len(mine)}})
            kept = [(d, e) for d, e in zip(chunk.deliveries, chunk.entries, strict=True)
                    if d.id in mine]
            chunk.deliveries = [d for d, _ in kept]
            chunk.entries = [e for _, e in kept]
            if not kept:
                return []
        return self._call(chunk)

    def _mark_in_doubt(self, edition_id: int, chunk: _Chunk) -> list[int] | None:
        """The chunk's deliveries this worker still holds, now in doubt; None (nothing
        marked) once the edition is no longer sending. The next batch is claimed while the
        calls of the one before are out, so a pause or a cancel is checked here, chunk by
        chunk, to take effect within the batch it happened in."""
        ids = [d.id for d in chunk.deliveries]
        # Committed before the call: after a crash the row says "maybe sent", so it is never
        # sent again blindly (unclaimed `sending` rows are safe to re-queue).
        if self._autocommit is not None:  # one statement, committed as it returns
            return self._autocommit.run(
                lambda db: store.mark_in_doubt(db, ids, self.worker, while_sending=edition_id)
            )
        with self.sessions() as session:
            mine = store.mark_in_doubt(session, ids, self.worker, while_sending=edition_id)
            session.commit()
            return mine

    def _release_chunk(self, session: Session, result: RunResult, *, chunk: _Chunk) -> bool:
        ids = [d.id for d in chunk.deliveries]
        store.release_claims(session, ids, self.worker)
        if ids and session.scalar(
            select(Edition.status).join(Delivery, Delivery.edition_id == Edition.id)
            .where(Delivery.id == ids[0])
        ) == EditionStatus.CANCELLED:  # cancelled while claimed: skipped, as the queue was
            result.skipped += store.set_status(session, ids, DeliveryStatus.SKIPPED,
                                               error="cancelled", only_from=DeliveryStatus.QUEUED)
        return False

    def _fail_chunk(
        self, session: Session, result: RunResult, *, chunk: _Chunk, error: SQLAlchemyError
    ) -> bool:
        """A data error before the call: retrying would repeat it, so these readers fail."""
        ids = [d.id for d in chunk.deliveries]
        log.error("deliveries failed on a database error", exc_info=error,
                  extra={"fields": {"ids": ids}})
        store.set_status(session, ids, DeliveryStatus.FAILED,
                         error=f"database error: {describe(error)}", failed_attempt=True)
        result.failed += len(ids)
        return False

    def _call(self, chunk: _Chunk) -> list[EntryResult]:
        return self.transport.send_batch(chunk.variant, chunk.entries, self.links)

    def _settle_answers(
        self,
        session: Session,
        result: RunResult,
        *,
        edition_id: int,
        chunk: _Chunk,
        answers: list[EntryResult],
    ) -> bool:
        """Record each reader's answer; True when the caller should back off (after commit)."""
        retry: list[int] = []
        limited: list[tuple[int, str]] = []
        pause_reason: str | None = None
        sent: list[tuple[int, str | None]] = []
        files: list[tuple[int, str]] = []
        for delivery, answer in zip(chunk.deliveries, answers, strict=True):
            outcome = entry_outcome(answer.status)
            reason = f"{answer.status}: {answer.error}" if answer.error else answer.status
            if outcome is EntryOutcome.NOT_MINE:
                continue  # another worker holds it since; nothing was done with it here
            if outcome is EntryOutcome.IN_DOUBT:
                # Its message went but no answer came: in doubt (committed before it went),
                # now with the reason, for an editor to settle.
                store.note_in_doubt(session, [delivery.id], reason)
                result.in_doubt += 1
            elif outcome is EntryOutcome.SENT and delivery.id in chunk.recorded:
                result.sent += 1
            elif outcome is EntryOutcome.SENT:
                sent.append((delivery.id, answer.message_id))
                if answer.file:
                    files.append((delivery.id, answer.file))
                result.sent += 1
            elif outcome is EntryOutcome.FAIL:
                store.set_status(session, [delivery.id], DeliveryStatus.FAILED, error=reason,
                                 failed_attempt=True)
                result.failed += 1
            elif outcome is EntryOutcome.RETRY:
                retry.append(delivery.id)
            elif outcome is EntryOutcome.RETRY_LIMITED:
                limited.append((delivery.id, reason))
            else:
                retry.append(delivery.id)
                pause_reason = reason
        if self._sent_together is not None:  # settled with other chunks: one statement
            self._sent_together.extend(sent)
        else:
            store.mark_sent_many(session, sent)
        store.index_outbox_files(session, files)
        attempts = store.attempts_of(session, [i for i, _ in limited])
        for delivery_id, reason in limited:
            if attempts.get(delivery_id, 0) + 1 >= MAX_FAILED_ATTEMPTS:
                store.set_status(session, [delivery_id], DeliveryStatus.FAILED, error=reason,
                                 failed_attempt=True)
                result.failed += 1
            else:
                store.set_status(session, [delivery_id], DeliveryStatus.QUEUED, error=reason,
                                 failed_attempt=True)
                result.retried += 1
        store.set_status(session, retry, DeliveryStatus.QUEUED)
        result.retried += len(retry)
        if pause_reason:
            self._pause_edition(session, edition_id, pause_reason, result)
            return False
        if retry or limited:
            return True
        self._failures_in_a_row = 0
        return False

    def _settle_call_error(
        self,
        session: Session,
        result: RunResult,
        *,
        edition_id: int,
        chunk: _Chunk,
        error: TransportError,
    ) -> bool:
        """Record what a failed call means; True when the caller should back off."""
        ids = [d.id for d in chunk.deliveries]
        if isinstance(error, AnswerUnknown):
            # SES may have taken it: re-sending could reach a reader twice. It stays in doubt
            # until SES's own Send events (or an editor) settle it.
            store.set_status(session, ids, DeliveryStatus.IN_DOUBT, error=error.reason)
            result.in_doubt += len(ids)
            return False
        if isinstance(error, Rejected):
            store.set_status(session, ids, DeliveryStatus.FAILED, error=error.reason,
                             failed_attempt=True)
            result.failed += len(ids)
            return False
        store.set_status(session, ids, DeliveryStatus.QUEUED)
        result.retried += len(ids)
        if isinstance(error, QuotaExhausted):
            self._pause_edition(session, edition_id, QUOTA_PAUSE_PREFIX + error.reason, result)
        elif isinstance(error, SendingHalted):
            self._pause_edition(session, edition_id, error.reason, result)
        else:  # Throttled or Transient: never a failure, just later
            log.warning("send backing off", extra={"fields": {"reason": error.reason}})
            return True
        return False

    def _pause_on_error(
        self,
        session: Session,
        result: RunResult,
        *,
        edition_id: int,
        chunk: _Chunk,
        error: Exception,
    ) -> bool:
        """An unforeseen error around a call (a bug, an answer no one expected): the chunk's
        readers stay in doubt — the call may have left — and the send pauses, so the error is
        not repeated on every chunk; the editor sees why and resumes once it is fixed. The
        reason is kept on those rows: an in-doubt row without one, of a live worker, is a call
        in flight (webapp.stats.progress)."""
        reason = f"unexpected error while sending: {type(error).__name__}: {error}"[:500]
        ids = [d.id for d in chunk.deliveries]
        store.note_in_doubt(session, ids, reason)
        # Readers a reader-by-reader transport never reached are still only claimed.
        store.release_claims(session, ids, self.worker)
        self._pause_edition(session, edition_id, reason, result)
        return False

    def _pause_edition(
        self, session: Session, edition_id: int, reason: str, result: RunResult
    ) -> None:
        edition = session.get(Edition, edition_id)
        if edition is not None and edition.status == EditionStatus.SENDING:
            sending.pause(session, edition, actor="system", reason=reason)
            log.warning("send paused", extra={"fields": {"month": edition.month, "reason": reason}})
        result.paused_reason = reason

    def _back_off(self) -> None:
        """Exponential backoff with full jitter; the stop event cuts it short. Called only
        with no transaction open."""
        self._failures_in_a_row += 1
        growth = self.config.backoff_base * 2**self._failures_in_a_row
        ceiling = min(self.config.backoff_max, growth)
        self.stop.wait(random.uniform(0, ceiling))  # nosec B311: jitter for a backoff, not a secret


def measure_latency(call: Callable[[], object], tries: int = 3) -> float:
    """Median wall time of a cheap call (GetAccount), to size concurrency."""
    times = []
    for _ in range(tries):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]
