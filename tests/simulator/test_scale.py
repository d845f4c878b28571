"""Large runs in digest mode, and parallel clients against one simulator."""

from __future__ import annotations

import gc
import threading
import time
import tracemalloc
from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError

from tests.simulator.conftest import bulk_email, ses_client, simple_email
from tests.tools.ses_simulator import RequestDigest, SesSimulator

pytestmark = pytest.mark.servers  # starts servers or processes: not under libfaketime


def send_bulk(sim: SesSimulator, recipients: int, prefix: str = "r") -> None:
    ses = ses_client(sim)
    for batch in range(recipients // 50):
        addresses = [f"{prefix}{batch}-{i}@example.com" for i in range(50)]
        results = ses.send_bulk_email(**bulk_email(addresses))["BulkEmailEntryResults"]
        assert len(results) == 50


def test_ten_thousand_recipients_in_digest_mode(
    make_simulator: Callable[..., SesSimulator],
) -> None:
    sim = make_simulator(record_mode="digest")
    start = time.monotonic()
    send_bulk(sim, 10_000)
    assert time.monotonic() - start < 20

    assert sim.messages == []  # nothing per message is kept…
    digests = [r for r in sim.requests if isinstance(r, RequestDigest)]
    assert len(digests) == len(sim.requests) == 200
    assert all(len(d.sha256) == 64 and d.size > 0 and d.recipients == 50 for d in digests)
    assert len({d.sha256 for d in digests}) == 200  # every body was different
    stats = sim.stats()  # …but the counts are exact
    assert stats["messages"] == stats["SendBulkEmail.SUCCESS"] == 10_000
    assert stats["requests.200"] == 200
    assert stats["sent_last_24_hours"] == 10_000


def retained_by_simulator(sim: SesSimulator, recipients: int) -> int:
    """Bytes allocated by tests/tools/ses_simulator code and still alive after sending."""
    gc.collect()
    tracemalloc.start()
    try:
        send_bulk(sim, recipients)
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    ours = snapshot.filter_traces([tracemalloc.Filter(True, "*tests/tools/ses_simulator/*")])
    return sum(stat.size for stat in ours.statistics("filename"))


def test_digest_mode_keeps_memory_small(make_simulator: Callable[..., SesSimulator]) -> None:
    digest = retained_by_simulator(make_simulator(record_mode="digest"), 1_000)
    full = retained_by_simulator(make_simulator(record_mode="full"), 1_000)
    assert digest < 100_000
    assert full > 10 * digest


def test_eight_threads_in_parallel_give_exact_counts(sim: SesSimulator) -> None:
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            ses = ses_client(sim)
            for i in range(20):
                ses.send_email(**simple_email(f"t{n}-{i}@example.com"))
            ses.send_bulk_email(**bulk_email([f"b{n}-{i}@example.com" for i in range(10)]))
        except BaseException as error:  # re-raised in the main thread below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    messages = sim.messages
    assert len(messages) == 8 * 30
    assert len({m.recipient for m in messages}) == 240
    assert len({m.message_id for m in messages}) == 240
    stats = sim.stats()
    assert stats["messages.SendEmail"] == 160 and stats["messages.SendBulkEmail"] == 80
    assert stats["requests"] == len(sim.requests) == 8 * 21
    assert stats["sent_last_24_hours"] == 240


def test_parallel_senders_cannot_overshoot_the_send_rate(
    make_simulator: Callable[..., SesSimulator],
) -> None:
    sim = make_simulator(max_send_rate=20)
    outcomes: list[str] = []
    lock = threading.Lock()
    clients = [ses_client(sim) for _ in range(8)]
    for client in clients:
        client.get_account()  # connect first, so the burst below is quick
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        barrier.wait()
        for i in range(6):
            try:
                clients[n].send_email(**simple_email(f"p{n}-{i}@example.com"))
                outcome = "sent"
            except ClientError as error:
                outcome = error.response["Error"]["Message"]
            with lock:
                outcomes.append(outcome)

    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    assert elapsed < 1.0, "the burst must be quicker than the bucket refills"
    sent = outcomes.count("sent")
    assert sent == len(sim.messages)
    assert 20 <= sent <= 20 + elapsed * 20  # a second's worth, plus the refill meanwhile
    assert outcomes.count("Maximum sending rate exceeded.") == 48 - sent
