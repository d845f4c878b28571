"""A test CA (root and intermediate), an SNS-like signing certificate, and signed SNS messages."""

from __future__ import annotations

import base64
import functools
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from emails.sns import SigningCertificates, canonical_string

CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
ISSUER_URL = "http://crt.test.amazontrust.com/test-m01.cer"
TOPIC = "arn:aws:sns:us-east-1:123456789012:yuebao-events"
# Certificates are valid from a day before this to 30 days after (leaf) or 10 years (CA).
ISSUED = datetime.now(UTC).replace(microsecond=0)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _usage(*, sign_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not sign_certificates, content_commitment=False,
        key_encipherment=not sign_certificates, data_encipherment=False, key_agreement=False,
        key_cert_sign=sign_certificates, crl_sign=sign_certificates, encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class SnsCA:
    """A root (for the trust store) and an intermediate that issues leaves, as Amazon Trust
    Services has; the intermediate is served at ISSUER_URL, the address its leaves name."""

    root: x509.Certificate
    intermediate: x509.Certificate
    intermediate_key: rsa.RSAPrivateKey

    @classmethod
    def create(cls, name: str = "yuebao test") -> SnsCA:
        root_key, key = _key(), _key()
        root = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{name} root"))
            .issuer_name(_name(f"{name} root"))
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(ISSUED - timedelta(days=1))
            .not_valid_after(ISSUED + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(_usage(sign_certificates=True), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False
            )
            .sign(root_key, hashes.SHA256())
        )
        intermediate = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{name} M01"))
            .issuer_name(root.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(ISSUED - timedelta(days=1))
            .not_valid_after(ISSUED + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(sign_certificates=True), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
                critical=False,
            )
            .sign(root_key, hashes.SHA256())
        )
        return cls(root, intermediate, key)

    def issue(
        self,
        key: rsa.RSAPrivateKey,
        dns_names: tuple[str, ...],
        *,
        valid_days: int = 30,
        issuer_url: str | None = ISSUER_URL,
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(dns_names[0] if dns_names else "no name"))
            .issuer_name(self.intermediate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(ISSUED - timedelta(days=1))
            .not_valid_after(ISSUED + timedelta(days=valid_days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(sign_certificates=False), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.intermediate_key.public_key()
                ),
                critical=False,
            )
        )
        if dns_names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
            )
        if issuer_url:
            builder = builder.add_extension(
                x509.AuthorityInformationAccess([x509.AccessDescription(
                    AuthorityInformationAccessOID.CA_ISSUERS,
                    x509.UniformResourceIdentifier(issuer_url),
                )]),
                critical=False,
            )
        return builder.sign(self.intermediate_key, hashes.SHA256())


@functools.cache
def shared_ca() -> SnsCA:
    """One CA per test process: generating RSA keys is the slow part."""
    return SnsCA.create()


@dataclass
class Signer:
    """Signs SNS messages as SNS does, with a leaf of `ca` (sns.amazonaws.com by default)."""

    key: rsa.RSAPrivateKey
    cert: x509.Certificate
    ca: SnsCA
    fetched: list[str] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        common_name: str = "sns.amazonaws.com",
        *,
        ca: SnsCA | None = None,
        valid_days: int = 30,
        issuer_url: str | None = ISSUER_URL,
    ) -> Signer:
        ca = ca or shared_ca()
        key = _key()
        names = (common_name,) if common_name else ()
        return cls(key, ca.issue(key, names, valid_days=valid_days, issuer_url=issuer_url), ca)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def sign(self, envelope: dict[str, str], version: str = "2") -> dict[str, str]:
        envelope = {**envelope, "SignatureVersion": version}
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()
        signature = self.key.sign(canonical_string(envelope), padding.PKCS1v15(), algorithm)
        envelope["Signature"] = base64.b64encode(signature).decode()
        return envelope

    def notification(
        self,
        message: dict[str, Any] | str,
        *,
        topic: str = TOPIC,
        version: str = "2",
        timestamp: datetime | None = None,
        message_id: str | None = None,
        cert_url: str = CERT_URL,
    ) -> dict[str, str]:
        envelope = {
            "Type": "Notification",
            "MessageId": message_id or str(uuid.uuid4()),
            "TopicArn": topic,
            "Message": message if isinstance(message, str) else json.dumps(message),
            "Timestamp": (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "SigningCertURL": cert_url,
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        }
        return self.sign(envelope, version)

    def fetch(self, url: str) -> bytes:
        """What SNS's host and Amazon Trust Services' would answer; each URL asked is noted."""
        self.fetched.append(url)
        if url == CERT_URL:
            return self.cert_pem
        if url == ISSUER_URL:
            return self.ca.intermediate.public_bytes(serialization.Encoding.DER)
        raise AssertionError(f"fetched {url}")

    def signing_keys(
        self, fetch: Callable[[str], bytes] | None = None, **options: Any
    ) -> SigningCertificates:
        """Keys as the hook gets them, with this signer's CA root as the only trusted one."""
        return SigningCertificates(fetch=fetch or self.fetch, roots=[self.ca.root], **options)


def ses_event(
    kind: str,
    message_id: str,
    *,
    recipient: str = "reader@example.com",
    delivery_id: int | None = None,
    bounce_type: str = "Permanent",
) -> dict[str, Any]:
    mail: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(),
        "messageId": message_id,
        "destination": [recipient],
        "tags": {"delivery": [str(delivery_id)]} if delivery_id is not None else {},
    }
    event: dict[str, Any] = {"eventType": kind, "mail": mail}
    now = datetime.now(UTC).isoformat()
    if kind == "Bounce":
        event["bounce"] = {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": [{"emailAddress": recipient}],
            "timestamp": now,
        }
    elif kind == "Complaint":
        event["complaint"] = {
            "complainedRecipients": [{"emailAddress": recipient}],
            "complaintFeedbackType": "abuse",
            "timestamp": now,
        }
    elif kind == "Delivery":
        event["delivery"] = {"recipients": [recipient], "timestamp": now}
    elif kind == "Send":
        event["send"] = {}
    return event
