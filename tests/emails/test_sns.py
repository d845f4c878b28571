from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from emails.ses_events import parse_ses_event
from emails.sns import (
    CachedCertificates,
    SnsError,
    is_aws_certificate_url,
    is_sns_url,
    parse_envelope,
    parse_json,
    sns_hosts,
    verify_message,
)
from tests.support.sns import CERT_URL, TOPIC, Signer, ses_event


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.create()


def _verify(envelope: dict[str, str], signer: Signer, **kw: object) -> None:
    options: dict[str, object] = {"topic_arns": [TOPIC], "fetch_certificate": signer.fetcher()}
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
        _verify(envelope, signer, fetch_certificate=fetch)
    with pytest.raises(SnsError):
        CachedCertificates(opener=lambda u, t: b"")(url)


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


def test_certificates_are_fetched_once_and_cached() -> None:
    calls = []

    def opener(url: str, timeout: float) -> bytes:
        calls.append((url, timeout))
        return b"pem"

    cache = CachedCertificates(opener=opener, timeout=2.0)
    assert cache(CERT_URL) == b"pem" and cache(CERT_URL) == b"pem"
    assert calls == [(CERT_URL, 2.0)]

    def failing(url: str, timeout: float) -> bytes:
        raise TimeoutError("timed out")

    with pytest.raises(SnsError, match="could not fetch"):
        CachedCertificates(opener=failing)(CERT_URL)


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
