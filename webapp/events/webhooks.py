"""Webhook endpoints as admins manage them: register, rotate the secret, enable, disable,
delete, send a test event, and read the delivery log. Every change is audited.

A secret is 24 random bytes in the Standard Webhooks form (`whsec_` + base64), kept encrypted
with a key derived from SECRET_KEY and shown once, when it is made or rotated.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from webapp.audit import record_audit
from webapp.config import Settings
from webapp.events.webhook_urls import (
    Resolver,
    UnsafeWebhookUrl,
    UrlPolicy,
    check_url,
    system_resolver,
)
from webapp.models import (
    TEST_EVENT,
    WEBHOOK_EVENTS,
    User,
    WebhookEndpoint,
    WebhookMessage,
    WebhookStatus,
    utcnow,
)
from webapp.webhook_queue import envelope, new_message_id

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

Actor = User | str
LOG_SIZE = 50
MAX_ENDPOINTS = 20


class WebhookRefused(ValueError):
    """An admin's request that changes nothing; `reason` is a code for the label table."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = "events" if reason in ("no_events", "unknown_event") else "url"


def url_policy(settings: Settings) -> UrlPolicy:
    return UrlPolicy(production=settings.production,
                     allow_loopback=settings.webhook_allow_loopback)


def _fernet(settings: Settings) -> Fernet:
    # Imported here: cryptography is ~6 MB resident, and a worker with no webhook never needs it.
    from cryptography.fernet import Fernet

    digest = hashlib.sha256(b"yuebao webhook secrets\0" + settings.secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def encrypt_secret(settings: Settings, secret: str) -> str:
    return _fernet(settings).encrypt(secret.encode()).decode()


def endpoint_secret(settings: Settings, endpoint: WebhookEndpoint) -> str:
    return _fernet(settings).decrypt(endpoint.secret_encrypted.encode()).decode()


def _events(wanted: Sequence[str]) -> list[str]:
    chosen = [event for event in WEBHOOK_EVENTS if event in set(wanted)]
    if not chosen or len(chosen) != len(set(wanted)):
        raise WebhookRefused("no_events" if not chosen else "unknown_event")
    return chosen


def _actor_name(actor: Actor) -> str:
    return actor.email if isinstance(actor, User) else actor


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))


def get_endpoint(session: Session, endpoint_id: int) -> WebhookEndpoint | None:
    return session.get(WebhookEndpoint, endpoint_id)


def create_endpoint(
    session: Session,
    settings: Settings,
    url: str,
    events: Sequence[str],
    *,
    actor: Actor,
    resolve: Resolver = system_resolver,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it and its secret (the only time the secret is shown).
    Raises WebhookRefused or UnsafeWebhookUrl and changes nothing."""
    url = url.strip()
    if not url or len(url) > 2000:
        raise UnsafeWebhookUrl("malformed")
    chosen = _events(events)
    check_url(url, url_policy(settings), resolve)
    if (session.scalar(select(func.count(WebhookEndpoint.id))) or 0) >= MAX_ENDPOINTS:
        raise WebhookRefused("too_many")
    secret = new_secret()
    endpoint = WebhookEndpoint(
        url=url, events=chosen, secret_encrypted=encrypt_secret(settings, secret),
        enabled=True, failure_count=0, created_by=_actor_name(actor), created_at=utcnow(),
    )
    session.add(endpoint)
    session.flush()
    record_audit(session, "webhook.create", actor=actor, target=str(endpoint.id),
                 detail={"url": url, "events": chosen})
    return endpoint, secret


def rotate_secret(
    session: Session, settings: Settings, endpoint: WebhookEndpoint, *, actor: Actor
) -> str:
    """A new secret from now on (messages not yet sent are signed with it); returns it."""
    secret = new_secret()
    endpoint.secret_encrypted = encrypt_secret(settings, secret)
    endpoint.secret_rotated_at = utcnow()
    record_audit(session, "webhook.rotate", actor=actor, target=str(endpoint.id),
                 detail={"url": endpoint.url})
    return secret


def enable(session: Session, endpoint: WebhookEndpoint, *, actor: Actor) -> None:
    """Sending resumes; the run of failures that disabled it is forgotten."""
    if endpoint.enabled:
        return
    endpoint.enabled, endpoint.disabled_at, endpoint.disabled_reason = True, None, None
    endpoint.failure_count, endpoint.failing_since = 0, None
    record_audit(session, "webhook.enable", actor=actor, target=str(endpoint.id),
                 detail={"url": endpoint.url})


def disable(
    session: Session,
    endpoint: WebhookEndpoint,
    *,
    actor: Actor,
    reason: str = "admin",
    now: datetime | None = None,
) -> None:
    """Nothing more is sent to it (what is queued waits) until an admin enables it."""
    if not endpoint.enabled:
        return
    endpoint.enabled, endpoint.disabled_at = False, now or utcnow()
    endpoint.disabled_reason = reason
    record_audit(session, "webhook.disable", actor=actor, target=str(endpoint.id),
                 detail={"url": endpoint.url, "reason": reason})


def delete_endpoint(session: Session, endpoint: WebhookEndpoint, *, actor: Actor) -> None:
    """Gone with its log (the messages cascade)."""
    record_audit(session, "webhook.delete", actor=actor, target=str(endpoint.id),
                 detail={"url": endpoint.url})
    session.delete(endpoint)


def send_test_event(
    session: Session, endpoint: WebhookEndpoint, *, actor: Actor, now: datetime | None = None
) -> WebhookMessage:
    """Queue a `webhook.test` message to this endpoint alone; the worker sends it."""
    moment = now or utcnow()
    data = {"endpoint_id": endpoint.id, "message": "yuebao test event"}
    message = WebhookMessage(
        message_id=new_message_id(), endpoint_id=endpoint.id, event_type=TEST_EVENT,
        payload=envelope(TEST_EVENT, data, moment), created_at=moment, next_attempt_at=moment,
        status=WebhookStatus.PENDING, attempts=0,
    )
    session.add(message)
    record_audit(session, "webhook.test", actor=actor, target=str(endpoint.id),
                 detail={"url": endpoint.url})
    return message


@dataclass(frozen=True)
class LogEntry:
    message: WebhookMessage
    url: str


def delivery_log(
    session: Session, endpoint_id: int | None = None, limit: int = LOG_SIZE
) -> list[LogEntry]:
    """The newest messages, of one endpoint or all, newest first."""
    stmt = (
        select(WebhookMessage, WebhookEndpoint.url)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
        .order_by(WebhookMessage.id.desc())
        .limit(limit)
    )
    if endpoint_id is not None:
        stmt = stmt.where(WebhookMessage.endpoint_id == endpoint_id)
    return [LogEntry(message, url) for message, url in session.execute(stmt).tuples()]
