"""A lease row: whoever holds it (and renews it in time) alone runs the scheduler."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from webapp.models import Lease

SCHEDULER = "scheduler"


def acquire(
    sessions: sessionmaker[Session], holder: str, ttl: timedelta, now: datetime,
    name: str = SCHEDULER, *, last_tick: datetime | None = None,
) -> bool:
    """Take or renew the lease; True if `holder` holds it until now + ttl.

    The row lock (PostgreSQL) or the conditional UPDATE (SQLite, whose read takes no lock)
    makes two workers that try at the same moment see each other: only one of them gets it.
    A renewal also records `last_tick`, when the holder's scheduler last ran a job
    successfully.
    """
    with sessions() as session:
        row = session.scalar(select(Lease).where(Lease.name == name).with_for_update())
        if row is None:
            session.add(Lease(name=name, holder=holder, expires_at=now + ttl, acquired_at=now,
                              last_tick_at=last_tick))
        elif row.holder == holder or row.expires_at <= now:
            values: dict[str, object] = {"holder": holder, "expires_at": now + ttl}
            if row.holder != holder or row.acquired_at is None:
                values.update(acquired_at=now, last_tick_at=None)
            if last_tick is not None:
                values["last_tick_at"] = last_tick
            # Only if the row is still as read: on SQLite the read above takes no lock, so
            # another worker may have taken the lapsed lease between it and this write.
            taken = session.execute(
                update(Lease)
                .where(Lease.name == name, Lease.holder == row.holder,
                       Lease.expires_at == row.expires_at)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if not getattr(taken, "rowcount", 0):
                session.rollback()
                return False
        else:
            return False
        try:
            session.commit()
        except IntegrityError:  # someone inserted the row first
            return False
        return True


def release(sessions: sessionmaker[Session], holder: str, name: str = SCHEDULER) -> None:
    with sessions() as session:
        session.execute(delete(Lease).where(Lease.name == name, Lease.holder == holder))
        session.commit()


def holder(sessions: sessionmaker[Session], now: datetime, name: str = SCHEDULER) -> str | None:
    with sessions() as session:
        row = session.get(Lease, name)
        return row.holder if row is not None and row.expires_at > now else None
