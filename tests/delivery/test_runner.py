"""The runner: which engine a worker builds, what one pass over waiting sends does, and how a
send paused for SES's daily quota resumes only when a whole call fits (so it never flaps)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emails.transports.batch import SesBulkBatch, SingleMessageBatch
from emails.transports.ses import AccountQuota
from tests.conftest import app_config
from tests.delivery.conftest import refresh
from tests.factories import Factories
from tests.tools.ses_simulator import SesSimulator, SimulatorConfig
from webapp import create_app
from webapp.config import Settings, settings_of
from webapp.db import database
from webapp.delivery import runner, sending
from webapp.delivery.engine import MAX_CONCURRENCY, QUOTA_PAUSE_PREFIX
from webapp.delivery.heartbeat import Heartbeat, beat
from webapp.delivery.runner import resume_after_quota, run_pending
from webapp.models import (
    AuditEntry,
    Delivery,
    DeliveryStatus,
    Edition,
    EditionStatus,
    WorkerHeartbeat,
)

NOW = datetime(2024, 7, 20, 2, 0, tzinfo=UTC)


def _account(rate: float = 14.0, sent: float = 0.0, daily: float = 50_000.0) -> dict[str, Any]:
    """SES GetAccount's answer, as much of it as the runner reads."""
    return {"SendQuota": {"MaxSendRate": rate, "Max24HourSend": daily, "SentLast24Hours": sent},
            "SendingEnabled": True}


@pytest.fixture
def ses_settings(app: Flask) -> Settings:
    return replace(settings_of(app), mail_transport="ses", ses_region="us-east-1",
                   ses_endpoint_url="http://127.0.0.1:9", ses_max_send_rate=None)


@dataclass
class Ses:
    """SES as the runner's own client sees it: it answers only what a test queues up, and
    every call is recorded (the runner turns an unexpected one into "SES unavailable")."""

    stubber: Stubber
    calls: list[str] = field(default_factory=list)


@pytest.fixture
def ses(ses_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ses]:
    client = runner.ses_client(ses_settings)
    monkeypatch.setattr(runner, "ses_client", lambda _settings: client)
    fake = Ses(Stubber(client))

    def record(model: Any, **_kw: Any) -> None:
        fake.calls.append(model.name)

    # Emitted before the stubber's own check, which raises on a call nobody queued an answer for.
    client.meta.events.register("provide-client-params.sesv2", record)
    with fake.stubber:
        yield fake


def _statuses(session: Session, edition: Edition) -> list[DeliveryStatus]:
    stmt = select(Delivery.status).where(Delivery.edition_id == edition.id).order_by(Delivery.id)
    return list(refresh(session).scalars(stmt))


def _quota_paused(factories: Factories, month: str = "2024-07") -> Edition:
    edition = factories.edition(month, status=EditionStatus.PAUSED, send_started_at=NOW,
                                pause_reason=QUOTA_PAUSE_PREFIX + "Max24HourSend reached",
                                items={"policy": [{"topics": ["ai"]}]})
    factories.delivery(edition)
    return edition


# --- the engine a worker builds -------------------------------------------------------------


def test_a_worker_is_named_by_host_and_pid_which_its_heartbeat_reads_back(
    session: Session,
) -> None:
    name = runner.worker_name()
    beat(session, name, now=NOW)
    session.commit()
    assert name == f"{socket.gethostname()}:{os.getpid()}"
    row = session.get(WorkerHeartbeat, name)
    assert row is not None and (row.hostname, row.pid) == (socket.gethostname(), os.getpid())


def test_the_ses_client_never_retries_a_send_on_its_own(ses_settings: Settings) -> None:
    """A retried SendBulkEmail after a read timeout could reach readers twice."""
    client = runner.ses_client(replace(ses_settings, ses_region="eu-west-1"))
    assert (client.meta.region_name, client.meta.endpoint_url) == (
        "eu-west-1", "http://127.0.0.1:9"
    )
    config: Any = client.meta.config  # botocore-stubs declare none of its options
    assert config.retries == {"total_max_attempts": 1, "mode": "standard"}
    assert (config.connect_timeout, config.read_timeout) == (5, 30)
    assert config.max_pool_connections == MAX_CONCURRENCY


def test_the_outbox_engine_runs_at_the_outbox_rate_unless_one_is_set(app: Flask) -> None:
    settings, sessions = settings_of(app), database(app).sessionmaker
    engine = runner.build_engine(settings, sessions)
    assert isinstance(engine.transport, SingleMessageBatch)
    assert (engine.config.rate, engine.worker) == (runner.OUTBOX_RATE, runner.worker_name())
    assert engine.config.tracking is True

    slower = runner.build_engine(replace(settings, ses_max_send_rate=20.0, tracking=False),
                                 sessions, worker="host-a:1")
    assert (slower.config.rate, slower.worker, slower.config.tracking) == (20.0, "host-a:1", False)
    assert slower.config.chunk_size <= 10  # half a second's worth of the rate at most


def test_the_ses_engine_is_paced_to_the_accounts_sending_rate(
    ses_settings: Settings, app: Flask, ses: Ses
) -> None:
    for _ in range(4):  # three to measure the round trip, one for the quota
        ses.stubber.add_response("get_account", _account(rate=14.0))
    engine = runner.build_engine(ses_settings, database(app).sessionmaker)
    assert ses.calls == ["GetAccount"] * 4
    assert isinstance(engine.transport, SesBulkBatch)
    assert (engine.config.rate, engine.config.chunk_size) == (14.0, 7)


def test_a_configured_rate_wins_over_the_accounts(
    ses_settings: Settings, app: Flask, ses: Ses
) -> None:
    for _ in range(4):
        ses.stubber.add_response("get_account", _account(rate=14.0))
    engine = runner.build_engine(replace(ses_settings, ses_max_send_rate=6.0),
                                 database(app).sessionmaker)
    assert engine.config.rate == 6.0


def test_without_an_answer_from_ses_a_configured_rate_still_lets_the_send_go(
    ses_settings: Settings, app: Flask, ses: Ses
) -> None:
    ses.stubber.add_client_error("get_account", "AccessDeniedException", http_status_code=403)
    engine = runner.build_engine(replace(ses_settings, ses_max_send_rate=6.0),
                                 database(app).sessionmaker)
    assert engine.config.rate == 6.0

    ses.stubber.add_client_error("get_account", "AccessDeniedException", http_status_code=403)
    with pytest.raises(runner.EngineUnavailable, match="GetAccount failed"):
        runner.build_engine(ses_settings, database(app).sessionmaker)


# --- lifting SES's daily-quota pause --------------------------------------------------------


def test_quota_pauses_lift_once_ses_has_room_again_and_only_those(
    app: Flask, ses_settings: Settings, session: Session, factories: Factories, ses: Ses
) -> None:
    quota = _quota_paused(factories, "2024-07")
    by_editor = factories.edition("2024-08", status=EditionStatus.PAUSED, pause_reason=None)
    ses.stubber.add_response("get_account", _account(sent=49_000.0))

    assert runner.resume_after_quota(ses_settings, database(app).sessionmaker) == ["2024-07"]
    session.commit()

    refresh(session)
    assert (quota.status, quota.pause_reason) == (EditionStatus.SENDING, None)
    assert by_editor.status == EditionStatus.PAUSED
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "edition.resume"))
    assert [(a.actor, a.target) for a in audit] == [("system", "2024-07")]


def test_quota_pauses_stay_while_the_daily_quota_is_spent(
    app: Flask, ses_settings: Settings, session: Session, factories: Factories, ses: Ses
) -> None:
    edition = _quota_paused(factories)
    ses.stubber.add_response("get_account", _account(sent=50_000.0))
    assert runner.resume_after_quota(ses_settings, database(app).sessionmaker) == []
    session.commit()
    assert refresh(session).get(Edition, edition.id).status == EditionStatus.PAUSED  # type: ignore[union-attr]


def test_no_quota_to_wait_for_without_ses_or_without_a_quota_pause(
    app: Flask, ses_settings: Settings, session: Session, factories: Factories, ses: Ses
) -> None:
    assert runner.resume_after_quota(ses_settings, database(app).sessionmaker) == []
    edition = _quota_paused(factories)
    outbox = settings_of(app)  # the outbox has no quota
    assert runner.resume_after_quota(outbox, database(app).sessionmaker) == []
    assert refresh(session).get(Edition, edition.id).status == EditionStatus.PAUSED  # type: ignore[union-attr]
    assert ses.calls == []


# --- one pass over the sends that are waiting -----------------------------------------------


def test_a_pass_sends_every_edition_with_queued_deliveries_under_the_workers_name(
    app: Flask, session: Session, factories: Factories, sending_edition: Edition
) -> None:
    august = factories.edition("2024-08", status=EditionStatus.SENDING, send_started_at=NOW,
                               items={"policy": [{"topics": ["ai"]}]})
    for edition in (sending_edition, sending_edition, august):
        factories.delivery(edition)
    settings, sessions = settings_of(app), database(app).sessionmaker
    heartbeat = Heartbeat(sessions, "host-a:1")  # not started: only its name is used

    assert runner.run_pending(settings, sessions, threading.Event(), heartbeat=heartbeat) == 2

    for edition in (sending_edition, august):
        assert set(_statuses(session, edition)) == {DeliveryStatus.SENT}
        assert refresh(session).get(Edition, edition.id).status == EditionStatus.SENT  # type: ignore[union-attr]
    claimers = set(refresh(session).scalars(select(Delivery.claimed_by)))
    assert claimers == {"host-a:1"}
    assert len(list(Path(settings.outbox_dir).glob("*.eml"))) == 3


def test_a_pass_with_nothing_to_send_builds_no_engine(
    ses_settings: Settings, app: Flask, factories: Factories, sending_edition: Edition,
    ses: Ses,
) -> None:
    factories.delivery(sending_edition, status=DeliveryStatus.IN_DOUBT)
    factories.delivery(sending_edition, status=DeliveryStatus.SENT)
    assert runner.run_pending(ses_settings, database(app).sessionmaker, threading.Event()) == 0
    assert ses.calls == []  # nothing measured, no engine built, for no work


def test_a_worker_asked_to_stop_starts_no_send(
    app: Flask, session: Session, factories: Factories, sending_edition: Edition
) -> None:
    factories.delivery(sending_edition)
    stop = threading.Event()
    stop.set()
    runner.run_pending(settings_of(app), database(app).sessionmaker, stop)
    assert _statuses(session, sending_edition) == [DeliveryStatus.QUEUED]
    assert list(Path(settings_of(app).outbox_dir).glob("*.eml")) == []


def test_a_pass_postpones_sending_while_ses_cannot_be_measured(
    ses_settings: Settings, app: Flask, session: Session, factories: Factories,
    sending_edition: Edition, ses: Ses, caplog: pytest.LogCaptureFixture,
) -> None:
    factories.delivery(sending_edition)
    ses.stubber.add_client_error("get_account", "ServiceUnavailable", http_status_code=503)
    with caplog.at_level(logging.WARNING, logger="webapp.delivery.runner"):
        assert runner.run_pending(ses_settings, database(app).sessionmaker,
                                  threading.Event()) == 0
    assert _statuses(session, sending_edition) == [DeliveryStatus.QUEUED]
    assert "sending postponed" in [r.getMessage() for r in caplog.records]


def test_a_pass_lifts_a_quota_pause_before_it_looks_for_work(
    ses_settings: Settings, app: Flask, session: Session, factories: Factories, ses: Ses
) -> None:
    edition = _quota_paused(factories)
    ses.stubber.add_response("get_account", _account(sent=10.0))  # the quota has room again
    # The resumed send is now waiting, so the pass builds an engine: SES fails to answer.
    ses.stubber.add_client_error("get_account", "ServiceUnavailable", http_status_code=503)

    assert runner.run_pending(ses_settings, database(app).sessionmaker, threading.Event()) == 0

    assert ses.calls == ["GetAccount", "GetAccount"]
    resumed = refresh(session).get(Edition, edition.id)
    assert resumed is not None and (resumed.status, resumed.pause_reason) == (
        EditionStatus.SENDING, None
    )
    assert _statuses(session, edition) == [DeliveryStatus.QUEUED]


# --- a quota smaller than a call ------------------------------------------------------------

DAILY = "TooManyRequestsException: Daily message quota exceeded."


def _paused_for_quota(session: Session) -> Edition:
    edition = sending.load_edition(session, "2024-07")
    sending.start_send(session, edition, actor="test")
    sending.pause(session, edition, actor="system", reason=QUOTA_PAUSE_PREFIX + DAILY)
    session.commit()
    return edition


@pytest.mark.parametrize(
    ("left", "rate", "resumes"),
    [(49, 1000, False),  # a call is 50 readers: 49 left would refuse it at once
     (50, 1000, True),
     (9, 14, True),  # at 14/s a call is 7 readers
     (6, 14, False)],
)
@pytest.mark.usefixtures("approved")
def test_a_quota_pause_lifts_once_a_whole_call_fits(
    app: Flask, session: Session, factories: Factories, left: int, rate: float, resumes: bool
) -> None:
    factories.many_subscribers(60, [["ai"]])
    edition = _paused_for_quota(session)
    settings = replace(settings_of(app), mail_transport="ses")
    quota = AccountQuota(max_send_rate=rate, max_24_hour_send=200, sent_last_24_hours=200 - left,
                         sending_enabled=True)
    resumed = resume_after_quota(settings, database(app).sessionmaker, account=lambda: quota)
    assert resumed == (["2024-07"] if resumes else [])
    session.expire_all()
    expected = EditionStatus.SENDING if resumes else EditionStatus.PAUSED
    assert session.get(Edition, edition.id).status == expected  # type: ignore[union-attr]


@pytest.mark.usefixtures("approved")
def test_the_last_few_readers_need_only_room_for_themselves(
    app: Flask, session: Session, factories: Factories
) -> None:
    factories.many_subscribers(3, [["ai"]])
    _paused_for_quota(session)
    settings = replace(settings_of(app), mail_transport="ses")
    quota = AccountQuota(max_send_rate=1000, max_24_hour_send=200, sent_last_24_hours=197,
                         sending_enabled=True)
    assert resume_after_quota(settings, database(app).sessionmaker,
                              account=lambda: quota) == ["2024-07"]


@pytest.fixture
def ses_app(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Flask, SesSimulator]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    sim = SesSimulator(SimulatorConfig(max_send_rate=2000, max_24_hour_send=110)).start()
    app = create_app(app_config(
        database_url, tmp_path, MAIL_TRANSPORT="ses", SES_ENDPOINT_URL=sim.endpoint_url,
        SES_REGION="us-east-1", SES_MAX_SEND_RATE="1000",
    ))
    yield app, sim
    sim.stop()
    database(app).engine.dispose()


@pytest.mark.servers
@pytest.mark.usefixtures("approved")
def test_a_quota_smaller_than_a_call_does_not_make_the_send_flap(
    ses_app: tuple[Flask, SesSimulator], factories: Factories, session: Session
) -> None:
    # 120 readers, 110 messages a day: two calls of 50 go, the next is refused and pauses the
    # send. Resuming on "some quota left" paused it again at its first call, every poll.
    app, sim = ses_app
    factories.many_subscribers(120, [["ai"]])
    edition = sending.load_edition(session, "2024-07")
    sending.start_send(session, edition, actor="test")
    session.commit()
    sessions, stop = database(app).sessionmaker, threading.Event()
    settings = settings_of(app)

    def pauses() -> int:
        with sessions() as own:
            return own.scalar(select(func.count()).select_from(AuditEntry).where(
                AuditEntry.action == "edition.pause")) or 0

    for _ in range(5):  # five polls of the worker
        run_pending(settings, sessions, stop)
    assert pauses() == 1
    session.expire_all()
    paused = session.get(Edition, edition.id)
    assert paused is not None and paused.status == EditionStatus.PAUSED
    assert paused.pause_reason and paused.pause_reason.startswith(QUOTA_PAUSE_PREFIX)

    sim.set_limits(max_24_hour_send=1000)  # the day rolled on
    run_pending(settings, sessions, stop)
    session.expire_all()
    assert session.get(Edition, edition.id).status == EditionStatus.SENT  # type: ignore[union-attr]
    assert pauses() == 1
    per_reader = Counter(m.recipient for m in sim.messages)
    assert len(per_reader) == 120 and set(per_reader.values()) == {1}
    assert session.scalar(select(func.count()).select_from(Delivery)) == 120
