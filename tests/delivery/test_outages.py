"""A busy or lost database in the worker: operational errors are ridden out, data errors fail
their unit, and only an outage longer than WORKER_DB_GRACE_SECONDS ends the worker."""

from __future__ import annotations

import functools
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import exc, select
from sqlalchemy.orm import Session

from tests.delivery.conftest import FakeBatch, delivery_statuses, make_engine, refresh, start_july
from webapp.config import install, settings_of
from webapp.delivery import outages, store
from webapp.delivery.outages import EXIT_DATABASE_LOST, DatabaseLost, Outage, is_operational
from webapp.models import Delivery, DeliveryStatus, Edition, EditionStatus


def _lost_connection() -> exc.OperationalError:
    return exc.OperationalError(
        "UPDATE deliveries …", {}, Exception("terminating connection due to administrator command")
    )


def _fail_first(
    monkeypatch: pytest.MonkeyPatch, name: str, error: Callable[[], Exception], times: int = 1,
    when: Callable[..., bool] = lambda *a, **k: True,
) -> list[str]:
    """Make `store.<name>` raise `error()` the first `times` calls that match `when`."""
    real = getattr(store, name)
    raised: list[str] = []

    @functools.wraps(real)
    def flaky(*args: Any, **kwargs: Any) -> Any:
        if len(raised) < times and when(*args, **kwargs):
            raised.append(name)
            raise error()
        return real(*args, **kwargs)

    monkeypatch.setattr(store, name, flaky)
    return raised


@pytest.mark.postgres
@pytest.mark.usefixtures("approved")
def test_a_lost_connection_in_any_unit_of_work_is_ridden_out(
    app: Flask, session: Session, readers: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The claim (main thread), the in-doubt mark before a call (a pool thread) and the
    # settling of answers (main thread) each lose their connection once or twice.
    edition = start_july(session)
    claim = _fail_first(monkeypatch, "claim_batch", _lost_connection)
    mark = _fail_first(monkeypatch, "mark_in_doubt", _lost_connection, times=2)
    settle = _fail_first(monkeypatch, "mark_sent_many", _lost_connection)
    transport = FakeBatch()
    result = make_engine(app, transport, chunk=3).run(edition.id)
    assert (len(claim), len(mark), len(settle)) == (1, 2, 1)
    assert result.finished and result.failed == 0 and result.sent == 10
    assert delivery_statuses(session) == Counter({"sent": 10})
    per_reader = Counter(e.recipient.email for _, entries in transport.calls for e in entries)
    assert len(per_reader) == 10 and set(per_reader.values()) == {1}


@pytest.mark.usefixtures("approved")
def test_a_data_error_before_a_call_fails_those_readers_only_and_never_loops(
    app: Flask, session: Session, readers: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    edition = start_july(session)
    raised = _fail_first(
        monkeypatch, "mark_in_doubt",
        lambda: exc.DataError("UPDATE deliveries …", {}, Exception("value too long")),
    )
    transport = FakeBatch()
    result = make_engine(app, transport, chunk=3).run(edition.id)
    assert raised == ["mark_in_doubt"]
    assert result.finished and result.failed >= 1 and result.sent + result.failed == 10
    failed = list(refresh(session).scalars(select(Delivery).where(
        Delivery.status == DeliveryStatus.FAILED)))
    assert len(failed) == result.failed
    assert all("value too long" in (row.error or "") for row in failed)
    sent_to = [e.delivery_id for _, entries in transport.calls for e in entries]
    assert len(sent_to) == len(set(sent_to)) == result.sent  # nothing retried, nothing twice
    assert not {row.id for row in failed} & set(sent_to)  # that chunk never left


@pytest.mark.usefixtures("approved")
def test_a_data_error_preparing_a_batch_pauses_the_send_with_the_reason(
    app: Flask, session: Session, readers: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    edition = start_july(session)
    _fail_first(
        monkeypatch, "load_claimed",
        lambda: exc.IntegrityError("SELECT …", {}, Exception("constraint broken")),
    )
    transport = FakeBatch()
    result = make_engine(app, transport).run(edition.id)
    assert result.paused_reason == "database error: constraint broken"  # no SQL, no addresses
    assert transport.calls == []
    assert delivery_statuses(session) == Counter({"queued": 10})  # the claims were handed back
    paused = refresh(session).get(Edition, edition.id)
    assert paused is not None and paused.status == EditionStatus.PAUSED


@pytest.mark.usefixtures("approved")
def test_an_outage_longer_than_the_grace_ends_the_run_and_keeps_what_was_done(
    app: Flask, session: Session, readers: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    edition = start_july(session)
    clock = [0.0]
    engine = make_engine(app, FakeBatch(), chunk=3)
    engine.outage = Outage(5, stop=engine.stop, backoff_base=0.001, backoff_max=0.001,
                           clock=lambda: clock[0])

    def down(*_args: Any, **_kwargs: Any) -> Any:
        clock[0] += 2  # each try finds the database still away, two seconds later
        raise _lost_connection()

    monkeypatch.setattr(store, "mark_sent_many", down)
    with pytest.raises(DatabaseLost, match="WORKER_DB_GRACE_SECONDS"):
        engine.run(edition.id)
    # Handed over but never recorded: in doubt, for SES's events to settle — never re-sent.
    counts = delivery_statuses(session)
    assert counts["sent"] == 0 and counts["in_doubt"] >= 3


def test_the_grace_counts_failures_in_a_row_across_threads() -> None:
    clock = [0.0]
    outage = Outage(10, backoff_base=0.001, backoff_max=0.001, clock=lambda: clock[0])
    outage.failed(_lost_connection(), "claim")
    clock[0] = 8
    outage.failed(_lost_connection(), "settle")  # still within the grace
    outage.succeeded()  # a success anywhere ends the outage
    clock[0] = 30
    outage.failed(_lost_connection(), "claim")
    clock[0] = 39
    thread_error: list[BaseException] = []

    def other_thread() -> None:
        try:
            outage.failed(_lost_connection(), "reserve")
        except DatabaseLost as error:
            thread_error.append(error)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert thread_error == []
    clock[0] = 41
    with pytest.raises(DatabaseLost):
        outage.failed(_lost_connection(), "claim")


def test_only_operational_errors_are_retried() -> None:
    assert is_operational(_lost_connection())
    assert is_operational(exc.OperationalError("x", {}, Exception("database is locked")))
    refused = exc.DBAPIError("x", {}, Exception("connection refused"), connection_invalidated=True)
    assert is_operational(refused)
    assert not is_operational(exc.IntegrityError("x", {}, Exception("duplicate key")))
    assert not is_operational(exc.DataError("x", {}, Exception("value too long")))
    calls = []

    def integrity() -> None:
        calls.append(1)
        raise exc.IntegrityError("x", {}, Exception("duplicate key"))

    with pytest.raises(exc.IntegrityError):
        Outage(100, backoff_base=0.001).retry(integrity, "a unit")
    assert calls == [1]


@pytest.fixture
def lost_database(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every look for work (sends, background jobs, stored SES events) fails as if PostgreSQL
    were down; the grace is a few retries."""
    install(app, replace(settings_of(app), worker_db_grace_seconds=0.05))

    def down(*_args: Any, **_kwargs: Any) -> list[int]:
        raise _lost_connection()

    # Every thread that reaches the database fails: one that still succeeded would prove the
    # database reachable (the worker's threads share one outage).
    monkeypatch.setattr(store, "editions_with_work", down)
    monkeypatch.setattr("webapp.delivery.jobs.claim_jobs", down)
    monkeypatch.setattr("webapp.events.batch.claim_stored_events", down)
    monkeypatch.setattr("webapp.cli.worker.Outage",
                        functools.partial(outages.Outage, backoff_base=0.01, backoff_max=0.02))
    yield


@pytest.mark.usefixtures("lost_database")
def test_a_worker_that_lost_its_database_exits_with_its_own_status(
    runner: FlaskCliRunner, caplog: pytest.LogCaptureFixture
) -> None:
    result = runner.invoke(args=["worker", "--no-scheduler", "--poll", "0.01"])
    assert result.exit_code == EXIT_DATABASE_LOST == 75, result.output
    assert "database unreachable for longer than WORKER_DB_GRACE_SECONDS" in caplog.text


def test_the_worker_keeps_going_after_a_database_error_anywhere_in_its_loop(
    runner: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def run_pending(*_args: Any, **_kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise _lost_connection()
        return 0

    monkeypatch.setattr("webapp.cli.worker.run_pending", run_pending)
    monkeypatch.setattr("webapp.cli.worker.Outage",
                        functools.partial(outages.Outage, backoff_base=0.01, backoff_max=0.02))
    result = runner.invoke(args=["worker", "--once", "--no-scheduler"])
    assert result.exit_code == 0, result.output
    assert len(calls) == 2
