"""The dashboard's reader-wide figures: a snapshot, recounted behind the request once old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.db import database
from webapp.models import SubscriberStatus
from webapp.stats.reader_figures import ReaderFiguresCache

NOW = datetime(2024, 7, 1, 2, 0, tzinfo=UTC)
FIVE_MINUTES = timedelta(minutes=5)


@pytest.mark.postgres  # COUNT … FILTER, and a recount in a thread of its own
def test_the_snapshot_is_served_until_old_then_recounted_behind_the_request(
    app: Flask, factories: Factories, session: Session
) -> None:
    factories.subscriber(topics=["ai"])
    factories.subscriber(topics=["ai"], status=SubscriberStatus.PAUSED)
    sessions = database(app).sessionmaker
    cache = ReaderFiguresCache()
    first = cache.get(session, sessions, NOW, FIVE_MINUTES)  # none yet: counted now
    assert (first.receiving.readers, first.receiving.paused, first.taken_at) == (1, 1, NOW)
    assert dict(first.topics)[factories.topic("ai").id] == 2

    factories.subscriber(topics=["ai"])
    later = cache.get(session, sessions, NOW + timedelta(minutes=4), FIVE_MINUTES)
    assert later is first and cache.refresh_thread is None

    # Old: the request still gets the snapshot at once; the recount runs behind it.
    old = cache.get(session, sessions, NOW + timedelta(minutes=6), FIVE_MINUTES)
    assert old is first
    assert cache.refresh_thread is not None
    cache.refresh_thread.join(timeout=30)
    fresh = cache.get(session, sessions, NOW + timedelta(minutes=6), FIVE_MINUTES)
    assert fresh.receiving.readers == 2 and fresh.by_status["active"] == 2


def test_a_max_age_of_zero_counts_on_every_request(
    app: Flask, factories: Factories, session: Session
) -> None:
    cache = ReaderFiguresCache()
    sessions = database(app).sessionmaker
    assert cache.get(session, sessions, NOW, timedelta(0)).receiving.readers == 0
    factories.subscriber(topics=["ai"])
    assert cache.get(session, sessions, NOW, timedelta(0)).receiving.readers == 1
    assert cache.refresh_thread is None
