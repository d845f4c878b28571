"""The links a reader is sent: random subscriber tokens and signed, expiring confirmation links.

Subscriber tokens (/p/, /u/) never expire. An admin can rotate the one for /p/; every token
ever issued keeps working for /u/, so one-click unsubscribe in old emails never breaks.
Confirmation links (/confirm/) are signed with SECRET_KEY and expire; they hold ids and a
digest, never an address (link previews and proxies log URLs).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.audit import record_audit
from webapp.models import Subscriber, SubscriberToken, User, email_key, utcnow
from webapp.models.base import looks_like_signed, looks_like_token, new_token

CONFIRM_SALT = "yuebao.confirm"
SUBSCRIBE = "subscribe"
EMAIL_CHANGE = "email"
MAX_AGE = {SUBSCRIBE: timedelta(days=7), EMAIL_CHANGE: timedelta(days=2)}


class LinkError(ValueError):
    """A confirmation link that cannot be used; nothing was changed."""


class InvalidLink(LinkError):
    """Tampered, unknown, or for a reader who is no longer there."""


class ExpiredLink(LinkError):
    """Correctly signed but too old, or overtaken by a later change (e.g. an unsubscribe)."""


class SupersededLink(ExpiredLink):
    """Correctly signed and in time, but a newer request for the same reader replaced it: only
    the newest confirmation link works, so an older email never confirms newer choices."""


@dataclass(frozen=True)
class SignedLink:
    kind: str  # SUBSCRIBE or EMAIL_CHANGE
    subscriber_id: int
    value: Any  # SUBSCRIBE: the id of the subscribe record; EMAIL_CHANGE: the address digest


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=CONFIRM_SALT)


def address_digest(secret_key: str, address: str) -> str:
    """A short keyed digest of an address, so a link can name it without showing it."""
    digest = hmac.new(secret_key.encode(), email_key(address).encode(), hashlib.sha256)
    return digest.hexdigest()[:24]


def sign_subscribe(secret_key: str, subscriber_id: int, request_id: int) -> str:
    """The double opt-in link's token: confirms subscribe request `request_id`."""
    return _serializer(secret_key).dumps({"k": SUBSCRIBE, "s": subscriber_id, "v": request_id})


def sign_email_change(secret_key: str, subscriber_id: int, address: str) -> str:
    """The token confirming that `address` becomes the reader's new address."""
    value = address_digest(secret_key, address)
    return _serializer(secret_key).dumps({"k": EMAIL_CHANGE, "s": subscriber_id, "v": value})


def read_signed(secret_key: str, signed: str) -> SignedLink:
    """Check signature and age; raise InvalidLink or ExpiredLink."""
    if not looks_like_signed(signed):
        raise InvalidLink("the link is not valid")
    serializer = _serializer(secret_key)
    longest = max(MAX_AGE.values())
    try:
        payload, signed_at = serializer.loads(
            signed, max_age=int(longest.total_seconds()), return_timestamp=True
        )
    except SignatureExpired:
        raise ExpiredLink("the link has expired") from None
    except BadSignature:
        raise InvalidLink("the link is not valid") from None
    if (
        not isinstance(payload, dict)
        or payload.get("k") not in MAX_AGE
        or not isinstance(payload.get("s"), int)
    ):
        raise InvalidLink("the link is not valid")
    if utcnow() - signed_at > MAX_AGE[payload["k"]]:
        raise ExpiredLink("the link has expired")
    return SignedLink(kind=payload["k"], subscriber_id=payload["s"], value=payload.get("v"))


def find_by_preferences_token(session: Session, token: str) -> Subscriber | None:
    """The reader whose current token this is (rotated tokens no longer open /p/)."""
    if not looks_like_token(token):
        return None
    return session.scalar(select(Subscriber).where(Subscriber.token == token))


def find_by_unsubscribe_token(session: Session, token: str) -> Subscriber | None:
    """The reader of any token ever issued to them: /u/ links in old emails keep working."""
    if not looks_like_token(token):
        return None
    current = session.scalar(select(Subscriber).where(Subscriber.token == token))
    if current is not None:
        return current
    stmt = (
        select(Subscriber)
        .join(SubscriberToken, SubscriberToken.subscriber_id == Subscriber.id)
        .where(SubscriberToken.token == token)
    )
    return session.scalar(stmt)


def rotate_preferences_token(
    session: Session, subscriber: Subscriber, *, actor: User | str = "cli"
) -> str:
    """Give the reader a new token; the old one keeps working for /u/ only. Caller commits."""
    previous = session.scalar(
        select(SubscriberToken.retired_at)
        .where(SubscriberToken.subscriber_id == subscriber.id)
        .order_by(SubscriberToken.retired_at.desc())
        .limit(1)
    )
    now = utcnow()
    session.add(
        SubscriberToken(
            subscriber_id=subscriber.id,
            token=subscriber.token,
            created_at=previous or subscriber.created_at,
            retired_at=now,
        )
    )
    subscriber.token = new_token()
    session.flush()
    target = f"subscriber:{subscriber.id}"
    record_audit(session, "subscriber.rotate_token", actor=actor, target=target)
    return subscriber.token
