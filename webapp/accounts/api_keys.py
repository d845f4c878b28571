"""API keys: made by admins (console or CLI), shown once, checked on every /api/v1 request.

A key reads `yb_<prefix>_<secret>`: the prefix (visible in the console, so an admin can tell
keys apart in a log) finds the row, and the SHA-256 digest of the whole key is compared in
constant time. The key has 256 random bits, so the digest cannot be turned back into it and
checking it costs nothing (as with two-factor recovery codes). Revoking is for good: a revoked
key is refused like a wrong one, and the row stays so the audit log still names it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from webapp.audit import record_audit
from webapp.models import SCOPES, ApiKey, User
from webapp.plain_text import find_unsafe

MAX_NAME = 100
# last_used_at is written at most this often per key: a busy client costs one UPDATE a minute,
# not one per request, and "last used" to the minute is all an admin needs to see.
USE_RESOLUTION = timedelta(minutes=1)
_KEY = re.compile(r"yb_([a-z0-9]{12})_([A-Za-z0-9_-]{43})")


class ApiKeyError(ValueError):
    """A key that cannot be made or revoked; each subclass is one reason, `field` the form
    field it belongs to. `str()` is the English sentence the CLI prints."""

    field = "name"


class ApiKeyNameInvalid(ApiKeyError):
    def __init__(self) -> None:
        super().__init__(f"give the key a name of 1 to {MAX_NAME} characters on one line")


class ScopesInvalid(ApiKeyError):
    field = "scopes"

    def __init__(self, unknown: Sequence[str]) -> None:
        listed = ", ".join(SCOPES)
        if unknown:
            super().__init__(f"unknown scope {', '.join(unknown)}; choose among {listed}")
        else:
            super().__init__(f"choose at least one scope among {listed}")
        self.unknown = tuple(unknown)


class AlreadyRevoked(ApiKeyError):
    def __init__(self, key: ApiKey) -> None:
        super().__init__(f"the key {key.prefix} is revoked already")
        self.key = key


@dataclass(frozen=True)
class NewKey:
    """A key just made: the row and the key itself, which is never seen again."""

    row: ApiKey
    key: str


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _actor_name(actor: User | str) -> str:
    return actor.email if isinstance(actor, User) else actor


def create_api_key(
    session: Session, name: str, scopes: Sequence[str], *, actor: User | str, now: datetime
) -> NewKey:
    """Make a key with `scopes` (audited); the caller commits and shows `key` once."""
    clean = " ".join(name.split())
    if not clean or len(clean) > MAX_NAME or find_unsafe(name) is not None:
        raise ApiKeyNameInvalid
    chosen = list(dict.fromkeys(scopes))
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown or not chosen:
        raise ScopesInvalid(unknown)
    prefix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(12))
    key = f"yb_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(
        name=clean,
        prefix=prefix,
        secret_hash=_digest(key),
        scopes=[s for s in SCOPES if s in chosen],  # in the one order SCOPES lists
        created_by_id=actor.id if isinstance(actor, User) else None,
        created_by=_actor_name(actor),
        created_at=now,
    )
    session.add(row)
    session.flush()
    record_audit(
        session,
        "api_key.create",
        actor=actor,
        target=f"api_key:{row.id}",
        detail={"name": clean, "prefix": prefix, "scopes": row.scopes},
    )
    return NewKey(row, key)


def revoke_api_key(session: Session, key: ApiKey, *, actor: User | str, now: datetime) -> None:
    """Refuse the key from now on (audited); the caller commits."""
    if key.revoked_at is not None:
        raise AlreadyRevoked(key)
    key.revoked_at = now
    record_audit(
        session,
        "api_key.revoke",
        actor=actor,
        target=f"api_key:{key.id}",
        detail={"name": key.name, "prefix": key.prefix},
    )


def list_api_keys(session: Session) -> list[ApiKey]:
    """Every key, live ones first, newest first within each."""
    return list(
        session.scalars(
            select(ApiKey).order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())
        )
    )


def key_prefix(presented: str) -> str | None:
    """The lookup prefix of something shaped like a key, else None (no query for junk)."""
    match = _KEY.fullmatch(presented)
    return match.group(1) if match else None


def authenticate(session: Session, presented: str) -> ApiKey | None:
    """The live key `presented` is, or None: unknown, mistyped and revoked keys alike.

    The digest is compared in constant time, so how long a refusal takes does not tell how
    much of a guessed key was right.
    """
    prefix = key_prefix(presented)
    if prefix is None:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or not hmac.compare_digest(row.secret_hash, _digest(presented)):
        return None
    if row.revoked_at is not None:
        return None
    return row


def note_use(session: Session, key: ApiKey, now: datetime) -> bool:
    """Set last_used_at if it is older than USE_RESOLUTION; True when a row was written.

    The condition sits in the UPDATE itself, so requests racing in the same minute write once.
    The caller commits.
    """
    if key.last_used_at is not None and now - key.last_used_at < USE_RESOLUTION:
        return False
    written = session.execute(
        update(ApiKey)
        .where(
            ApiKey.id == key.id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= now - USE_RESOLUTION),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    key.last_used_at = now
    return bool(written.rowcount)  # type: ignore[attr-defined]


def key_actor(key: ApiKey) -> str:
    """How the audit log names what a key did."""
    return f"api-key:{key.id} {key.name}"[:320]
