"""The send loop: claim a batch, skip who left, compile each variant once, send paced chunks
concurrently, settle every answer.

Every delivery is `in_doubt` (committed) before its chunk leaves, and settled from the answer:
a crash in between leaves evidence, never a silent duplicate or a silent drop.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

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
from emails.transports.batch import BatchEntry, BatchTransport, EntryResult
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
from webapp.delivery.store import ClaimedDelivery
from webapp.delivery.variants import parse_variant_key
from webapp.editions.records import get_edition
from webapp.mailer import edition_content
from webapp.models import DeliveryStatus, Edition, EditionStatus

log = logging.getLogger(__name__)

MAX_FAILED_ATTEMPTS = 3
CALL_WORK = 0.1  # seconds SES spends on a 50-recipient bulk call besides the round trip
VARIANT_CACHE = 16  # compiled variants a worker keeps
MAX_CONCURRENCY = 32  # calls in flight at most (and HTTP connections kept open for them)
MAX_CLAIM = 2000  # deliveries claimed at once: about a second's work, little memory
QUOTA_PAUSE_PREFIX = "quota: "


@dataclass
class EngineConfig:
    rate: float  # recipients per second (SES MaxSendRate)
    chunk_size: int = 50  # destinations per call (SES allows 50)
    concurrency: int = 1  # calls in flight
    batch_chunks: int = 1  # chunks claimed at once per call in flight: a claim is ~1 s of work
    tracking: bool = True
    backoff_base: float = 0.5
    backoff_max: float = 30.0

    @classmethod
    def for_rate(cls, rate: float, latency: float, max_batch: int, **kw: object) -> EngineConfig:
        """Chunks never exceed half a second's worth of the rate, so an evenly paced call that
        arrives early still finds room in SES's one-second allowance; enough calls in flight to
        keep the rate busy while each waits `latency` for its answer."""
        chunk = max(1, min(max_batch, int(rate / 2)))
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


@dataclass
class _Chunk:
    variant: Variant
    deliveries: list[ClaimedDelivery]
    entries: list[BatchEntry] = field(default_factory=list)


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
    ) -> None:
        self.sessions = sessions
        self.transport = transport
        self.links = links
        self.settings = settings
        self.config = config
        self.worker = worker
        self.stop = stop or threading.Event()
        self.on_progress = on_progress
        self.bucket: Bucket = bucket or TokenBucket(
            config.rate, capacity=max(config.rate, config.chunk_size)
        )
        self.heartbeat = heartbeat
        self._variants: Recent[str, Variant] = Recent(VARIANT_CACHE)
        self._failures_in_a_row = 0

    # --- the loop -----------------------------------------------------------------------

    def run(self, edition_id: int) -> RunResult:
        """Send this edition until done, paused, cancelled or asked to stop."""
        result = RunResult()
        with self.sessions() as session:
            edition = session.get(Edition, edition_id)
            if edition is None:
                raise ValueError(f"no edition {edition_id}")
            loaded = get_edition(session, edition.month)
            assert loaded is not None
            content = edition_content(loaded)
        batch_size = self.config.chunk_size * self.config.concurrency * self.config.batch_chunks
        if self.heartbeat is not None:
            self.heartbeat.edition_id, self.heartbeat.rate = edition_id, 0.0
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=self.config.concurrency) as pool:
            while not self.stop.is_set():
                with self.sessions() as session:
                    edition = session.get(Edition, edition_id)
                    if edition is None or edition.status != EditionStatus.SENDING:
                        break
                    ids = store.claim_batch(session, edition_id, batch_size, self.worker)
                    session.commit()
                    if not ids:
                        result.finished = sending.finish_if_done(session, edition)
                        session.commit()
                        break
                    chunks = self._prepare(session, edition_id, content, ids, result)
                    session.commit()
                if chunks:
                    self._send_chunks(pool, edition_id, chunks, result)
                if self.heartbeat is not None:  # the rate actually achieved, for the consoles
                    elapsed = max(time.monotonic() - started, 1e-6)
                    self.heartbeat.rate = round(result.sent / elapsed, 2)
                if self.on_progress:
                    self.on_progress(result)
                if result.paused_reason:
                    break
        result.stopped = self.stop.is_set()
        if self.heartbeat is not None:
            self.heartbeat.edition_id, self.heartbeat.rate = None, 0.0
        return result

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
        store.set_status(session, gone, DeliveryStatus.SKIPPED, error="unsubscribed or suppressed")
        result.skipped += len(gone)
        by_variant: dict[str, list[ClaimedDelivery]] = defaultdict(list)
        for delivery in claimed:
            if delivery.eligible and delivery.email:
                by_variant[delivery.variant_key].append(delivery)
        chunks: list[_Chunk] = []
        for key, deliveries in by_variant.items():
            try:
                variant = self._variant(content, key)
            except (ValueError, RenderError) as error:
                # Nothing was handed over: every claimed row goes back, the edition pauses.
                back = [d.id for d in claimed if d.eligible and d.email]
                store.set_status(session, back, DeliveryStatus.QUEUED)
                reason = f"variant {key} cannot be rendered: {error}"
                self._pause_edition(session, edition_id, reason, result)
                return []
            for start in range(0, len(deliveries), self.config.chunk_size):
                part = deliveries[start : start + self.config.chunk_size]
                chunk = _Chunk(variant, part)
                chunk.entries = [BatchEntry(d.id, self._recipient(d)) for d in part]
                chunks.append(chunk)
        return chunks

    def _variant(self, content: EditionContent, key: str) -> Variant:
        """Compiled once while in use (~100 KB each; see emails.cache.Recent)."""

        def make() -> Variant:
            language, topics = parse_variant_key(key)
            return compile_variant(content, topics, language, settings=self.settings)

        return self._variants.get(key, make)

    def _recipient(self, delivery: ClaimedDelivery) -> Recipient:
        assert delivery.email is not None
        return Recipient(
            email=delivery.email,
            name=delivery.name,
            subscriber_token=delivery.subscriber_token,
            delivery_token=delivery.token,
            language=delivery.language,
            tracking=self.config.tracking and delivery.tracking,
        )

    # --- sending and settling ------------------------------------------------------------

    def _send_chunks(
        self, pool: ThreadPoolExecutor, edition_id: int, chunks: list[_Chunk], result: RunResult
    ) -> None:
        """Each chunk is paced, marked in doubt and sent by a pool thread, right before its
        call: its slot in the shared schedule is then the moment the request leaves, not the
        moment it was queued behind other calls."""
        halt = threading.Event()  # a pause seen while settling: chunks not yet sent stay home
        futures = [(chunk, pool.submit(self._paced_call, chunk, halt)) for chunk in chunks]
        for chunk, future in futures:
            with self.sessions() as session:
                try:
                    answers = future.result()
                except TransportError as error:
                    self._settle_call_error(session, edition_id, chunk, error, result)
                else:
                    if answers is None:  # never handed over: back to the queue
                        store.set_status(session, [d.id for d in chunk.deliveries],
                                         DeliveryStatus.QUEUED)
                    else:
                        self._settle_answers(session, edition_id, chunk, answers, result)
                session.commit()
            if result.paused_reason:
                halt.set()

    def _paced_call(self, chunk: _Chunk, halt: threading.Event) -> list[EntryResult] | None:
        """None if the send stopped or paused before this chunk's turn came."""
        if halt.is_set() or self.stop.is_set():
            return None
        self.bucket.acquire(len(chunk.entries))
        if halt.is_set() or self.stop.is_set():
            return None  # its tokens go unused: stopping is rare, a second's rate at most
        with self.sessions() as session:
            # Committed before the call: after a crash the row says "maybe sent", so it is
            # never sent again blindly (unclaimed `sending` rows are safe to re-queue).
            store.set_status(session, [d.id for d in chunk.deliveries], DeliveryStatus.IN_DOUBT)
            session.commit()
        return self._call(chunk)

    def _call(self, chunk: _Chunk) -> list[EntryResult]:
        return self.transport.send_batch(chunk.variant, chunk.entries, self.links)

    def _settle_answers(
        self,
        session: Session,
        edition_id: int,
        chunk: _Chunk,
        answers: list[EntryResult],
        result: RunResult,
    ) -> None:
        retry: list[int] = []
        limited: list[tuple[int, str]] = []
        pause_reason: str | None = None
        sent: list[tuple[int, str | None]] = []
        files: list[tuple[int, str]] = []
        for delivery, answer in zip(chunk.deliveries, answers, strict=True):
            outcome = entry_outcome(answer.status)
            reason = f"{answer.status}: {answer.error}" if answer.error else answer.status
            if outcome is EntryOutcome.SENT:
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
        elif retry or limited:
            self._back_off()
        else:
            self._failures_in_a_row = 0

    def _settle_call_error(
        self,
        session: Session,
        edition_id: int,
        chunk: _Chunk,
        error: TransportError,
        result: RunResult,
    ) -> None:
        ids = [d.id for d in chunk.deliveries]
        if isinstance(error, AnswerUnknown):
            # SES may have taken it: re-sending could reach a reader twice. It stays in doubt
            # until SES's own Send events (or an editor) settle it.
            store.set_status(session, ids, DeliveryStatus.IN_DOUBT, error=error.reason)
            result.in_doubt += len(ids)
            return
        if isinstance(error, Rejected):
            store.set_status(session, ids, DeliveryStatus.FAILED, error=error.reason,
                             failed_attempt=True)
            result.failed += len(ids)
            return
        store.set_status(session, ids, DeliveryStatus.QUEUED)
        result.retried += len(ids)
        if isinstance(error, QuotaExhausted):
            self._pause_edition(session, edition_id, QUOTA_PAUSE_PREFIX + error.reason, result)
        elif isinstance(error, SendingHalted):
            self._pause_edition(session, edition_id, error.reason, result)
        else:  # Throttled or Transient: never a failure, just later
            log.warning("send backing off", extra={"fields": {"reason": error.reason}})
            self._back_off()

    def _pause_edition(
        self, session: Session, edition_id: int, reason: str, result: RunResult
    ) -> None:
        edition = session.get(Edition, edition_id)
        if edition is not None and edition.status == EditionStatus.SENDING:
            sending.pause(session, edition, actor="system", reason=reason)
            log.warning("send paused", extra={"fields": {"month": edition.month, "reason": reason}})
        result.paused_reason = reason

    def _back_off(self) -> None:
        """Exponential backoff with full jitter; the stop event cuts it short."""
        self._failures_in_a_row += 1
        growth = self.config.backoff_base * 2**self._failures_in_a_row
        ceiling = min(self.config.backoff_max, growth)
        self.stop.wait(random.uniform(0, ceiling))


def measure_latency(call: Callable[[], object], tries: int = 3) -> float:
    """Median wall time of a cheap call (GetAccount), to size concurrency."""
    times = []
    for _ in range(tries):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]
