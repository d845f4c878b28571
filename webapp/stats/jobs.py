"""Background jobs as the admin console shows them: mails waiting, failing or given up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from webapp.models import BackgroundJob, JobKind, JobStatus

TROUBLED_SHOWN = 20


@dataclass(frozen=True)
class JobCounts:
    pending: int  # waiting to be sent (failing ones included)
    failing: int  # waiting, after at least one failed attempt
    failed: int  # given up
    oldest_pending_at: datetime | None

    @property
    def trouble(self) -> bool:
        return bool(self.failing or self.failed)


@dataclass(frozen=True)
class TroubledJob:
    id: int
    kind: JobKind
    mail_kind: str | None  # confirm, welcome, password_reset …
    status: JobStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime
    created_at: datetime


def mail_counts(session: Session) -> JobCounts:
    """One aggregate over the mails not done (done ones are the great majority and skipped
    by the status index)."""
    pending = BackgroundJob.status == JobStatus.PENDING
    stmt = select(
        func.count().filter(pending),
        func.count().filter(pending, BackgroundJob.last_error.is_not(None)),
        func.count().filter(BackgroundJob.status == JobStatus.FAILED),
        func.min(case((pending, BackgroundJob.created_at))),
    ).where(
        BackgroundJob.kind == JobKind.MAIL,
        BackgroundJob.status.in_([JobStatus.PENDING, JobStatus.FAILED]),
    )
    pending_n, failing, failed, oldest = session.execute(stmt).one()
    return JobCounts(pending_n or 0, failing or 0, failed or 0, oldest)


def troubled_jobs(session: Session, limit: int = TROUBLED_SHOWN) -> list[TroubledJob]:
    """Jobs given up, or still failing, given-up ones and the newest first."""
    stmt = (
        select(BackgroundJob)
        .where(
            (BackgroundJob.status == JobStatus.FAILED)
            | (
                (BackgroundJob.status == JobStatus.PENDING)
                & BackgroundJob.last_error.is_not(None)
            )
        )
        .order_by((BackgroundJob.status == JobStatus.FAILED).desc(), BackgroundJob.id.desc())
        .limit(limit)
    )
    return [
        TroubledJob(
            id=job.id,
            kind=job.kind,
            mail_kind=str((job.payload or {}).get("tags", {}).get("kind") or "") or None,
            status=job.status,
            attempts=job.attempts,
            last_error=job.last_error,
            next_attempt_at=job.next_attempt_at,
            created_at=job.created_at,
        )
        for job in session.scalars(stmt)
    ]
