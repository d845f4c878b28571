from __future__ import annotations

import sqlite3
import threading
from collections import Counter
from collections.abc import Sequence

import pytest
from flask import Flask
from sqlalchemy import event, make_url, select
from sqlalchemy.orm import Session

from emails import Variant
from emails.transports.batch import BatchEntry, EntryResult
from emails.transports.errors import (
    AnswerUnknown,
    QuotaExhausted,
    SendingHalted,
    Throttled,
    Transient,
)
from tests.delivery.conftest import FakeBatch, delivery_statuses, make_engine, refresh, start_july
from tests.factories import Factories
from webapp.config import settings_of
from webapp.db import database
from webapp.delivery import sending
from webapp.delivery.engine import QUOTA_PAUSE_PREFIX, RunResult
from webapp.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    EditionStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
)


@pytest.mark.postgres
@pytest.mark.usefixtures("approved")
def test_every_eligible_reader_gets_exactly_one_message_of_their_variant(
    app: Flask, session: Session, readers: list[int]
) -> None:
    edition = start_july(session)
    transport = FakeBatch()
    result = make_engine(app, transport, chunk=5).run(edition.id)
    assert result.finished
    sent_to = Counter(e.recipient.email for _, entries in transport.calls for e in entries)
    deliveries = list(refresh(session).scalars(select(Delivery)))
    assert len(sent_to) == len(deliveries) == 10  # the two cross-border readers get nothing
    assert set(sent_to.values()) == {1}
    keys = {e.delivery_id: key for key, entries in transport.calls for e in entries}
    for delivery in deliveries:
        assert keys[delivery.id] == delivery.variant_key
        assert delivery.status == DeliveryStatus.SENT
        assert delivery.message_id == f"msg-{delivery.id}"
    assert all(len(entries) <= 5 for _, entries in transport.calls)
    assert refresh(session).get(Edition, edition.id).status == EditionStatus.SENT  # type: ignore[union-attr]


@pytest.mark.usefixtures("approved")
def test_readers_who_leave_after_the_plan_are_skipped(
    app: Flask, session: Session, readers: list[int]
) -> None:
    edition = start_july(session)
    left = session.get(Subscriber, readers[1])
    bounced = session.get(Subscriber, readers[2])
    assert left is not None and bounced is not None
    left.status = SubscriberStatus.UNSUBSCRIBED
    session.add(Suppression(email_key=bounced.email_key, reason="bounce", source="ses"))
    session.commit()
    transport = FakeBatch()
    make_engine(app, transport).run(edition.id)
    emailed = {e.recipient.email for _, entries in transport.calls for e in entries}
    assert left.email not in emailed and bounced.email not in emailed
    assert delivery_statuses(session) == Counter({"sent": 8, "skipped": 2})


@pytest.mark.usefixtures("approved")
def test_throttling_and_server_errors_are_retried_never_failed(
    app: Flask, session: Session, readers: list[int]
) -> None:
    edition = start_july(session)
    errors = [Throttled("TooManyRequestsException: Maximum sending rate exceeded."),
              Transient("InternalFailure"), Throttled("again")]

    def script(variant: Variant, entries: Sequence[BatchEntry], n: int) -> list[EntryResult]:
        if errors:
            raise errors.pop(0)
        return [EntryResult("SUCCESS", f"m{e.delivery_id}") for e in entries]

    transport = FakeBatch(script)
    result = make_engine(app, transport, chunk=4).run(edition.id)
    assert result.finished and result.failed == 0
    assert delivery_statuses(session) == Counter({"sent": 10})


@pytest.mark.usefixtures("approved")
def test_per_entry_statuses(app: Flask, session: Session, readers: list[int]) -> None:
    edition = start_july(session)
    deliveries = list(session.scalars(select(Delivery).order_by(Delivery.id)))
    rejected, invalid, flaky, broken, throttled = (d.id for d in deliveries[:5])
    seen: Counter[int] = Counter()

    def script(variant: Variant, entries: Sequence[BatchEntry], n: int) -> list[EntryResult]:
        answers = []
        for entry in entries:
            seen[entry.delivery_id] += 1
            tries = seen[entry.delivery_id]
            status = {
                rejected: "MESSAGE_REJECTED",
                invalid: "INVALID_PARAMETER",
                flaky: "FAILED" if tries == 1 else "SUCCESS",
                broken: "FAILED",
                throttled: "ACCOUNT_THROTTLED" if tries < 3 else "SUCCESS",
            }.get(entry.delivery_id, "SUCCESS")
            answers.append(EntryResult(status, f"m{entry.delivery_id}", f"because {status}"))
        return answers

    result = make_engine(app, FakeBatch(script)).run(edition.id)
    assert result.finished
    rows = {d.id: d for d in refresh(session).scalars(select(Delivery))}
    assert rows[rejected].status == DeliveryStatus.FAILED
    assert rows[rejected].error == "MESSAGE_REJECTED: because MESSAGE_REJECTED"
    assert rows[invalid].status == DeliveryStatus.FAILED
    assert rows[flaky].status == DeliveryStatus.SENT and seen[flaky] == 2
    assert rows[broken].status == DeliveryStatus.FAILED and seen[broken] == 3
    assert rows[throttled].status == DeliveryStatus.SENT and seen[throttled] == 3
    assert delivery_statuses(session) == Counter({"sent": 7, "failed": 3})


@pytest.mark.parametrize(
    "status",
    ["ACCOUNT_SENDING_PAUSED", "ACCOUNT_DAILY_QUOTA_EXCEEDED", "MAIL_FROM_DOMAIN_NOT_VERIFIED",
     "CONFIGURATION_SET_NOT_FOUND", "TEMPLATE_NOT_FOUND", "ACCOUNT_SUSPENDED",
     "CONFIGURATION_SET_SENDING_PAUSED"],
)
@pytest.mark.usefixtures("approved")
def test_account_level_entry_statuses_pause_without_loss(
    app: Flask, session: Session, readers: list[int], status: str
) -> None:
    edition = start_july(session)
    halted = [True]

    def script(variant: Variant, entries: Sequence[BatchEntry], n: int) -> list[EntryResult]:
        if halted[0]:
            return [EntryResult(status, None, "account problem") for _ in entries]
        return [EntryResult("SUCCESS", f"m{e.delivery_id}") for e in entries]

    engine = make_engine(app, FakeBatch(script), chunk=3)
    result = engine.run(edition.id)
    assert result.paused_reason is not None and status in result.paused_reason
    paused = refresh(session).get(Edition, edition.id)
    assert paused is not None and paused.status == EditionStatus.PAUSED
    assert paused.pause_reason and status in paused.pause_reason
    counts = delivery_statuses(session)
    assert counts["failed"] == 0 and counts["sent"] == 0 and counts["queued"] == 10

    halted[0] = False
    sending.resume(session, paused, actor="test")
    session.commit()
    assert engine.run(edition.id).finished
    assert delivery_statuses(session) == Counter({"sent": 10})


@pytest.mark.parametrize(
    ("error", "prefix"),
    [(QuotaExhausted("TooManyRequestsException: Daily message quota exceeded."),
      QUOTA_PAUSE_PREFIX),
     (SendingHalted("SendingPausedException: sending paused"), "SendingPaused")],
)
@pytest.mark.usefixtures("approved")
def test_account_level_call_errors_pause(
    app: Flask, session: Session, readers: list[int], error: Exception, prefix: str
) -> None:
    edition = start_july(session)

    def script(variant: Variant, entries: Sequence[BatchEntry], n: int) -> list[EntryResult]:
        raise error

    result = make_engine(app, FakeBatch(script)).run(edition.id)
    assert result.paused_reason is not None and result.paused_reason.startswith(prefix)
    assert delivery_statuses(session) == Counter({"queued": 10})


@pytest.mark.usefixtures("approved")
def test_no_answer_leaves_deliveries_in_doubt_not_resent(
    app: Flask, session: Session, readers: list[int]
) -> None:
    edition = start_july(session)

    def script(variant: Variant, entries: Sequence[BatchEntry], n: int) -> list[EntryResult]:
        if n == 1:
            raise AnswerUnknown("read timeout")
        return [EntryResult("SUCCESS", f"m{e.delivery_id}") for e in entries]

    transport = FakeBatch(script)
    result = make_engine(app, transport, chunk=4).run(edition.id)
    first_call = {e.delivery_id for e in transport.calls[0][1]}
    later = [e.delivery_id for _, entries in transport.calls[1:] for e in entries]
    assert not first_call & set(later)  # never re-sent blindly
    doubt = len(first_call)
    assert result.in_doubt == doubt and not result.finished
    assert delivery_statuses(session) == Counter({"sent": 10 - doubt, "in_doubt": doubt})
    still = refresh(session).get(Edition, edition.id)
    assert still is not None and still.status == EditionStatus.SENDING


@pytest.mark.usefixtures("approved")
def test_an_error_no_one_foresaw_pauses_the_send_instead_of_ending_the_worker(
    app: Flask, session: Session, readers: list[int]
) -> None:
    # A bug in building a call (once: a reader whose language changed after the plan) escaped
    # and ended the worker; the next worker met it again.
    edition = start_july(session)

    def script(variant: Variant, entries: Sequence[BatchEntry], n: int) -> list[EntryResult]:
        if n == 1:
            raise ValueError("en reader given a zh-CN variant")
        return [EntryResult("SUCCESS", f"m{e.delivery_id}") for e in entries]

    transport = FakeBatch(script)
    result = make_engine(app, transport, chunk=4).run(edition.id)
    assert result.paused_reason == (
        "unexpected error while sending: ValueError: en reader given a zh-CN variant"
    )
    first_call = {e.delivery_id for e in transport.calls[0][1]}
    statuses = delivery_statuses(session)
    assert statuses["in_doubt"] == len(first_call)  # the call may have left: never resent
    paused = refresh(session).get(Edition, edition.id)
    assert paused is not None and paused.status == EditionStatus.PAUSED
    assert paused.pause_reason == result.paused_reason


@pytest.mark.usefixtures("approved")
def test_pause_and_cancel_take_effect_within_one_batch(
    app: Flask, session: Session, factories: Factories
) -> None:
    for _ in range(30):
        factories.subscriber(topics=["ai"])
    edition = start_july(session)
    calls = []

    def script(variant: Variant, entries: Sequence[BatchEntry], n: int) -> list[EntryResult]:
        calls.append(n)
        if n == 1:
            with app.app_context():
                from webapp import db

                own = db.session()
                current = own.get(Edition, edition.id)
                assert current is not None
                sending.pause(own, current, actor="editor")
                own.commit()
        return [EntryResult("SUCCESS", f"m{e.delivery_id}") for e in entries]

    engine = make_engine(app, FakeBatch(script), chunk=2)
    engine.config.concurrency = 1
    engine.config.batch_chunks = 1
    engine.run(edition.id)
    assert len(calls) == 1  # the claimed batch was one chunk; nothing after the pause
    assert delivery_statuses(session) == Counter({"sent": 2, "queued": 28})

    paused = refresh(session).get(Edition, edition.id)
    assert paused is not None
    sending.resume(session, paused, actor="editor")
    session.commit()
    engine.run(edition.id)
    assert delivery_statuses(session) == Counter({"sent": 30})


@pytest.mark.usefixtures("approved")
def test_the_heartbeat_shows_the_edition_and_the_rate_achieved(
    app: Flask, session: Session, readers: list[int]
) -> None:
    edition = start_july(session)
    seen: list[tuple[int | None, float]] = []

    class Beat:
        edition_id: int | None = None
        rate: float = 0.0

    beat = Beat()
    engine = make_engine(app, FakeBatch(), chunk=3)
    engine.heartbeat = beat
    engine.on_progress = lambda _result: seen.append((beat.edition_id, beat.rate))
    engine.run(edition.id)
    assert seen and all(edition_id == edition.id for edition_id, _ in seen)
    assert seen[-1][1] > 0
    assert (beat.edition_id, beat.rate) == (None, 0.0)  # idle again afterwards


class _ProbingStop(threading.Event):
    """The engine's stop event; each backoff first checks that another connection could take
    SQLite's write lock at that moment."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.waits = 0
        self.refused: list[str] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        probe = sqlite3.connect(self.path, timeout=0.05)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.rollback()
        except sqlite3.OperationalError as error:
            self.refused.append(str(error))
        finally:
            probe.close()
        return super().wait(0)


@pytest.mark.usefixtures("approved")
def test_backoffs_wait_with_no_transaction_open(
    app: Flask, session: Session, readers: list[int]
) -> None:
    # A backoff taken inside the settling transaction held SQLite's write lock for up to 30 s:
    # the web app's and the other threads' writes failed as "database is locked".
    edition = start_july(session)
    errors = [Throttled("TooManyRequestsException: Maximum sending rate exceeded."),
              Transient("InternalFailure"), Throttled("again")]
    answers = iter(["SUCCESS", "ACCOUNT_THROTTLED", "SUCCESS", "FAILED"] + ["SUCCESS"] * 50)

    def script(variant: Variant, entries: Sequence[BatchEntry], n: int) -> list[EntryResult]:
        if errors:
            raise errors.pop(0)
        return [EntryResult(next(answers), f"m{e.delivery_id}") for e in entries]

    engine = make_engine(app, FakeBatch(script), chunk=4)
    probe = _ProbingStop(str(make_url(settings_of(app).database_url).database))
    engine.stop = probe
    result = engine.run(edition.id)
    assert result.finished and result.failed == 0
    assert probe.waits >= 4  # three call errors and at least one chunk with entries to retry
    assert probe.refused == []
    assert delivery_statuses(session) == Counter({"sent": 10})


@pytest.mark.usefixtures("approved")
def test_a_cancel_during_a_call_skips_the_batch_claimed_behind_it(
    app: Flask, session: Session, factories: Factories
) -> None:
    # The next batch is claimed while a call is out: a cancel then must not send it, nor
    # leave it queued in a cancelled edition.
    for _ in range(30):
        factories.subscriber(topics=["ai"])
    edition = start_july(session)

    def script(variant: Variant, entries: Sequence[BatchEntry], n: int) -> list[EntryResult]:
        if n == 1:
            with app.app_context():
                from webapp import db

                own = db.session()
                current = own.get(Edition, edition.id)
                assert current is not None
                sending.cancel(own, current, actor="editor")
                own.commit()
        return [EntryResult("SUCCESS", f"m{e.delivery_id}") for e in entries]

    transport = FakeBatch(script)
    engine = make_engine(app, transport, chunk=2)
    engine.config.concurrency = 1
    engine.config.batch_chunks = 1
    engine.run(edition.id)
    assert len(transport.calls) == 1
    assert delivery_statuses(session) == Counter({"sent": 2, "skipped": 28})


@pytest.mark.postgres
@pytest.mark.usefixtures("approved")
def test_chunks_answered_together_are_settled_in_one_transaction(
    app: Flask, session: Session, readers: list[int]
) -> None:
    from concurrent.futures import Future

    edition = start_july(session)
    engine = make_engine(app, FakeBatch(), chunk=1)
    opened: list[int] = []
    sessions = engine.sessions

    def counting() -> Session:
        opened.append(1)
        return sessions()

    ids = engine._claim(edition.id, 100)
    assert ids
    result = RunResult()
    content = engine._content(edition.id)
    chunks = engine._prepare_batch(edition.id, content, ids, result)
    answered = []
    for chunk in chunks:
        assert engine._mark_in_doubt(edition.id, chunk)
        future: Future[list[EntryResult] | None] = Future()
        future.set_result([EntryResult("SUCCESS", f"m{e.delivery_id}") for e in chunk.entries])
        answered.append((chunk, future))
    engine.sessions = counting  # type: ignore[assignment]
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE") and "sent_at" in statement:
            statements.append(statement)

    bind = database(app).engine
    event.listen(bind, "before_cursor_execute", record)
    try:
        engine._settle_batch(edition.id, answered, result, threading.Event())
    finally:
        event.remove(bind, "before_cursor_execute", record)
    assert len(chunks) == 10 and len(opened) == 1
    assert len(statements) == 1  # the ten chunks' sent readers in one statement
    assert result.sent == 10 and delivery_statuses(session) == Counter({"sent": 10})
