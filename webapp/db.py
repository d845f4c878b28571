"""The database engine and the one session per application context.

Plain SQLAlchemy 2.x rather than Flask-SQLAlchemy: services take a `Session` argument so the web
app, the worker and the CLI share them, and the worker can open sessions outside requests.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from webapp.sqlite_writes import connection_factory

_EXTENSION = "yuebao.db"
log = logging.getLogger(__name__)


BUSY_TIMEOUT = 10.0  # seconds a SQLite writer waits for another process's write lock


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the web app read while the worker writes; the busy timeout makes a writer wait
    # for another process's lock instead of failing with "database is locked" (the threads of
    # one process queue on webapp.sqlite_writes' lock instead). Secure delete: what a delete
    # or an update frees is overwritten with zeros, so an erased reader's data does not linger
    # in free space of the file (the erasure job then empties the log: own_data.empty_log).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


_POSTGRES_CONNECT_ARGS = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 30,
                          "keepalives_interval": 10, "keepalives_count": 3}


def make_engine(url: str, *, pre_ping: bool = True) -> Engine:
    """An engine with the settings each backend needs (`pre_ping=False`: see hooks.routes)."""
    if url.startswith("sqlite"):
        path = make_url(url).database
        connect_args: dict[str, Any] = {"timeout": BUSY_TIMEOUT}
        if path and path != ":memory:" and not path.startswith("file:"):
            # The default database lives under var/, which a fresh clone does not have yet.
            with contextlib.suppress(OSError):
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # One writer at a time per process: threads queue instead of failing as "locked".
            connect_args["factory"] = connection_factory(path, BUSY_TIMEOUT)
        engine = create_engine(url, connect_args=connect_args)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        # psycopg 3 is the driver we ship; plain postgresql:// would ask for psycopg2.
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    # After a restart or failover every pooled connection is dead: pre-ping replaces them at
    # checkout. A server that does not answer at all (a failed-over address) fails a connect
    # in 10 s and a query within about a minute (TCP keepalives) instead of hanging a worker
    # past WORKER_DB_GRACE_SECONDS.
    return create_engine(url, pool_pre_ping=pre_ping, connect_args=_POSTGRES_CONNECT_ARGS)


class Database:
    """Holds the engine and session factory of one application."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)


def init_app(app: Flask, url: str) -> None:
    app.extensions[_EXTENSION] = Database(url)
    app.teardown_appcontext(_close_session)


def database(app: Flask | None = None) -> Database:
    db: Database = (app or current_app).extensions[_EXTENSION]
    return db


def session() -> Session:
    """The session of the current application context, opened on first use."""
    if "db_session" not in g:
        g.db_session = database().sessionmaker()
    current: Session = g.db_session
    return current


def _close_session(_exc: BaseException | None) -> None:
    current = g.pop("db_session", None)
    if current is None:
        return
    try:
        current.close()
    except SQLAlchemyError:
        # The view has committed (or rolled back) by now: a connection that died on its way
        # back to the pool (a database restart) must not answer a change that was made with
        # an error, which the reader would retry.
        log.warning("database session not closed cleanly", exc_info=True)
        with contextlib.suppress(SQLAlchemyError):
            current.invalidate()
