"""Erasure on disk: once the worker has done the erasure job, not one byte of the erased
reader's address or name is left in SQLite's file, its write-ahead log or the outbox."""

from __future__ import annotations

import email
import sqlite3
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import event, make_url, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from tests.mailbox import BROWSER, link_in, outbox, run_jobs, subscribe
from webapp.config import settings_of
from webapp.db import database
from webapp.models import Delivery, Edition, Subscriber, SubscriberStatus
from webapp.readers.own_data import LogNotEmptied, empty_log

ADDRESS = "ines.quarterman@example.com"
NAME = "Ines Quarterman 林静怡"
IP = "198.51.100.77"
# What must be gone, as bytes: SQLite stores text as UTF-8; the name's parts one by one too.
NEEDLES = [ADDRESS.encode(), b"Quarterman", "林静怡".encode(), IP.encode()]


@pytest.fixture
def held(database_url: str) -> Iterator[sqlite3.Connection]:
    """An idle connection kept open throughout, as a running web process keeps one: SQLite
    would otherwise checkpoint and delete the log when the test's last connection closes, and
    the test would prove nothing about a live installation."""
    connection = sqlite3.connect(str(make_url(database_url).database))
    yield connection
    connection.close()


def _as_if_built_without_secure_delete(app: Flask) -> None:
    """Every new connection of the app starts as a SQLite compiled without SQLITE_SECURE_DELETE
    would (Debian's has it on): the app must turn it on itself."""

    def off(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA secure_delete=OFF")
        cursor.close()

    engine = database(app).engine
    engine.dispose()
    event.listen(engine, "connect", off, insert=True)


def _files(app: Flask, database_url: str) -> dict[Path, bytes]:
    """The database file, its -wal and -shm, and every file of the outbox, each as stored and,
    for messages, also decoded (a name may be base64 or quoted-printable inside a part)."""
    db_file = Path(str(make_url(database_url).database))
    found = {
        path: path.read_bytes()
        for path in db_file.parent.glob(db_file.name + "*")
        if path.is_file()
    }
    for path in Path(settings_of(app).outbox_dir).iterdir():
        raw = path.read_bytes()
        message = email.message_from_bytes(raw, policy=policy.default)
        decoded = "".join(str(value) for value in message.values())
        for part in message.walk():
            if not part.is_multipart():
                decoded += str(part.get_content())
        found[path] = raw + decoded.encode()
    return found


def _holding(files: dict[Path, bytes]) -> dict[str, list[str]]:
    return {
        needle.decode(): sorted(path.name for path, data in files.items() if needle in data)
        for needle in NEEDLES
        if any(needle in data for data in files.values())
    }


def test_after_the_erasure_job_neither_the_database_nor_its_log_nor_the_outbox_has_them(
    app: Flask,
    client: FlaskClient,
    session: Session,
    runner: FlaskCliRunner,
    approved: Edition,
    database_url: str,
    held: sqlite3.Connection,
) -> None:
    _as_if_built_without_secure_delete(app)
    # A reader's month: signed up with a name, confirmed, sent the edition, opened it and
    # followed a link from their address, asked for their preferences link.
    client.environ_base["REMOTE_ADDR"] = IP
    subscribe(client, ADDRESS, name=NAME)
    client.post(link_in(outbox(app)[-1], "/confirm/"))
    sent = runner.invoke(args=["send", "2024-07", "--now", "--wait"])
    assert sent.exit_code == 0, sent.output
    delivery = session.scalar(select(Delivery))
    assert delivery is not None
    client.get(f"/o/{delivery.token}.gif", headers=BROWSER)
    client.get(f"/c/{delivery.token}/1", headers=BROWSER)
    client.post("/preferences/link", data={"email": ADDRESS}, headers=BROWSER)
    run_jobs(app)
    reader = session.scalar(select(Subscriber).where(Subscriber.email_key == ADDRESS))
    assert reader is not None and reader.name == NAME
    # What SQLite's automatic checkpoints do in a live installation: the pages reach the file.
    held.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    client.get(f"/o/{delivery.token}.gif", headers=BROWSER)  # and the log fills again
    before = _holding(_files(app, database_url))
    db_name = Path(str(make_url(database_url).database)).name
    assert all(db_name in where for where in before.values()), before  # the search finds them
    assert set(before) == {n.decode() for n in NEEDLES}, before
    assert f"{db_name}-wal" in before[IP]  # the log's copies are searched too

    erased = client.post(f"/p/{reader.token}/erase", data={"understood": "y"})
    assert erased.status_code == 303
    assert run_jobs(app).done == 1  # the erasure job: the outbox files, then the log

    session.expire_all()
    assert session.scalar(select(Subscriber.status)) == SubscriberStatus.ERASED
    files = _files(app, database_url)
    assert any(path.name.endswith("-wal") for path in files)  # the log is there, emptied
    assert len([path for path in files if path.suffix == ".eml"]) == 4
    assert _holding(files) == {}
    database(app).engine.dispose()


def test_a_log_held_by_an_older_snapshot_is_reported_for_the_job_to_try_again(
    app: Flask, session: Session, factories: Factories, database_url: str
) -> None:
    reader = sqlite3.connect(str(make_url(database_url).database), isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM subscribers").fetchone()  # its snapshot starts here
    factories.subscriber(email="later@example.com")
    session.commit()  # a page the reader's snapshot does not see
    session.connection().exec_driver_sql("PRAGMA busy_timeout=50")  # not the 10 s of the app

    with pytest.raises(LogNotEmptied):
        empty_log(session)

    reader.execute("COMMIT")
    empty_log(session)
    wal = Path(str(make_url(database_url).database) + "-wal")
    assert wal.stat().st_size == 0
    reader.close()
