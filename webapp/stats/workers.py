"""What the workers are doing, from their heartbeat rows, the scheduler lease and the newest SES
events (read-only): what the admin console shows, red when stale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.models import Edition, EditionMinute, Lease, SnsReceipt, WorkerHeartbeat, utcnow
from webapp.models.worker import SCHEDULER_STALE_AFTER

LIVE_WITHIN = timedelta(seconds=30)
# SES reports a message it accepted within seconds (its Send event): messages sent this long
# ago with no SES event stored since mean events are not arriving (SNS, the hook or SQS).
EVENTS_STALE_AFTER = timedelta(minutes=15)
# Workers apply stored SES events within seconds; a notification waiting longer means they
# are down or cannot keep up (and in-doubt deliveries wait with it: webapp.delivery.in_doubt).
INBOX_BEHIND_AFTER = timedelta(minutes=5)


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


@dataclass(frozen=True)
class SchedulerStatus:
    holder: str | None  # the worker holding a live scheduler lease
    since: datetime | None  # when it took the lease
    last_tick_at: datetime | None  # when one of its scheduled jobs last succeeded
    stale: bool  # nobody holds it, or no job has succeeded for SCHEDULER_STALE_AFTER


def scheduler_status(session: Session, now: datetime | None = None) -> SchedulerStatus:
    """Who runs the schedule and whether it works, from the lease its holder renews."""
    now = now or utcnow()
    row = session.get(Lease, "scheduler")
    if row is None or row.expires_at <= now:
        return SchedulerStatus(None, None, None, stale=True)
    last = row.last_tick_at or row.acquired_at
    return SchedulerStatus(
        row.holder, row.acquired_at, row.last_tick_at,
        stale=last is None or now - last > SCHEDULER_STALE_AFTER,
    )


@dataclass(frozen=True)
class EventLag:
    newest_at: datetime | None  # when the newest SES event arrived
    unanswered_since: datetime | None  # the first message sent after it (minute precision)
    stale: bool  # messages sent EVENTS_STALE_AFTER ago, and no SES event since

    def age(self, now: datetime) -> timedelta | None:
        return now - self.newest_at if self.newest_at is not None else None


def ses_event_lag(session: Session, now: datetime | None = None) -> EventLag:
    """How far behind SES events are: the newest one that arrived, and messages sent since.

    This is the lag of receiving (SES or SNS behind, or the hook unreachable): it shows as
    sending without hearing back; inbox_lag is the lag of applying what was received. Both
    reads cost the same at any size: each SES event arrives as an SNS notification whose
    receipt is stored, and the newest receipt is
    the last row of its primary key (the newest SES row of `events` would mean walking back
    past every open and click since: 0.1 s for 300,000 on SQLite); messages sent come from
    the per-minute tallies.
    """
    now = now or utcnow()
    newest_at = session.scalar(
        select(SnsReceipt.received_at)
        .where(SnsReceipt.type == "Notification")
        .order_by(SnsReceipt.id.desc())
        .limit(1)
    )
    sent_after = select(func.min(EditionMinute.minute)).where(EditionMinute.sent > 0)
    if newest_at is not None:
        # Minutes are 'YYYY-MM-DDTHH:MM' in UTC: the ones after the newest event's minute.
        sent_after = sent_after.where(EditionMinute.minute > newest_at.strftime("%Y-%m-%dT%H:%M"))
    first = session.scalar(sent_after)
    unanswered_since = (
        datetime.strptime(first, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC) if first else None
    )
    return EventLag(
        newest_at, unanswered_since,
        stale=unanswered_since is not None and now - unanswered_since > EVENTS_STALE_AFTER,
    )


@dataclass(frozen=True)
class InboxLag:
    """SES events received but not applied yet: how many, and since when."""

    waiting: int
    oldest_at: datetime | None  # when the oldest of them was received
    behind: bool  # the oldest has waited INBOX_BEHIND_AFTER

    def age(self, now: datetime) -> timedelta | None:
        return now - self.oldest_at if self.oldest_at is not None else None


def inbox_lag(session: Session, now: datetime | None = None) -> InboxLag:
    """The inbox's backlog, read from the partial index of unprocessed receipts only: as cheap
    with a million processed receipts as with none."""
    now = now or utcnow()
    waiting, oldest = session.execute(
        select(func.count(SnsReceipt.id), func.min(SnsReceipt.received_at)).where(
            SnsReceipt.processed_at.is_(None)
        )
    ).one()
    return InboxLag(
        waiting or 0, oldest, behind=oldest is not None and now - oldest > INBOX_BEHIND_AFTER
    )
