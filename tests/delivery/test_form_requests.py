"""The public forms that may mail someone do the same work for every address: they write the
request and the worker answers it. How long a form takes must not tell a stranger whether an
address has a subscription or an account."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from tests.mailbox import BROWSER, SIGNUP, outbox, run_jobs
from webapp.config import settings_of
from webapp.db import database
from webapp.delivery.jobs import JobRunner
from webapp.mailer import queue_request
from webapp.models import (
    BackgroundJob,
    ConsentRecord,
    JobStatus,
    SubscriberStatus,
    Suppression,
)

WRITES = ("INSERT", "UPDATE", "DELETE")


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """The SQL the app sends to the database meanwhile (text only: parameters differ)."""
    seen: list[str] = []
    engine = database(app).engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def no_mail_in_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("the web process renders no mail")

    monkeypatch.setattr("emails.render_system_mail", refuse)
    for module in ("webapp.readers.mail", "webapp.accounts.password_reset"):
        monkeypatch.setattr(f"{module}.render_system_mail", refuse)
    monkeypatch.setattr("webapp.mailer.make_transport", refuse)


Post = Callable[[FlaskClient, str], Any]


def _subscribe(client: FlaskClient, address: str) -> Any:
    return client.post("/", data={"email": address, **SIGNUP}, headers=BROWSER)


def _link(client: FlaskClient, address: str) -> Any:
    return client.post("/preferences/link", data={"email": address})


def _reset(client: FlaskClient, address: str) -> Any:
    return client.post("/password-reset", data={"email": address})


@pytest.fixture
def people(factories: Factories, session: Session) -> dict[str, str]:
    """An address of each kind a stranger might try, by what it is."""
    factories.subscriber(email="active@example.com", topics=["ai"])
    factories.subscriber(email="pending@example.com", status=SubscriberStatus.PENDING)
    factories.subscriber(email="gone@example.com", status=SubscriberStatus.UNSUBSCRIBED)
    factories.subscriber(email="bounced@example.com", status=SubscriberStatus.BOUNCED)
    session.add(Suppression(email_key="bounced@example.com", reason="bounce", source="ses"))
    factories.user(email="editor@example.com")
    factories.user(email="former@example.com", active=False)
    session.commit()
    return {
        "active reader": "active@example.com",
        "pending reader": "pending@example.com",
        "unsubscribed reader": "gone@example.com",
        "suppressed address": "bounced@example.com",
        "console user": "editor@example.com",
        "deactivated user": "former@example.com",
    }


@pytest.mark.postgres
@pytest.mark.parametrize("post", [_subscribe, _link, _reset], ids=["subscribe", "link", "reset"])
def test_a_form_does_the_same_database_work_for_every_address(
    app: Flask,
    client: FlaskClient,
    people: dict[str, str],
    post: Post,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    no_mail_in_the_request(monkeypatch)
    warm_up = post(client, "warm-up@example.net")  # first-request work
    answer = (warm_up.status_code, warm_up.headers.get("Location"))
    assert answer[0] in (200, 303)
    work = {}
    for what, address in {"unknown": "nobody@example.net", **people}.items():
        with statements(app) as seen:
            response = post(client, address)
        assert (response.status_code, response.headers.get("Location")) == answer, what
        work[what] = seen
    assert all(seen == work["unknown"] for seen in work.values()), work
    # One row written, the request; nothing looked up about the address.
    writes = [s for s in work["unknown"] if s.startswith(WRITES)]
    assert len(writes) == 1 and writes[0].startswith("INSERT INTO background_jobs"), writes
    assert not [s for s in work["unknown"] if " subscribers" in s or " users" in s]


@pytest.mark.postgres
def test_a_new_address_on_the_preferences_page_is_the_same_work_whoever_has_it(
    app: Flask,
    client: FlaskClient,
    people: dict[str, str],
    factories: Factories,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = factories.subscriber(email="mover@example.com", topics=["ai"])
    session.commit()
    no_mail_in_the_request(monkeypatch)
    work = {}
    for what, address in {"unknown": "nobody@example.net", **people}.items():
        with statements(app) as seen:
            response = client.post(f"/p/{reader.token}/email", data={"email": address})
        assert response.status_code == 303, what
        work[what] = [s for s in seen if s.startswith(WRITES)]
    assert all(seen == work["unknown"] for seen in work.values()), work
    assert len(work["unknown"]) == 1
    assert work["unknown"][0].startswith("INSERT INTO background_jobs")
    session.refresh(reader)
    assert reader.new_email is None  # the worker sets it when it answers


@pytest.mark.postgres
def test_the_worker_answers_each_form_as_the_address_calls_for(
    app: Flask, client: FlaskClient, people: dict[str, str]
) -> None:
    for address in (*people.values(), "nobody@example.net"):
        _link(client, address)
        _reset(client, address)
    # The preferences link to the readers with a subscription to manage, the reset to the
    # active user; nothing to a suppressed address, a deactivated user or a stranger (nor to
    # this pending reader, who has no subscribe request on record to confirm).
    sent = sorted(m["To"] for m in outbox(app))
    assert sent == ["active@example.com", "editor@example.com", "gone@example.com"]


def test_consent_is_dated_when_the_reader_asked_not_when_the_worker_answered(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    asked = datetime(2031, 3, 4, 5, 6, 7, tzinfo=UTC)
    with time_machine.travel(asked, tick=False):
        assert _subscribe(client, "late@example.com").status_code == 303
    with time_machine.travel(asked + timedelta(hours=2), tick=False):
        run_jobs(app)
    mail = select(BackgroundJob).where(BackgroundJob.subscriber_id.is_not(None))
    [job] = session.scalars(mail)
    assert job.created_at == asked + timedelta(hours=2)  # the mail itself: when it was queued
    [consent] = session.scalars(select(ConsentRecord))
    assert consent.created_at == asked
    assert (consent.ip, consent.user_agent) == ("127.0.0.1", BROWSER["User-Agent"])


def test_a_request_this_worker_cannot_answer_is_given_up(
    app: Flask, session: Session
) -> None:
    queue_request(session, "subscribe", {"email": "x@example.com"})  # no topics, no origin
    queue_request(session, "no-such-form", {"email": "x@example.com"})
    session.commit()
    runner = JobRunner(settings_of(app), database(app).sessionmaker, worker="w")
    assert runner.run_once().failed == 2
    jobs = list(session.scalars(select(BackgroundJob)))
    assert [j.status for j in jobs] == [JobStatus.FAILED, JobStatus.FAILED]
    assert all(j.last_error and j.last_error.startswith("unusable request") for j in jobs)
