"""The engine each backend gets, and the one session per application context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import Engine, event, inspect, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from tests.conftest import new_postgres_database
from tests.factories import Factories
from tests.tools.postgres import PostgresServer
from webapp import db
from webapp.db import BUSY_TIMEOUT, Database, make_engine
from webapp.models import Topic

# SQLite


def _pragmas(engine: Engine) -> tuple[Any, ...]:
    with engine.connect() as conn:
        return tuple(conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                     for name in ("journal_mode", "busy_timeout", "foreign_keys"))


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.sqlite3'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10000
    engine.dispose()


def test_every_new_sqlite_connection_gets_the_pragmas(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'every.sqlite3'}")
    first = engine.connect()  # held, so that the next one is a new connection
    try:
        with engine.connect() as second:
            assert second.connection.dbapi_connection is not first.connection.dbapi_connection
            assert tuple(second.exec_driver_sql(f"PRAGMA {p}").scalar()
                         for p in ("journal_mode", "busy_timeout", "foreign_keys")) == (
                "wal", int(BUSY_TIMEOUT * 1000), 1)
    finally:
        first.close()
        engine.dispose()


def test_sqlite_overwrites_what_it_deletes_whatever_its_build_defaults_to(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'secure.sqlite3'}")

    def built_without_secure_delete(dbapi_connection: Any, _record: Any) -> None:
        # As a SQLite compiled without SQLITE_SECURE_DELETE starts (Debian's has it on).
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA secure_delete=OFF")
        cursor.close()

    event.listen(engine, "connect", built_without_secure_delete, insert=True)
    with engine.connect() as conn:
        # An erased reader's deleted rows are zeroed in the file, not left in free space.
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    engine.dispose()


def test_sqlite_enforces_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fk.sqlite3'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("CREATE TABLE child (id INTEGER PRIMARY KEY, "
                             "parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE)")
        conn.exec_driver_sql("INSERT INTO parent (id) VALUES (1)")
        conn.exec_driver_sql("INSERT INTO child (id, parent_id) VALUES (1, 1)")
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO child (id, parent_id) VALUES (2, 99)")
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM parent WHERE id = 1")
        assert conn.exec_driver_sql("SELECT count(*) FROM child").scalar() == 0  # cascaded
    engine.dispose()


def test_a_sqlite_file_in_a_missing_folder_gets_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "fresh-clone" / "var" / "yuebao.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    assert path.parent.is_dir()
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    assert path.exists()
    engine.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_sqlite_database_works_with_foreign_keys(url: str) -> None:
    engine = make_engine(url)
    journal, timeout, foreign_keys = _pragmas(engine)
    assert (journal, timeout, foreign_keys) == ("memory", int(BUSY_TIMEOUT * 1000), 1)
    engine.dispose()


# PostgreSQL


@pytest.fixture
def plain_url(postgres_server: PostgresServer) -> str:
    """A database's URL as an operator writes it: postgresql://, no driver named."""
    return new_postgres_database(postgres_server, None).replace("postgresql+psycopg://",
                                                                "postgresql://")


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgresql_urls_are_served_by_psycopg_3(plain_url: str, scheme: str) -> None:
    engine = make_engine(plain_url.replace("postgresql://", f"{scheme}://"))
    assert engine.url.drivername == "postgresql+psycopg"
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT 1")) == 1
        assert isinstance(conn.connection.dbapi_connection, psycopg.Connection)
    engine.dispose()


def test_postgresql_connections_time_out_and_keep_alive(plain_url: str) -> None:
    engine = make_engine(plain_url)
    with engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert isinstance(dbapi, psycopg.Connection)
        used = dbapi.info.get_parameters()  # what libpq connected with
    assert {k: used.get(k) for k in ("connect_timeout", "keepalives", "keepalives_idle",
                                     "keepalives_interval", "keepalives_count")} == {
        "connect_timeout": "10", "keepalives": "1", "keepalives_idle": "30",
        "keepalives_interval": "10", "keepalives_count": "3",
    }
    engine.dispose()


def test_a_connection_the_server_dropped_is_replaced_at_checkout(plain_url: str) -> None:
    engine = make_engine(plain_url)
    with engine.connect() as conn:
        dropped = conn.scalar(text("SELECT pg_backend_pid()"))
    # A restart or failover: the server ends the pooled connection behind the pool's back.
    with psycopg.connect(plain_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (dropped,))
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT pg_backend_pid()")) != dropped
    engine.dispose()


# The application's database and session


def test_a_session_keeps_what_it_loaded_after_commit(app: Flask, factories: Factories) -> None:
    factories.topic("robotics", name_en="Robotics")
    with db.database(app).sessionmaker() as session:
        topic = session.scalar(select(Topic).where(Topic.slug == "robotics"))
        assert topic is not None
        session.commit()
    assert topic.name_en == "Robotics"  # no reload after commit: the worker uses rows after it


def test_one_session_per_application_context_closed_when_it_ends(app: Flask) -> None:
    with app.app_context():
        first = db.session()
        assert db.session() is first
        topic = first.scalar(select(Topic).limit(1))
        assert topic is not None and inspect(topic).persistent
    assert inspect(topic).detached  # the session was closed at teardown
    with app.app_context():
        assert db.session() is not first


def test_each_application_has_its_own_database(app: Flask, tmp_path: Path) -> None:
    other = Flask("other")
    db.init_app(other, f"sqlite:///{tmp_path / 'other.sqlite3'}")
    assert isinstance(db.database(other), Database)
    assert db.database(other) is not db.database(app)
    with app.app_context():
        assert db.database() is db.database(app)
    db.database(other).engine.dispose()


def test_a_connection_lost_while_closing_does_not_turn_a_done_request_into_an_error(
    app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A database restart can cut the connection as the session hands it back after the view
    # committed: the change is made, and the reader must not be told otherwise.
    def lost(_self: Session) -> None:
        raise OperationalError("ROLLBACK", {}, Exception("server closed the connection"))

    monkeypatch.setattr(Session, "close", lost)
    assert app.test_client().get("/archive").status_code == 200
    assert "database session not closed cleanly" in caplog.text
