"""Faults on demand: 5xx, timeouts, rejections, paused sending, forced bulk statuses."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError
from types_boto3_sesv2.client import SESV2Client

from tests.simulator.conftest import bulk_email, ses_client, simple_email
from tests.tools.ses_simulator import BULK_STATUSES, SesSimulator

pytestmark = pytest.mark.servers  # starts servers or processes: not under libfaketime


def error_of(error: ClientError) -> tuple[str, int]:
    return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.mark.parametrize(
    ("status", "code"), [(500, "InternalFailure"), (503, "ServiceUnavailable")]
)
def test_next_requests_fail_with_server_errors(
    sim: SesSimulator, ses: SESV2Client, status: int, code: str
) -> None:
    sim.faults.fail_next(2, status=status)
    for _ in range(2):
        with pytest.raises(ClientError) as caught:
            ses.send_email(**simple_email("a@example.com"))
        assert error_of(caught.value) == (code, status)
    ses.send_email(**simple_email("a@example.com"))
    assert len(sim.messages) == 1


def test_a_fault_can_target_one_operation(sim: SesSimulator, ses: SESV2Client) -> None:
    sim.faults.fail_next(1, operation="SendBulkEmail")
    ses.get_account()
    ses.send_email(**simple_email("a@example.com"))
    with pytest.raises(ClientError):
        ses.send_bulk_email(**bulk_email(["b@example.com"]))


def test_botocore_retries_server_errors_through(sim: SesSimulator) -> None:
    sim.faults.fail_next(2, status=503)
    retrying = ses_client(sim, retries={"total_max_attempts": 3, "mode": "standard"})
    retrying.send_email(**simple_email("a@example.com"))
    assert [r.status for r in sim.requests] == [503, 503, 200]


def test_a_timeout_surfaces_as_read_timeout_and_nothing_is_sent(sim: SesSimulator) -> None:
    sim.faults.timeout_next(1, seconds=2.0)
    impatient = ses_client(sim, read_timeout=0.5)
    start = time.monotonic()
    with pytest.raises(ReadTimeoutError):
        impatient.send_email(**simple_email("a@example.com"))
    assert time.monotonic() - start < 1.5
    assert sim.messages == []
    impatient.send_email(**simple_email("a@example.com"))  # the fault was used up


def test_a_timeout_after_processing_leaves_the_send_in_doubt(sim: SesSimulator) -> None:
    sim.faults.timeout_next(1, seconds=2.0, process=True)
    with pytest.raises(ReadTimeoutError):
        ses_client(sim, read_timeout=0.5).send_email(**simple_email("a@example.com"))
    assert [m.recipient for m in sim.messages] == ["a@example.com"]  # SES did send it


def test_a_dropped_connection(sim: SesSimulator, ses: SESV2Client) -> None:
    sim.faults.timeout_next(1, close=True)
    with pytest.raises(ConnectionClosedError):
        ses.send_email(**simple_email("a@example.com"))
    assert sim.messages == []


def test_rejected_addresses(sim: SesSimulator, ses: SESV2Client) -> None:
    sim.faults.reject(["Bad@Example.com"], message="Email address is on the suppression list.")
    with pytest.raises(ClientError) as caught:
        ses.send_email(**simple_email("Reader <bad@example.com>"))
    assert error_of(caught.value) == ("MessageRejected", 400)
    assert caught.value.response["Error"]["Message"] == "Email address is on the suppression list."
    results = ses.send_bulk_email(**bulk_email(["ok@example.com", "bad@example.com"]))
    statuses = [r["Status"] for r in results["BulkEmailEntryResults"]]
    assert statuses == ["SUCCESS", "MESSAGE_REJECTED"]
    assert [m.recipient for m in sim.messages] == ["ok@example.com"]


def test_paused_sending(sim: SesSimulator, ses: SESV2Client) -> None:
    sim.faults.pause_sending()
    assert ses.get_account()["SendingEnabled"] is False
    with pytest.raises(ses.exceptions.SendingPausedException):
        ses.send_email(**simple_email("a@example.com"))
    results = ses.send_bulk_email(**bulk_email(["a@example.com", "b@example.com"]))
    assert {r["Status"] for r in results["BulkEmailEntryResults"]} == {"ACCOUNT_SENDING_PAUSED"}
    sim.faults.pause_sending(False)
    assert ses.get_account()["SendingEnabled"] is True
    ses.send_email(**simple_email("a@example.com"))
    assert len(sim.messages) == 1


@pytest.mark.parametrize("status", BULK_STATUSES)
def test_every_bulk_status_can_be_forced(sim: SesSimulator, ses: SESV2Client, status: str) -> None:
    sim.faults.force_bulk_status(["forced@example.com"], status, error=f"because {status}")
    request = bulk_email(["fine@example.com", "forced@example.com"])
    fine, forced = ses.send_bulk_email(**request)["BulkEmailEntryResults"]
    assert fine["Status"] == "SUCCESS" and fine["MessageId"]
    assert forced["Status"] == status
    if status == "SUCCESS":
        assert forced["MessageId"]
    else:
        assert forced["Error"] == f"because {status}" and "MessageId" not in forced
    recipients = {m.recipient for m in sim.messages}
    assert ("forced@example.com" in recipients) == (status == "SUCCESS")


def test_a_forced_status_for_the_first_attempts_only(sim: SesSimulator, ses: SESV2Client) -> None:
    sim.faults.force_bulk_status(["flaky@example.com"], "TRANSIENT_FAILURE", attempts=2)
    request = bulk_email(["flaky@example.com"])
    statuses = [ses.send_bulk_email(**request)["BulkEmailEntryResults"][0]["Status"] for _ in "123"]
    assert statuses == ["TRANSIENT_FAILURE", "TRANSIENT_FAILURE", "SUCCESS"]


def test_unknown_statuses_are_refused(sim: SesSimulator) -> None:
    with pytest.raises(ValueError, match="BulkEmailStatus"):
        sim.faults.force_bulk_status(["a@example.com"], "TEMPLATE_DOES_NOT_EXIST")


def admin(sim: SesSimulator, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(sim.endpoint_url + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_faults_over_the_admin_api(sim: SesSimulator, ses: SESV2Client) -> None:
    admin(
        sim,
        "POST",
        "/_sim/faults",
        [
            {"kind": "fail_next", "count": 1, "status": 503},
            {"kind": "force_bulk_status", "addresses": ["x@example.com"], "status": "FAILED"},
        ],
    )
    armed = admin(sim, "GET", "/_sim/faults")
    assert armed["requests"][0]["status"] == 503 and "x@example.com" in armed["forced"]
    with pytest.raises(ClientError) as caught:
        ses.get_account()
    assert error_of(caught.value) == ("ServiceUnavailable", 503)
    (result,) = ses.send_bulk_email(**bulk_email(["x@example.com"]))["BulkEmailEntryResults"]
    assert result["Status"] == "FAILED"
    admin(sim, "DELETE", "/_sim/faults")
    (result,) = ses.send_bulk_email(**bulk_email(["x@example.com"]))["BulkEmailEntryResults"]
    assert result["Status"] == "SUCCESS"


def test_the_admin_api_refuses_unknown_faults(sim: SesSimulator) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        admin(sim, "POST", "/_sim/faults", {"kind": "meteor_strike"})
    assert caught.value.code == 400


def test_reset_forgets_everything(make_simulator: Callable[..., SesSimulator]) -> None:
    sim = make_simulator(max_send_rate=1)
    ses = ses_client(sim)
    ses.send_email(**simple_email("a@example.com"))
    sim.faults.pause_sending()
    sim.reset()
    assert sim.messages == [] and sim.requests == []
    ses.send_email(**simple_email("a@example.com"))  # quota usage was forgotten too
