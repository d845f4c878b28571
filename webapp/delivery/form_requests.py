"""The worker's answers to what the public forms asked for.

A form that may mail someone (subscribe, "send me my link", password reset, a new address on
the preferences page) does not look the address up: it checks what it can without the readers
and users, and writes the request as a mail job (webapp.mailer.queue_request) — the same one
row, rendered nothing, whoever the address belongs to. Here the worker answers it in a
transaction of its own, with the service the form used to call, which queues the mail it calls
for (if any) as an ordinary mail job, sent on the jobs thread's next round.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from webapp.accounts.password_reset import RESET_REQUEST, answer_reset
from webapp.config import Settings
from webapp.models import BackgroundJob, JobStatus
from webapp.readers.preferences import EMAIL_CHANGE_REQUEST, answer_email_change
from webapp.readers.subscriptions import (
    LINK_REQUEST,
    SUBSCRIBE_REQUEST,
    answer_link,
    answer_subscribe,
)

Answer = Callable[[Session, Settings, dict[str, Any]], None]

ANSWERS: dict[str, Answer] = {
    SUBSCRIBE_REQUEST: answer_subscribe,
    LINK_REQUEST: answer_link,
    RESET_REQUEST: answer_reset,
    EMAIL_CHANGE_REQUEST: answer_email_change,
}


class UnknownRequest(ValueError):
    """A job naming a request this code does not answer, or without its fields."""


def answer_request(
    sessions: sessionmaker[Session],
    settings: Settings,
    payload: dict[str, Any],
    hold: Callable[[Session], BackgroundJob],
    now: datetime,
) -> None:
    """Answer one queued request and commit what it did (a reader, a consent entry, a mail
    job) with the request's job marked done: a worker that dies before the commit leaves the
    request to be answered again, one that dies after leaves nothing to answer twice.

    `hold` locks the request's job row while this worker's claim stands (ClaimLost if not).
    Two requests for the same new address answered at once by two workers: the second to
    commit meets the first's reader (IntegrityError) and is answered once more, as a known
    address."""
    answer = ANSWERS.get(str(payload.get("request")))
    fields = payload.get("fields")
    if answer is None or not isinstance(fields, dict):
        raise UnknownRequest(f"not a request this worker answers: {payload.get('request')!r}")
    for last_try in (False, True):
        with sessions() as session:
            try:
                job = hold(session)
                answer(session, settings, fields)
                job.status, job.done_at = JobStatus.DONE, now
                job.claimed_by = job.last_error = None
                # What was asked for stays (the admin's list of mails shows it); who for does not.
                job.payload = {"request": payload["request"], "tags": {"kind": payload["request"]}}
                session.commit()
                return
            except IntegrityError:
                session.rollback()
                if last_try:
                    raise
