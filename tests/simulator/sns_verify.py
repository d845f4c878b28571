"""An independent SNS signature check, for testing the simulator's signing (tests only).

Written from AWS's "Verifying the signatures of Amazon SNS messages", not from the simulator's
code, so a mistake in one is not silently repeated in the other.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_SIGNED_KEYS = {
    "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"],
    "SubscriptionConfirmation": [
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ],
}
_SIGNED_KEYS["UnsubscribeConfirmation"] = _SIGNED_KEYS["SubscriptionConfirmation"]


def verify_sns_signature(message: dict[str, Any], cert_pem: bytes) -> bool:
    """True if `message` was signed by the key of `cert_pem` as SNS signs (version 1 or 2)."""
    keys = _SIGNED_KEYS.get(message.get("Type", ""))
    version = message.get("SignatureVersion")
    if keys is None or version not in ("1", "2"):
        return False
    lines = []
    for key in keys:
        if key in message:
            lines.append(f"{key}\n{message[key]}\n")
        elif key != "Subject":  # Subject is the only optional signed key
            return False
    try:
        signature = base64.b64decode(message["Signature"], validate=True)
    except (KeyError, binascii.Error):
        return False
    public_key = x509.load_pem_x509_certificate(cert_pem).public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    try:
        public_key.verify(signature, "".join(lines).encode(), padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        return False
    return True
