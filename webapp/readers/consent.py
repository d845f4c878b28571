"""The consent ledger: what a reader agreed to or changed, when, and from where.

Append-only. The one exception is erasure, which blanks the personal fields of the reader's
entries (IP, user agent, detail) and keeps what happened and when.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from webapp.models import ConsentRecord, ConsentSource, Subscriber

# The version of the consent text readers agree to on the subscribe form. Change it whenever
# the wording (webapp.subscribe_wording.consent_text) changes, so each record says which text was
# shown.
CONSENT_VERSION = "2026-11"

MAX_USER_AGENT = 512


class ConsentAction(enum.StrEnum):
    SUBSCRIBE = "subscribe"  # the form was sent; waiting for confirmation
    CONFIRM = "confirm"  # double opt-in completed
    TOPICS = "topics"
    LANGUAGE = "language"
    PROFILE = "profile"  # name or company
    EMAIL = "email"  # address changed, confirmed at the new address
    TRACKING = "tracking"
    PAUSE = "pause"
    RESUME = "resume"
    UNSUBSCRIBE = "unsubscribe"
    RESUBSCRIBE = "resubscribe"
    UNSUPPRESS = "unsuppress"  # an erased address subscribed anew and confirmed
    ERASE = "erase"


@dataclass(frozen=True)
class Origin:
    """Where a change comes from: the ledger's source and, for web requests, IP and user agent;
    `at` when the reader asked, for a change the worker makes later (None: now); `site` the
    origin of the page that sent it, for the form embedded in the firm's own site."""

    source: ConsentSource
    ip: str | None = None
    user_agent: str | None = None
    at: datetime | None = None
    site: str | None = None

    def as_fields(self) -> dict[str, Any]:
        """As plain JSON, for a request the worker answers (webapp.mailer.queue_request)."""
        at = self.at.isoformat() if self.at else None
        fields = {"source": self.source.value, "ip": self.ip, "user_agent": self.user_agent,
                  "at": at}
        if self.site:
            fields["site"] = self.site
        return fields

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Origin:
        at = fields.get("at")
        return cls(
            ConsentSource(fields["source"]),
            ip=fields.get("ip"),
            user_agent=fields.get("user_agent"),
            at=datetime.fromisoformat(at) if at else None,
            site=fields.get("site"),
        )


def record_consent(
    session: Session,
    subscriber: Subscriber | int,
    action: str,
    source: ConsentSource,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    text_version: str | None = CONSENT_VERSION,
    detail: dict[str, Any] | None = None,
) -> ConsentRecord:
    """Append one entry; it commits with the change it records.

    `subscriber` may be a reader's id, for callers that change readers in Core (the SES hook).
    """
    record = ConsentRecord(
        action=str(action),
        source=source,
        ip=ip[:64] if ip else None,
        user_agent=user_agent[:MAX_USER_AGENT] if user_agent else None,
        text_version=text_version,
        detail=detail,
    )
    if isinstance(subscriber, int):
        record.subscriber_id = subscriber
    else:
        record.subscriber = subscriber
    session.add(record)
    return record


def record_change(
    session: Session,
    subscriber: Subscriber,
    action: ConsentAction,
    origin: Origin,
    detail: dict[str, Any] | None = None,
) -> ConsentRecord:
    """`record_consent` for a change made from `origin`, under the current consent text (the
    page's origin, if any, joins the detail)."""
    if origin.site:
        detail = {**(detail or {}), "site": origin.site}
    record = record_consent(
        session,
        subscriber,
        action,
        origin.source,
        ip=origin.ip,
        user_agent=origin.user_agent,
        detail=detail,
    )
    if origin.at is not None:
        record.created_at = origin.at  # when the reader asked, not when the worker got to it
    return record


def consent_fields(record: ConsentRecord) -> dict[str, Any]:
    """A ledger entry as a reader's data export and the REST API give it (`at` as stored)."""
    return {
        "at": record.created_at,
        "action": record.action,
        "source": record.source.value,
        "text_version": record.text_version,
        "ip": record.ip,
        "user_agent": record.user_agent,
        "detail": record.detail,
    }


def redact_consents(session: Session, subscriber_id: int) -> int:
    """Blank IP, user agent and detail of every entry of one reader; action and time stay."""
    stmt = (
        update(ConsentRecord)
        .where(ConsentRecord.subscriber_id == subscriber_id)
        .values(ip=None, user_agent=None, detail=None)
        .execution_options(synchronize_session="fetch")
    )
    return session.execute(stmt).rowcount  # type: ignore[attr-defined,no-any-return]
