"""What a send will do before it starts: readers, variants and how long it will take."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from emails.transports.ses import AccountQuota, account_quota
from webapp.config import Settings
from webapp.delivery.runner import OUTBOX_RATE
from webapp.delivery.variants import count_variants
from webapp.models import AuditEntry, Edition, EditionStatus, EditionTally

# Messages a finished send must have sent for its pace to stand for the next one: fewer say
# more about start-up (compiling variants, the first claim) than about the pace.
MIN_SAMPLE = 100
RECENT_SENDS = 5  # finished sends looked at, newest first


@dataclass(frozen=True)
class RecentRate:
    """The pace a finished send kept, from its start to its end."""

    month: str
    rate_per_s: float


@dataclass(frozen=True)
class SendEstimate:
    readers: int
    variants: int
    transport: str  # outbox | ses
    rate_per_s: float | None  # the pace the estimate uses; None when nothing tells it
    rate_source: str  # recent | override | account | outbox | unknown
    remaining_24h: float | None = None  # SES's daily quota left, when known
    # What the configuration allows (SES_MAX_SEND_RATE, SES's MaxSendRate or the outbox's
    # own ceiling) and where that came from; None/"unknown" when SES did not say.
    configured_rate: float | None = None
    configured_source: str = "unknown"
    recent: RecentRate | None = None  # the newest finished send's pace, when there is one

    @property
    def seconds(self) -> float | None:
        if self.rate_per_s is None or self.rate_per_s <= 0:
            return None
        return self.readers / self.rate_per_s

    @property
    def over_daily_quota(self) -> bool:
        """The send will pause for SES's daily quota before reaching everyone."""
        return self.remaining_24h is not None and self.readers > self.remaining_24h


def ses_account(settings: Settings) -> AccountQuota:
    """GetAccount with short timeouts: a page is waiting for the answer."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "sesv2",
        region_name=settings.ses_region,
        endpoint_url=settings.ses_endpoint_url,
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=3, read_timeout=5),
    )
    return account_quota(client)


def recent_rate(session: Session) -> RecentRate | None:
    """The pace the newest finished send kept: sent messages over the time from its start to
    its end, so start-up and pacing count as they will next time.

    Sends that were ever paused are left out (their time includes the pause), and so are sends
    of fewer than MIN_SAMPLE messages. Sent counts come from the tallies, a row per variant.
    """
    paused = exists().where(
        AuditEntry.action == "edition.pause", AuditEntry.target == Edition.month
    )
    sent = (
        select(func.coalesce(func.sum(EditionTally.sent), 0))
        .where(EditionTally.edition_id == Edition.id)
        .scalar_subquery()
    )
    stmt = (
        select(Edition.month, Edition.send_started_at, Edition.send_finished_at, sent)
        .where(
            Edition.status == EditionStatus.SENT,
            Edition.send_started_at.is_not(None),
            Edition.send_finished_at.is_not(None),
            ~paused,
        )
        .order_by(Edition.send_finished_at.desc())
        .limit(RECENT_SENDS)
    )
    for month, started, finished, count in session.execute(stmt).tuples():
        seconds = (finished - started).total_seconds()
        if count >= MIN_SAMPLE and seconds > 0:
            return RecentRate(month=month, rate_per_s=round(count / seconds, 1))
    return None


def estimate_send(
    session: Session,
    settings: Settings,
    edition: Edition,
    *,
    account: Callable[[Settings], AccountQuota] = ses_account,
) -> SendEstimate:
    """Readers and variants as the plan would make them now, and how long sending them takes
    at the pace the newest finished send kept (`recent_rate`), never faster than the
    configuration allows: `SES_MAX_SEND_RATE` when set, else SES's MaxSendRate (or the
    outbox's ceiling, or `SMTP_MAX_SEND_RATE`). Without a finished send, at the configured rate."""
    variants = count_variants(session, edition)
    readers = sum(variants.values())
    transport = settings.mail_transport
    override = settings.ses_max_send_rate
    rate: float | None
    remaining: float | None = None
    if transport == "outbox":
        rate, source = (override, "override") if override else (OUTBOX_RATE, "outbox")
    elif transport == "smtp":  # no account to ask: the configured pace is the pace
        rate, source = settings.smtp_max_send_rate, "smtp"
    else:
        try:
            quota = account(settings)
        except Exception:  # SES unreachable or refusing: the page says "unknown", nothing breaks
            quota = None
        if quota is not None:
            remaining = quota.remaining_24_hours
        if override:
            rate, source = override, "override"
        elif quota is not None:
            rate, source = quota.max_send_rate, "account"
        else:
            rate, source = None, "unknown"
    recent = recent_rate(session)
    effective, effective_source = rate, source
    if recent is not None and (rate is None or recent.rate_per_s < rate):
        effective, effective_source = recent.rate_per_s, "recent"
    return SendEstimate(
        readers=readers,
        variants=len(variants),
        transport=transport,
        rate_per_s=effective,
        rate_source=effective_source,
        remaining_24h=remaining,
        configured_rate=rate,
        configured_source=source,
        recent=recent,
    )
