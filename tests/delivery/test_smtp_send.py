"""Sending an edition through a real SMTP server (aiosmtpd): the worker's path with
MAIL_TRANSPORT=smtp, and what the deliveries say after a 421, a refused reader, a dropped
connection — each delivery in doubt only while its own message is under way."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from emails.transports.smtp import SmtpBatch, SmtpOptions
from tests.conftest import app_config
from tests.delivery.conftest import delivery_statuses, make_engine, refresh, start_july
from tests.mailbox import answer_forms, run_jobs, subscribe
from tests.support.smtp_server import RecordingHandler, smtp_server
from webapp import create_app
from webapp.config import Settings, settings_of
from webapp.db import database
from webapp.delivery import runner
from webapp.models import (
    BackgroundJob,
    Delivery,
    DeliveryStatus,
    Edition,
    EditionStatus,
    JobStatus,
    Subscriber,
)


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def port(handler: RecordingHandler) -> Iterator[int]:
    with smtp_server(handler) as controller:
        yield controller.port


@pytest.fixture
def smtp_settings(app: Flask, port: int) -> Settings:
    return replace(settings_of(app), mail_transport="smtp", smtp_host="127.0.0.1",
                   smtp_port=port, smtp_tls="off", smtp_max_send_rate=1000.0)


def engine_for(app: Flask, port: int) -> Any:
    options = SmtpOptions("127.0.0.1", port, tls="off", timeout=5)
    return make_engine(app, SmtpBatch(options, 1000.0), chunk=5)  # type: ignore[arg-type]


def by_address(session: Session) -> dict[str, Delivery]:
    rows = refresh(session).execute(
        select(Subscriber.email, Delivery).join(Delivery, Delivery.subscriber_id == Subscriber.id)
    ).tuples()
    return {email: delivery for email, delivery in rows}


@pytest.mark.postgres
@pytest.mark.usefixtures("approved", "readers")
def test_the_worker_sends_a_whole_edition_through_smtp_with_its_headers_intact(
    app: Flask, session: Session, handler: RecordingHandler, smtp_settings: Settings
) -> None:
    edition = start_july(session)

    assert runner.run_pending(smtp_settings, database(app).sessionmaker,
                              threading.Event()) == 1

    assert delivery_statuses(session) == Counter({"sent": 10})
    assert refresh(session).get(Edition, edition.id).status == EditionStatus.SENT  # type: ignore[union-attr]
    assert Counter(handler.recipients()) == Counter({a: 1 for a in by_address(session)})
    deliveries = by_address(session)
    for received in handler.messages:
        mail = received.parsed()
        [address] = received.rcpt_tos
        assert mail["Message-ID"] == f"<{deliveries[address].message_id}>"
        raw_lines = received.data.split(b"\r\n")
        [unsubscribe] = [line for line in raw_lines if line.startswith(b"List-Unsubscribe:")]
        assert unsubscribe.startswith(b"List-Unsubscribe: <https://news.example.com/u/")
        assert unsubscribe.endswith(b">")  # one line, never folded or encoded
        assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw_lines
        assert mail.get_content_type() == "multipart/alternative"
        parts = [part.get_content_type() for part in mail.iter_parts()]
        assert parts == ["text/plain", "text/html"]
        html = mail.get_body(("html",))
        assert isinstance(html, EmailMessage) and "/u/" in html.get_content()


@pytest.mark.postgres
@pytest.mark.usefixtures("approved", "readers")
def test_a_421_mid_batch_is_retried_and_every_reader_gets_the_edition_once(
    app: Flask, session: Session, handler: RecordingHandler, port: int
) -> None:
    handler.mail_replies[3] = "421 4.7.0 Try again later, closing connection"
    edition = start_july(session)

    result = engine_for(app, port).run(edition.id)

    assert result.finished and result.retried >= 1
    assert delivery_statuses(session) == Counter({"sent": 10})
    assert sorted(handler.recipients()) == sorted(by_address(session))  # none twice


@pytest.mark.usefixtures("approved", "readers")
def test_a_reader_refused_with_550_fails_with_the_reply_and_the_others_are_sent(
    app: Flask, session: Session, handler: RecordingHandler, port: int
) -> None:
    edition = start_july(session)
    refused = sorted(by_address(session))[3]
    handler.rcpt_replies[refused] = "550 5.1.1 mailbox unavailable"

    result = engine_for(app, port).run(edition.id)

    assert result.finished and result.failed == 1
    deliveries = by_address(session)
    assert deliveries[refused].status == DeliveryStatus.FAILED
    assert deliveries[refused].error == (
        "MESSAGE_REJECTED: SMTP RCPT TO 550: 5.1.1 mailbox unavailable")
    assert delivery_statuses(session) == Counter({"sent": 9, "failed": 1})
    assert refused not in handler.recipients()


@pytest.mark.usefixtures("approved", "readers")
def test_a_connection_dropped_after_a_message_leaves_that_one_in_doubt_and_the_rest_sent(
    app: Flask, session: Session, handler: RecordingHandler, port: int
) -> None:
    handler.drop_after_data.add(2)
    edition = start_july(session)

    result = engine_for(app, port).run(edition.id)

    assert result.in_doubt == 1
    assert delivery_statuses(session) == Counter({"sent": 9, "in_doubt": 1})
    [doubtful] = [d for d in by_address(session).values() if d.status == DeliveryStatus.IN_DOUBT]
    assert "no answer from the SMTP server" in (doubtful.error or "")
    assert Counter(handler.recipients()) == Counter({a: 1 for a in by_address(session)})


@pytest.mark.postgres
@pytest.mark.usefixtures("approved", "readers")
def test_while_a_message_is_under_way_only_it_is_in_doubt(
    app: Flask, session: Session, handler: RecordingHandler, port: int
) -> None:
    """What a crash at the moment the server has the message but has not answered would
    leave: the earlier readers recorded sent, this one in doubt, the later ones only claimed
    (handed back to the queue when the dead worker's claims are)."""
    edition = start_july(session)
    url = database(app).engine.url
    seen: list[Counter[str]] = []
    original = handler.handle_DATA

    async def look_then_accept(server: Any, session_: Any, envelope: Any) -> str:
        if handler.datas == 2:  # the third message's DATA
            other = create_engine(url)
            with other.connect() as connection:
                rows = connection.execute(
                    select(Delivery.status).where(Delivery.edition_id == edition.id)
                ).scalars()
                seen.append(Counter(row.value for row in rows))
            other.dispose()
        return await original(server, session_, envelope)

    handler.handle_DATA = look_then_accept  # type: ignore[method-assign]
    one_at_a_time = SmtpBatch(SmtpOptions("127.0.0.1", port, tls="off", timeout=5), 1000.0)
    engine = make_engine(app, one_at_a_time, chunk=5)  # type: ignore[arg-type]
    engine.config.concurrency = 1

    engine.run(edition.id)

    # The rest of the chunk only claimed; the next batch may be claimed already too (it is
    # prepared while a batch's calls are out): both go back to the queue after a crash.
    [statuses] = seen
    assert (statuses["sent"], statuses["in_doubt"]) == (2, 1)
    assert statuses["sending"] + statuses["queued"] == 7 and statuses["sending"] >= 2


# --- system mails -------------------------------------------------------------------------------


@pytest.fixture
def smtp_app(database_url: str, tmp_path: Path, port: int) -> Iterator[Flask]:
    application = create_app(app_config(
        database_url, tmp_path, MAIL_TRANSPORT="smtp", SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(port), SMTP_TLS="off",
    ))
    yield application
    database(application).engine.dispose()


def test_a_confirmation_goes_out_through_smtp_when_it_is_configured(
    smtp_app: Flask, handler: RecordingHandler
) -> None:
    client = smtp_app.test_client()
    subscribe(client, "ann@example.com")
    assert answer_forms(smtp_app) == 1

    assert run_jobs(smtp_app).done == 1

    [received] = handler.messages
    assert received.rcpt_tos == ("ann@example.com",)
    text = received.parsed().get_body(("plain",))
    assert isinstance(text, EmailMessage) and "/confirm/" in text.get_content()
    assert not list(Path(settings_of(smtp_app).outbox_dir).glob("*.eml"))


def test_a_system_mail_the_server_refuses_for_good_is_not_tried_again(
    smtp_app: Flask, handler: RecordingHandler
) -> None:
    handler.rcpt_replies["ann@example.com"] = "550 5.1.1 no such mailbox"
    subscribe(smtp_app.test_client(), "ann@example.com")
    answer_forms(smtp_app)

    assert run_jobs(smtp_app).failed == 1

    with database(smtp_app).sessionmaker() as session:
        [job] = [j for j in session.scalars(select(BackgroundJob)) if j.payload
                 and j.payload.get("to") == "ann@example.com"]
        assert job.status == JobStatus.FAILED
        assert "550" in (job.last_error or "")
    assert handler.messages == []


def test_the_smtp_engine_is_paced_to_smtp_max_send_rate_over_a_few_connections(
    app: Flask, smtp_settings: Settings
) -> None:
    sessions = database(app).sessionmaker
    slow = runner.build_engine(replace(smtp_settings, smtp_max_send_rate=10.0), sessions)
    assert isinstance(slow.transport, SmtpBatch)
    assert (slow.config.rate, slow.config.chunk_size) == (10.0, 5)  # half a second's worth
    fast = runner.build_engine(replace(smtp_settings, smtp_max_send_rate=500.0), sessions)
    assert fast.config.chunk_size == SmtpBatch.max_batch
    assert fast.config.concurrency == runner.SMTP_MAX_CONNECTIONS


@pytest.mark.usefixtures("approved", "readers")
def test_a_server_refusing_our_sender_pauses_the_send_and_loses_nobody(
    app: Flask, session: Session, handler: RecordingHandler, port: int
) -> None:
    for number in range(1, 11):  # every batch already on its way is refused alike
        handler.mail_replies[number] = "553 5.7.1 sender address not allowed"
    edition = start_july(session)

    result = engine_for(app, port).run(edition.id)

    assert result.paused_reason is not None and "553" in result.paused_reason
    paused = refresh(session).get(Edition, edition.id)
    assert paused is not None and paused.status == EditionStatus.PAUSED
    assert delivery_statuses(session) == Counter({"queued": 10})
    assert handler.messages == []
