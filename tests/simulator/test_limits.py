"""MaxSendRate and Max24HourSend, counted per recipient; fixed latency."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError

from tests.simulator.conftest import bulk_email, ses_client, simple_email
from tests.tools.ses_simulator import SesSimulator
from tests.tools.ses_simulator.records import SendLimits, Throttled

pytestmark = pytest.mark.servers  # starts servers or processes: not under libfaketime

RATE = "Maximum sending rate exceeded."
DAILY = "Daily message quota exceeded."


def throttled(error: ClientError) -> tuple[str, str, int]:
    response = error.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def test_a_burst_over_the_send_rate_is_refused_with_429(
    make_simulator: Callable[..., SesSimulator],
) -> None:
    sim = make_simulator(max_send_rate=10)
    ses = ses_client(sim)
    accepted, refused = 0, []
    start = time.monotonic()
    for i in range(15):
        try:
            ses.send_email(**simple_email(f"r{i}@example.com"))
            accepted += 1
        except ClientError as error:
            refused.append(throttled(error))
    elapsed = time.monotonic() - start
    assert elapsed < 0.5, "the burst must be quicker than the bucket refills"
    # One second's worth at once, plus what the rate refilled while the burst went on.
    assert 10 <= accepted <= 10 + elapsed * 10
    assert refused == [("TooManyRequestsException", RATE, 429)] * (15 - accepted)
    assert len(sim.messages) == accepted

    time.sleep(1.05)  # the bucket refills: sending works again
    ses.send_email(**simple_email("later@example.com"))


def test_the_daily_quota_is_refused_and_get_account_counts_what_was_sent(
    make_simulator: Callable[..., SesSimulator],
) -> None:
    sim = make_simulator(max_24_hour_send=5)
    ses = ses_client(sim)
    ses.send_email(**simple_email(["a@example.com", "b@example.com", "c@example.com"]))
    ses.send_email(**simple_email(["d@example.com", "e@example.com"]))
    with pytest.raises(ClientError) as caught:
        ses.send_email(**simple_email("f@example.com"))
    assert throttled(caught.value) == ("TooManyRequestsException", DAILY, 429)
    assert ses.get_account()["SendQuota"]["SentLast24Hours"] == 5.0


def test_bulk_is_counted_per_recipient_and_refused_whole(
    make_simulator: Callable[..., SesSimulator],
) -> None:
    sim = make_simulator(max_send_rate=10)
    ses = ses_client(sim)
    with pytest.raises(ClientError) as caught:
        ses.send_bulk_email(**bulk_email([f"r{i}@example.com" for i in range(20)]))
    assert throttled(caught.value) == ("TooManyRequestsException", RATE, 429)
    assert sim.messages == []
    results = ses.send_bulk_email(**bulk_email([f"r{i}@example.com" for i in range(10)]))
    assert len(results["BulkEmailEntryResults"]) == 10
    assert ses.get_account()["SendQuota"]["SentLast24Hours"] == 10.0


def test_one_message_to_several_recipients_counts_each(
    make_simulator: Callable[..., SesSimulator],
) -> None:
    sim = make_simulator(max_send_rate=2)
    with pytest.raises(ClientError) as caught:
        ses_client(sim).send_email(**simple_email(["a@x.com", "b@x.com", "c@x.com"]))
    assert throttled(caught.value)[1] == RATE


def test_limits_can_change_while_running(make_simulator: Callable[..., SesSimulator]) -> None:
    sim = make_simulator(max_send_rate=1)
    ses = ses_client(sim)
    sim.set_limits(max_send_rate=3, max_24_hour_send=7)
    quota = ses.get_account()["SendQuota"]
    assert (quota["MaxSendRate"], quota["Max24HourSend"]) == (3.0, 7.0)
    ses.send_email(**simple_email(["a@x.com", "b@x.com", "c@x.com"]))


def test_latency_delays_every_request(make_simulator: Callable[..., SesSimulator]) -> None:
    sim = make_simulator(latency=0.2)
    ses = ses_client(sim)
    ses.get_account()  # the first call also pays for connecting; time the second
    start = time.monotonic()
    ses.get_account()
    assert 0.2 <= time.monotonic() - start < 1.0


def test_even_pacing_at_the_rate_is_never_refused_despite_latency_spread() -> None:
    limits = SendLimits(max_send_rate=100, max_24_hour_send=10**9)
    rng = random.Random(7)
    for call in range(2_000):  # 50 recipients every half second for 1,000 s
        arrival = call * 0.5 + rng.uniform(-0.2, 0.2)  # left on time, arrived early or late
        limits.check(50, now=arrival)
        limits.commit(50, now=arrival)


def test_sustained_sending_above_the_rate_is_refused() -> None:
    limits = SendLimits(max_send_rate=100, max_24_hour_send=10**9)
    with pytest.raises(Throttled):
        for call in range(1_000):  # 5% over the rate: the second's burst runs out in ~20 s
            now = call * 0.5 / 1.05
            limits.check(50, now=now)
            limits.commit(50, now=now)
    assert call * 0.5 / 1.05 > 5, "a short burst above the rate is allowed"
