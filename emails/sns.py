"""Amazon SNS messages: parse the envelope, check where its certificate comes from, verify its
signature. Pure code: the certificate fetcher is passed in (the app gives one with a timeout
and a cache; tests give their own CA's certificates).
"""

from __future__ import annotations

import base64
import functools
import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import NameOID

MAX_BODY_BYTES = 256 * 1024  # SES event notifications are a few KB; SNS caps messages at 256 KB
MAX_DEPTH = 32
# SES events carry small counters (processingTimeMillis); a longer number is an attack on the
# parser (Python refuses to convert more than 4,300 digits, with a ValueError).
MAX_NUMBER_CHARS = 32
# Where certificate URLs point: https://sns.<region>.amazonaws.com[.cn]/…, and nothing else.
_URL = re.compile(r"https://(?P<host>[a-z0-9.-]+)(?P<rest>/[!-~]*)")
_CERT_PATH = re.compile(r"/SimpleNotificationService-[A-Za-z0-9]+\.pem")
# The partitions whose SNS hosts the hook accepts, by their DNS suffix (botocore's data).
_SNS_DNS_SUFFIXES = ("amazonaws.com", "amazonaws.com.cn")
_SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"
    ),
    "UnsubscribeConfirmation": (
        "Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"
    ),
}
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}

CertificateFetcher = Callable[[str], bytes]


class SnsError(ValueError):
    """A message we must not act on; `reason` is logged, never shown to the sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_STRUCTURE = re.compile(rb'[\[\]{}"\\]')


def _nests_deeper_than(body: bytes, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than `limit`: a scan before parsing, so a
    deeply nested body is refused without building it (json's recursion limit is ~1,000)."""
    depth, in_string, escaped = 0, False, -1
    for match in _STRUCTURE.finditer(body):
        at = match.start()
        if at == escaped:
            continue
        char = body[at]
        if in_string:
            if char == 0x5C:  # a backslash: the next byte is escaped
                escaped = at + 1
            elif char == 0x22:
                in_string = False
        elif char == 0x22:
            in_string = True
        elif char in b"[{":
            depth += 1
            if depth > limit:
                return True
        elif char in b"]}":
            depth -= 1
    return False


def _number(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        if len(text) > MAX_NUMBER_CHARS:
            raise SnsError(f"a number longer than {MAX_NUMBER_CHARS} characters")
        return kind(text)

    return parse


def _no_constant(name: str) -> None:
    raise SnsError(f"{name} is not JSON")


_PARSE_INT, _PARSE_FLOAT = _number(int), _number(float)


def parse_json(body: bytes, *, what: str = "body", max_bytes: int = MAX_BODY_BYTES) -> Any:
    """JSON within size, nesting and number-length limits, or SnsError: never another error."""
    if len(body) > max_bytes:
        raise SnsError(f"{what} larger than {max_bytes} bytes")
    if _nests_deeper_than(body, MAX_DEPTH):
        raise SnsError(f"{what} nests deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(
            body,
            parse_int=_PARSE_INT,
            parse_float=_PARSE_FLOAT,
            parse_constant=_no_constant,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise SnsError(f"{what} is not JSON: {error}") from None


def parse_envelope(body: bytes) -> dict[str, str]:
    """The SNS envelope: a flat JSON object of strings with the fields its Type needs."""
    envelope = parse_json(body)
    if not isinstance(envelope, dict):
        raise SnsError("the body is not a JSON object")
    kind = envelope.get("Type")
    if kind not in _SIGNED_FIELDS:
        raise SnsError(f"unknown message type {kind!r}")
    required = [f for f in _SIGNED_FIELDS[kind] if f != "Subject"]
    required += ["Signature", "SignatureVersion", "SigningCertURL"]
    missing = [f for f in required if not isinstance(envelope.get(f), str)]
    if missing:
        raise SnsError(f"{kind} without {', '.join(missing)}")
    return {k: v for k, v in envelope.items() if isinstance(v, str)}


def canonical_string(envelope: Mapping[str, str]) -> bytes:
    """What SNS signs: 'Name\\nvalue\\n' for each signed field present, in SNS's order."""
    lines = []
    for name in _SIGNED_FIELDS[envelope["Type"]]:
        if name in envelope:
            lines.append(f"{name}\n{envelope[name]}\n")
    return "".join(lines).encode()


@functools.cache
def sns_hosts() -> frozenset[str]:
    """sns.<region>.amazonaws.com and sns.<region>.amazonaws.com.cn for every region botocore
    knows SNS in. A pattern would also take sns.s3.amazonaws.com — an S3 bucket named "sns",
    which anyone can create and fill with a certificate of their own."""
    session = botocore.session.get_session()
    endpoints = session.get_component("data_loader").load_data("endpoints")
    hosts = set()
    for partition in endpoints["partitions"]:
        suffix = partition["dnsSuffix"]
        if suffix in _SNS_DNS_SUFFIXES:
            for region in session.get_available_regions("sns", partition["partition"]):
                hosts.add(f"sns.{region}.{suffix}")
    return frozenset(hosts)


def _sns_url_parts(url: str) -> tuple[str, str] | None:
    """(host, path and query) of an https URL on an SNS host, with no port, user or fragment."""
    match = _URL.fullmatch(url)
    if match is None or match["host"] not in sns_hosts() or "#" in match["rest"]:
        return None
    return match["host"], match["rest"]


def is_sns_url(url: str) -> bool:
    """An https URL on SNS's own host, https://sns.<region>.amazonaws.com[.cn]/…, nothing else."""
    return _sns_url_parts(url) is not None


def is_aws_certificate_url(url: str) -> bool:
    """Only https://sns.<region>.amazonaws.com[.cn]/SimpleNotificationService-….pem."""
    parts = _sns_url_parts(url)
    return parts is not None and _CERT_PATH.fullmatch(parts[1]) is not None


@dataclass(frozen=True)
class SigningCertificate:
    """What verification needs of a signing certificate, read from its PEM once."""

    not_before: datetime
    not_after: datetime
    common_names: tuple[str, ...]
    key: PublicKeyTypes


@functools.lru_cache(maxsize=16)
def signing_certificate(pem: bytes) -> SigningCertificate:
    """Parsed once per certificate, not once per message: SNS signs with a few certificates
    per region, rotated rarely, and every notification names one of them. Bounded (LRU)."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise SnsError("the signing certificate cannot be read") from None
    names = tuple(
        str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    )
    return SigningCertificate(
        cert.not_valid_before_utc, cert.not_valid_after_utc, names, cert.public_key()
    )


def _check_certificate(cert: SigningCertificate, now: datetime, aws: bool) -> None:
    if not cert.not_before <= now <= cert.not_after:
        raise SnsError("the signing certificate is not valid now")
    if aws:
        names = list(cert.common_names)
        if not any(n.startswith("sns.") and ".amazonaws.com" in n for n in names):
            raise SnsError(f"the signing certificate is not Amazon SNS's: {names}")


def verify_message(
    envelope: Mapping[str, str],
    *,
    topic_arns: Collection[str],
    fetch_certificate: CertificateFetcher,
    test_certificate: bytes | None = None,
    max_age: timedelta = timedelta(hours=24),
    now: datetime | None = None,
) -> None:
    """Raise SnsError unless the message is from an accepted topic, fresh, and signed by SNS.

    The certificate is fetched only from SNS's own HTTPS host. `test_certificate` (the local
    simulator's, never in production) is used instead when the URL is not an AWS one.
    """
    now = now or datetime.now(UTC)
    if envelope.get("TopicArn") not in topic_arns:
        raise SnsError(f"topic {envelope.get('TopicArn')!r} is not accepted")
    try:
        sent = datetime.fromisoformat(envelope["Timestamp"].replace("Z", "+00:00"))
    except ValueError:
        raise SnsError("the Timestamp is not a date") from None
    if sent.tzinfo is None:
        raise SnsError("the Timestamp has no time zone")
    if now - sent > max_age:
        raise SnsError(f"the message is older than {max_age}")
    if sent - now > timedelta(minutes=5):
        raise SnsError("the message is from the future")
    algorithm = _HASHES.get(envelope["SignatureVersion"])
    if algorithm is None:
        raise SnsError(f"unknown SignatureVersion {envelope['SignatureVersion']!r}")

    url = envelope["SigningCertURL"]
    aws = is_aws_certificate_url(url)
    if aws:
        pem = fetch_certificate(url)
    elif test_certificate is not None:
        pem = test_certificate
    else:
        raise SnsError(f"certificate URL {url!r} is not Amazon SNS's")
    cert = signing_certificate(pem)
    _check_certificate(cert, now, aws)
    key = cert.key
    if not isinstance(key, rsa.RSAPublicKey):
        raise SnsError("the signing certificate has no RSA key")
    try:
        signature = base64.b64decode(envelope["Signature"], validate=True)
        key.verify(signature, canonical_string(envelope), padding.PKCS1v15(), algorithm())
    except (InvalidSignature, ValueError):
        raise SnsError("the signature does not match") from None


class CachedCertificates:
    """Fetches SNS signing certificates over HTTPS with a timeout, keeping each for a while."""

    def __init__(
        self,
        *,
        timeout: float = 5.0,
        ttl: float = 24 * 3600,
        max_entries: int = 64,
        opener: Callable[[str, float], bytes] | None = None,
    ) -> None:
        self.timeout = timeout
        self.ttl = ttl
        self.max_entries = max_entries
        self._opener = opener or _https_get
        self._cache: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str) -> bytes:
        if not is_aws_certificate_url(url):  # defence in depth: never fetch anything else
            raise SnsError(f"certificate URL {url!r} is not Amazon SNS's")
        with self._lock:
            cached = self._cache.get(url)
            if cached and time.monotonic() - cached[0] < self.ttl:
                return cached[1]
        try:
            pem = self._opener(url, self.timeout)
        except OSError as error:
            raise SnsError(f"could not fetch the signing certificate: {error}") from None
        with self._lock:
            if url not in self._cache and len(self._cache) >= self.max_entries:
                del self._cache[next(iter(self._cache))]  # the oldest fetched
            self._cache[url] = (time.monotonic(), pem)
        return pem


def _https_get(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data: bytes = response.read(64 * 1024)
        return data
