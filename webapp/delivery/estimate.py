"""What a send will do before it starts: readers, variants and how long it will take."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from emails.transports.ses import AccountQuota, account_quota
from webapp.config import Settings
from webapp.delivery.runner import OUTBOX_RATE
from webapp.delivery.variants import count_variants
from webapp.models import Edition


@dataclass(frozen=True)
class SendEstimate:
    readers: int
    variants: int
    transport: str  # outbox | ses
    rate_per_s: float | None  # None: SES did not say and no SES_MAX_SEND_RATE is set
    rate_source: str  # override | account | outbox | unknown
    remaining_24h: float | None = None  # SES's daily quota left, when known

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


def estimate_send(
    session: Session,
    settings: Settings,
    edition: Edition,
    *,
    account: Callable[[Settings], AccountQuota] = ses_account,
) -> SendEstimate:
    """Readers and variants as the plan would make them now, paced like the delivery engine:
    `SES_MAX_SEND_RATE` when set, else SES's MaxSendRate (or the outbox's own pace)."""
    variants = count_variants(session, edition)
    readers = sum(variants.values())
    transport = settings.mail_transport
    override = settings.ses_max_send_rate
    rate: float | None
    remaining: float | None = None
    if transport == "outbox":
        rate, source = (override, "override") if override else (OUTBOX_RATE, "outbox")
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
    return SendEstimate(
        readers=readers,
        variants=len(variants),
        transport=transport,
        rate_per_s=rate,
        rate_source=source,
        remaining_24h=remaining,
    )
