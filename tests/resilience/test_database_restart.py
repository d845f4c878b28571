"""A PostgreSQL restart during a send: within WORKER_DB_GRACE_SECONDS the worker rides it out;
past it, the worker exits with its own status and a fresh one finishes — every reader exactly
once either way."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.resilience.conftest import Stage, finish, kill
from tests.tools.postgres import PostgresServer
from webapp.delivery.outages import EXIT_DATABASE_LOST

pytestmark = [pytest.mark.servers, pytest.mark.postgres]  # not under libfaketime

READERS = 150


def _exactly_once(stage: Stage) -> None:
    assert stage.statuses() == {"sent": READERS}
    per_reader = Counter(m.recipient for m in stage.sim.messages)
    assert len(per_reader) == READERS and set(per_reader.values()) == {1}


def test_a_restart_within_the_grace_is_ridden_out(
    stage: Callable[..., Stage], postgres_server: PostgresServer
) -> None:
    setup = stage(READERS, rate=25)  # six seconds of sending
    setup.env["WORKER_DB_GRACE_SECONDS"] = "60"
    worker = setup.worker("--once")
    try:
        setup.wait_until(lambda: setup.statuses().get("sent", 0) >= 25)
        postgres_server.halt()  # every connection cut, new ones refused …
        time.sleep(1.5)  # … for long enough that the sending worker meets it (a chunk a 0.5 s) …
        postgres_server.start_again()  # … until it is back
        assert worker.wait(timeout=120) == 0, setup.log.read_text()[-3000:]
    finally:
        kill(worker)
    assert "database error, retrying" in setup.log.read_text()
    assert setup.sim.flush_events(timeout=30)
    _exactly_once(setup)


def test_an_outage_past_the_grace_ends_the_worker_with_its_own_status(
    stage: Callable[..., Stage], postgres_server: PostgresServer
) -> None:
    setup = stage(READERS, rate=25)
    setup.env["WORKER_DB_GRACE_SECONDS"] = "1"
    worker = setup.worker()
    try:
        setup.wait_until(lambda: setup.statuses().get("sent", 0) >= 25)
        postgres_server.halt()
        try:
            status = worker.wait(timeout=60)
        finally:
            postgres_server.start_again()
    finally:
        kill(worker)
    log = setup.log.read_text()
    assert status == EXIT_DATABASE_LOST, log[-3000:]
    assert "database unreachable for longer than WORKER_DB_GRACE_SECONDS" in log
    finish(setup)  # a fresh worker (its supervisor's restart) sends the rest
    _exactly_once(setup)
