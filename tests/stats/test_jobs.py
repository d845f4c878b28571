"""webapp.stats.jobs: the system mails the admin console counts (waiting, failing, given up)
and the troubled jobs it lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session

from webapp.models import BackgroundJob, JobKind, JobStatus
from webapp.stats.jobs import TROUBLED_SHOWN, JobCounts, mail_counts, troubled_jobs

NOON = datetime(2024, 7, 1, 4, 0, tzinfo=UTC)


def _job(
    session: Session,
    status: JobStatus = JobStatus.PENDING,
    *,
    kind: JobKind = JobKind.MAIL,
    mail: str | None = "confirm",
    error: str | None = None,
    attempts: int = 0,
    minute: int = 0,
) -> int:
    created = NOON + timedelta(minutes=minute)
    job = BackgroundJob(
        kind=kind, status=status, attempts=attempts, last_error=error, created_at=created,
        next_attempt_at=created + timedelta(minutes=5),
        payload={"to": "r@example.com", "tags": {"kind": mail}} if mail else None,
    )
    session.add(job)
    session.commit()
    return job.id


@pytest.mark.postgres
def test_mails_are_counted_by_where_they_stand(session: Session) -> None:
    assert mail_counts(session) == JobCounts(pending=0, failing=0, failed=0,
                                             oldest_pending_at=None)
    _job(session, minute=30)
    _job(session, minute=10, error="SES throttled", attempts=2)  # failing, still waiting
    _job(session, minute=20)
    _job(session, JobStatus.FAILED, minute=1, error="address rejected", attempts=1)
    _job(session, JobStatus.FAILED, minute=2, error="too many attempts", attempts=8)
    _job(session, JobStatus.DONE, minute=0)  # sent: not counted, and not the oldest waiting
    # Other kinds of job are not mails.
    _job(session, kind=JobKind.REDACT_OUTBOX, mail=None, minute=-60, error="disk full")
    _job(session, JobStatus.FAILED, kind=JobKind.INDEX_OUTBOX, mail=None, minute=-50)
    counts = mail_counts(session)
    assert counts == JobCounts(pending=3, failing=1, failed=2,
                               oldest_pending_at=NOON + timedelta(minutes=10))
    assert counts.trouble


def test_the_oldest_waiting_mail_ignores_mails_given_up(session: Session) -> None:
    _job(session, JobStatus.FAILED, minute=0, error="rejected")
    _job(session, minute=15)
    assert mail_counts(session).oldest_pending_at == NOON + timedelta(minutes=15)


@pytest.mark.parametrize(("failing", "failed", "trouble"), [
    (0, 0, False), (1, 0, True), (0, 1, True), (3, 2, True),
])
def test_trouble_is_a_mail_failing_or_given_up(failing: int, failed: int, trouble: bool) -> None:
    assert JobCounts(pending=9, failing=failing, failed=failed,
                     oldest_pending_at=NOON).trouble is trouble


@pytest.mark.postgres
def test_troubled_jobs_are_the_given_up_then_the_failing_newest_first(session: Session) -> None:
    assert troubled_jobs(session) == []
    old_failed = _job(session, JobStatus.FAILED, error="rejected", attempts=1, minute=1)
    failing = _job(session, error="throttled", attempts=2, minute=2, mail="welcome")
    new_failed = _job(session, JobStatus.FAILED, error="too many attempts", attempts=8,
                      minute=3, mail="password_reset")
    _job(session, minute=4)  # waiting, never failed: no trouble
    _job(session, JobStatus.DONE, error="throttled once", attempts=2, minute=5)  # sent after all
    redaction = _job(session, kind=JobKind.REDACT_OUTBOX, mail=None, error="disk full",
                     attempts=1, minute=6)
    shown = troubled_jobs(session)
    assert [j.id for j in shown] == [new_failed, old_failed, redaction, failing]
    first = shown[0]
    assert (first.kind, first.mail_kind, first.status, first.attempts, first.last_error) == (
        JobKind.MAIL, "password_reset", JobStatus.FAILED, 8, "too many attempts"
    )
    assert (first.created_at, first.next_attempt_at) == (
        NOON + timedelta(minutes=3), NOON + timedelta(minutes=8)
    )
    assert (shown[2].kind, shown[2].mail_kind) == (JobKind.REDACT_OUTBOX, None)
    assert (shown[3].status, shown[3].mail_kind) == (JobStatus.PENDING, "welcome")


def test_a_job_without_a_mail_kind_shows_none(session: Session) -> None:
    payloads: list[dict[str, Any] | None] = [None, {}, {"tags": {}}, {"tags": {"kind": ""}}]
    session.execute(insert(BackgroundJob), [
        {"kind": JobKind.MAIL, "status": JobStatus.FAILED, "payload": payload, "attempts": 1,
         "last_error": "x", "next_attempt_at": NOON, "created_at": NOON, "updated_at": NOON}
        for payload in payloads
    ])
    session.commit()
    assert [j.mail_kind for j in troubled_jobs(session)] == [None, None, None, None]


def test_only_the_first_twenty_troubled_jobs_are_shown_unless_told(session: Session) -> None:
    ids = [_job(session, JobStatus.FAILED, error="rejected", minute=n) for n in range(21)]
    assert TROUBLED_SHOWN == 20
    assert [j.id for j in troubled_jobs(session)] == ids[:0:-1]  # newest first, oldest left out
    assert [j.id for j in troubled_jobs(session, limit=2)] == [ids[20], ids[19]]
