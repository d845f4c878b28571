"""Suppressions: addresses we must never mail again, by address or by keyed hash."""

from __future__ import annotations

import hashlib
import hmac

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from webapp.models import Suppression, email_key


def address_hash(erasure_key: str, address: str) -> str:
    """HMAC-SHA256 of the lower-cased address: kept after erasure instead of the address."""
    digest = hmac.new(erasure_key.encode(), email_key(address).encode(), hashlib.sha256)
    return digest.hexdigest()


def suppressed_keys(session: Session, addresses: list[str], erasure_key: str) -> set[str]:
    """The lower-cased addresses among `addresses` that are suppressed, a query per 500."""
    keys = sorted({email_key(a) for a in addresses})
    key_of_hash = {address_hash(erasure_key, key): key for key in keys}
    hashes = list(key_of_hash)
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        stmt = select(Suppression.email_key, Suppression.address_hash).where(
            or_(
                Suppression.email_key.in_(keys[start : start + 500]),
                Suppression.address_hash.in_(hashes[start : start + 500]),
            )
        )
        for key, hashed in session.execute(stmt):
            found.add(key if key else key_of_hash[hashed])
    return found


def is_suppressed(session: Session, address: str, erasure_key: str) -> bool:
    return bool(suppressed_keys(session, [address], erasure_key))


def suppress(
    session: Session, address: str, *, reason: str, source: str, note: str | None = None
) -> Suppression:
    """Suppress an address (idempotent); the caller commits."""
    key = email_key(address)
    existing = session.scalar(select(Suppression).where(Suppression.email_key == key))
    if existing is not None:
        return existing
    row = Suppression(email_key=key, reason=reason, source=source, note=note)
    session.add(row)
    return row
