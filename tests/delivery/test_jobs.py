"""System mails as background jobs: written with the change, sent by the worker, retried,
never lost across a crash."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from emails import Message, Transport, make_transport
from emails.transports import SendResult
from tests.factories import Factories
from tests.mailbox import SIGNUP, answer_forms, link_in, outbox, run_jobs, subscribe
from webapp.config import settings_of
from webapp.db import database
from webapp.delivery.jobs import (
    BACKOFF_BASE,
    LEASE,
    MAX_ATTEMPTS,
    JobRunner,
    claim_jobs,
    purge_finished_jobs,
)
from webapp.delivery.outages import Outage
from webapp.mailer import is_request
from webapp.models import (
    BackgroundJob,
    ConsentSource,
    JobKind,
    JobStatus,
    OutboxFile,
    Subscriber,
    Suppression,
)
from webapp.readers.consent import Origin
from webapp.readers.subscriptions import Signup
from webapp.readers.subscriptions import subscribe as subscribe_service

T0 = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Flaky:
    """Fails the first `failures` sends, then writes to the outbox like the real transport."""

    def __init__(self, directory: str, failures: int, error: Exception | None = None) -> None:
        self.outbox: Transport = make_transport("outbox", directory=directory)
        self.failures = failures
        self.error = error or ConnectionError("SES unreachable")
        self.attempts = 0

    def send(self, message: Message) -> SendResult:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise self.error
        return self.outbox.send(message)


def runner_for(app: Flask, transport: Transport | None = None, clock: Clock | None = None,
               worker: str = "test-worker") -> JobRunner:
    return JobRunner(settings_of(app), database(app).sessionmaker, worker=worker,
                     mail_transport=transport, clock=clock or Clock())


def _mail_kind_jobs(session: Session) -> list[BackgroundJob]:
    session.expire_all()
    stmt = select(BackgroundJob).where(BackgroundJob.kind == JobKind.MAIL)
    return list(session.scalars(stmt.order_by(BackgroundJob.id)))


def mail_jobs(session: Session) -> list[BackgroundJob]:
    """The mails queued (not the forms' requests that called for them)."""
    return [job for job in _mail_kind_jobs(session) if not is_request(job.payload)]


def requests(session: Session) -> list[BackgroundJob]:
    return [job for job in _mail_kind_jobs(session) if is_request(job.payload)]


def queue_a_mail_for_ann(app: Flask, client: FlaskClient) -> None:
    """Ann subscribes and the worker answers the form: her confirmation waits to be sent."""
    subscribe(client, "ann@example.com")
    assert answer_forms(app) == 1


def queue_a_confirmation(app: Flask, session: Session) -> None:
    signup = Signup(email="new@example.com", topics=["ai"], language="zh-CN")
    subscribe_service(session, settings_of(app), signup, Origin(ConsentSource.FORM))


@pytest.mark.postgres
def test_the_mail_is_written_in_the_same_transaction_as_the_change(
    app: Flask, session: Session, factories: Factories
) -> None:
    factories.topic("ai")
    session.commit()
    queue_a_confirmation(app, session)
    session.rollback()  # the change is not saved: neither is its mail
    assert mail_jobs(session) == []
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0

    queue_a_confirmation(app, session)
    session.commit()
    [job] = mail_jobs(session)
    reader = session.scalar(select(Subscriber))
    assert reader is not None and job.subscriber_id == reader.id
    assert (job.status, job.attempts, job.last_error) == (JobStatus.PENDING, 0, None)
    assert job.payload is not None and job.payload["to"] == "new@example.com"
    assert "/confirm/" in job.payload["text"]


@pytest.mark.postgres
def test_the_page_answers_without_sending_and_the_worker_sends_and_indexes_the_mail(
    app: Flask, client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_sending_in_the_request(settings: object) -> object:
        raise AssertionError("the web process must not send")

    monkeypatch.setattr("webapp.mailer.make_transport", no_sending_in_the_request)
    assert subscribe(client, "ann@example.com").status_code == 200
    assert outbox(app, drain=False) == []
    # The page only wrote the request: no reader, no rendered mail, nobody named yet.
    assert mail_jobs(session) == []
    [request] = requests(session)
    assert request.status == JobStatus.PENDING and request.subscriber_id is None
    assert request.payload is not None and request.payload["request"] == "subscribe"
    assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
    monkeypatch.undo()

    assert run_jobs(app).done == 2  # the request answered, then its mail sent
    [request] = requests(session)
    assert request.status == JobStatus.DONE and request.done_at is not None
    assert request.payload == {"request": "subscribe", "tags": {"kind": "subscribe"}}
    [message] = outbox(app, drain=False)
    assert message["To"] == "ann@example.com" and link_in(message, "/confirm/")
    [job] = mail_jobs(session)
    assert job.status == JobStatus.DONE and job.done_at is not None and job.attempts == 1
    assert job.payload is None  # sent: the message is not kept
    [indexed] = session.scalars(select(OutboxFile))
    assert indexed.subscriber_id == job.subscriber_id and indexed.delivery_id is None
    files = [p.name for p in Path(settings_of(app).outbox_dir).glob("*.eml")]
    assert files == [indexed.name]


@pytest.mark.postgres
def test_a_failing_transport_is_retried_with_backoff_and_succeeds_later(
    app: Flask, client: FlaskClient, session: Session, admin_client: FlaskClient
) -> None:
    queue_a_mail_for_ann(app, client)
    clock = Clock()
    flaky = Flaky(settings_of(app).outbox_dir, failures=2)
    worker = runner_for(app, flaky, clock)

    assert worker.run_once().retried == 1
    [job] = mail_jobs(session)
    assert job.status == JobStatus.PENDING and job.attempts == 1
    assert job.last_error == "ConnectionError: SES unreachable"
    assert job.next_attempt_at == T0 + BACKOFF_BASE
    dashboard = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    assert "1 failing and being retried, 0 given up" in dashboard
    assert "ConnectionError: SES unreachable" in dashboard

    clock.now = T0 + BACKOFF_BASE - timedelta(seconds=1)
    assert worker.run_once().worked == 0  # not due yet: nothing is tried
    clock.now = T0 + BACKOFF_BASE
    assert worker.run_once().retried == 1
    [job] = mail_jobs(session)
    assert job.attempts == 2 and job.next_attempt_at == clock.now + 2 * BACKOFF_BASE

    clock.now += 2 * BACKOFF_BASE
    assert worker.run_once().done == 1
    [job] = mail_jobs(session)
    assert job.status == JobStatus.DONE and job.attempts == 3 and job.last_error is None
    assert flaky.attempts == 3
    assert [m["To"] for m in outbox(app, drain=False)] == ["ann@example.com"]
    dashboard = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    assert "0 failing and being retried, 0 given up" in dashboard


@pytest.mark.postgres
def test_a_worker_crash_between_the_claim_and_the_send_loses_nothing(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    queue_a_mail_for_ann(app, client)  # committed; the web process may die now

    class Killed(BaseException):
        """The process dies in the middle of the send (kill -9 as far as the row knows)."""

    class Dies:
        def send(self, message: Message) -> SendResult:
            raise Killed()

    clock = Clock()
    with pytest.raises(Killed):
        runner_for(app, Dies(), clock, worker="dies").run_once()
    [job] = mail_jobs(session)
    assert job.status == JobStatus.PENDING and job.claimed_by == "dies"
    assert outbox(app, drain=False) == []

    # Another worker (or this one restarted) leaves the claimed job alone until its lease
    # ends, then sends it.
    survivor = runner_for(app, None, clock, worker="survivor")
    assert survivor.run_once().worked == 0
    clock.now = T0 + LEASE
    assert survivor.run_once().done == 1
    assert [m["To"] for m in outbox(app, drain=False)] == ["ann@example.com"]
    [job] = mail_jobs(session)
    assert job.status == JobStatus.DONE and job.attempts == 2


@pytest.mark.postgres
def test_a_refused_address_is_given_up_at_once_and_an_admin_can_try_again(
    app: Flask, client: FlaskClient, session: Session, admin_client: FlaskClient
) -> None:
    queue_a_mail_for_ann(app, client)
    rejected = ClientError(
        {"Error": {"Code": "MessageRejected", "Message": "Email address is not verified."},
         "ResponseMetadata": {"HTTPStatusCode": 400}},
        "SendEmail",
    )
    clock = Clock()
    assert runner_for(app, Flaky(settings_of(app).outbox_dir, 1, rejected), clock).run_once(
    ).failed == 1
    [job] = mail_jobs(session)
    assert job.status == JobStatus.FAILED and job.attempts == 1
    assert job.last_error == "MessageRejected: Email address is not verified."
    dashboard = admin_client.get("/admin/?lang=en").get_data(as_text=True)
    assert "0 failing and being retried, 1 given up" in dashboard and "Try again" in dashboard

    answer = admin_client.post(f"/admin/jobs/{job.id}/retry")
    assert answer.status_code == 303
    [job] = mail_jobs(session)
    assert job.status == JobStatus.PENDING and job.attempts == 0
    assert run_jobs(app).done == 1
    assert [m["To"] for m in outbox(app, drain=False)] == ["ann@example.com"]


def test_a_mail_that_keeps_failing_is_given_up_after_the_last_attempt(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    queue_a_mail_for_ann(app, client)
    clock = Clock()
    worker = runner_for(app, Flaky(settings_of(app).outbox_dir, failures=10**6), clock)
    for _ in range(MAX_ATTEMPTS):
        assert worker.run_once().worked == 1
        clock.now += timedelta(days=1)  # whatever the pause, it is over
    [job] = mail_jobs(session)
    assert job.status == JobStatus.FAILED and job.attempts == MAX_ATTEMPTS
    assert worker.run_once().worked == 0


def test_an_address_suppressed_after_the_mail_was_queued_is_not_written_to(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    queue_a_mail_for_ann(app, client)
    session.add(Suppression(email_key="ann@example.com", reason="complaint", source="ses"))
    session.commit()
    assert run_jobs(app).failed == 1
    assert outbox(app, drain=False) == []
    [job] = mail_jobs(session)
    assert job.status == JobStatus.FAILED and job.last_error == "the address is suppressed"


@pytest.mark.postgres
def test_workers_claim_disjoint_jobs(
    app: Flask, client: FlaskClient, session: Session, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time; SKIP LOCKED is PostgreSQL's")
    for n in range(6):
        client.post("/", data={"email": f"r{n}@example.com", **SIGNUP})
    sessions = database(app).sessionmaker
    first, second = sessions(), sessions()
    try:
        mine = claim_jobs(first, "one", 4, datetime.now(UTC) + timedelta(seconds=1))
        # The first claim is not committed yet: its rows are locked, the second skips them.
        theirs = claim_jobs(second, "two", 4, datetime.now(UTC) + timedelta(seconds=1))
        first.commit()
        second.commit()
    finally:
        first.close()
        second.close()
    assert len(mine) == 4 and len(theirs) == 2
    assert not {j.id for j in mine} & {j.id for j in theirs}


def test_the_jobs_loop_survives_a_failing_round(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    worker = runner_for(app)
    stop = threading.Event()
    rounds = []

    def broken_round(size: int = 20) -> object:
        rounds.append(size)
        if len(rounds) >= 3:
            stop.set()
        raise RuntimeError("database is locked")

    monkeypatch.setattr(worker, "run_once", broken_round)
    worker.run_until(stop, poll=0.001)
    assert len(rounds) == 3
    assert "background jobs: could not run" in caplog.text


def test_the_worker_command_sends_queued_mails(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, session: Session
) -> None:
    subscribe(client, "ann@example.com")
    assert outbox(app, drain=False) == []
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert [m["To"] for m in outbox(app, drain=False)] == ["ann@example.com"]
    [job] = mail_jobs(session)
    assert job.status == JobStatus.DONE


def test_finished_jobs_are_forgotten_after_a_month(session: Session) -> None:
    old = T0 - timedelta(days=31)
    for status in (JobStatus.DONE, JobStatus.FAILED, JobStatus.PENDING):
        session.add(BackgroundJob(kind=JobKind.MAIL, status=status, created_at=old,
                                  updated_at=old, next_attempt_at=old))
    session.add(BackgroundJob(kind=JobKind.MAIL, status=JobStatus.DONE, updated_at=T0))
    session.commit()
    assert purge_finished_jobs(session, T0) == 2
    session.commit()
    left = sorted(j.status.value for j in session.scalars(select(BackgroundJob)))
    assert left == ["done", "pending"]  # the recent one, and the one still to send


def test_the_jobs_thread_rides_out_a_lost_database_then_leaves_the_exit_to_the_worker(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = runner_for(app)
    stop = threading.Event()
    outage = Outage(0.05, stop=stop, backoff_base=0.001, backoff_max=0.002)
    rounds = []

    def database_away(size: int = 20) -> object:
        rounds.append(size)
        raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    monkeypatch.setattr(worker, "run_once", database_away)
    worker.run_until(stop, poll=0.001, outage=outage)  # returns once the grace is spent
    assert len(rounds) > 1 and outage.ongoing and not stop.is_set()
