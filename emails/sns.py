"""Amazon SNS messages: parse the envelope, check where its certificate comes from, verify the
certificate up to a trusted root and the message's signature. Pure code: fetching is passed in
(the app gives one with a timeout; tests give their own CA's certificates and trust store).
"""

from __future__ import annotations

import base64
import functools
import http.client
import json
import os
import re
import ssl
import threading
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import botocore.session

# cryptography (~8 MB resident once loaded) is imported where a signature or a certificate is
# checked: a worker that reads only SES's raw events (or none) never loads it.
if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
    from cryptography.x509.verification import Store

MAX_BODY_BYTES = 256 * 1024  # SES event notifications are a few KB; SNS caps messages at 256 KB
MAX_DEPTH = 32
# SES events carry small counters (processingTimeMillis); a longer number is an attack on the
# parser (Python refuses to convert more than 4,300 digits, with a ValueError).
MAX_NUMBER_CHARS = 32
MAX_CERTIFICATE_BYTES = 64 * 1024
# Where certificate URLs point: https://sns.<region>.amazonaws.com[.cn]/…, and nothing else.
_URL = re.compile(r"https://(?P<host>[a-z0-9.-]+)(?P<rest>/[!-~]*)")
_CERT_PATH = re.compile(r"/SimpleNotificationService-[A-Za-z0-9]+\.pem")
# Where a certificate says its issuer can be fetched (its AIA extension): plain http is usual
# and harmless, the issuer's signature is what is checked.
_ISSUER_URL = re.compile(r"https?://(?P<host>[a-z0-9.-]+)/[!-~]*")
# Amazon Trust Services publishes the intermediates that issue SNS's certificates.
ISSUER_DOMAINS = ("amazontrust.com",)
MAX_FETCHED_ISSUERS = 3
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
_HASHES = {"1": "SHA1", "2": "SHA256"}  # SignatureVersion → cryptography's hash class

Fetch = Callable[[str], bytes]
"""GET a URL's body; SnsUnavailable when it cannot be had now, SnsError when it never will."""
SigningKeys = Callable[[str, datetime], "rsa.RSAPublicKey"]
"""The verified public key of the signing certificate at a URL, at a time; SnsError if none."""


class SnsError(ValueError):
    """A message we must not act on; `reason` is logged, never shown to the sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SnsUnavailable(Exception):
    """A message we cannot check now (SNS's certificate could not be fetched): the hook answers
    with a server error, so SNS delivers it again later instead of the event being lost.

    Not an SnsError: code that refuses on SnsError must not turn a passing outage into a
    permanent refusal."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_STRUCTURE = re.compile(rb'[\[\]{}"\\]')


def _nests_deeper_than(body: bytes, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than `limit`: a scan before parsing, so a
    deeply nested body is refused without building it (json's recursion limit is ~1,000)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # the usual SES event: too few brackets to nest that deep, no scan
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
    key: PublicKeyTypes


@functools.lru_cache(maxsize=16)
def signing_certificate(pem: bytes) -> SigningCertificate:
    """Parsed once per certificate, not once per message (the local test certificate). Bounded."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise SnsError("the signing certificate cannot be read") from None
    return SigningCertificate(
        cert.not_valid_before_utc, cert.not_valid_after_utc, cert.public_key()
    )


def verify_message(
    envelope: Mapping[str, str],
    *,
    topic_arns: Collection[str],
    signing_keys: SigningKeys,
    test_certificate: bytes | None = None,
    max_age: timedelta = timedelta(hours=24),
    now: datetime | None = None,
) -> None:
    """Raise SnsError unless the message is from an accepted topic, fresh, and signed by SNS;
    SnsUnavailable when SNS's certificate cannot be fetched now.

    The certificate comes only from SNS's own HTTPS host and must chain to a trusted root.
    `test_certificate` (the local simulator's, never in production) is used instead when the
    URL is not an AWS one.
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

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
    algorithm_name = _HASHES.get(envelope["SignatureVersion"])
    if algorithm_name is None:
        raise SnsError(f"unknown SignatureVersion {envelope['SignatureVersion']!r}")
    algorithm: Callable[[], hashes.HashAlgorithm] = getattr(hashes, algorithm_name)

    url = envelope["SigningCertURL"]
    key: PublicKeyTypes
    if is_aws_certificate_url(url):
        key = signing_keys(url, now)
    elif test_certificate is not None:
        cert = signing_certificate(test_certificate)
        if not cert.not_before <= now <= cert.not_after:
            raise SnsError("the signing certificate is not valid now")
        key = cert.key
    else:
        raise SnsError(f"certificate URL {url!r} is not Amazon SNS's")
    if not isinstance(key, rsa.RSAPublicKey):
        raise SnsError("the signing certificate has no RSA key")
    try:
        signature = base64.b64decode(envelope["Signature"], validate=True)
        key.verify(signature, canonical_string(envelope), padding.PKCS1v15(), algorithm())
    except (InvalidSignature, ValueError):
        raise SnsError("the signature does not match") from None


@dataclass(frozen=True)
class _Verified:
    """A verified signing key, good while `now` is in its chain's validity and `ttl` lasts."""

    key: rsa.RSAPublicKey
    valid_from: datetime
    valid_until: datetime
    verified_at: datetime

    def usable(self, now: datetime, ttl: timedelta) -> bool:
        fresh = self.verified_at <= now < self.verified_at + ttl
        return fresh and self.valid_from <= now <= self.valid_until


class SigningCertificates:
    """SNS signing certificates by URL: fetched from SNS's own host, verified up to a root of
    the trust store at the message's time, kept (by URL) until their chain expires or `ttl`.

    SNS serves the leaf alone; the intermediate is fetched from the address the leaf names
    (its AIA caIssuers, on Amazon Trust Services' host) once and kept, as browsers do.
    """

    def __init__(
        self,
        *,
        fetch: Fetch | None = None,
        roots: Sequence[x509.Certificate] | None = None,
        ttl: timedelta = timedelta(hours=24),
        max_entries: int = 64,
        issuer_domains: Collection[str] = ISSUER_DOMAINS,
    ) -> None:
        self._fetch = fetch or fetch_url
        self._roots = roots
        self._store: Store | None = None
        self.ttl = ttl
        self.max_entries = max_entries
        self.issuer_domains = tuple(issuer_domains)
        self._keys: dict[str, _Verified] = {}
        self._issuers: dict[str, x509.Certificate] = {}
        self._lock = threading.Lock()

    def __call__(self, url: str, now: datetime) -> rsa.RSAPublicKey:
        parts = _sns_url_parts(url)
        if parts is None or _CERT_PATH.fullmatch(parts[1]) is None:
            # defence in depth: never fetch anything else
            raise SnsError(f"certificate URL {url!r} is not Amazon SNS's")
        with self._lock:
            cached = self._keys.get(url)
        if cached is not None and cached.usable(now, self.ttl):
            return cached.key
        verified = self._verify(parts[0], self._fetch(url), now)
        with self._lock:
            self._keys.pop(url, None)
            if len(self._keys) >= self.max_entries:
                del self._keys[next(iter(self._keys))]  # the oldest verified
            self._keys[url] = verified
        return verified.key

    def _trust(self) -> Store:
        from cryptography.x509.verification import Store

        if self._store is None:
            roots = self._roots if self._roots is not None else system_roots()
            if not roots:
                raise SnsUnavailable("no trusted root certificates found (the system store)")
            self._store = Store(list(roots))
        return self._store

    def _verify(self, host: str, pem: bytes, now: datetime) -> _Verified:
        from cryptography import x509
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.verification import PolicyBuilder, VerificationError

        try:
            leaf, *intermediates = x509.load_pem_x509_certificates(pem)
        except ValueError:
            raise SnsError("the signing certificate cannot be read") from None
        name = _signing_name(leaf, host)
        if name is None:
            raise SnsError(f"the signing certificate is not Amazon SNS's: {_dns_names(leaf)}")
        verifier = (
            PolicyBuilder().store(self._trust()).time(now).build_server_verifier(x509.DNSName(name))
        )
        top = leaf
        for fetched in range(MAX_FETCHED_ISSUERS + 1):
            try:
                chain = verifier.verify(leaf, intermediates)
                break
            except VerificationError as error:
                failure = str(error)
            issuer_url = self._issuer_url(top) if fetched < MAX_FETCHED_ISSUERS else None
            if issuer_url is None:
                raise SnsError(f"the signing certificate is not trusted at {now}: {failure}")
            top = self._issuer(issuer_url)
            intermediates.append(top)
        try:
            key = leaf.public_key()
        except (ValueError, UnsupportedAlgorithm):
            key = None
        if not isinstance(key, rsa.RSAPublicKey):
            raise SnsError("the signing certificate has no RSA key")
        return _Verified(
            key,
            max(c.not_valid_before_utc for c in chain),
            min(c.not_valid_after_utc for c in chain),
            now,
        )

    def _issuer_url(self, cert: x509.Certificate) -> str | None:
        """The first caIssuers URL of `cert` on an issuer domain; None when it has none."""
        from cryptography import x509
        from cryptography.x509.oid import AuthorityInformationAccessOID

        try:
            access = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess)
        except (x509.ExtensionNotFound, ValueError):  # none, or extensions that cannot be read
            return None
        for description in access.value:
            if description.access_method != AuthorityInformationAccessOID.CA_ISSUERS:
                continue
            location = description.access_location
            if not isinstance(location, x509.UniformResourceIdentifier):
                continue
            match = _ISSUER_URL.fullmatch(location.value)
            if match is not None and any(
                match["host"] == domain or match["host"].endswith(f".{domain}")
                for domain in self.issuer_domains
            ):
                return location.value
        return None

    def _issuer(self, url: str) -> x509.Certificate:
        from cryptography import x509

        with self._lock:
            cached = self._issuers.get(url)
        if cached is not None:
            return cached
        body = self._fetch(url)
        try:
            cert = (
                x509.load_pem_x509_certificate(body)
                if body.lstrip().startswith(b"-----BEGIN")
                else x509.load_der_x509_certificate(body)
            )
        except ValueError:
            raise SnsError(f"the issuer certificate at {url} cannot be read") from None
        with self._lock:
            if len(self._issuers) >= self.max_entries:
                del self._issuers[next(iter(self._issuers))]
            self._issuers[url] = cert
        return cert


def _dns_names(cert: x509.Certificate) -> list[str]:
    from cryptography import x509

    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except (x509.ExtensionNotFound, ValueError):  # none, or extensions that cannot be read
        return []
    return [name.lower() for name in names.value.get_values_for_type(x509.DNSName)]


def _signing_name(leaf: x509.Certificate, host: str) -> str | None:
    """The name SNS's certificate is checked for: the host it came from, or SNS's global name
    (sns.amazonaws.com[.cn], which SNS's certificates carry), whichever the leaf names."""
    suffix = "amazonaws.com.cn" if host.endswith(".cn") else "amazonaws.com"
    names = _dns_names(leaf)
    for wanted in (host, f"sns.{suffix}"):
        for name in names:
            if name == wanted or (name.startswith("*.") and wanted.split(".", 1)[1] == name[2:]):
                return wanted
    return None


@functools.cache
def system_roots() -> tuple[x509.Certificate, ...]:
    """The system's trusted roots (OpenSSL's default file, or SSL_CERT_FILE), read once.

    One by one: a bundle may hold a root that cryptography cannot read (a negative serial
    number), which should cost that root, not the whole store."""
    from cryptography import x509

    paths = ssl.get_default_verify_paths()
    cafile = paths.cafile or (
        paths.openssl_cafile if os.path.exists(paths.openssl_cafile) else None
    )
    if cafile is None:
        return ()
    with open(cafile, "rb") as bundle:
        text = bundle.read()
    roots = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation warnings about such old roots
        for block in re.findall(
            rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", text, re.S
        ):
            try:
                roots.append(x509.load_pem_x509_certificate(block))
            except ValueError:
                continue
    return tuple(roots)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """SNS and Amazon Trust Services serve certificates where they say: a redirect is refused."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)
# Statuses after which the same request may well succeed: SNS should try again.
_PASSING = frozenset({408, 429})


def fetch_url(url: str, *, timeout: float = 5.0, max_bytes: int = MAX_CERTIFICATE_BYTES) -> bytes:
    """GET `url` with a timeout, no redirects and a size cap. A network error, a timeout or a
    server error is SnsUnavailable (try later); any other refusal is SnsError."""
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            data: bytes = response.read(max_bytes + 1)
    except urllib.error.HTTPError as error:
        if error.code >= 500 or error.code in _PASSING:
            raise SnsUnavailable(f"{url} answered {error.code}") from None
        raise SnsError(f"{url} answered {error.code}") from None
    except (OSError, http.client.HTTPException) as error:
        raise SnsUnavailable(f"could not fetch {url}: {error!r}") from None
    if len(data) > max_bytes:
        raise SnsError(f"{url} is larger than {max_bytes} bytes")
    return data
