"""SES events as signed SNS notifications, posted to a local receiver."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.simulator.conftest import Receiver, bulk_email, ses_client, simple_email
from tests.simulator.sns_verify import verify_sns_signature
from tests.tools.ses_simulator import SesSimulator, SimulatorConfig
from tests.tools.ses_simulator.sns import SigningIdentity

pytestmark = pytest.mark.servers  # starts servers or processes: not under libfaketime


@pytest.fixture
def publishing(
    make_simulator: Callable[..., SesSimulator], receiver: Receiver
) -> Callable[..., SesSimulator]:
    def make(**options: Any) -> SesSimulator:
        return make_simulator(events_url=receiver.url, **options)

    return make


def by_type(events: list[dict[str, Any]]) -> list[str]:
    return [event["eventType"] for event in events]


@pytest.mark.parametrize("version", ["1", "2"])
def test_send_and_delivery_arrive_signed_with_message_id_and_tags(
    publishing: Callable[..., SesSimulator], receiver: Receiver, version: str
) -> None:
    sim = publishing(signature_version=version)
    request = simple_email(
        "reader@example.com",
        EmailTags=[{"Name": "delivery", "Value": "1234"}],
        ConfigurationSetName="yuebao",
    )
    request["Content"]["Simple"]["Headers"] = [{"Name": "X-Yuebao-Delivery", "Value": "1234"}]
    message_id = ses_client(sim).send_email(**request)["MessageId"]

    assert sim.flush_events()
    posts = receiver.wait_for(2)
    for post in posts:
        envelope = post.body
        assert envelope["Type"] == "Notification"
        assert envelope["TopicArn"] == sim.topic_arn
        assert envelope["SignatureVersion"] == version
        assert envelope["SigningCertURL"] == f"{sim.endpoint_url}/_sim/cert.pem"
        assert envelope["UnsubscribeURL"].startswith(f"{sim.endpoint_url}/_sim/unsubscribe")
        assert verify_sns_signature(envelope, sim.cert_pem)
        assert post.headers["x-amz-sns-message-type"] == "Notification"
        assert post.headers["x-amz-sns-message-id"] == envelope["MessageId"]
        assert post.headers["x-amz-sns-topic-arn"] == sim.topic_arn
        assert post.headers["content-type"] == "text/plain; charset=UTF-8"
        assert post.path == "/hooks/ses"
    send, delivery = receiver.messages()
    assert by_type([send, delivery]) == ["Send", "Delivery"]
    for event in (send, delivery):
        mail = event["mail"]
        assert mail["messageId"] == message_id
        assert mail["destination"] == ["reader@example.com"]
        assert mail["tags"]["delivery"] == ["1234"]
        assert mail["tags"]["ses:configuration-set"] == ["yuebao"]
        assert {"name": "X-Yuebao-Delivery", "value": "1234"} in mail["headers"]
    assert delivery["delivery"]["recipients"] == ["reader@example.com"]


def test_a_tampered_notification_fails_verification(
    publishing: Callable[..., SesSimulator], receiver: Receiver
) -> None:
    sim = publishing()
    ses_client(sim).send_email(**simple_email("reader@example.com"))
    envelope = receiver.wait_for(1)[0].body
    assert verify_sns_signature(envelope, sim.cert_pem)
    forged = {**envelope, "Message": envelope["Message"].replace("Send", "Bounce")}
    assert not verify_sns_signature(forged, sim.cert_pem)
    stranger = SigningIdentity.generate()
    assert not verify_sns_signature(envelope, stranger.cert_pem)


def test_bulk_entries_carry_their_own_replacement_tags(
    publishing: Callable[..., SesSimulator], receiver: Receiver
) -> None:
    sim = publishing()
    request = bulk_email(["a@example.com", "b@example.com"])
    for i, entry in enumerate(request["BulkEmailEntries"]):
        entry["ReplacementTags"] = [{"Name": "delivery", "Value": f"d{i}"}]
    results = ses_client(sim).send_bulk_email(**request)["BulkEmailEntryResults"]
    assert sim.flush_events()
    deliveries = {
        e["mail"]["messageId"]: e["mail"]["tags"]["delivery"]
        for e in receiver.messages()
        if e["eventType"] == "Delivery"
    }
    assert deliveries == {results[0]["MessageId"]: ["d0"], results[1]["MessageId"]: ["d1"]}


@pytest.mark.parametrize(
    ("bounce_type", "sub_type"),
    [("Permanent", "General"), ("Transient", "MailboxFull"), ("Undetermined", "Undetermined")],
)
def test_programmed_bounces(
    publishing: Callable[..., SesSimulator], receiver: Receiver, bounce_type: str, sub_type: str
) -> None:
    sim = publishing()
    sim.faults.bounce(["gone@example.com"], bounce_type, sub_type)
    ses_client(sim).send_email(**simple_email("gone@example.com"))
    assert sim.flush_events()
    send, bounce = receiver.messages()
    assert by_type([send, bounce]) == ["Send", "Bounce"]
    assert bounce["bounce"]["bounceType"] == bounce_type
    assert bounce["bounce"]["bounceSubType"] == sub_type
    assert bounce["bounce"]["bouncedRecipients"][0]["emailAddress"] == "gone@example.com"


def test_complaint_reject_and_delay(
    publishing: Callable[..., SesSimulator], receiver: Receiver
) -> None:
    sim = publishing()
    sim.faults.complain(["angry@example.com"])
    sim.faults.reject_event(["virus@example.com"])
    sim.faults.delay_delivery(["slow@example.com"])
    ses = ses_client(sim)
    for address in ("angry@example.com", "virus@example.com", "slow@example.com"):
        ses.send_email(**simple_email(address))
    assert sim.flush_events()
    events = receiver.messages()
    per_address: dict[str, list[str]] = {}
    for event in events:
        per_address.setdefault(event["mail"]["destination"][0], []).append(event["eventType"])
    assert per_address == {
        "angry@example.com": ["Send", "Delivery", "Complaint"],
        "virus@example.com": ["Send", "Reject"],
        "slow@example.com": ["Send", "DeliveryDelay", "Delivery"],
    }
    complaint = next(e for e in events if e["eventType"] == "Complaint")
    assert complaint["complaint"]["complaintFeedbackType"] == "abuse"


def test_events_after_send_can_be_delayed(
    publishing: Callable[..., SesSimulator], receiver: Receiver
) -> None:
    sim = publishing(event_delay=0.3)
    ses_client(sim).send_email(**simple_email("r@example.com"))
    assert sim.flush_events()
    send, delivery = receiver.wait_for(2)
    assert json.loads(send.body["Message"])["eventType"] == "Send"
    assert delivery.received_at - send.received_at >= 0.25


def test_a_late_complaint_for_a_recorded_message(
    publishing: Callable[..., SesSimulator], receiver: Receiver
) -> None:
    sim = publishing()
    message_id = ses_client(sim).send_email(**simple_email("r@example.com"))["MessageId"]
    sim.emit("Complaint", message_id, feedback_type="not-spam")
    assert sim.flush_events()
    complaint = receiver.messages()[-1]
    assert complaint["eventType"] == "Complaint"
    assert complaint["mail"]["messageId"] == message_id
    assert complaint["complaint"]["complaintFeedbackType"] == "not-spam"


def test_subscription_confirmation(
    publishing: Callable[..., SesSimulator], receiver: Receiver
) -> None:
    sim = publishing(signature_version="2")
    sim.send_subscription_confirmation()
    assert sim.flush_events()
    (post,) = receiver.wait_for(1)
    envelope = post.body
    assert envelope["Type"] == post.headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert envelope["Token"] and envelope["TopicArn"] == sim.topic_arn
    assert verify_sns_signature(envelope, sim.cert_pem)
    assert not sim.subscription_confirmed
    with urllib.request.urlopen(envelope["SubscribeURL"], timeout=5) as response:
        assert b"<SubscriptionArn>" in response.read()
    assert sim.subscription_confirmed


def test_failed_posts_are_retried_like_sns(
    publishing: Callable[..., SesSimulator], receiver: Receiver
) -> None:
    sim = publishing(event_retry_backoff=0.01)
    receiver.fail_next(2, status=500)
    ses_client(sim).send_email(**simple_email("r@example.com"))
    assert sim.flush_events()
    assert by_type(receiver.messages()) == ["Send", "Delivery"]
    assert [f.error for f in sim.event_failures] == ["HTTP 500", "HTTP 500"]


def test_a_4xx_answer_is_final(publishing: Callable[..., SesSimulator], receiver: Receiver) -> None:
    sim = publishing(event_retry_backoff=0.01)
    receiver.fail_next(1, status=403)
    ses_client(sim).send_email(**simple_email("r@example.com"))
    assert sim.flush_events()
    assert by_type(receiver.messages()) == ["Delivery"]  # the Send event was given up on
    assert len(sim.events_dropped) == 1


def test_events_can_require_a_configuration_set(
    publishing: Callable[..., SesSimulator], receiver: Receiver
) -> None:
    sim = publishing(events_require_configuration_set=True)
    ses = ses_client(sim)
    ses.send_email(**simple_email("r@example.com"))
    ses.send_email(**simple_email("r@example.com", ConfigurationSetName="yuebao"))
    assert sim.flush_events()
    assert {e["mail"]["tags"]["ses:configuration-set"][0] for e in receiver.messages()} == {
        "yuebao"
    }
    assert len(receiver.messages()) == 2


def test_the_certificate_is_served_and_written(sim: SesSimulator, tmp_path: Path) -> None:
    with urllib.request.urlopen(f"{sim.endpoint_url}/_sim/cert.pem", timeout=5) as response:
        assert response.read() == sim.cert_pem
    written = sim.write_cert(tmp_path / "sns.pem")
    assert written.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")


def test_events_only_go_to_loopback(sim: SesSimulator) -> None:
    with pytest.raises(ValueError, match="loopback"):
        sim.events_url = "http://example.com/hooks/ses"
    with pytest.raises(ValueError, match="loopback"):
        SimulatorConfig(events_url="http://10.0.0.1/hooks/ses")
    with pytest.raises(ValueError, match="loopback"):
        SimulatorConfig(host="0.0.0.0")


def test_event_publishing_over_the_admin_api(sim: SesSimulator, receiver: Receiver) -> None:
    request = urllib.request.Request(
        f"{sim.endpoint_url}/_sim/config",
        data=json.dumps({"events_url": receiver.url, "signature_version": "2"}).encode(),
        method="POST",
    )
    urllib.request.urlopen(request, timeout=5).close()
    ses_client(sim).send_email(**simple_email("r@example.com"))
    assert sim.flush_events()
    assert receiver.wait_for(2)[0].body["SignatureVersion"] == "2"
