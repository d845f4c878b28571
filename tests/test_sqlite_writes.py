"""On SQLite, the threads of one process take turns to write instead of fighting for SQLite's
lock (which failed them as "database is locked" once its busy timeout ran out)."""

from __future__ import annotations

import threading
from typing import Any

from flask import Flask
from sqlalchemy import event, func, select, update
from sqlalchemy.exc import OperationalError

from tests.factories import Factories
from webapp.audit import record_audit
from webapp.db import database
from webapp.models import AuditEntry, Subscriber

THREADS, TRANSACTIONS = 8, 30


def test_threads_of_one_process_never_fight_for_the_write_lock(
    app: Flask, factories: Factories
) -> None:
    readers = [factories.subscriber().id for _ in range(THREADS)]
    factories.session.commit()
    engine = database(app).engine
    engine.dispose()

    @event.listens_for(engine, "connect")
    def impatient(dbapi_connection: Any, _record: Any) -> None:
        # No busy handler: any moment two threads of this process want the lock is an error.
        dbapi_connection.cursor().execute("PRAGMA busy_timeout=0")

    locked: list[str] = []

    def write(reader: int) -> None:
        for n in range(TRANSACTIONS):
            try:
                with database(app).sessionmaker() as session:
                    session.get(Subscriber, reader)  # a read first, as services do
                    session.execute(
                        update(Subscriber).where(Subscriber.id == reader).values(name=f"n{n}")
                    )
                    record_audit(session, "test.write", actor="system", target=str(reader))
                    session.commit()
            except OperationalError as error:
                locked.append(str(error.orig))

    threads = [threading.Thread(target=write, args=(reader,)) for reader in readers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert locked == []
    with database(app).sessionmaker() as session:
        written = session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "test.write"))
    assert written == THREADS * TRANSACTIONS
