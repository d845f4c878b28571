"""The worker's look for work: sends paused for SES's daily quota resume only when a whole call
fits, so a quota with a few messages left never makes the edition flap."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from emails.transports.ses import AccountQuota
from tests.conftest import app_config
from tests.factories import Factories
from tests.tools.ses_simulator import SesSimulator, SimulatorConfig
from webapp import create_app
from webapp.config import settings_of
from webapp.db import database
from webapp.delivery import sending
from webapp.delivery.engine import QUOTA_PAUSE_PREFIX
from webapp.delivery.runner import resume_after_quota, run_pending
from webapp.models import AuditEntry, Delivery, Edition, EditionStatus

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
