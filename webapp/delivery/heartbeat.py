"""Workers say they are alive; a dead worker's claims go back to the queue."""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from webapp.models import Delivery, DeliveryStatus, WorkerHeartbeat, utcnow

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(seconds=60)


def beat(
    session: Session,
    name: str,
    *,
    edition_id: int | None = None,
    rate: float = 0.0,
    scheduler: bool = False,
    now: datetime | None = None,
) -> None:
    """Insert or refresh this worker's row (the caller commits)."""
    now = now or utcnow()
    row = session.get(WorkerHeartbeat, name)
    if row is None:
        host, _, pid = name.rpartition(":")
        row = WorkerHeartbeat(name=name, hostname=host or socket.gethostname(),
                              pid=int(pid) if pid.isdigit() else os.getpid(), started_at=now)
        session.add(row)
    row.heartbeat_at = now
    row.edition_id = edition_id
    row.rate_per_s = rate
    row.scheduler = scheduler


def sign_off(session: Session, name: str) -> None:
    session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.name == name))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_workers(session: Session, now: datetime, stale_after: timedelta = STALE_AFTER) -> set[str]:
    """Workers whose heartbeat is stale, or that ran on this host and whose process is gone."""
    here = socket.gethostname()
    dead = set()
    for row in session.scalars(select(WorkerHeartbeat)):
        if now - row.heartbeat_at > stale_after or (
            row.hostname == here and row.pid != os.getpid() and not _pid_alive(row.pid)
        ):
            dead.add(row.name)
    return dead


def _names(session: Session) -> set[str]:
    return set(session.scalars(select(WorkerHeartbeat.name)))


def live_workers(
    session: Session, now: datetime | None = None, stale_after: timedelta = STALE_AFTER
) -> set[str]:
    """The workers that may still be writing: a fresh heartbeat and, on this host, a process."""
    return _names(session) - dead_workers(session, now or utcnow(), stale_after)


def requeue_stale_claims(
    session: Session, now: datetime | None = None, stale_after: timedelta = STALE_AFTER
) -> int:
    """Claimed-but-never-handed-over deliveries of dead workers go back to `queued`.

    `sending` means claimed and not yet given to the transport (a delivery is `in_doubt`
    before its call), so re-queueing it can never make a second copy.
    """
    now = now or utcnow()
    dead = dead_workers(session, now, stale_after)
    live = _names(session) - dead
    claimed_by_nobody_alive = or_(
        Delivery.claimed_by.is_(None),
        Delivery.claimed_by.not_in(live) if live else Delivery.claimed_by.is_not(None),
    )
    result = session.execute(
        update(Delivery)
        .where(Delivery.status == DeliveryStatus.SENDING, claimed_by_nobody_alive)
        .values(status=DeliveryStatus.QUEUED, claimed_by=None, claimed_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if dead:
        session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.name.in_(dead)))
    return int(getattr(result, "rowcount", 0) or 0)


class Heartbeat:
    """Beats every `interval` seconds from a thread while a worker (or `send --wait`) runs."""

    def __init__(
        self, sessions: sessionmaker[Session], name: str, *, interval: float = 5.0
    ) -> None:
        self.sessions = sessions
        self.name = name
        self.interval = interval
        self.edition_id: int | None = None
        self.rate = 0.0
        self.scheduler = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def beat_now(self) -> None:
        try:
            with self.sessions() as session:
                beat(session, self.name, edition_id=self.edition_id, rate=self.rate,
                     scheduler=self.scheduler)
                session.commit()
        except SQLAlchemyError:
            log.warning("heartbeat failed", exc_info=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat_now()

    def __enter__(self) -> Heartbeat:
        self.beat_now()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 1)
        try:
            with self.sessions() as session:
                # Nothing of ours may stay claimed after a clean stop.
                session.execute(
                    update(Delivery)
                    .where(Delivery.status == DeliveryStatus.SENDING,
                           Delivery.claimed_by == self.name)
                    .values(status=DeliveryStatus.QUEUED, claimed_by=None, claimed_at=None)
                )
                sign_off(session, self.name)
                session.commit()
        except SQLAlchemyError:
            # The database is gone (the worker is leaving because of it): the claims go back
            # when the next worker starts, or once this heartbeat is stale.
            log.warning("claims not returned on the way out", exc_info=True)
