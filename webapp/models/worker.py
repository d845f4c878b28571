"""What several workers share through the database: heartbeats, the scheduler lease, one
sending rate, and the monthly schedule rule."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.models.base import Base, UTCDateTime, utcnow


class WorkerHeartbeat(Base):
    """One row per running worker process, refreshed every few seconds."""

    __tablename__ = "worker_heartbeats"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)  # host:pid
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    edition_id: Mapped[int | None] = mapped_column(
        ForeignKey("editions.id", ondelete="SET NULL")
    )
    rate_per_s: Mapped[float] = mapped_column(Float, default=0.0)
    scheduler: Mapped[bool] = mapped_column(Boolean, default=False)


# The scheduler runs a job every 15 seconds: a holder none of whose jobs has succeeded for this
# long is not scheduling anything. Its worker restarts it; the admin console shows it red.
SCHEDULER_STALE_AFTER = timedelta(minutes=2)


class Lease(Base):
    """A named lease: its holder alone may act (the scheduler); it lapses if not renewed."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    holder: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Written at each renewal, so the console (another process) sees whether the holder's
    # scheduler works, not only that its worker is alive.
    acquired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_tick_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last job that succeeded


class RateBucket(Base):
    """The shared sending schedule, so all workers together keep to the rate.

    `next_at` is the unix time from which the next recipient may go: a call of n recipients
    waits until then and moves it on by n / rate (SES counts MaxSendRate per recipient).
    """

    __tablename__ = "rate_buckets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    rate: Mapped[float] = mapped_column(Float)
    next_at: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ScheduleRule(Base):
    """'Send the newest approved edition on day N of the month at HH:MM' (in TIMEZONE)."""

    __tablename__ = "schedule_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[int] = mapped_column(Integer)  # 1–28, so every month has it
    time: Mapped[str] = mapped_column(String(5))  # HH:MM
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_run_month: Mapped[str | None] = mapped_column(String(7))  # YYYY-MM, once a month
