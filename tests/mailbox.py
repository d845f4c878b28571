"""Reading what the outbox transport wrote: messages, and the links readers would follow."""

from __future__ import annotations

import email
import re
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from webapp.config import settings_of
from webapp.db import database
from webapp.delivery.form_requests import answer_request
from webapp.delivery.jobs import JobRunner, JobsRun
from webapp.mailer import is_request
from webapp.models import BackgroundJob, JobStatus, utcnow

SIGNUP: dict[str, Any] = {"topics": ["ai", "data"], "language": "zh-CN", "consent": "y"}
BROWSER = {"User-Agent": "Mozilla/5.0 (Reader test)"}


def run_jobs(app: Flask) -> JobsRun:
    """What the worker would do now: every due background job (system mails, redactions)."""
    runner = JobRunner(settings_of(app), database(app).sessionmaker, worker="test-worker")
    total = JobsRun()
    while (run := runner.run_once()).worked:
        total.done += run.done
        total.retried += run.retried
        total.failed += run.failed
        total.paused += run.paused
    return total


def outbox(app: Flask, *, drain: bool = True) -> list[EmailMessage]:
    """Every message written so far, oldest first, once the worker has sent what was queued
    (unless `drain` is False: what the web process alone left there)."""
    if drain:
        run_jobs(app)
    directory = Path(settings_of(app).outbox_dir)
    paths = sorted(directory.glob("*.eml")) if directory.is_dir() else []
    return [
        email.message_from_bytes(path.read_bytes(), policy=policy.default)  # type: ignore[misc]
        for path in paths
    ]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def link_in(message: EmailMessage, prefix: str) -> str:
    """The path of the first link under `prefix` (e.g. "/confirm/") in the text part."""
    found = re.search(r"https?://[^/\s]+(" + re.escape(prefix) + r"[^\s]+)", text_of(message))
    assert found, f"no {prefix} link in: {text_of(message)[:300]}"
    return found.group(1)


def subscribe(
    client: FlaskClient, address: str, **fields: Any
) -> TestResponse:
    """The subscribe form, and the page its redirect leads to (Post/Redirect/Get)."""
    return client.post(
        "/", data={"email": address, **SIGNUP, **fields}, headers=BROWSER, follow_redirects=True
    )


def answer_forms(app: Flask) -> int:
    """The worker's first step after a form: answer its request (which queues the mail it
    calls for, if any) and send nothing yet. Returns the requests answered."""
    sessions = database(app).sessionmaker
    with sessions() as session:
        waiting = [
            (job.id, job.payload)
            for job in session.scalars(
                select(BackgroundJob).where(BackgroundJob.status == JobStatus.PENDING)
            )
            if is_request(job.payload) and job.payload and "fields" in job.payload
        ]
    for job_id, payload in waiting:
        answer_request(
            sessions,
            settings_of(app),
            payload or {},
            lambda session, job_id=job_id: session.get_one(BackgroundJob, job_id),
            utcnow(),
        )
    return len(waiting)


def part_as_sent(raw: bytes, content_type: str) -> tuple[str, bytes]:
    """The Content-Transfer-Encoding and the body, as written, of the raw message's part of
    `content_type`: what a receiver such as Gmail measures (encoded, CRLF line ends)."""
    parsed = email.message_from_bytes(raw, policy=policy.default)
    boundary = parsed.get_boundary()
    assert boundary is not None
    for chunk in raw.split(b"\r\n--" + boundary.encode())[1:-1]:
        head, body = chunk.split(b"\r\n\r\n", 1)
        if f"Content-Type: {content_type};".encode() in head:
            encoding = re.search(rb"Content-Transfer-Encoding: (\S+)", head)
            assert encoding is not None
            return encoding.group(1).decode(), body
    raise AssertionError(f"no {content_type} part")
