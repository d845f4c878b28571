"""Readers' CSV import and export as background jobs: done by the worker in batches, with
progress, and never twice when a worker dies half-way."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from tests.mailbox import outbox
from webapp.config import settings_of
from webapp.db import database
from webapp.delivery import jobs
from webapp.delivery.jobs import LEASE, ClaimLost, JobRunner, claim_jobs, hold_claim
from webapp.models import (
    AuditEntry,
    BackgroundJob,
    ConsentRecord,
    ConsentSource,
    ImportRow,
    JobKind,
    JobStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
    User,
    utcnow,
)
from webapp.readers import csv_jobs
from webapp.readers.consent import Origin
from webapp.readers.subscribers_csv import export_batch, export_subscribers_csv
from webapp.readers.subscriptions import Signup, subscribe
from webapp.readers.suppressions import address_hash, suppress
from webapp.scheduler.jobs import daily

T0 = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)

CSV = (
    "email,name,topics,language,status\n"
    "a@example.com,A,ai,en,active\n"
    "b@example.com,B,ai,zh-CN,active\n"
    "ann@example.com,Ann Li,ai,zh-CN,active\n"
    "not-an-address,,ai,,\n"
    "c@example.com,C,ai,zh-CN,paused\n"
)  # five data rows: three new, one update, one bad (line 5)

ASKED = {"consent_basis": "asked"}  # how the readers agreed: asked to subscribe


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Killed(BaseException):
    """The worker process dying: nothing after it runs, not even the failure's record."""


def runner_for(app: Flask, clock: Clock, worker: str = "worker-1") -> JobRunner:
    return JobRunner(settings_of(app), database(app).sessionmaker, worker=worker, clock=clock)


def confirm_import(client: FlaskClient, text: str = CSV) -> str:
    """The admin confirms the preview: the page answers at once with the job's page."""
    response = client.post("/admin/subscribers/import",
                           data={"text": text, "confirm": "1", "skip_invalid": "y", **ASKED})
    assert response.status_code == 303, response.get_data(as_text=True)
    return response.headers["Location"]


def status(client: FlaskClient, page: str) -> dict[str, Any]:
    response = client.get(page + "/status.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def the_job(session: Session) -> BackgroundJob:
    session.expire_all()
    job = session.scalar(select(BackgroundJob).where(BackgroundJob.kind.in_(
        [JobKind.CSV_IMPORT, JobKind.CSV_EXPORT])))
    assert job is not None
    return job


def readers_by_address(session: Session) -> dict[str, int]:
    session.expire_all()
    rows = session.execute(
        select(Subscriber.email, func.count()).group_by(Subscriber.email)
    ).tuples()
    return {email or "": count for email, count in rows}


def consents(session: Session, address: str) -> int:
    return int(session.scalar(
        select(func.count()).select_from(ConsentRecord).join(Subscriber)
        .where(Subscriber.email == address)
    ) or 0)


@pytest.fixture
def readers_before(factories: Factories, session: Session) -> None:
    factories.topic("ai")
    factories.subscriber(email="ann@example.com", name="Ann", topics=["ai"])
    session.commit()


@pytest.mark.postgres
@pytest.mark.usefixtures("readers_before")
def test_a_confirmed_import_is_done_by_the_worker_with_progress_from_zero_to_total(
    app: Flask, admin: User, admin_client: FlaskClient, session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = confirm_import(admin_client)
    assert "a@example.com" not in readers_by_address(session)  # nothing imported in the request
    seen = [status(admin_client, page)]
    assert seen[0] == {"id": the_job(session).id, "kind": "csv_import", "status": "pending",
                       "done": 0, "total": 5, "error": None}

    original = csv_jobs.import_batch
    monkeypatch.setattr(csv_jobs, "IMPORT_BATCH", 2)

    def and_look(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        seen.append(status(admin_client, page))

    monkeypatch.setattr(csv_jobs, "import_batch", and_look)
    runner = runner_for(app, Clock())
    run = runner.run_once()
    assert (run.done, run.retried, run.failed) == (1, 0, 0)

    assert [s["done"] for s in seen] == [0, 2, 4, 5]
    assert {s["total"] for s in seen} == {5}
    assert status(admin_client, page)["status"] == "done"
    job = the_job(session)
    assert job.payload is None  # the CSV is not kept once imported
    assert job.result is not None
    assert (job.result["created"], job.result["updated"]) == (3, 1)
    assert [e["line"] for e in job.result["skipped"]] == [5]
    assert readers_by_address(session) == {"a@example.com": 1, "b@example.com": 1,
                                           "ann@example.com": 1, "c@example.com": 1}
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "subscribers.import"))
    assert [(a.actor, a.detail) for a in audit] == [
        (admin.email, {"created": 3, "updated": 1, "skipped": 1, "consent": "asked"})
    ]


@pytest.mark.postgres
@pytest.mark.usefixtures("readers_before")
def test_an_import_that_fails_after_a_batch_goes_on_from_there_without_duplicates(
    app: Flask, admin_client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = confirm_import(admin_client)
    monkeypatch.setattr(csv_jobs, "IMPORT_BATCH", 2)
    original = csv_jobs.import_batch
    batches: list[int] = []

    def crash_after_the_first(*args: Any, **kwargs: Any) -> None:
        if batches:
            raise RuntimeError("the database went away")
        original(*args, **kwargs)
        batches.append(1)

    monkeypatch.setattr(csv_jobs, "import_batch", crash_after_the_first)
    clock = Clock()
    runner = runner_for(app, clock)
    assert runner.run_once().retried == 1
    assert status(admin_client, page) | {"id": 0} == {
        "id": 0, "kind": "csv_import", "status": "pending", "done": 2, "total": 5,
        "error": "RuntimeError: the database went away"}
    assert set(readers_by_address(session)) == {"ann@example.com", "a@example.com",
                                                "b@example.com"}

    monkeypatch.setattr(csv_jobs, "import_batch", original)
    clock.now += timedelta(hours=1)  # past the retry's backoff
    assert runner.run_once().done == 1

    assert status(admin_client, page) | {"id": 0} == {
        "id": 0, "kind": "csv_import", "status": "done", "done": 5, "total": 5, "error": None}
    assert readers_by_address(session) == {"a@example.com": 1, "b@example.com": 1,
                                           "ann@example.com": 1, "c@example.com": 1}
    # One consent record per row imported: the first batch was not applied again.
    assert [consents(session, a) for a in ("a@example.com", "b@example.com", "c@example.com")] \
        == [1, 1, 1]
    result = the_job(session).result or {}
    assert (result["created"], result["updated"], len(result["skipped"])) == (3, 1, 1)


@pytest.mark.postgres
@pytest.mark.usefixtures("readers_before")
def test_a_worker_killed_mid_import_leaves_the_rest_to_another_after_its_lease(
    app: Flask, admin_client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    confirm_import(admin_client)
    monkeypatch.setattr(csv_jobs, "IMPORT_BATCH", 2)
    original = csv_jobs.import_batch
    batches: list[int] = []

    def killed_after_the_first(*args: Any, **kwargs: Any) -> None:
        if batches:
            raise Killed
        original(*args, **kwargs)
        batches.append(1)

    monkeypatch.setattr(csv_jobs, "import_batch", killed_after_the_first)
    clock = Clock()
    with pytest.raises(Killed):
        runner_for(app, clock, "worker-1").run_once()
    monkeypatch.setattr(csv_jobs, "import_batch", original)

    other = runner_for(app, clock, "worker-2")
    assert other.run_once().worked == 0  # the dead worker's lease still holds
    clock.now += LEASE + timedelta(seconds=1)
    assert other.run_once().done == 1
    assert readers_by_address(session) == {"a@example.com": 1, "b@example.com": 1,
                                           "ann@example.com": 1, "c@example.com": 1}
    assert consents(session, "a@example.com") == 1


@pytest.mark.postgres
@pytest.mark.usefixtures("readers_before")
def test_a_long_import_yields_after_its_slice_so_system_mails_are_not_held_up(
    app: Flask, admin_client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = confirm_import(admin_client)
    monkeypatch.setattr(csv_jobs, "IMPORT_BATCH", 2)
    monkeypatch.setattr(jobs, "LONG_WORK_SLICE", 0.0)  # one batch per slice
    runner = runner_for(app, Clock())
    first = runner.run_once()
    assert (first.done, first.paused) == (0, 1)
    assert status(admin_client, page) | {"id": 0} == {
        "id": 0, "kind": "csv_import", "status": "pending", "done": 2, "total": 5,
        "error": None}

    signup = Signup(email="new@example.com", topics=["ai"], language="zh-CN")
    subscribe(session, settings_of(app), signup, Origin(ConsentSource.FORM))
    session.commit()
    second = runner.run_once()
    assert (second.done, second.paused) == (1, 1)  # the mail, then the import's next slice
    assert [m["To"] for m in outbox(app, drain=False)] == ["new@example.com"]
    assert status(admin_client, page)["done"] == 4

    assert runner.run_once().done == 1
    assert status(admin_client, page)["status"] == "done"
    assert the_job(session).attempts == 1  # slices are not failed attempts
    assert readers_by_address(session) == {"a@example.com": 1, "b@example.com": 1,
                                           "ann@example.com": 1, "c@example.com": 1,
                                           "new@example.com": 1}


@pytest.mark.postgres
def test_a_worker_whose_lease_ran_out_stops_once_another_took_the_job(
    app: Flask, session: Session
) -> None:
    session.add(BackgroundJob(kind=JobKind.CSV_EXPORT, next_attempt_at=T0))
    session.commit()
    [first] = claim_jobs(session, "worker-1", 5, T0)
    session.commit()
    assert hold_claim(session, first.id, "worker-1", first.attempts, T0) is not None
    session.commit()
    later = T0 + LEASE + timedelta(seconds=1)
    [second] = claim_jobs(session, "worker-2", 5, later)
    session.commit()
    with pytest.raises(ClaimLost):
        hold_claim(session, first.id, "worker-1", first.attempts, later)
    session.rollback()
    assert hold_claim(session, second.id, "worker-2", second.attempts, later).id == first.id


@pytest.mark.postgres
def test_a_row_that_became_invalid_after_the_preview_is_skipped_with_its_reason(
    app: Flask, admin_client: FlaskClient, session: Session, factories: Factories
) -> None:
    factories.topic("ai")
    session.commit()
    page = confirm_import(admin_client, "email,topics\nx@example.com,ai\ny@example.com,ai\n")
    suppress(session, "y@example.com", reason="manual", source="admin")
    session.commit()
    runner_for(app, Clock()).run_once()
    assert status(admin_client, page)["done"] == 2
    result = the_job(session).result or {}
    assert result["created"] == 1
    assert result["skipped"] == [{"line": 3, "code": "suppressed", "column": "email",
                                  "params": {"email": "y@example.com"}}]


@pytest.mark.postgres
def test_rows_that_changed_after_the_confirmation_are_skipped_with_why_and_none_is_left(
    app: Flask, admin_client: FlaskClient, session: Session, factories: Factories
) -> None:
    factories.topic("ai")
    data = factories.topic("data")
    gone = factories.subscriber(email="gone@example.com", name="Gone", topics=["ai"])
    session.commit()
    page = confirm_import(admin_client, "email,name,topics\n"
                          "x@example.com,X,ai\n"
                          "two@example.com,Two,ai;data\n"
                          "gone@example.com,Back,ai\n"
                          "erased@example.com,E,ai\n")
    # Before the worker comes to it: a topic retired, a reader unsubscribed, an address erased
    # (only its hash is kept).
    data.retired = True
    gone.status = SubscriberStatus.UNSUBSCRIBED
    session.add(Suppression(email_key=None, reason="erased", source="reader",
                            address_hash=address_hash(settings_of(app).erasure_key,
                                                      "erased@example.com")))
    session.commit()
    runner_for(app, Clock()).run_once()

    assert status(admin_client, page) | {"id": 0} == {
        "id": 0, "kind": "csv_import", "status": "done", "done": 4, "total": 4, "error": None}
    result = the_job(session).result or {}
    assert (result["created"], result["updated"]) == (1, 0)
    assert result["skipped"] == [
        {"line": 3, "code": "topic_gone", "column": "topics", "params": {}},
        {"line": 4, "code": "left", "column": "email",
         "params": {"email": "gone@example.com", "status": "unsubscribed"}},
        {"line": 5, "code": "suppressed", "column": "email",
         "params": {"email": "erased@example.com"}},
    ]
    assert readers_by_address(session) == {"x@example.com": 1, "gone@example.com": 1}
    assert (gone.status, gone.name) == (SubscriberStatus.UNSUBSCRIBED, "Gone")
    assert consents(session, "gone@example.com") == 0
    assert session.scalar(select(func.count()).select_from(ImportRow)) == 0


@pytest.mark.postgres
@pytest.mark.usefixtures("readers_before")
def test_the_rows_of_an_import_given_up_are_deleted_by_the_daily_housekeeping(
    app: Flask, admin_client: FlaskClient, session: Session
) -> None:
    confirm_import(admin_client)
    # On PostgreSQL the four good rows wait in import_rows; on SQLite in the job's payload.
    waiting = 4 if session.get_bind().dialect.name == "postgresql" else 0
    assert session.scalar(select(func.count()).select_from(ImportRow)) == waiting
    daily(database(app).sessionmaker, settings_of(app), utcnow())
    assert session.scalar(select(func.count()).select_from(ImportRow)) == waiting  # pending
    the_job(session).status = JobStatus.FAILED
    session.commit()
    daily(database(app).sessionmaker, settings_of(app), utcnow())
    assert session.scalar(select(func.count()).select_from(ImportRow)) == 0


def test_bad_input_is_refused_at_confirmation_and_nothing_is_queued(
    admin_client: FlaskClient, session: Session, factories: Factories
) -> None:
    factories.topic("ai")
    session.commit()
    refused = admin_client.post("/admin/subscribers/import?lang=en",
                                data={"text": CSV, "confirm": "1", **ASKED})
    assert refused.status_code == 200
    assert "Nothing was imported" in refused.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(BackgroundJob)) == 0


@pytest.mark.postgres
def test_the_export_job_writes_the_same_csv_as_before_with_progress(
    app: Flask, admin_client: FlaskClient, session: Session, factories: Factories,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    factories.subscriber(email="ann@example.com", name="=cmd|' /C calc'!A0", topics=["ai"])
    factories.subscriber(email="li@example.com", name="李雷", topics=["ai", "data"],
                         language="en", status=SubscriberStatus.PAUSED)
    factories.subscriber(email="cr@example.com", name="line\rbreak", topics=[])
    factories.subscriber(email="q@example.com", name='say "hi", then go')
    factories.subscriber(email="gone@example.com", status=SubscriberStatus.UNSUBSCRIBED)
    session.commit()
    before = io.StringIO()
    export_subscribers_csv(session, before)

    page = admin_client.post("/admin/subscribers/export").headers["Location"]
    assert status(admin_client, page) | {"id": 0} == {
        "id": 0, "kind": "csv_export", "status": "pending", "done": 0, "total": 5,
        "error": None}
    assert admin_client.get(page + "/download").status_code == 303  # not ready yet

    monkeypatch.setattr(csv_jobs, "EXPORT_BATCH", 2)
    seen: list[int] = []
    original = export_batch

    def and_look(*args: Any, **kwargs: Any) -> Any:
        seen.append(status(admin_client, page)["done"])
        return original(*args, **kwargs)

    monkeypatch.setattr(csv_jobs, "export_batch", and_look)
    assert runner_for(app, Clock()).run_once().done == 1
    assert seen == [0, 2, 4, 5]

    assert status(admin_client, page)["status"] == "done"
    download = admin_client.get(page + "/download")
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.data == ("\ufeff" + before.getvalue()).encode("utf-8")
    assert list(Path(settings_of(app).var_dir, "exports").iterdir()) == [
        Path(settings_of(app).var_dir, "exports", f"readers-{the_job(session).id}.csv")]


@pytest.mark.postgres
def test_export_files_are_deleted_by_the_daily_housekeeping_a_day_later(
    app: Flask, admin_client: FlaskClient, session: Session, factories: Factories
) -> None:
    factories.subscriber(email="ann@example.com")
    session.commit()
    page = admin_client.post("/admin/subscribers/export").headers["Location"]
    clock = Clock(utcnow())  # the job rows' own times (updated_at) are real ones
    runner_for(app, clock).run_once()
    file = Path(settings_of(app).var_dir, "exports", f"readers-{the_job(session).id}.csv")
    assert file.is_file()
    sessions, settings = database(app).sessionmaker, settings_of(app)

    assert daily(sessions, settings, clock.now + timedelta(hours=23))["exports_deleted"] == 0
    assert file.is_file()
    assert daily(sessions, settings, clock.now + timedelta(hours=25))["exports_deleted"] == 1
    assert not file.exists()
    assert admin_client.get(page + "/download").status_code == 303
    text = admin_client.get(page + "?lang=en").get_data(as_text=True)
    assert "The file was deleted a day after it was made." in text
    assert the_job(session).status == JobStatus.DONE


@pytest.mark.postgres
def test_an_export_file_whose_job_was_forgotten_is_deleted_too(
    app: Flask, session: Session
) -> None:
    directory = Path(settings_of(app).var_dir, "exports")
    directory.mkdir(parents=True)
    (directory / "readers-999.csv").write_text("x")
    (directory / "readers-998.csv.2.part").write_text("x")
    (directory / "notes.txt").write_text("kept")
    deleted = daily(database(app).sessionmaker, settings_of(app), utcnow())["exports_deleted"]
    assert deleted == 2
    assert [p.name for p in directory.iterdir()] == ["notes.txt"]


@pytest.mark.postgres
def test_an_export_whose_worker_died_is_written_afresh_by_the_next(
    app: Flask, admin_client: FlaskClient, session: Session, factories: Factories,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for n in range(5):
        factories.subscriber(email=f"r{n}@example.com", name=f"R {n}")
    session.commit()
    before = io.StringIO()
    export_subscribers_csv(session, before)
    page = admin_client.post("/admin/subscribers/export").headers["Location"]
    monkeypatch.setattr(csv_jobs, "EXPORT_BATCH", 2)
    calls: list[int] = []

    def killed_on_the_second(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise Killed
        return export_batch(*args, **kwargs)

    monkeypatch.setattr(csv_jobs, "export_batch", killed_on_the_second)
    clock = Clock()
    with pytest.raises(Killed):
        runner_for(app, clock, "worker-1").run_once()
    monkeypatch.setattr(csv_jobs, "export_batch", export_batch)
    clock.now += LEASE + timedelta(seconds=1)
    assert runner_for(app, clock, "worker-2").run_once().done == 1

    assert status(admin_client, page)["done"] == 5
    download = admin_client.get(page + "/download")
    assert download.data == ("\ufeff" + before.getvalue()).encode("utf-8")
    job_id = the_job(session).id
    leftovers = sorted(p.name for p in Path(settings_of(app).var_dir, "exports").iterdir())
    assert leftovers == [f"readers-{job_id}.csv", f"readers-{job_id}.csv.1.part"]
    daily(database(app).sessionmaker, settings_of(app), clock.now + timedelta(days=2))
    assert not Path(settings_of(app).var_dir, "exports", leftovers[1]).exists()
