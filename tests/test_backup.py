"""`yuebao backup` and `yuebao restore`: a round trip on both databases, erasures kept."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.conftest import app_config, new_postgres_database
from tests.factories import Factories
from tests.mailbox import outbox, run_jobs
from webapp import create_app
from webapp.config import settings_of
from webapp.db import database
from webapp.models import ConsentRecord, Edition, Subscriber, SubscriberStatus, Suppression
from webapp.readers.erasure_journal import journal_path, read_journal
from webapp.readers.mail import preferences_mail, queued
from webapp.readers.suppressions import address_hash, is_suppressed


def _empty_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend == "postgresql":
        return new_postgres_database(request.getfixturevalue("postgres_server"), None)
    return f"sqlite:///{tmp_path / 'restored' / 'yuebao.sqlite3'}"


@pytest.fixture
def restored_app(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Flask]:
    """A second installation on an empty database, with the first one's var dir (and so its
    erasure journal) and keys, as after losing the database server."""
    application = create_app(app_config(_empty_database_url(backend, request, tmp_path),
                                        tmp_path))
    yield application
    database(application).engine.dispose()


def _erase(client: FlaskClient, reader: Subscriber) -> None:
    response = client.post(f"/p/{reader.token}/erase", data={"understood": "y"})
    assert response.status_code == 303


def _readers(session: Session) -> dict[int, tuple[str | None, SubscriberStatus]]:
    session.expire_all()
    return {s.id: (s.email, s.status) for s in session.scalars(select(Subscriber))}


@pytest.mark.postgres
def test_a_backup_restores_into_an_empty_database_and_erasures_since_are_applied_again(
    app: Flask, client: FlaskClient, factories: Factories, session: Session,
    restored_app: Flask, backend: str, tmp_path: Path,
) -> None:
    factories.edition("2024-07", items={"policy": [{"topics": ["ai"]}]})
    ann = factories.subscriber(email="ann@example.com", topics=["ai"])
    bob = factories.subscriber(email="bob@example.com", topics=["ai"])
    eve = factories.subscriber(email="eve@example.com", topics=["ai"])
    _erase(client, eve)  # before the backup: the backup has it already
    path = tmp_path / "yuebao.backup"

    made = app.test_cli_runner().invoke(args=["backup", str(path)])

    assert made.exit_code == 0, made.output
    method = "pg_dump -Fc" if backend == "postgresql" else "sqlite online backup"
    assert method in made.output and path.stat().st_size > 0
    at_backup = _readers(session)
    # After the backup: Bob is mailed his preferences link, then erases himself (the worker
    # has not redacted his file yet when the database is lost), and Dan comes, confirms
    # nothing, and goes.
    queued(session, bob, [preferences_mail(settings_of(app), bob)])
    session.commit()
    assert [m["To"] for m in outbox(app)] == ["bob@example.com"]
    _erase(client, bob)
    dan = factories.subscriber(email="dan@example.com", topics=["ai"])
    _erase(client, dan)
    journal = read_journal(journal_path(settings_of(app).var_dir))
    assert [e.subscriber_id for e in journal] == [eve.id, bob.id, dan.id]

    done = restored_app.test_cli_runner().invoke(args=["restore", str(path)])

    assert done.exit_code == 0, done.output
    assert "1 reader(s) erased again, 1 address hash(es) suppressed" in done.output
    key = settings_of(app).erasure_key
    with database(restored_app).sessionmaker() as restored:
        readers = _readers(restored)
        assert set(readers) == set(at_backup)  # Dan came after the backup
        assert readers[ann.id] == ("ann@example.com", SubscriberStatus.ACTIVE)
        assert readers[bob.id] == (None, SubscriberStatus.ERASED)
        assert readers[eve.id] == (None, SubscriberStatus.ERASED)
        assert restored.scalar(select(func.count()).select_from(Edition)) == 1
        for address in ("bob@example.com", "dan@example.com", "eve@example.com"):
            assert is_suppressed(restored, address, key), address
        assert not is_suppressed(restored, "ann@example.com", key)
        erase_records = restored.scalars(
            select(ConsentRecord.subscriber_id).where(ConsentRecord.action == "erase"))
        assert sorted(erase_records) == sorted([eve.id, bob.id])
        hashes = restored.scalars(select(Suppression.address_hash))
        assert address_hash(key, "dan@example.com") in set(hashes)
    # The mail written after the backup is redacted by the restored installation's worker.
    run_jobs(restored_app)
    [note] = outbox(restored_app, drain=False)
    assert note["X-Yuebao-Redacted"] == "erased" and note["To"] is None


@pytest.mark.postgres
def test_restore_refuses_a_database_that_is_not_empty(
    app: Flask, factories: Factories, session: Session, tmp_path: Path
) -> None:
    factories.subscriber(email="ann@example.com")
    path = tmp_path / "yuebao.backup"
    assert app.test_cli_runner().invoke(args=["backup", str(path)]).exit_code == 0
    factories.subscriber(email="bob@example.com")
    before = _readers(session)

    refused = app.test_cli_runner().invoke(args=["restore", str(path)])

    assert refused.exit_code != 0
    assert "not empty" in refused.output and "nothing was changed" in refused.output
    assert _readers(session) == before


def test_backup_never_overwrites_a_file(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "yuebao.backup"
    path.write_bytes(b"an older backup")
    refused = app.test_cli_runner().invoke(args=["backup", str(path)])
    assert refused.exit_code != 0 and "exists" in refused.output
    assert path.read_bytes() == b"an older backup"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_restore_refuses_what_is_not_a_backup(restored_app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not a database")
    refused = restored_app.test_cli_runner().invoke(args=["restore", str(path)])
    assert refused.exit_code != 0 and "not an SQLite backup" in refused.output


def test_a_journal_that_cannot_be_read_refuses_the_restore_first(
    app: Flask, restored_app: Flask, tmp_path: Path
) -> None:
    path = tmp_path / "yuebao.backup"
    assert app.test_cli_runner().invoke(args=["backup", str(path)]).exit_code == 0
    journal = journal_path(settings_of(app).var_dir)
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_text('{"at": "2024-07-01T00:00:00+00:00"}\n')
    refused = restored_app.test_cli_runner().invoke(args=["restore", str(path)])
    assert refused.exit_code != 0 and "line 1" in refused.output
    target = Path(str(database(restored_app).engine.url.database))
    assert not target.exists() or target.stat().st_size == 0


def test_a_reader_erased_before_the_backup_who_came_back_is_left_alone(
    app: Flask, client: FlaskClient, factories: Factories, session: Session,
    restored_app: Flask, tmp_path: Path,
) -> None:
    eve = factories.subscriber(email="eve@example.com", topics=["ai"])
    _erase(client, eve)
    # Eve subscribes anew (a new reader row); the hash suppression goes when she confirms.
    again = factories.subscriber(email="eve@example.com", topics=["ai"])
    session.execute(Suppression.__table__.delete())
    session.commit()
    path = tmp_path / "yuebao.backup"
    assert app.test_cli_runner().invoke(args=["backup", str(path)]).exit_code == 0

    done = restored_app.test_cli_runner().invoke(args=["restore", str(path)])

    assert done.exit_code == 0, done.output
    with database(restored_app).sessionmaker() as restored:
        assert _readers(restored)[again.id] == ("eve@example.com", SubscriberStatus.ACTIVE)
        assert not is_suppressed(restored, "eve@example.com", settings_of(app).erasure_key)
