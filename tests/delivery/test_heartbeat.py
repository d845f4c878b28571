"""Worker heartbeats: who is alive, and what a dead worker's claims become."""

from __future__ import annotations

import logging
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from flask import Flask
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from tests.delivery.conftest import refresh
from tests.factories import Factories
from webapp.db import database
from webapp.delivery.heartbeat import (
    STALE_AFTER,
    Heartbeat,
    beat,
    dead_workers,
    requeue_stale_claims,
    sign_off,
)
from webapp.models import Delivery, DeliveryStatus, Edition, WorkerHeartbeat

NOW = datetime(2024, 7, 20, 2, 0, tzinfo=UTC)
# Linux never hands out a pid this high (PID_MAX_LIMIT is 2**22): no process has it.
GONE_PID = 2**22
HERE = socket.gethostname()


def _row(session: Session, delivery_id: int) -> Delivery:
    row = refresh(session).get(Delivery, delivery_id)
    assert row is not None
    return row


def _names(session: Session) -> set[str]:
    return set(refresh(session).scalars(select(WorkerHeartbeat.name)))


def test_a_first_beat_says_where_the_worker_runs_and_later_ones_refresh_it(
    session: Session, sending_edition: Edition
) -> None:
    beat(session, "host-b:2", now=NOW)
    session.commit()
    later = NOW + timedelta(seconds=5)
    beat(session, "host-b:2", edition_id=sending_edition.id, rate=12.5, scheduler=True, now=later)
    session.commit()

    row = refresh(session).get(WorkerHeartbeat, "host-b:2")
    assert row is not None
    assert (row.hostname, row.pid, row.started_at, row.heartbeat_at) == (
        "host-b", 2, NOW, later
    )
    assert (row.edition_id, row.rate_per_s, row.scheduler) == (sending_edition.id, 12.5, True)
    beat(session, "host-b:2", now=later + timedelta(seconds=5))  # idle again
    session.commit()
    idle = refresh(session).get(WorkerHeartbeat, "host-b:2")
    assert idle is not None and (idle.edition_id, idle.rate_per_s, idle.scheduler) == (
        None, 0.0, False
    )


def test_signing_off_removes_only_that_worker(session: Session) -> None:
    beat(session, "host-a:1", now=NOW)
    beat(session, "host-b:2", now=NOW)
    session.commit()
    sign_off(session, "host-a:1")
    session.commit()
    assert _names(session) == {"host-b:2"}


def test_a_worker_is_dead_once_its_heartbeat_is_stale(session: Session) -> None:
    beat(session, "host-a:1", now=NOW - STALE_AFTER)
    beat(session, "host-b:2", now=NOW - STALE_AFTER - timedelta(seconds=1))
    beat(session, "host-c:3", now=NOW)
    session.commit()
    assert dead_workers(session, NOW) == {"host-b:2"}
    assert dead_workers(session, NOW, stale_after=timedelta(hours=1)) == set()


def test_a_worker_on_this_host_whose_process_is_gone_is_dead_at_once(session: Session) -> None:
    beat(session, f"{HERE}:{GONE_PID}", now=NOW)
    beat(session, f"{HERE}:{os.getppid()}", now=NOW)  # a live process here
    beat(session, f"{HERE}:{os.getpid()}", now=NOW)  # this very process
    beat(session, f"elsewhere:{GONE_PID}", now=NOW)  # no way to look at another host's pids
    session.commit()
    assert dead_workers(session, NOW) == {f"{HERE}:{GONE_PID}"}


@pytest.mark.postgres
def test_claims_of_dead_workers_go_back_but_live_ones_stay(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    alive = factories.delivery(sending_edition, status=DeliveryStatus.SENDING,
                               claimed_by="host-a:1", claimed_at=NOW)
    dead = factories.delivery(sending_edition, status=DeliveryStatus.SENDING,
                              claimed_by="host-b:2", claimed_at=NOW - timedelta(minutes=5))
    beat(session, "host-a:1", now=NOW)
    beat(session, "host-b:2", now=NOW - timedelta(minutes=5))
    session.commit()

    assert requeue_stale_claims(session, NOW) == 1
    session.commit()

    assert _row(session, alive.id).status == DeliveryStatus.SENDING
    back = _row(session, dead.id)
    assert (back.status, back.claimed_by, back.claimed_at, back.updated_at) == (
        DeliveryStatus.QUEUED, None, None, NOW
    )
    assert _names(session) == {"host-a:1"}  # the dead worker's heartbeat is gone too


@pytest.mark.postgres
def test_only_claims_never_handed_over_go_back(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    """An `in_doubt` row may have reached SES: returning it to the queue could send it twice."""
    handed_over = factories.delivery(sending_edition, status=DeliveryStatus.IN_DOUBT,
                                     claimed_by="host-b:2", in_doubt_at=NOW)
    nobodys = factories.delivery(sending_edition, status=DeliveryStatus.SENDING)
    unknown = factories.delivery(sending_edition, status=DeliveryStatus.SENDING,
                                 claimed_by="host-z:9")  # signed off, or never beat
    queued = factories.delivery(sending_edition)
    beat(session, "host-a:1", now=NOW)
    beat(session, "host-b:2", now=NOW - timedelta(minutes=5))
    session.commit()

    assert requeue_stale_claims(session, NOW) == 2
    session.commit()

    assert [_row(session, d.id).status for d in (handed_over, nobodys, unknown, queued)] == [
        DeliveryStatus.IN_DOUBT, DeliveryStatus.QUEUED, DeliveryStatus.QUEUED,
        DeliveryStatus.QUEUED,
    ]
    assert _row(session, handed_over.id).claimed_by == "host-b:2"


def test_with_no_worker_alive_every_unsent_claim_goes_back(
    session: Session, factories: Factories, sending_edition: Edition
) -> None:
    claims = [factories.delivery(sending_edition, status=DeliveryStatus.SENDING,
                                 claimed_by=name).id for name in ("host-a:1", "host-b:2")]
    assert requeue_stale_claims(session, NOW) == 2
    session.commit()
    assert [_row(session, i).status for i in claims] == [DeliveryStatus.QUEUED] * 2


def test_a_running_heartbeat_beats_at_once_and_tells_what_the_worker_does(
    app: Flask, session: Session, sending_edition: Edition
) -> None:
    with time_machine.travel(NOW, tick=False), \
            Heartbeat(database(app).sessionmaker, "host-a:1", interval=3600) as heartbeat:
        row = refresh(session).get(WorkerHeartbeat, "host-a:1")
        assert row is not None and (row.heartbeat_at, row.edition_id) == (NOW, None)
        heartbeat.edition_id, heartbeat.rate, heartbeat.scheduler = sending_edition.id, 14.0, True
        heartbeat.beat_now()
        row = refresh(session).get(WorkerHeartbeat, "host-a:1")
        assert row is not None and (row.edition_id, row.rate_per_s, row.scheduler) == (
            sending_edition.id, 14.0, True
        )
    assert _names(session) == set()


def test_a_clean_stop_returns_its_own_unsent_claims_only(
    app: Flask, session: Session, factories: Factories, sending_edition: Edition
) -> None:
    def claimed(worker: str, status: DeliveryStatus) -> int:
        return factories.delivery(sending_edition, status=status, claimed_by=worker,
                                  claimed_at=NOW).id

    with Heartbeat(database(app).sessionmaker, "host-a:1", interval=3600):
        mine = claimed("host-a:1", DeliveryStatus.SENDING)
        mine_in_doubt = claimed("host-a:1", DeliveryStatus.IN_DOUBT)
        theirs = claimed("host-b:2", DeliveryStatus.SENDING)

    back = _row(session, mine)
    assert (back.status, back.claimed_by, back.claimed_at) == (DeliveryStatus.QUEUED, None, None)
    assert _row(session, mine_in_doubt).status == DeliveryStatus.IN_DOUBT
    assert _row(session, theirs).claimed_by == "host-b:2"


def test_a_failed_beat_is_logged_and_the_worker_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = create_engine(f"sqlite:///{tmp_path / 'missing' / 'yuebao.sqlite3'}")
    heartbeat = Heartbeat(sessionmaker(unreachable), "host-a:1")
    with caplog.at_level(logging.WARNING, logger="webapp.delivery.heartbeat"):
        heartbeat.beat_now()
    logged = [r for r in caplog.records if r.name == "webapp.delivery.heartbeat"]
    assert [(r.levelname, r.getMessage()) for r in logged] == [("WARNING", "heartbeat failed")]
