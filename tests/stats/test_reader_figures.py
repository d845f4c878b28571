"""The dashboard's reader-wide figures: a snapshot, counted and recounted behind the request."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from tests.factories import Factories
from tests.stats.slow_count import SlowCount
from webapp.db import database
from webapp.models import SubscriberStatus
from webapp.stats import reader_figures
from webapp.stats.reader_figures import Counting, ReaderFigures, ReaderFiguresCache

NOW = datetime(2024, 7, 1, 2, 0, tzinfo=UTC)
FIVE_MINUTES = timedelta(minutes=5)
LONG_ENOUGH = timedelta(seconds=60)  # a count of a few readers ends well before


@pytest.mark.postgres  # COUNT … FILTER, and a recount in a thread of its own
def test_the_snapshot_is_served_until_old_then_recounted_behind_the_request(
    app: Flask, factories: Factories, session: Session
) -> None:
    factories.subscriber(topics=["ai"])
    factories.subscriber(topics=["ai"], status=SubscriberStatus.PAUSED)
    sessions = database(app).sessionmaker
    cache = ReaderFiguresCache()
    # None yet: counted behind, and a small list's count ends within the wait.
    first = cache.get(session, sessions, NOW, FIVE_MINUTES, LONG_ENOUGH)
    assert isinstance(first, ReaderFigures)
    assert (first.receiving.readers, first.receiving.paused, first.taken_at) == (1, 1, NOW)
    assert dict(first.topics)[factories.topic("ai").id] == 2
    first_count = cache.refresh_thread

    factories.subscriber(topics=["ai"])
    later = cache.get(session, sessions, NOW + timedelta(minutes=4), FIVE_MINUTES)
    assert later is first and cache.refresh_thread is first_count

    # Old: the request still gets the snapshot at once; the recount runs behind it.
    old = cache.get(session, sessions, NOW + timedelta(minutes=6), FIVE_MINUTES)
    assert old is first
    assert cache.refresh_thread is not None and cache.refresh_thread is not first_count
    cache.refresh_thread.join(timeout=30)
    fresh = cache.get(session, sessions, NOW + timedelta(minutes=6), FIVE_MINUTES)
    assert isinstance(fresh, ReaderFigures)
    assert fresh.receiving.readers == 2 and fresh.by_status["active"] == 2


def test_a_max_age_of_zero_counts_on_every_request(
    app: Flask, factories: Factories, session: Session
) -> None:
    cache = ReaderFiguresCache()
    sessions = database(app).sessionmaker
    counted = cache.get(session, sessions, NOW, timedelta(0))
    assert isinstance(counted, ReaderFigures) and counted.receiving.readers == 0
    factories.subscriber(topics=["ai"])
    counted = cache.get(session, sessions, NOW, timedelta(0))
    assert isinstance(counted, ReaderFigures) and counted.receiving.readers == 1
    assert cache.refresh_thread is None


def test_a_slow_first_count_runs_behind_and_one_at_a_time(
    app: Flask, factories: Factories, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    factories.subscriber(topics=["ai"])
    slow = SlowCount(monkeypatch)
    release, counts = slow.release, slow.started
    cache = ReaderFiguresCache()
    sessions = database(app).sessionmaker
    first = cache.get(session, sessions, NOW, FIVE_MINUTES, timedelta(0))
    assert first == Counting(started_at=NOW)
    thread = cache.refresh_thread
    # Another request meanwhile: the same count, still running; none started beside it.
    again = cache.get(session, sessions, NOW + timedelta(seconds=20), FIVE_MINUTES)
    assert again == Counting(started_at=NOW) and cache.refresh_thread is thread

    release.set()
    assert thread is not None
    thread.join(timeout=30)
    done = cache.get(session, sessions, NOW + timedelta(seconds=40), FIVE_MINUTES)
    assert isinstance(done, ReaderFigures) and done.receiving.readers == 1
    assert done.taken_at == NOW and counts == [NOW]


def test_a_failing_count_is_logged_and_the_next_request_starts_another(
    app: Flask, factories: Factories, session: Session, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    factories.subscriber(topics=["ai"])
    count = reader_figures.count_reader_figures

    def failing_count(own: Session, now: datetime) -> ReaderFigures:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(reader_figures, "count_reader_figures", failing_count)
    cache = ReaderFiguresCache()
    sessions = database(app).sessionmaker
    with caplog.at_level(logging.ERROR, logger="webapp.stats.reader_figures"):
        failed = cache.get(session, sessions, NOW, FIVE_MINUTES, LONG_ENOUGH)
    assert failed == Counting(started_at=NOW)
    assert "counting the reader figures failed" in caplog.text
    first_thread = cache.refresh_thread

    monkeypatch.setattr(reader_figures, "count_reader_figures", count)
    later = NOW + timedelta(minutes=1)
    retried = cache.get(session, sessions, later, FIVE_MINUTES, LONG_ENOUGH)
    assert cache.refresh_thread is not first_thread
    assert isinstance(retried, ReaderFigures) and retried.receiving.readers == 1
    assert retried.taken_at == later
