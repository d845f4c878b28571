"""The SES path end to end: the real engine, boto3, and the local SES simulator."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from emails import Recipient, compile_variant
from emails.fill import fill
from tests.conftest import app_config
from tests.delivery.conftest import delivery_statuses
from tests.factories import Factories
from tests.tools.ses_simulator import RequestRecord, SesSimulator, SimulatorConfig
from webapp import create_app
from webapp.config import settings_of
from webapp.db import database
from webapp.delivery import sending
from webapp.delivery.runner import build_engine
from webapp.mailer import edition_content, links, mail_settings
from webapp.models import Delivery, DeliveryStatus, Edition, EditionStatus, Subscriber

pytestmark = pytest.mark.servers  # starts servers or processes: not under libfaketime

TOPIC_SETS = [
    ["ai"], ["data"], ["ai", "data"], ["investment"], ["fintech", "ai"], ["data", "investment"]
]


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")


@pytest.fixture
def simulator() -> Iterator[Callable[..., SesSimulator]]:
    started: list[SesSimulator] = []

    def make(**options: Any) -> SesSimulator:
        defaults: dict[str, Any] = {"max_send_rate": 2000, "max_24_hour_send": 1_000_000}
        sim = SesSimulator(SimulatorConfig(**{**defaults, **options})).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def ses_app(database_url: str, tmp_path: Path, sim: SesSimulator, **extra: Any) -> Flask:
    return create_app(
        app_config(
            database_url,
            tmp_path,
            MAIL_TRANSPORT="ses",
            SES_ENDPOINT_URL=sim.endpoint_url,
            SES_REGION="us-east-1",
            SES_CONFIGURATION_SET="yuebao",
            **extra,
        )
    )


def start_july(app: Flask) -> int:
    with database(app).sessionmaker() as session:
        edition = sending.load_edition(session, "2024-07")
        sending.start_send(session, edition, actor="test")
        session.commit()
        return edition.id


def _run(app: Flask, edition_id: int) -> Any:
    engine = build_engine(settings_of(app), database(app).sessionmaker)
    engine.config.backoff_base = 0.01
    engine.config.backoff_max = 0.05
    return engine.run(edition_id)


@pytest.mark.postgres
@pytest.mark.usefixtures("approved")
def test_a_few_thousand_readers_each_get_their_variant_exactly_once(
    database_url: str, tmp_path: Path, session: Session, factories: Factories,
    simulator: Callable[..., SesSimulator],
) -> None:
    sim = simulator(record_mode="full")
    factories.many_subscribers(2500, TOPIC_SETS)
    app = ses_app(database_url, tmp_path, sim)
    edition_id = start_july(app)
    result = _run(app, edition_id)
    assert result.finished and result.failed == 0

    deliveries = {d.subscriber_id: d for d in session.scalars(select(Delivery))}
    readers = {s.id: s for s in session.scalars(select(Subscriber))}
    assert len(deliveries) == 2500
    received = Counter(m.recipient for m in sim.messages)
    assert len(received) == 2500 and set(received.values()) == {1}
    by_address = {m.recipient: m for m in sim.messages}
    items = {"AI policy": {"ai"}, "Data policy": {"data"}, "Fintech news": {"fintech", "ai"},
             "A deal": {"investment"}}
    for subscriber_id, delivery in list(deliveries.items())[::97]:
        reader = readers[subscriber_id]
        message = by_address[reader.email or ""]
        assert delivery.status == DeliveryStatus.SENT
        assert delivery.message_id == message.message_id
        mine = {t.slug for t in reader.topics}
        for title, carried in items.items():
            assert (title in (message.html or "")) == bool(carried & mine), (title, mine)
        assert message.header("List-Unsubscribe") == f"<https://news.example.com/u/{reader.token}>"
        assert message.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
        assert message.tags["delivery"] == str(delivery.id)
        assert message.configuration_set == "yuebao"
        assert f"/c/{delivery.token}/" in (message.html or "")
        assert ("Dear" in (message.text or "")) == (reader.language == "en")
    session.expire_all()
    edition = session.get(Edition, edition_id)
    assert edition is not None and edition.status == EditionStatus.SENT


@pytest.mark.usefixtures("approved")
def test_throttling_storms_and_server_errors_lose_and_fail_nobody(
    database_url: str, tmp_path: Path, session: Session, factories: Factories,
    simulator: Callable[..., SesSimulator],
) -> None:
    sim = simulator(max_send_rate=100)
    factories.many_subscribers(300, TOPIC_SETS)
    # Paced as if SES allowed 400/s: the simulator answers "Maximum sending rate exceeded."
    app = ses_app(database_url, tmp_path, sim, SES_MAX_SEND_RATE=400.0)
    sim.faults.fail_next(3, status=503, operation="SendBulkEmail")
    result = _run(app, start_july(app))
    assert result.finished and result.failed == 0 and result.retried > 0
    assert delivery_statuses(session) == Counter({"sent": 300})
    assert Counter(m.recipient for m in sim.messages).most_common(1)[0][1] == 1
    throttled = [r for r in sim.requests if getattr(r, "status", 200) == 429]
    assert throttled, "the storm did happen"


@pytest.mark.usefixtures("approved")
def test_rejections_fail_one_reader_and_the_send_goes_on(
    database_url: str, tmp_path: Path, session: Session, factories: Factories,
    simulator: Callable[..., SesSimulator],
) -> None:
    sim = simulator()
    factories.many_subscribers(40, TOPIC_SETS)
    sim.faults.force_bulk_status(["bulk3@example.com"], "MESSAGE_REJECTED", error="virus")
    sim.faults.force_bulk_status(["bulk4@example.com"], "TRANSIENT_FAILURE", attempts=2)
    app = ses_app(database_url, tmp_path, sim)
    assert _run(app, start_july(app)).finished
    rows = {d.subscriber.email: d for d in session.scalars(select(Delivery))}
    assert rows["bulk3@example.com"].status == DeliveryStatus.FAILED
    assert "virus" in (rows["bulk3@example.com"].error or "")
    assert rows["bulk4@example.com"].status == DeliveryStatus.SENT
    assert delivery_statuses(session) == Counter({"sent": 39, "failed": 1})


@pytest.mark.usefixtures("approved")
def test_account_pause_pauses_the_edition_and_resume_finishes_it(
    database_url: str, tmp_path: Path, session: Session, factories: Factories,
    simulator: Callable[..., SesSimulator],
) -> None:
    sim = simulator()
    factories.many_subscribers(60, TOPIC_SETS)
    app = ses_app(database_url, tmp_path, sim)
    edition_id = start_july(app)
    sim.faults.pause_sending(True)
    result = _run(app, edition_id)
    assert result.paused_reason and "PAUSED" in result.paused_reason.upper()
    session.expire_all()
    edition = session.get(Edition, edition_id)
    assert edition is not None and edition.status == EditionStatus.PAUSED
    assert delivery_statuses(session)["failed"] == 0

    sim.faults.pause_sending(False)
    sending.resume(session, edition, actor="editor")
    session.commit()
    assert _run(app, edition_id).finished
    assert delivery_statuses(session) == Counter({"sent": 60})
    assert len({m.recipient for m in sim.messages}) == 60 == len(sim.messages)


@pytest.mark.usefixtures("approved")
def test_a_lost_answer_is_never_resent(
    database_url: str, tmp_path: Path, session: Session, factories: Factories,
    simulator: Callable[..., SesSimulator],
) -> None:
    sim = simulator()
    factories.many_subscribers(20, TOPIC_SETS)
    # SES takes the first call but the answer never arrives.
    sim.faults.timeout_next(1, seconds=3, process=True, operation="SendBulkEmail")
    app = ses_app(database_url, tmp_path, sim)
    engine = build_engine(settings_of(app), database(app).sessionmaker)
    engine.transport.client.meta.config.read_timeout = 0.5  # type: ignore[attr-defined]
    result = engine.run(start_july(app))
    counts = delivery_statuses(session)
    assert counts["in_doubt"] == result.in_doubt > 0
    assert counts["sent"] + counts["in_doubt"] == 20
    assert Counter(m.recipient for m in sim.messages).most_common(1)[0][1] == 1


@pytest.mark.usefixtures("approved")
def test_an_editors_braces_reach_ses_readers_literally(
    database_url: str, tmp_path: Path, factories: Factories,
    simulator: Callable[..., SesSimulator],
) -> None:
    sim = simulator()
    factories.subscriber(topics=["ai"], name="{{t_greeting}}", email="curly@example.com")
    app = ses_app(database_url, tmp_path, sim)
    assert _run(app, start_july(app)).finished
    (message,) = sim.messages
    assert "Say {{name}} and {{{x}}}." in (message.text or "")
    assert "Say {{name}} and {{{x}}}." in (message.html or "")
    assert "{{t_greeting}}" in (message.text or "")


def test_system_mail_through_moto(tmp_path: Path) -> None:
    from moto import mock_aws

    from emails import make_transport, render_system_mail
    from webapp.mailer import mail_settings

    with mock_aws():
        import boto3

        boto3.client("ses", region_name="us-east-1").verify_email_identity(
            EmailAddress="newsletter@localhost"
        )
        app = create_app(app_config("sqlite://", tmp_path, MAIL_TRANSPORT="ses"))
        message = render_system_mail(
            "confirm", "zh-CN", {"to": "reader@example.com", "action_url": "https://x/confirm/1"},
            settings=mail_settings(settings_of(app)),
        )
        result = make_transport("ses", region="us-east-1").send(message)
        assert result.message_id
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.ses.models import ses_backends

        sent = ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages
        assert [m.destinations["ToAddresses"] for m in sent] == [["reader@example.com"]]
    assert json.dumps(result.message_id)


@pytest.mark.usefixtures("approved")
def test_each_reader_gets_exactly_the_message_filled_for_them_through_bulk_templates(
    database_url: str, tmp_path: Path, factories: Factories,
    simulator: Callable[..., SesSimulator],
) -> None:
    """Text slots equal to their HTML value for every reader of a call are sent once; a
    greeting that escaping changes, and an untracked reader's plain item links, are not.
    Tracked and untracked readers go in calls of their own, each carrying only tokens."""
    sim = simulator(record_mode="full")
    factories.subscriber(topics=["ai"], name="Tom & Jerry", email="both@example.com")
    factories.subscriber(topics=["ai"], name="Plain", email="plain@example.com")
    factories.subscriber(topics=["ai"], name="Quiet", email="quiet@example.com", tracking=False)
    app = ses_app(database_url, tmp_path, sim)
    assert _run(app, start_july(app)).finished
    assert len(sim.messages) == 3
    calls = [json.loads(r.body) for r in sim.requests
             if isinstance(r, RequestRecord) and r.operation == "SendBulkEmail"]
    assert sorted(len(call["BulkEmailEntries"]) for call in calls) == [1, 2]
    for call in calls:
        for entry in call["BulkEmailEntries"]:
            data = entry["ReplacementEmailContent"]["ReplacementTemplate"]
            assert "dlv" in json.loads(data["ReplacementTemplateData"])
    with app.app_context(), database(app).sessionmaker() as session:
        edition = sending.load_edition(session, "2024-07")
        content = edition_content(edition)
        for message in sim.messages:
            reader = session.scalars(
                select(Subscriber).where(Subscriber.email == message.recipient)
            ).one()
            delivery = session.scalars(
                select(Delivery).where(Delivery.subscriber_id == reader.id)
            ).one()
            assert reader.email is not None
            variant = compile_variant(content, ["ai"], reader.language,
                                      settings=mail_settings(settings_of(app)))
            expected = fill(variant, Recipient(
                email=reader.email, name=reader.name, subscriber_token=reader.token,
                delivery_token=delivery.token, language=reader.language,
                tracking=reader.tracking,
            ), links(settings_of(app)))
            assert message.text == expected.text, message.recipient
            assert message.html == expected.html, message.recipient


@pytest.mark.usefixtures("approved")
def test_a_reader_who_changes_language_after_the_plan_gets_the_planned_message(
    database_url: str, tmp_path: Path, session: Session, factories: Factories,
    simulator: Callable[..., SesSimulator],
) -> None:
    """The plan fixed each reader's variant (language and topics); a change made on the
    preferences page mid-send applies from the next edition and never stops the send."""
    sim = simulator()
    reader = factories.subscriber(topics=["ai"], language="zh-CN", email="switch@example.com")
    factories.subscriber(topics=["ai"], language="zh-CN", email="stays@example.com")
    app = ses_app(database_url, tmp_path, sim)
    edition_id = start_july(app)
    reader.language = "en"
    session.commit()
    result = _run(app, edition_id)
    assert result.finished and result.failed == 0
    assert delivery_statuses(session) == Counter({"sent": 2})
    (message,) = sim.messages_to("switch@example.com")
    assert "Dear" not in (message.text or "")  # the zh-CN variant it was planned with
