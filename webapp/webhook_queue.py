"""The durable queue of outgoing webhooks: `enqueue_event` is called where a change happens,
in that change's transaction, so an event is sent exactly when the change is committed.

It sits beside the audit log at the base of the package so every domain package can call it;
the worker sends what it holds (webapp.events.webhook_sender).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from webapp.models import Subscriber, WebhookEndpoint, WebhookMessage, utcnow


def new_message_id() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def envelope(event_type: str, data: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """The body every receiver gets: the Standard Webhooks shape (type, timestamp, data)."""
    return {"type": event_type, "timestamp": now.isoformat(), "data": dict(data)}


def enqueue_event(
    session: Session,
    event_type: str,
    data: Mapping[str, Any],
    *,
    subscriber_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """Queue one message per enabled endpoint that asked for `event_type`; the caller commits.

    `subscriber_id` names the reader the payload is about, so their erasure can purge it.
    Returns how many messages were queued (none without endpoints: the query is all it costs).
    """
    moment = now or utcnow()
    endpoints = session.scalars(
        select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
    ).all()
    queued = 0
    for endpoint in endpoints:
        if not endpoint.wants(event_type):
            continue
        session.add(
            WebhookMessage(
                message_id=new_message_id(),
                endpoint_id=endpoint.id,
                event_type=event_type,
                payload=envelope(event_type, data, moment),
                subscriber_id=subscriber_id,
                created_at=moment,
                next_attempt_at=moment,
            )
        )
        queued += 1
    return queued


def enqueue_subscriber_event(session: Session, event_type: str, subscriber: Subscriber) -> int:
    """A subscriber.* event about this reader, as they are now (erased: their id alone)."""
    if event_type == "subscriber.erased":
        data: dict[str, Any] = {"subscriber": {"id": subscriber.id}}
    else:
        data = {
            "subscriber": {
                "id": subscriber.id,
                "email": subscriber.email,
                "status": subscriber.status.value,
                "language": subscriber.language,
                "topics": sorted(t.slug for t in subscriber.topics),
            }
        }
    return enqueue_event(session, event_type, data, subscriber_id=subscriber.id)


def purge_webhook_payloads(session: Session, subscriber_id: int) -> int:
    """Drop every queued or logged message about this reader (erasure): sent or not, each
    payload may carry their address. Returns how many."""
    result = session.execute(
        delete(WebhookMessage).where(WebhookMessage.subscriber_id == subscriber_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)
