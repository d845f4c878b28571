from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from emails.ses_events import parse_ses_event
from emails.sns import (
    SnsError,
    SnsUnavailable,
    fetch_url,
    is_aws_certificate_url,
    is_sns_url,
    parse_envelope,
    parse_json,
    sns_hosts,
    system_roots,
    verify_message,
)
from tests.support.sns import CERT_URL, ISSUED, ISSUER_URL, TOPIC, Signer, SnsCA, ses_event


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.create()


def _verify(envelope: dict[str, str], signer: Signer, **kw: object) -> None:
    options: dict[str, object] = {"topic_arns": [TOPIC], "signing_keys": signer.signing_keys()}
    options.update(kw)
    verify_message(envelope, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ["1", "2"])
def test_valid_messages_are_accepted(signer: Signer, version: str) -> None:
    envelope = signer.notification(ses_event("Send", "m-1"), version=version)
    parsed = parse_envelope(json.dumps(envelope).encode())
    _verify(parsed, signer)


def test_a_subscription_confirmation_signs_its_own_fields(signer: Signer) -> None:
    envelope = signer.sign(
        {
            "Type": "SubscriptionConfirmation",
            "MessageId": "c-1",
            "TopicArn": TOPIC,
            "Message": "You have chosen to subscribe",
            "SubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
            "Token": "tok",
            "Timestamp": datetime.now(UTC).isoformat(),
            "SigningCertURL": CERT_URL,
        }
    )
    _verify(parse_envelope(json.dumps(envelope).encode()), signer)
    envelope["Token"] = "other"
    with pytest.raises(SnsError, match="signature"):
        _verify(envelope, signer)


def test_an_altered_message_is_refused(signer: Signer) -> None:
    envelope = signer.notification(ses_event("Bounce", "m-1"))
    envelope["Message"] = envelope["Message"].replace("Permanent", "Transient")
    with pytest.raises(SnsError, match="signature does not match"):
        _verify(envelope, signer)


def test_a_wrong_key_is_refused(signer: Signer) -> None:
    other = Signer.create()
    envelope = other.notification(ses_event("Send", "m-1"))
    with pytest.raises(SnsError, match="signature does not match"):
        _verify(envelope, signer)


def test_a_certificate_not_issued_to_sns_is_refused() -> None:
    impostor = Signer.create(common_name="evil.example.com")
    envelope = impostor.notification(ses_event("Send", "m-1"))
    with pytest.raises(SnsError, match="not Amazon SNS's"):
        _verify(envelope, impostor)


def test_an_unknown_topic_is_refused(signer: Signer) -> None:
    envelope = signer.notification(ses_event("Send", "m-1"), topic="arn:aws:sns:x:1:other")
    with pytest.raises(SnsError, match="not accepted"):
        _verify(envelope, signer)


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com.attacker.net/SimpleNotificationService-abc.pem",
        "https://s3.amazonaws.com/bucket/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com/bucket/evil.pem",
        "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-abc.pem",
        "https://user@sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem?x=1",
        "file:///etc/passwd",
    ],
)
def test_spoofed_certificate_urls_are_refused_without_fetching(signer: Signer, url: str) -> None:
    assert not is_aws_certificate_url(url)
    envelope = signer.notification(ses_event("Send", "m-1"), cert_url=url)

    def fetch(_url: str) -> bytes:
        raise AssertionError("must not fetch")

    with pytest.raises(SnsError, match="not Amazon SNS's"):
        _verify(envelope, signer, signing_keys=signer.signing_keys(fetch))
    with pytest.raises(SnsError, match="not Amazon SNS's"):
        signer.signing_keys(fetch)(url, datetime.now(UTC))


def test_china_regions_are_amazon_too() -> None:
    assert is_aws_certificate_url(
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc123.pem"
    )


@pytest.mark.parametrize(
    "host",
    [
        "sns.s3.amazonaws.com",  # an S3 bucket named "sns": anyone can create one
        "sns.s3-accelerate.amazonaws.com",
        "sns.nowhere-9.amazonaws.com",
        "sns.us-east-1.amazonaws.com.cn",
        "sns.cn-north-1.amazonaws.com",
        "SNS.US-EAST-1.AMAZONAWS.COM",
        "sns.us-east-1.amazonaws.com.",
        "sns.us-east-1.amazonaws.com:443",
        "sns.us-east-1.amazonaws.com@evil.example.com",
    ],
)
def test_only_sns_hosts_of_regions_botocore_knows_are_amazons(host: str) -> None:
    assert not is_aws_certificate_url(f"https://{host}/SimpleNotificationService-abc.pem")
    assert not is_sns_url(f"https://{host}/?Action=ConfirmSubscription&Token=t")


def test_sns_hosts_are_botocores_regions_in_amazonaws_com_and_com_cn() -> None:
    hosts = sns_hosts()
    assert {"sns.us-east-1.amazonaws.com", "sns.eu-west-1.amazonaws.com",
            "sns.us-gov-west-1.amazonaws.com", "sns.cn-northwest-1.amazonaws.com.cn"} <= hosts
    assert all(h.startswith("sns.") and h.endswith((".amazonaws.com", ".amazonaws.com.cn"))
               for h in hosts)
    assert is_sns_url("https://sns.ap-southeast-2.amazonaws.com/?Action=ConfirmSubscription")
    assert not is_sns_url("https://sns.us-east-1.amazonaws.com/?Action=x#frag")


def test_the_test_certificate_is_used_only_for_non_aws_urls(signer: Signer) -> None:
    simulator = Signer.create(common_name="yuebao SES simulator")
    local = "http://127.0.0.1:8025/_sim/cert.pem"
    envelope = simulator.notification(ses_event("Send", "m-1"), cert_url=local)
    with pytest.raises(SnsError, match="not Amazon SNS's"):
        _verify(envelope, signer)
    _verify(envelope, signer, test_certificate=simulator.cert_pem)
    forged = simulator.notification(ses_event("Send", "m-1"))  # claims the AWS URL
    with pytest.raises(SnsError):
        _verify(forged, signer, test_certificate=simulator.cert_pem)


def test_stale_and_future_messages_are_refused(signer: Signer) -> None:
    old = signer.notification(
        ses_event("Send", "m-1"), timestamp=datetime.now(UTC) - timedelta(hours=25)
    )
    with pytest.raises(SnsError, match="older than"):
        _verify(old, signer)
    ahead = signer.notification(
        ses_event("Send", "m-1"), timestamp=datetime.now(UTC) + timedelta(hours=1)
    )
    with pytest.raises(SnsError, match="future"):
        _verify(ahead, signer)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"Type": "Notification"}',
        b'{"Type": "Weird", "MessageId": "x"}',
        b"[" * 100 + b"]" * 100,
        b'{"a": ' * 50 + b"1" + b"}" * 50,
        b"x" * 300_000,
    ],
)
def test_garbage_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(SnsError):
        parse_envelope(body)


def test_ses_events_parse_to_typed_values() -> None:
    bounce = parse_ses_event(ses_event("Bounce", "m-9", recipient="a@example.com", delivery_id=7))
    assert (bounce.kind, bounce.message_id, bounce.delivery_id) == ("bounce", "m-9", 7)
    assert bounce.recipients == ("a@example.com",) and bounce.permanent_bounce
    transient = parse_ses_event(ses_event("Bounce", "m-9", bounce_type="Transient"))
    assert not transient.permanent_bounce and transient.bounce_type == "Transient"
    complaint = parse_ses_event(ses_event("Complaint", "m-9"))
    assert complaint.kind == "complaint" and complaint.complaint_type == "abuse"
    identity = parse_ses_event({"notificationType": "Delivery", "mail": {"messageId": "m"}})
    assert identity.kind == "delivery" and identity.delivery_id is None
    for bad in [[], {"eventType": "Nope", "mail": {"messageId": "m"}}, {"eventType": "Send"}]:
        with pytest.raises(SnsError):
            parse_ses_event(bad)


@pytest.mark.parametrize(
    "body",
    [
        b'{"Type": "Notification", "n": ' + b"9" * 5000 + b"}",
        b'{"n": -' + b"1" * 40 + b"}",
        b'{"n": 1.' + b"1" * 5000 + b"}",
        b'{"n": 1e' + b"9" * 40 + b"}",
        b'{"n": NaN}',
        b'{"n": -Infinity}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": ' * 33 + b"1" + b"}" * 33,
    ],
)
def test_oversized_numbers_and_deep_nesting_are_refused(body: bytes) -> None:
    with pytest.raises(SnsError):
        parse_json(body)


def test_a_deep_body_is_refused_before_it_is_parsed() -> None:
    body = b"[" * 200_000  # not even closed: the scan stops at level 33
    start = time.perf_counter()
    with pytest.raises(SnsError, match="nests deeper"):
        parse_json(body)
    assert time.perf_counter() - start < 0.5


def test_brackets_and_escapes_inside_strings_do_not_count_as_nesting() -> None:
    value = {"Message": json.dumps({"a": "[" * 100, "b": '\\"{{{' * 50}), "n": 12345678}
    assert parse_json(json.dumps(value).encode()) == value
    assert parse_json(b'{"a": [[[[[1.5, -2, 1e3]]]]]}') == {"a": [[[[[1.5, -2, 1000.0]]]]]}


def test_the_intermediate_is_fetched_once_from_the_address_the_leaf_names(signer: Signer) -> None:
    keys = signer.signing_keys()
    signer.fetched.clear()
    _verify(signer.notification(ses_event("Send", "m-1")), signer, signing_keys=keys)
    assert signer.fetched == [CERT_URL, ISSUER_URL]
    _verify(signer.notification(ses_event("Send", "m-2")), signer, signing_keys=keys)
    assert signer.fetched == [CERT_URL, ISSUER_URL]  # verified certificates are kept by URL


def test_a_certificate_from_a_ca_not_in_the_trust_store_is_refused(signer: Signer) -> None:
    # Named sns.amazonaws.com, served from SNS's URL, but issued by a stranger's CA.
    stranger = Signer.create(ca=SnsCA.create("stranger"))
    envelope = stranger.notification(ses_event("Send", "m-1"))
    keys = signer.signing_keys(stranger.fetch)
    with pytest.raises(SnsError, match="not trusted at"):
        _verify(envelope, signer, signing_keys=keys)


def test_a_leaf_without_a_reachable_issuer_is_refused(signer: Signer) -> None:
    orphan = Signer.create(issuer_url=None)  # no AIA, and SNS serves the leaf alone
    envelope = orphan.notification(ses_event("Send", "m-1"))
    with pytest.raises(SnsError, match="not trusted at"):
        _verify(envelope, orphan)
    elsewhere = Signer.create(issuer_url="http://crt.example.com/m01.cer")  # not Amazon's
    with pytest.raises(SnsError, match="not trusted at"):
        _verify(elsewhere.notification(ses_event("Send", "m-1")), elsewhere)
    assert "http://crt.example.com/m01.cer" not in elsewhere.fetched


def test_a_certificate_for_another_name_is_refused(signer: Signer) -> None:
    other = Signer.create("sqs.us-east-1.amazonaws.com")
    with pytest.raises(SnsError, match="not Amazon SNS's"):
        _verify(other.notification(ses_event("Send", "m-1")), other)
    assert other.fetched == [CERT_URL]  # refused before any issuer is fetched
    regional = Signer.create("sns.us-east-1.amazonaws.com")  # the host it is served from
    _verify(regional.notification(ses_event("Send", "m-1")), regional)


def test_a_verified_certificate_is_kept_only_while_valid_and_fresh(signer: Signer) -> None:
    keys = signer.signing_keys(ttl=timedelta(hours=6))
    now = ISSUED + timedelta(days=2)
    year = timedelta(days=365)

    def at(moment: datetime) -> None:
        envelope = signer.notification(ses_event("Send", "m-1"), timestamp=moment)
        _verify(envelope, signer, signing_keys=keys, now=moment, max_age=year)

    signer.fetched.clear()
    at(now)
    at(now + timedelta(hours=5))
    assert signer.fetched.count(CERT_URL) == 1
    at(now + timedelta(hours=7))  # past the ttl: fetched and verified again
    assert signer.fetched.count(CERT_URL) == 2
    with pytest.raises(SnsError, match="not valid at validation time"):
        at(ISSUED + timedelta(days=31))  # the leaf expired, cached or not
    with pytest.raises(SnsError, match="not valid at validation time"):
        at(ISSUED - timedelta(days=2))  # not valid yet


def test_a_certificate_that_cannot_be_fetched_now_is_unavailable_not_refused(
    signer: Signer,
) -> None:
    envelope = signer.notification(ses_event("Send", "m-1"))
    down: list[str] = []

    def flaky(url: str) -> bytes:
        if url in down:
            raise SnsUnavailable(f"could not fetch {url}: timed out")
        return signer.fetch(url)

    keys = signer.signing_keys(flaky)
    for url in (CERT_URL, ISSUER_URL):
        down[:] = [url]
        with pytest.raises(SnsUnavailable):
            _verify(envelope, signer, signing_keys=keys)
    down.clear()
    _verify(envelope, signer, signing_keys=keys)  # SNS's retry succeeds


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = int(self.path.strip("/").split("/")[0])
        if status == 0:
            time.sleep(0.3)  # longer than the client's timeout
            status = 200
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "http://127.0.0.1:9/elsewhere.pem")
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"body")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def answering() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Answer)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_server_errors_and_throttling_are_unavailable(answering: str, status: int) -> None:
    with pytest.raises(SnsUnavailable, match=str(status)):
        fetch_url(f"{answering}/{status}/cert.pem")


@pytest.mark.parametrize("status", [403, 404, 302])
def test_other_answers_are_refusals(answering: str, status: int) -> None:
    with pytest.raises(SnsError, match=str(status)):
        fetch_url(f"{answering}/{status}/cert.pem")


def test_a_timeout_or_a_closed_port_is_unavailable(answering: str) -> None:
    assert fetch_url(f"{answering}/200/cert.pem") == b"body"
    with pytest.raises(SnsUnavailable, match="timed out"):
        fetch_url(f"{answering}/0/cert.pem", timeout=0.05)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(SnsUnavailable, match="could not fetch"):
        fetch_url(f"http://127.0.0.1:{port}/cert.pem", timeout=1)
    with pytest.raises(SnsError, match="larger than 3 bytes"):
        fetch_url(f"{answering}/200/cert.pem", max_bytes=3)


def test_the_system_trust_store_is_read() -> None:
    names = {root.subject.rfc4514_string() for root in system_roots()}
    assert "CN=Amazon Root CA 1,O=Amazon,C=US" in names  # the root SNS's certificates chain to
