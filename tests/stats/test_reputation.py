"""webapp.stats.reputation: bounce and complaint rates against SES's review thresholds, over the
last 90 days' editions, and the alert logged once when an edition crosses one."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from tests.admin.conftest import make_send
from tests.factories import Factories
from webapp.models import EditionStatus
from webapp.stats.figures import Funnel, edition_funnel
from webapp.stats.reputation import (
    BOUNCE_REVIEW,
    COMPLAINT_REVIEW,
    MIN_VOLUME,
    RECENT,
    Reputation,
    check_thresholds,
    recent_reputation,
)

NOW = datetime(2030, 3, 1, 9, tzinfo=UTC)


def test_the_thresholds_are_those_of_ses() -> None:
    assert (
        0.05, 0.001, 100, timedelta(days=90)
    ) == (BOUNCE_REVIEW, COMPLAINT_REVIEW, MIN_VOLUME, RECENT)


def test_nothing_sent_has_no_rates_and_no_warning() -> None:
    nothing = Reputation(0, 0, 0)
    assert (nothing.bounce_rate, nothing.complaint_rate) == (None, None)
    assert not nothing.enough_volume and not nothing.warning


def test_rates_are_of_messages_sent() -> None:
    reputation = Reputation(sent=400, hard_bounced=6, complained=1)
    assert reputation.bounce_rate == pytest.approx(0.015)
    assert reputation.complaint_rate == pytest.approx(0.0025)


def test_only_hard_bounces_count_as_ses_counts_them() -> None:
    funnel = Funnel(sent=200, bounced=40, hard_bounced=3, complained=2, delivered=150)
    assert Reputation.of(funnel) == Reputation(sent=200, hard_bounced=3, complained=2)
    assert not Reputation.of(funnel).bounce_warning  # 40 bounces, but 37 of them soft


@pytest.mark.parametrize(
    ("sent", "hard_bounced", "warning"),
    [
        (100, 4, False),
        (100, 5, True),  # exactly 5%: SES reviews at the threshold, not above it
        (101, 5, False),  # 4.95%
        (120, 6, True),
        (2000, 99, False),
        (2000, 100, True),
        (99, 99, False),  # below MIN_VOLUME a rate says too little to warn
    ],
)
def test_the_bounce_warning_starts_at_five_percent_of_enough_mail(
    sent: int, hard_bounced: int, warning: bool
) -> None:
    reputation = Reputation(sent=sent, hard_bounced=hard_bounced, complained=0)
    assert reputation.bounce_warning is warning
    assert reputation.warning is warning
    assert not reputation.complaint_warning


@pytest.mark.parametrize(
    ("sent", "complained", "warning"),
    [
        (1000, 0, False),
        (1000, 1, True),  # exactly 0.1%
        (1001, 1, False),
        (999, 1, True),
        (100, 1, True),  # 1% on the smallest volume that counts
        (99, 1, False),
    ],
)
def test_the_complaint_warning_starts_at_a_tenth_of_a_percent_of_enough_mail(
    sent: int, complained: int, warning: bool
) -> None:
    reputation = Reputation(sent=sent, hard_bounced=0, complained=complained)
    assert reputation.complaint_warning is warning
    assert reputation.warning is warning
    assert not reputation.bounce_warning


def test_enough_volume_starts_at_min_volume() -> None:
    assert not Reputation(MIN_VOLUME - 1, 0, 0).enough_volume
    assert Reputation(MIN_VOLUME, 0, 0).enough_volume


# ---- over the recent editions ------------------------------------------------------------


def test_recent_reputation_adds_up_the_editions_started_in_the_last_90_days(
    factories: Factories, session: Session
) -> None:
    cases = {  # month: (send started, sent, hard bounced, complained)
        "2030-02": (NOW - timedelta(days=3), 300, 9, 1),
        "2029-12": (NOW - RECENT, 100, 2, 0),  # 90 days to the second: still recent
        "2029-11": (NOW - RECENT - timedelta(seconds=1), 500, 400, 50),
    }
    for month, (started, sent, hard_bounced, complained) in cases.items():
        edition = factories.edition(month, status=EditionStatus.SENT, send_started_at=started)
        factories.sent_to(edition, sent, hard_bounced=hard_bounced, complained=complained,
                          sent_at=started)
    unsent = factories.edition("2030-03", status=EditionStatus.APPROVED)
    factories.sent_to(unsent, 50, hard_bounced=50)  # rows, but its send never started

    assert recent_reputation(session, now=NOW) == Reputation(sent=400, hard_bounced=11,
                                                             complained=1)


def test_without_a_recent_send_the_reputation_is_empty(
    factories: Factories, session: Session
) -> None:
    old = factories.edition("2029-06", status=EditionStatus.SENT,
                            send_started_at=NOW - timedelta(days=200))
    factories.sent_to(old, 10, hard_bounced=5)
    factories.edition("2030-02", status=EditionStatus.SENDING,
                      send_started_at=NOW - timedelta(minutes=1))  # nothing sent yet

    assert recent_reputation(session, now=NOW) == Reputation(0, 0, 0)


# ---- the alert when an edition crosses a threshold --------------------------------------


def alerts(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [
        r.fields  # type: ignore[attr-defined]
        for r in caplog.records
        if r.name == "webapp.stats.reputation" and r.levelno == logging.WARNING
    ]


@pytest.fixture
def watched(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="webapp.stats.reputation")
    return caplog


def test_the_hard_bounce_that_reaches_five_percent_is_alerted(
    factories: Factories, session: Session, watched: pytest.LogCaptureFixture
) -> None:
    edition = factories.edition("2024-07", status=EditionStatus.SENT)
    factories.sent_to(edition, 100, hard_bounced=5)  # the fifth just stored, as the hook does

    check_thresholds(session, edition.id, hard_bounces_added=1, complaints_added=0)

    assert alerts(watched) == [{
        "alert": "reputation", "kind": "bounce", "edition": "2024-07", "rate": 0.05,
        "threshold": BOUNCE_REVIEW, "sent": 100,
    }]
    assert "5.00%" in watched.records[0].getMessage()


def test_a_bounce_below_or_beyond_the_crossing_is_not_alerted(
    factories: Factories, session: Session, watched: pytest.LogCaptureFixture
) -> None:
    below = factories.edition("2024-07", status=EditionStatus.SENT)
    factories.sent_to(below, 100, hard_bounced=4)
    beyond = factories.edition("2024-08", status=EditionStatus.SENT)
    factories.sent_to(beyond, 100, hard_bounced=6)  # the fifth was alerted already

    check_thresholds(session, below.id, hard_bounces_added=1, complaints_added=0)
    check_thresholds(session, beyond.id, hard_bounces_added=1, complaints_added=0)
    check_thresholds(session, beyond.id, hard_bounces_added=0, complaints_added=0)

    assert alerts(watched) == []


def test_the_first_complaint_in_a_thousand_is_alerted_and_the_second_is_not(
    factories: Factories, session: Session, watched: pytest.LogCaptureFixture
) -> None:
    first = factories.edition("2024-07", status=EditionStatus.SENT)
    factories.sent_to(first, 1000)
    second = factories.edition("2024-08", status=EditionStatus.SENT)
    factories.sent_to(second, 1000, complained=1)

    # The hook checks before it stores the complaint: the one being added is not counted yet.
    check_thresholds(session, first.id, hard_bounces_added=0, complaints_added=1)
    check_thresholds(session, second.id, hard_bounces_added=0, complaints_added=1)

    assert [(a["edition"], a["kind"], a["rate"]) for a in alerts(watched)] == [
        ("2024-07", "complaint", 0.001)
    ]


def test_too_little_mail_is_never_alerted(
    factories: Factories, session: Session, watched: pytest.LogCaptureFixture
) -> None:
    edition = factories.edition("2024-07", status=EditionStatus.SENT)
    factories.sent_to(edition, MIN_VOLUME - 1, hard_bounced=5)  # over 5%, and a complaint

    check_thresholds(session, edition.id, hard_bounces_added=1, complaints_added=1)

    assert alerts(watched) == []


@pytest.mark.postgres  # the hard bounce is stored by a trigger, written once per backend
def test_crossing_a_reputation_threshold_is_logged_once(
    factories: Factories, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    """Through the SES hook, which calls check_thresholds as each bounce or complaint arrives."""
    send = make_send(factories, session, {f"r{n}": {"topics": ["ai"]} for n in range(100)})
    caplog.set_level(logging.WARNING, logger="webapp.stats.reputation")
    for n in range(4):
        send.bounce(f"r{n}", "Permanent")
    send.bounce("r4", "Transient")  # soft bounces do not count towards SES's bounce rate
    assert [r for r in caplog.records if "reputation alert" in r.getMessage()] == []
    send.bounce("r5", "Permanent")  # 5 of 100: at the review threshold
    send.bounce("r5", "Permanent")  # the same reader again changes nothing
    send.bounce("r6", "Permanent")
    send.complain("r7")  # 1 of 100 is far above 0.1%
    found = [r for r in caplog.records if "reputation alert" in r.getMessage()]
    assert [(r.fields["kind"], r.fields["rate"]) for r in found] == [  # type: ignore[attr-defined]
        ("bounce", 0.05), ("complaint", 0.01)
    ]
    assert edition_funnel(session, send.edition.id).hard_bounced == 6
