"""webapp.delivery.estimate: readers, variants and duration before a send starts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from emails.transports.ses import AccountQuota
from tests.factories import Factories
from webapp.audit import record_audit
from webapp.config import Settings, settings_of
from webapp.delivery.estimate import (
    MIN_SAMPLE,
    OUTBOX_RATE,
    RecentRate,
    estimate_send,
    recent_rate,
)
from webapp.editions.records import get_edition
from webapp.models import Edition, EditionStatus, SubscriberStatus


@pytest.fixture
def edition(factories: Factories, session: Session) -> Edition:
    factories.edition(items={"policy": [{"topics": ["ai"]}], "deals": [{"topics": ["investment"]}]})
    for topics, language in [(["ai"], "zh-CN"), (["ai"], "zh-CN"), (["ai", "investment"], "en"),
                             (["data"], "zh-CN")]:
        factories.subscriber(topics=topics, language=language)
    factories.subscriber(topics=["ai"], status=SubscriberStatus.PAUSED)
    loaded = get_edition(session, "2024-07")
    assert loaded is not None
    return loaded


def _quota(rate: float, left: float = 50_000) -> AccountQuota:
    return AccountQuota(max_send_rate=rate, max_24_hour_send=left, sent_last_24_hours=0,
                        sending_enabled=True)


def test_outbox_counts_readers_and_variants_at_the_outbox_pace(
    app: Flask, session: Session, edition: Edition
) -> None:
    estimate = estimate_send(session, settings_of(app), edition)
    # Two zh-CN:ai readers share a variant; the en reader has their own; the data reader and the
    # paused one get nothing.
    assert (estimate.readers, estimate.variants) == (3, 2)
    assert (estimate.transport, estimate.rate_source) == ("outbox", "outbox")
    assert estimate.rate_per_s == OUTBOX_RATE
    assert estimate.seconds == pytest.approx(3 / OUTBOX_RATE)


def test_ses_uses_the_account_rate_and_warns_past_the_daily_quota(
    app: Flask, session: Session, edition: Edition
) -> None:
    config = replace(settings_of(app), mail_transport="ses")
    estimate = estimate_send(session, config, edition, account=lambda _c: _quota(14, left=2))
    assert (estimate.rate_per_s, estimate.rate_source) == (14, "account")
    assert estimate.seconds == pytest.approx(3 / 14)
    assert estimate.over_daily_quota


def test_the_configured_rate_wins_and_an_unreachable_ses_is_unknown(
    app: Flask, session: Session, edition: Edition
) -> None:
    def unreachable(_settings: Settings) -> AccountQuota:
        raise ConnectionError("no route to SES")

    ses = replace(settings_of(app), mail_transport="ses")
    unknown = estimate_send(session, ses, edition, account=unreachable)
    assert (unknown.rate_per_s, unknown.rate_source, unknown.seconds) == (None, "unknown", None)
    assert not unknown.over_daily_quota
    capped = estimate_send(session, replace(ses, ses_max_send_rate=1.5), edition,
                           account=unreachable)
    assert (capped.rate_per_s, capped.rate_source, capped.seconds) == (1.5, "override", 2.0)
    paced_outbox = estimate_send(session, replace(settings_of(app), ses_max_send_rate=3.0), edition)
    assert (paced_outbox.rate_per_s, paced_outbox.rate_source) == (3.0, "override")


def _june_sent(factories: Factories, count: int, seconds: float) -> Edition:
    """June's edition, sent to `count` readers in `seconds` from start to end."""
    start = datetime(2024, 6, 20, 1, 0, tzinfo=UTC)
    june = factories.edition("2024-06", status=EditionStatus.SENT, send_started_at=start,
                             send_finished_at=start + timedelta(seconds=seconds),
                             items={"policy": [{"topics": ["ai"]}]})
    factories.sent_to(june, count, sent_at=start)
    return june


def test_the_estimate_uses_the_pace_the_last_send_kept(
    app: Flask, session: Session, edition: Edition, factories: Factories
) -> None:
    _june_sent(factories, 150, seconds=2.0)  # 75 a second, far below the outbox's ceiling
    estimate = estimate_send(session, settings_of(app), edition)
    assert estimate.recent == RecentRate(month="2024-06", rate_per_s=75.0)
    assert (estimate.rate_per_s, estimate.rate_source) == (75.0, "recent")
    assert (estimate.configured_rate, estimate.configured_source) == (OUTBOX_RATE, "outbox")
    assert estimate.seconds == pytest.approx(estimate.readers / 75.0)

    # Never faster than the configuration allows: SES at 14 a second wins.
    ses = replace(settings_of(app), mail_transport="ses")
    capped = estimate_send(session, ses, edition, account=lambda _c: _quota(14))
    assert (capped.rate_per_s, capped.rate_source) == (14, "account")


def test_a_paused_or_tiny_send_says_nothing_about_the_pace(
    app: Flask, session: Session, edition: Edition, factories: Factories
) -> None:
    _june_sent(factories, MIN_SAMPLE - 1, seconds=60.0)
    assert recent_rate(session) is None
    may = factories.edition("2024-05", status=EditionStatus.SENT,
                            send_started_at=datetime(2024, 5, 20, 1, tzinfo=UTC),
                            send_finished_at=datetime(2024, 5, 21, 1, tzinfo=UTC))
    factories.sent_to(may, 500)
    record_audit(session, "edition.pause", actor="test", target="2024-05")
    session.commit()
    assert recent_rate(session) is None  # paused for a day: its pace is not a pace
    estimate = estimate_send(session, settings_of(app), edition)
    assert (estimate.rate_per_s, estimate.rate_source) == (OUTBOX_RATE, "outbox")
