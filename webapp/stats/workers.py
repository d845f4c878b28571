"""What the workers are doing, from their heartbeat rows (read-only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.models import Edition, WorkerHeartbeat, utcnow

LIVE_WITHIN = timedelta(seconds=30)


@dataclass(frozen=True)
class WorkerStatus:
    name: str
    hostname: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    edition: str | None  # month of the edition being sent
    rate_per_s: float
    scheduler: bool
    live: bool


def worker_status(session: Session, now: datetime | None = None) -> list[WorkerStatus]:
    """Every worker that left a heartbeat row, live ones (heartbeat within 30 s) first."""
    now = now or utcnow()
    stmt = (
        select(WorkerHeartbeat, Edition.month)
        .outerjoin(Edition, Edition.id == WorkerHeartbeat.edition_id)
        .order_by(WorkerHeartbeat.heartbeat_at.desc())
    )
    workers = [
        WorkerStatus(
            name=row.name,
            hostname=row.hostname,
            pid=row.pid,
            started_at=row.started_at,
            heartbeat_at=row.heartbeat_at,
            edition=month,
            rate_per_s=row.rate_per_s,
            scheduler=row.scheduler,
            live=now - row.heartbeat_at <= LIVE_WITHIN,
        )
        for row, month in session.execute(stmt).tuples()
    ]
    return sorted(workers, key=lambda w: not w.live)
