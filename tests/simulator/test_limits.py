"""MaxSendRate and Max24HourSend, counted per recipient; fixed latency."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from botocore.exceptions import ClientError

from emails.simulator import SesSimulator
from tests.simulator.conftest import bulk_email, ses_client, simple_email

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
    assert time.monotonic() - start < 1.0, "the burst must fit in the one-second window"
    assert accepted == 10
    assert refused == [("TooManyRequestsException", RATE, 429)] * 5
    assert len(sim.messages) == 10

    time.sleep(1.05)  # the window slides: sending works again
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
