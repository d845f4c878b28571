"""Erasure and the outbox: the request never reads the outbox, however large; the worker
redacts the reader's files through the index, and only theirs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import Factories
from tests.mailbox import link_in, outbox, run_jobs, subscribe
from webapp.config import settings_of
from webapp.db import database
from webapp.delivery import store
from webapp.delivery.jobs import index_older_files
from webapp.models import (
    BackgroundJob,
    Delivery,
    Edition,
    JobKind,
    JobStatus,
    OutboxFile,
    Subscriber,
    SubscriberStatus,
)

FILLER = 3000
ADDRESS = "erin.private@example.com"

# Audit hooks cannot be removed: one, installed once, records while a test asks it to.
_watching: list[tuple[str, list[str]]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _watching or event not in ("open", "os.scandir", "os.listdir"):
        return
    directory, seen = _watching[-1]
    target = args[0] if args else None
    if isinstance(target, (str, bytes, Path)):
        path = str(target if not isinstance(target, bytes) else target.decode())
        if path.startswith(directory):
            seen.append(f"{event} {path}")


sys.addaudithook(_audit)


@pytest.fixture
def file_access(app: Flask) -> Iterator[list[str]]:
    """Every file opened or directory listed under the outbox while the fixture is active."""
    seen: list[str] = []
    _watching.append((str(Path(settings_of(app).outbox_dir)), seen))
    yield seen
    _watching.clear()


def fill_outbox(directory: Path, count: int) -> list[Path]:
    """Other people's messages, written cheaply (one small message, many names)."""
    directory.mkdir(parents=True, exist_ok=True)
    body = (
        b"From: newsletter@example.com\r\nTo: someone@example.com\r\nSubject: x\r\n"
        b"Message-ID: <x@example.com>\r\n\r\nhello\r\n"
    )
    paths = []
    for n in range(count):
        path = directory / f"20240101T000000{n:06d}Z-other{n}_example.com.eml"
        path.write_bytes(body)
        paths.append(path)
    return paths


@pytest.fixture
def erin(app: Flask, client: FlaskClient, session: Session, runner: FlaskCliRunner,
         factories: Factories, approved: Edition) -> Subscriber:
    """Confirmed (two mails), sent the July edition (a third file), and one mail still queued."""
    subscribe(client, ADDRESS)
    client.post(link_in(outbox(app)[-1], "/confirm/"))
    reader = session.scalar(select(Subscriber).where(Subscriber.email_key == ADDRESS))
    assert reader is not None and reader.status == SubscriberStatus.ACTIVE
    sent = runner.invoke(args=["send", "2024-07", "--now", "--wait"])
    assert sent.exit_code == 0, sent.output
    run_jobs(app)  # the welcome
    client.post("/preferences/link", data={"email": ADDRESS})  # asked for, not answered yet
    return reader


@pytest.mark.postgres
def test_erasure_does_not_read_the_outbox_and_the_worker_redacts_through_the_index(
    app: Flask, client: FlaskClient, session: Session, erin: Subscriber, file_access: list[str]
) -> None:
    directory = Path(settings_of(app).outbox_dir)
    theirs = sorted(p.name for p in directory.glob("*.eml"))
    assert len(theirs) == 3  # confirmation, welcome, the July edition
    indexed = session.scalars(select(OutboxFile.name).order_by(OutboxFile.name)).all()
    assert indexed == theirs
    [delivery] = session.scalars(select(Delivery))
    assert session.get(OutboxFile, theirs[-1]) is not None
    assert {f.delivery_id for f in session.scalars(select(OutboxFile))} == {None, delivery.id}
    others = fill_outbox(directory, FILLER)
    file_access.clear()

    done = client.post(f"/p/{erin.token}/erase", data={"understood": "y"})

    assert done.status_code == 303
    assert file_access == []  # not one file opened, the directory not even listed
    session.expire_all()
    reader = session.get(Subscriber, erin.id)
    assert reader is not None and reader.status == SubscriberStatus.ERASED and not reader.email
    jobs = list(session.scalars(select(BackgroundJob).where(
        BackgroundJob.subscriber_id == erin.id, BackgroundJob.status == JobStatus.PENDING)))
    # The redaction waits for the worker.
    assert [j.kind for j in jobs] == [JobKind.REDACT_OUTBOX]

    # The redaction; the link asked for before went with the erasure, unanswered.
    assert run_jobs(app).done == 1
    opened = {line.split(" ", 1)[1] for line in file_access if line.startswith("open ")}
    assert {Path(p).name for p in opened if p.endswith(".eml")} == set(theirs)
    for name in theirs:
        raw = (directory / name).read_bytes()
        assert b"X-Yuebao-Redacted: erased" in raw and ADDRESS.encode() not in raw.lower()
    assert others[0].read_bytes() == others[-1].read_bytes()
    assert b"someone@example.com" in others[0].read_bytes()
    session.expire_all()
    assert all(f.redacted_at is not None for f in session.scalars(select(OutboxFile)))
    assert run_jobs(app).worked == 0  # nothing sent to Erin after all
    assert len(list(directory.glob("*.eml"))) == FILLER + 3


def test_files_written_before_the_index_are_indexed_once_by_the_worker(
    app: Flask, client: FlaskClient, session: Session, erin: Subscriber
) -> None:
    directory = Path(settings_of(app).outbox_dir)
    session.execute(OutboxFile.__table__.delete())  # as if written before the upgrade
    session.commit()
    fill_outbox(directory, 3)

    assert index_older_files(database(app).sessionmaker, directory) == 6
    session.expire_all()
    rows = {row.name: row for row in session.scalars(select(OutboxFile))}
    assert len(rows) == 6
    theirs = [row for row in rows.values() if row.subscriber_id == erin.id]
    assert len(theirs) == 3 and sum(1 for row in theirs if row.delivery_id) == 1
    assert index_older_files(database(app).sessionmaker, directory) == 0


def test_a_file_written_after_the_erasure_is_redacted_too(
    app: Flask, client: FlaskClient, session: Session, erin: Subscriber
) -> None:
    [delivery] = session.scalars(select(Delivery))
    client.post(f"/p/{erin.token}/erase", data={"understood": "y"})
    run_jobs(app)
    # The engine had claimed Erin's delivery before she left and writes it only now.
    late = f"20310101T000000000000Z-d{delivery.id}-late_example.com.eml"
    directory = Path(settings_of(app).outbox_dir)
    (directory / late).write_bytes(
        b"From: n@example.com\r\nTo: " + ADDRESS.encode() + b"\r\nSubject: x\r\n\r\nhi\r\n"
    )
    store.index_outbox_files(session, [(delivery.id, late)])
    session.commit()
    assert run_jobs(app).done == 1
    assert ADDRESS.encode() not in (directory / late).read_bytes()
