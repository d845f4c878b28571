"""SNS as SES's event destination: signed HTTP notifications, posted from a background queue.

Signing follows AWS's "Verifying the signatures of Amazon SNS messages": the string to sign is
"Key\\nValue\\n" for a fixed list of keys in byte order, signed SHA1withRSA (SignatureVersion 1)
or SHA256withRSA (2) with a self-signed test certificate, never Amazon's.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from tests.tools.ses_simulator.config import require_loopback_url
from tests.tools.ses_simulator.events import iso

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
USER_AGENT = "Amazon Simple Notification Service Agent"


@dataclass(frozen=True)
class SigningIdentity:
    """The RSA key notifications are signed with, and its self-signed certificate."""

    key: rsa.RSAPrivateKey
    cert_pem: bytes

    @classmethod
    def generate(cls) -> SigningIdentity:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.simulator.local")])
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert.public_bytes(serialization.Encoding.PEM))

    @classmethod
    def from_pem(cls, key_pem: bytes, cert_pem: bytes) -> SigningIdentity:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("SNS signing needs an RSA key")
        return cls(key, cert_pem)


@lru_cache(maxsize=1)
def default_identity() -> SigningIdentity:
    """One generated identity per process: key generation is the slow part of starting up."""
    return SigningIdentity.generate()


def string_to_sign(message: dict[str, Any]) -> str:
    keys = CONFIRMATION_KEYS if message["Type"] != "Notification" else NOTIFICATION_KEYS
    return "".join(f"{key}\n{message[key]}\n" for key in keys if message.get(key) is not None)


def sign(message: dict[str, Any], identity: SigningIdentity, version: str) -> dict[str, Any]:
    """`message` with SignatureVersion and Signature added."""
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signed = {**message, "SignatureVersion": version}
    signature = identity.key.sign(
        string_to_sign(signed).encode("utf-8"), padding.PKCS1v15(), algorithm
    )
    signed["Signature"] = base64.b64encode(signature).decode("ascii")
    return signed


def notification(
    topic_arn: str, message: str, cert_url: str, unsubscribe_url: str, subject: str | None = None
) -> dict[str, Any]:
    """An unsigned Notification envelope, keys in the order SNS sends them."""
    envelope: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic_arn,
    }
    if subject is not None:
        envelope["Subject"] = subject
    envelope.update(
        Message=message,
        Timestamp=iso(datetime.now(UTC)),
        SigningCertURL=cert_url,
        UnsubscribeURL=unsubscribe_url,
    )
    return envelope


def subscription_confirmation(
    topic_arn: str, token: str, subscribe_url: str, cert_url: str
) -> dict[str, Any]:
    return {
        "Type": "SubscriptionConfirmation",
        "MessageId": str(uuid.uuid4()),
        "Token": token,
        "TopicArn": topic_arn,
        "Message": (
            f"You have chosen to subscribe to the topic {topic_arn}.\n"
            "To confirm the subscription, visit the SubscribeURL included in this message."
        ),
        "SubscribeURL": subscribe_url,
        "Timestamp": iso(datetime.now(UTC)),
        "SigningCertURL": cert_url,
    }


@dataclass(frozen=True)
class Delivered:
    """A notification the endpoint accepted (2xx)."""

    url: str
    envelope: dict[str, Any]
    status: int
    attempts: int


@dataclass(frozen=True)
class FailedAttempt:
    url: str
    message_id: str
    attempt: int
    error: str


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    url: str = field(compare=False)
    envelope: dict[str, Any] = field(compare=False)
    subscription_arn: str = field(compare=False)
    attempt: int = field(default=1, compare=False)


class Publisher:
    """Posts queued notifications in due-time order from one daemon thread, retrying failures."""

    def __init__(self, retries: int, backoff: float, keep_delivered: bool = True) -> None:
        self.retries, self.backoff, self.keep_delivered = retries, backoff, keep_delivered
        self.delivered: list[Delivered] = []
        self.failures: list[FailedAttempt] = []
        self.dropped: list[dict[str, Any]] = []
        self.delivered_count = 0
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._busy = 0
        self._cond = threading.Condition()
        self._stopped = False
        # No proxies, ever: the simulator talks to loopback and nothing else.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._thread = threading.Thread(target=self._run, name="ses-sim-sns", daemon=True)
        self._thread.start()

    def submit(
        self, url: str, envelope: dict[str, Any], subscription_arn: str, delay: float = 0.0
    ) -> None:
        require_loopback_url(url)
        job = _Job(time.monotonic() + delay, next(self._seq), url, envelope, subscription_arn)
        with self._cond:
            heapq.heappush(self._heap, job)
            self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued notification is posted or given up on."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._heap and not self._busy, timeout)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout=5)

    def reset(self) -> None:
        with self._cond:
            self._heap.clear()
            self.delivered.clear()
            self.failures.clear()
            self.dropped.clear()
            self.delivered_count = 0

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and (
                    not self._heap or self._heap[0].due > time.monotonic()
                ):
                    wait = self._heap[0].due - time.monotonic() if self._heap else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                job = heapq.heappop(self._heap)
                self._busy += 1
            try:
                self._post(job)
            finally:
                with self._cond:
                    self._busy -= 1
                    self._cond.notify_all()

    def _post(self, job: _Job) -> None:
        envelope = job.envelope
        request = urllib.request.Request(
            job.url,
            data=json.dumps(envelope).encode("utf-8"),
            method="POST",
            headers={
                "Content-Type": "text/plain; charset=UTF-8",
                "User-Agent": USER_AGENT,
                "x-amz-sns-message-type": envelope["Type"],
                "x-amz-sns-message-id": envelope["MessageId"],
                "x-amz-sns-topic-arn": envelope["TopicArn"],
                "x-amz-sns-subscription-arn": job.subscription_arn,
            },
        )
        try:
            with self._opener.open(request, timeout=5) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            # SNS retries server-side failures only; a 4xx other than 429 is final.
            final = 400 <= error.code < 500 and error.code != 429
            self._failed(job, f"HTTP {error.code}", retry=not final)
            return
        except OSError as error:
            self._failed(job, f"{type(error).__name__}: {error}")
            return
        with self._cond:
            self.delivered_count += 1
            if self.keep_delivered:
                self.delivered.append(Delivered(job.url, envelope, status, job.attempt))

    def _failed(self, job: _Job, error: str, retry: bool = True) -> None:
        with self._cond:
            failure = FailedAttempt(job.url, job.envelope["MessageId"], job.attempt, error)
            self.failures.append(failure)
            if not retry or job.attempt > self.retries:
                self.dropped.append(job.envelope)
                return
            job.due = time.monotonic() + self.backoff * 2 ** (job.attempt - 1)
            job.attempt += 1
            heapq.heappush(self._heap, job)
