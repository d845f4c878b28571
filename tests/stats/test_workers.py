"""webapp.stats.workers: what each worker is doing, read from its heartbeat, and whether it is
live (a heartbeat within 30 seconds) or has gone silent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.models import WorkerHeartbeat
from webapp.stats.workers import LIVE_WITHIN, WorkerStatus, worker_status

NOW = datetime(2030, 3, 1, 9, 30, tzinfo=UTC)
STARTED = NOW - timedelta(hours=5)


def heartbeat(session: Session, name: str, ago: timedelta, **fields: object) -> None:
    host, pid = name.split(":")
    session.add(WorkerHeartbeat(name=name, hostname=host, pid=int(pid), started_at=STARTED,
                                heartbeat_at=NOW - ago, **fields))
    session.commit()


def test_no_heartbeat_no_worker(session: Session) -> None:
    assert worker_status(session, now=NOW) == []


def test_a_worker_is_live_up_to_30_seconds_after_its_heartbeat(session: Session) -> None:
    heartbeat(session, "on-time:1", LIVE_WITHIN)
    heartbeat(session, "late:2", LIVE_WITHIN + timedelta(milliseconds=1))

    live = {w.name: w.live for w in worker_status(session, now=NOW)}

    assert live == {"on-time:1": True, "late:2": False}


def test_a_heartbeat_a_little_ahead_of_this_clock_is_live(session: Session) -> None:
    heartbeat(session, "fast-clock:1", -timedelta(seconds=2))  # another host's clock runs ahead
    assert [w.live for w in worker_status(session, now=NOW)] == [True]


def test_what_a_worker_reports_is_shown_with_the_month_it_sends(
    factories: Factories, session: Session
) -> None:
    edition = factories.edition("2030-02")
    heartbeat(session, "web-1:4242", timedelta(seconds=3), edition_id=edition.id,
              rate_per_s=14.0, scheduler=True)

    assert worker_status(session, now=NOW) == [
        WorkerStatus(name="web-1:4242", hostname="web-1", pid=4242, started_at=STARTED,
                     heartbeat_at=NOW - timedelta(seconds=3), edition="2030-02", rate_per_s=14.0,
                     scheduler=True, live=True)
    ]


def test_live_workers_come_first_each_group_freshest_first(session: Session) -> None:
    heartbeat(session, "silent-recent:1", timedelta(minutes=1))
    heartbeat(session, "live-older:2", timedelta(seconds=20))
    heartbeat(session, "silent-old:3", timedelta(days=2))
    heartbeat(session, "live-newest:4", timedelta(seconds=1))

    names = [w.name for w in worker_status(session, now=NOW)]

    assert names == ["live-newest:4", "live-older:2", "silent-recent:1", "silent-old:3"]


def test_without_a_now_the_clock_decides(session: Session) -> None:
    heartbeat(session, "w:1", timedelta(0))
    with time_machine.travel(NOW + timedelta(seconds=10), tick=False):
        assert [w.live for w in worker_status(session)] == [True]
    with time_machine.travel(NOW + timedelta(minutes=10), tick=False):
        assert [w.live for w in worker_status(session)] == [False]


@pytest.mark.postgres  # ON DELETE SET NULL, enforced by each database
def test_a_worker_whose_edition_was_deleted_shows_no_edition(
    factories: Factories, session: Session
) -> None:
    edition = factories.edition("2030-02")
    heartbeat(session, "w:1", timedelta(seconds=1), edition_id=edition.id)
    session.delete(edition)
    session.commit()
    session.expire_all()

    (worker,) = worker_status(session, now=NOW)

    assert (worker.name, worker.edition) == ("w:1", None)
