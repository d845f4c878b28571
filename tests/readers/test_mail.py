"""System mails to readers: built in the reader's language, queued with the change, sent by the
worker, failures logged and retried."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from emails import Message, SendResult
from tests.factories import Factories
from tests.mailbox import outbox, run_jobs
from webapp.config import Settings, settings_of
from webapp.models import BackgroundJob, JobStatus
from webapp.readers.mail import confirm_url, preferences_mail, queued, reader_mail

SITE = "https://news.example.com"


@pytest.fixture
def settings(app: Flask) -> Settings:
    return settings_of(app)


def test_a_confirmation_link_lies_under_the_sites_address(settings: Settings) -> None:
    assert confirm_url(settings, "1.abc.def") == f"{SITE}/confirm/1.abc.def"


def test_a_mail_greets_the_reader_in_their_language_and_carries_the_link(
    settings: Settings, factories: Factories
) -> None:
    ann = factories.subscriber(email="Ann@example.com", name="Ann", language="en")
    lin = factories.subscriber(email="lin@example.com", language="zh-CN")

    english = reader_mail(settings, "confirm", ann, f"{SITE}/confirm/x")
    chinese = reader_mail(settings, "confirm", lin, f"{SITE}/confirm/y")

    assert english.to == "Ann@example.com" and chinese.to == "lin@example.com"
    assert english.subject.startswith("Please confirm")
    assert chinese.subject.startswith("请确认订阅")
    assert "Dear Ann," in english.text and f"{SITE}/confirm/x" in english.text
    assert f"{SITE}/confirm/y" in chinese.text
    assert english.tags == {"kind": "confirm"}


def test_a_welcome_lets_the_reader_unsubscribe_with_their_own_token(
    settings: Settings, factories: Factories
) -> None:
    reader = factories.subscriber(language="en")
    message = reader_mail(settings, "welcome", reader, f"{SITE}/p/{reader.token}")
    assert f"{SITE}/u/{reader.token}" in message.headers["List-Unsubscribe"]
    assert f"{SITE}/u/{reader.token}" in message.text


def test_an_address_change_is_confirmed_at_the_new_address(
    settings: Settings, factories: Factories
) -> None:
    reader = factories.subscriber(email="old@example.com")
    message = reader_mail(settings, "email_change", reader, f"{SITE}/confirm/z", to="new@ex.com")
    assert message.to == "new@ex.com"


def test_a_reader_without_an_address_cannot_be_written_to(
    settings: Settings, factories: Factories
) -> None:
    reader = factories.subscriber()
    reader.email = None  # as erasure leaves them
    with pytest.raises(ValueError):
        reader_mail(settings, "welcome", reader, f"{SITE}/p/{reader.token}")


def test_the_preferences_mail_links_to_the_readers_page_and_their_unsubscribe(
    settings: Settings, factories: Factories
) -> None:
    reader = factories.subscriber(email="ann@example.com", language="en")
    message = preferences_mail(settings, reader)
    assert message.to == "ann@example.com"
    assert message.tags == {"kind": "preferences_link"}
    assert message.subject.startswith("Your preferences link")
    assert f"{SITE}/p/{reader.token}" in message.text
    assert f"{SITE}/u/{reader.token}" in message.headers["List-Unsubscribe"]


def test_mails_go_out_through_the_configured_transport(
    app: Flask, settings: Settings, factories: Factories, session: Session
) -> None:
    ann = factories.subscriber(email="ann@example.com")
    bob = factories.subscriber(email="bob@example.com")
    for reader in (ann, bob):
        queued(session, reader, [preferences_mail(settings, reader)])
    session.commit()
    assert run_jobs(app).done == 2
    assert sorted(m["To"] for m in outbox(app)) == ["ann@example.com", "bob@example.com"]


def test_nothing_to_send_needs_no_transport(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(config: Settings) -> None:
        raise AssertionError("a transport was opened for no mail")

    monkeypatch.setattr("webapp.delivery.jobs.transport", unreachable)
    assert run_jobs(app).worked == 0


class _Refusing:
    """A transport that cannot reach one address."""

    def __init__(self, unreachable: str) -> None:
        self.unreachable = unreachable
        self.delivered: list[str] = []

    def send(self, message: Message) -> SendResult:
        if message.to == self.unreachable:
            raise ConnectionError("SES unreachable")
        self.delivered.append(message.to)
        return SendResult(message_id=f"id-{len(self.delivered)}")


def test_a_mail_that_fails_is_logged_and_retried_and_the_rest_still_go(
    app: Flask,
    settings: Settings,
    factories: Factories,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    readers = [factories.subscriber(email=f"{n}@example.com") for n in ("ann", "bob", "cat")]
    for reader in readers:
        queued(session, reader, [preferences_mail(settings, reader)])
    session.commit()
    refusing = _Refusing("bob@example.com")
    monkeypatch.setattr("webapp.delivery.jobs.transport", lambda config: refusing)

    with caplog.at_level(logging.WARNING, logger="webapp.delivery.jobs"):
        run = run_jobs(app)

    assert (run.done, run.retried) == (2, 1)
    assert refusing.delivered == ["ann@example.com", "cat@example.com"]
    [logged] = caplog.records
    assert "background job failed" in logged.getMessage() and logged.exc_info is not None
    session.expire_all()
    [waiting] = session.scalars(select(BackgroundJob).where(
        BackgroundJob.status == JobStatus.PENDING))
    assert waiting.subscriber_id == readers[1].id
    assert waiting.last_error == "ConnectionError: SES unreachable"
