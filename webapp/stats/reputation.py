"""Sender reputation: bounce and complaint rates against Amazon SES's review thresholds.

SES puts an account under review at a 5% bounce rate or a 0.1% complaint rate (and may pause
sending above 10% and 0.5%). SES counts hard bounces only, so the bounce rate here is hard
bounces over messages sent. Below MIN_VOLUME sent messages a rate says little, so neither the
warning nor the alert is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.models import Edition, utcnow
from webapp.stats.figures import Funnel, edition_funnel, edition_funnels, total

log = logging.getLogger(__name__)

BOUNCE_REVIEW = 0.05
COMPLAINT_REVIEW = 0.001
MIN_VOLUME = 100
RECENT = timedelta(days=90)


@dataclass(frozen=True)
class Reputation:
    sent: int
    hard_bounced: int
    complained: int

    @classmethod
    def of(cls, funnel: Funnel) -> Reputation:
        return cls(funnel.sent, funnel.hard_bounced, funnel.complained)

    @property
    def bounce_rate(self) -> float | None:
        return self.hard_bounced / self.sent if self.sent else None

    @property
    def complaint_rate(self) -> float | None:
        return self.complained / self.sent if self.sent else None

    @property
    def enough_volume(self) -> bool:
        return self.sent >= MIN_VOLUME

    @property
    def bounce_warning(self) -> bool:
        return self.enough_volume and self.hard_bounced >= BOUNCE_REVIEW * self.sent

    @property
    def complaint_warning(self) -> bool:
        return self.enough_volume and self.complained >= COMPLAINT_REVIEW * self.sent

    @property
    def warning(self) -> bool:
        return self.bounce_warning or self.complaint_warning


def recent_reputation(
    session: Session, now: datetime | None = None, known: Mapping[int, Funnel] | None = None
) -> Reputation:
    """Over the editions whose send started in the last 90 days (SES also judges recent mail).
    `known`: funnels per edition id the caller has read already (the dashboard's), not read
    again."""
    since = (now or utcnow()) - RECENT
    ids = list(session.scalars(select(Edition.id).where(Edition.send_started_at >= since)))
    if not ids:
        return Reputation(0, 0, 0)
    known = known or {}
    missing = [i for i in ids if i not in known]
    funnels = {i: known[i] for i in ids if i in known}
    if missing:
        funnels.update(edition_funnels(session, missing))
    return Reputation.of(total(funnels.values()))


def check_thresholds(
    session: Session, edition_id: int, *, hard_bounces_added: int, complaints_added: int
) -> None:
    """Log an alert when the bounce or complaint just added takes the edition over a threshold.

    Called as each first bounce or complaint of a delivery arrives (rare events), with the
    hard bounce already stored and the complaint not yet; so the alert is logged once per
    crossing, not once per later event.
    """
    funnel = edition_funnel(session, edition_id)
    before = Reputation(funnel.sent, funnel.hard_bounced - hard_bounces_added, funnel.complained)
    after = Reputation(funnel.sent, funnel.hard_bounced, funnel.complained + complaints_added)
    crossed = []
    if after.bounce_warning and not before.bounce_warning:
        crossed.append(("bounce", after.bounce_rate, BOUNCE_REVIEW))
    if after.complaint_warning and not before.complaint_warning:
        crossed.append(("complaint", after.complaint_rate, COMPLAINT_REVIEW))
    if not crossed:
        return
    month = session.scalar(select(Edition.month).where(Edition.id == edition_id))
    for kind, rate, threshold in crossed:
        log.warning(
            "reputation alert: the %s rate of the %s edition is %.2f%%, at or above SES's "
            "review threshold of %.1f%%",
            kind,
            month,
            (rate or 0) * 100,
            threshold * 100,
            extra={
                "fields": {
                    "alert": "reputation",
                    "kind": kind,
                    "edition": month,
                    "rate": rate,
                    "threshold": threshold,
                    "sent": after.sent,
                }
            },
        )
