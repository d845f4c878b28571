"""A test CA, an SNS-like signing certificate, and signed SNS messages for tests."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from emails.sns import canonical_string

CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
TOPIC = "arn:aws:sns:us-east-1:123456789012:yuebao-events"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@dataclass
class Signer:
    key: rsa.RSAPrivateKey
    cert_pem: bytes

    @classmethod
    def create(cls, common_name: str = "sns.amazonaws.com") -> Signer:
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.now(UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(_name("yuebao test CA"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(ca_key, hashes.SHA256())
        )
        return cls(key, cert.public_bytes(serialization.Encoding.PEM))

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

    def fetcher(self) -> Any:
        def fetch(url: str) -> bytes:
            assert url == CERT_URL
            return self.cert_pem

        return fetch


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
