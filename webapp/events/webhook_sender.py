"""The worker's webhook sender: claim due messages, POST each signed per Standard Webhooks,
record the answer; retry with exponential backoff for a day, then give up on the message;
disable an endpoint that has failed for a day with an admin notice (the audit log and the
console's webhooks page).

No transaction is open while a request is in flight: a message is claimed (its next attempt
moved past the request's deadline) and committed first, so a worker that dies mid-request
leaves it to be tried again, and a receiver that hangs holds no lock.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook

from webapp.config import Settings
from webapp.events.webhook_urls import (
    Resolver,
    UnsafeWebhookUrl,
    UrlPolicy,
    open_connection,
    parse_url,
    system_resolver,
)
from webapp.events.webhooks import disable, endpoint_secret, url_policy
from webapp.models import WebhookEndpoint, WebhookMessage, WebhookStatus

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
# Longer than any request can take (connect + read timeouts), so a claim outlives its attempt.
CLAIM_FOR = timedelta(minutes=2)
RETRY_FOR = timedelta(hours=24)
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=4)
# An endpoint whose every attempt has failed for this long is disabled.
DISABLE_AFTER = timedelta(hours=24)
BATCH = 50
# Delivered and failed messages stay in the console's log this long.
LOG_DAYS = 30
USER_AGENT = "yuebao-webhooks/1"


@dataclass(frozen=True)
class Answer:
    status_code: int | None  # None: no HTTP answer (refused, timed out, TLS error, SSRF)
    elapsed_ms: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Outgoing:
    message_id: int
    webhook_id: str
    url: str
    body: bytes
    headers: dict[str, str]


def backoff(attempts: int) -> timedelta:
    """30 s after the first failure, doubling, at most 4 h apart."""
    return min(FIRST_RETRY * (1 << min(max(attempts - 1, 0), 20)), LONGEST_WAIT)


def signed_request(
    secret: str, webhook_id: str, payload: object, now: datetime
) -> tuple[bytes, dict[str, str]]:
    """The body and the Standard Webhooks headers (`webhook-id`, `-timestamp`, `-signature`)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    signature = Webhook(secret).sign(webhook_id, now, body)
    return body, {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    policy: UrlPolicy,
    *,
    timeout: float = TIMEOUT_SECONDS,
    ssl_context: ssl.SSLContext | None = None,
    resolve: Resolver = system_resolver,
) -> Answer:
    """POST once, to an address checked now (DNS rebinding), never following a redirect."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = parse_url(url)
        connection = open_connection(target, policy, timeout=timeout, ssl_context=ssl_context,
                                     resolve=resolve)
    except UnsafeWebhookUrl as refused:
        return Answer(None, elapsed(), f"refused: {refused.reason}")
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(64 * 1024)
        return Answer(response.status, elapsed())
    except UnsafeWebhookUrl as refused:
        return Answer(None, elapsed(), f"refused: {refused.reason}")
    except (OSError, ssl.SSLError, ValueError) as failure:
        return Answer(None, elapsed(), f"{type(failure).__name__}: {failure}"[:300])
    except Exception as failure:  # http.client's own errors (BadStatusLine, …)
        return Answer(None, elapsed(), f"{type(failure).__name__}: {failure}"[:300])
    finally:
        connection.close()


def claim_due(
    session: Session, settings: Settings, now: datetime, size: int = BATCH
) -> list[Outgoing]:
    """Take up to `size` due messages to enabled endpoints, signed and ready to send.

    SKIP LOCKED (PostgreSQL) lets several workers claim disjoint messages; the conditional
    UPDATE on the due time is what lets only one through on SQLite, which has no row locks.
    """
    stmt = (
        select(WebhookMessage, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
        .where(
            WebhookMessage.status == WebhookStatus.PENDING,
            WebhookMessage.next_attempt_at <= now,
            WebhookEndpoint.enabled.is_(True),
        )
        .order_by(WebhookMessage.next_attempt_at, WebhookMessage.id)
        .limit(size)
        .with_for_update(of=WebhookMessage, skip_locked=True)
    )
    claimed: list[Outgoing] = []
    for message, endpoint in session.execute(stmt).tuples().all():
        from cryptography.fernet import InvalidToken  # loaded only once there is a message

        try:
            secret = endpoint_secret(settings, endpoint)
        except InvalidToken:
            # SECRET_KEY changed since the secret was stored: nothing can be signed until an
            # admin rotates it, which the notice on the console says.
            disable(session, endpoint, actor="worker", reason="secret_unreadable", now=now)
            continue
        moved = session.execute(
            update(WebhookMessage)
            .where(
                WebhookMessage.id == message.id,
                WebhookMessage.next_attempt_at == message.next_attempt_at,
                WebhookMessage.status == WebhookStatus.PENDING,
            )
            .values(next_attempt_at=now + CLAIM_FOR)
            .execution_options(synchronize_session=False)
        )
        if not getattr(moved, "rowcount", 0):
            continue
        body, headers = signed_request(secret, message.message_id, message.payload, now)
        claimed.append(Outgoing(message.id, message.message_id, endpoint.url, body, headers))
    return claimed


def record_answer(session: Session, message_id: int, answer: Answer, now: datetime) -> None:
    """Settle one attempt: delivered, or due again after a backoff, or failed after a day;
    and keep the endpoint's run of failures, disabling it after a day of nothing but."""
    message = session.get(WebhookMessage, message_id)
    if message is None:  # purged (erasure) or its endpoint deleted meanwhile
        return
    endpoint = session.get(WebhookEndpoint, message.endpoint_id)
    message.attempts += 1
    message.last_attempt_at = now
    message.last_status_code = answer.status_code
    message.last_response_ms = answer.elapsed_ms
    message.last_error = answer.error
    if answer.ok:
        message.status = WebhookStatus.DELIVERED
        if endpoint is not None:
            endpoint.failure_count, endpoint.failing_since = 0, None
        return
    if message.last_error is None:
        message.last_error = f"HTTP {answer.status_code}"
    if now - message.created_at >= RETRY_FOR:
        message.status = WebhookStatus.FAILED
    else:
        message.next_attempt_at = now + backoff(message.attempts)
    if endpoint is None:
        return
    endpoint.failure_count += 1
    endpoint.failing_since = endpoint.failing_since or now
    if endpoint.enabled and now - endpoint.failing_since >= DISABLE_AFTER:
        disable(session, endpoint, actor="worker", reason="failing", now=now)
        log.warning("webhook endpoint disabled after a day of failures",
                    extra={"fields": {"endpoint_id": endpoint.id,
                                      "failures": endpoint.failure_count}})


def send_due_webhooks(
    sessions: sessionmaker[Session],
    settings: Settings,
    now: datetime,
    *,
    ssl_context: ssl.SSLContext | None = None,
    resolve: Resolver = system_resolver,
    timeout: float = TIMEOUT_SECONDS,
) -> int:
    """The worker's job: send what is due, one claim at a time. Returns how many were tried."""
    policy = url_policy(settings)
    with sessions() as session:
        batch = claim_due(session, settings, now)
        session.commit()
    for outgoing in batch:
        answer = post(outgoing.url, outgoing.body, outgoing.headers, policy, timeout=timeout,
                      ssl_context=ssl_context, resolve=resolve)
        with sessions() as session:
            record_answer(session, outgoing.message_id, answer, now)
            session.commit()
    return len(batch)


def forget_old_messages(session: Session, now: datetime) -> int:
    """Delete settled messages older than LOG_DAYS (daily): the log is for recent trouble,
    and payloads carry readers' addresses."""
    result = session.execute(
        delete(WebhookMessage).where(
            WebhookMessage.status != WebhookStatus.PENDING,
            WebhookMessage.created_at < now - timedelta(days=LOG_DAYS),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def disabled_endpoints(session: Session) -> list[WebhookEndpoint]:
    """For the console's notice: endpoints the worker disabled."""
    stmt = select(WebhookEndpoint).where(
        WebhookEndpoint.enabled.is_(False), WebhookEndpoint.disabled_reason != "admin"
    )
    return list(session.scalars(stmt))


