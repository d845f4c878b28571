"""A sent edition built row by row, and the SES and tracking events its readers cause."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from emails.ses_events import SesEvent
from tests.factories import Factories
from webapp.events.ses import record_ses_event
from webapp.events.tracking import record_click, record_open
from webapp.models import (
    Delivery,
    DeliveryStatus,
    Edition,
    EditionStatus,
    ReaderMonth,
    Subscriber,
    WorkerHeartbeat,
    utcnow,
)
from webapp.models.base import new_token
from webapp.models.stats import month_of

ITEMS = {
    "policy": [
        {"title": "AI rules", "topics": ["ai"], "url": "https://example.com/1"},
        {"title": "Data rules", "topics": ["data"], "url": "https://example.com/2"},
    ],
    "industry": [{"title": "Fintech news", "topics": ["fintech", "ai"], "url": "https://example.com/3"}],
    "deals": [{"title": "=HYPERLINK(\"x\")", "topics": ["investment"], "url": "https://example.com/4"}],
}


@dataclass
class Send:
    """An edition whose deliveries went out an hour ago, and ways to make things happen to them."""

    session: Session
    edition: Edition
    sent_at: datetime
    deliveries: dict[str, Delivery] = field(default_factory=dict)

    def base(self, name: str) -> datetime:
        """When this reader's delivery went out: event times are counted from there."""
        return self.deliveries[name].sent_at or self.sent_at

    def deliver(self, name: str, minutes: float = 1) -> None:
        self._ses(name, "delivery", minutes)

    def bounce(self, name: str, kind: str = "Permanent", minutes: float = 2) -> None:
        self._ses(name, "bounce", minutes, bounce_type=kind)

    def complain(self, name: str, minutes: float = 30) -> None:
        self._ses(name, "complaint", minutes)

    def _ses(self, name: str, kind: str, minutes: float, bounce_type: str | None = None) -> None:
        delivery = self.deliveries[name]
        event = SesEvent(
            kind=kind,
            message_id=delivery.message_id or "",
            delivery_id=delivery.id,
            recipients=(delivery.subscriber.email or "",),
            occurred_at=self.base(name) + timedelta(minutes=minutes),
            bounce_type=bounce_type,
            bounce_subtype="General" if bounce_type else None,
        )
        record_ses_event(self.session, event, {"eventType": kind}, bounce_suppress_after=3)
        self.session.commit()

    def open(self, name: str, minutes: float = 20) -> None:
        record_open(self.session, self.deliveries[name].token,
                    now=self.base(name) + timedelta(minutes=minutes), enabled=True)
        self.session.commit()

    def click(self, name: str, number: int, minutes: float = 21) -> None:
        record_click(self.session, self.deliveries[name].token, number,
                     now=self.base(name) + timedelta(minutes=minutes), enabled=True)
        self.session.commit()


def variant_key(reader: Subscriber) -> str:
    carried = {"ai", "data", "fintech", "investment"}
    slugs = sorted(t.slug for t in reader.topics if t.slug in carried)
    return f"{reader.language}:{','.join(slugs)}"


def make_send(
    factories: Factories,
    session: Session,
    readers: dict[str, dict[str, Any]],
    *,
    month: str = "2024-07",
    failed: tuple[str, ...] = (),
    sent_at: datetime | None = None,
    spread: timedelta = timedelta(0),
) -> Send:
    """`readers` maps a short name to subscriber fields (topics, language …); each delivery
    goes out `spread` after the one before."""
    sent_at = sent_at or utcnow() - timedelta(hours=1)
    edition = factories.edition(month, status=EditionStatus.SENT, items=ITEMS,
                                send_started_at=sent_at, send_finished_at=sent_at)
    send = Send(session, edition, sent_at)
    for index, (name, fields) in enumerate(readers.items()):
        reader = factories.subscriber(email=f"{name}.{month}@example.com", **fields)
        ok = name not in failed
        delivery = Delivery(
            edition_id=edition.id,
            subscriber_id=reader.id,
            variant_key=variant_key(reader),
            token=new_token(),
            status=DeliveryStatus.SENT if ok else DeliveryStatus.FAILED,
            message_id=f"ses-{name}-{month}" if ok else None,
            sent_at=sent_at + index * spread if ok else None,
            attempts=1,
        )
        session.add(delivery)
        send.deliveries[name] = delivery
    session.commit()
    return send


TOPIC_SETS = (["ai"], ["data"], ["ai", "fintech"], ["investment"], ["data", "investment"],
              ["ai", "data", "fintech", "investment"])


def populate(factories: Factories, session: Session, readers: int = 40) -> list[Send]:
    """Three months of sends with what their readers did, for the dashboard's pages."""
    chance = random.Random(7)
    sends = []
    now = utcnow()
    for age, month in ((62, "2024-05"), (31, "2024-06"), (1, "2024-07")):
        group = {
            f"r{n}": {"topics": TOPIC_SETS[n % len(TOPIC_SETS)],
                      "language": "en" if n % 4 == 0 else "zh-CN"}
            for n in range(readers)
        }
        send = make_send(factories, session, group, month=month, failed=("r3",),
                         sent_at=now - timedelta(days=age, hours=2), spread=timedelta(seconds=40))
        for name in group:
            if name == "r3":
                continue
            roll = chance.random()
            if roll < 0.03 + 0.03 * (month == "2024-07"):
                send.bounce(name, "Permanent")
                continue
            if roll < 0.08:
                send.bounce(name, "Transient")
                continue
            send.deliver(name, minutes=chance.uniform(0.2, 6))
            if chance.random() < 0.55:
                send.open(name, minutes=chance.uniform(15, 600))
                if chance.random() < 0.45:
                    send.click(name, chance.randint(1, 4), minutes=chance.uniform(700, 900))
        if month == "2024-07":
            send.complain("r5")
        sends.append(send)
    earlier = [month_of(now.replace(day=1) - timedelta(days=31 * n)) for n in range(5, 0, -1)]
    net = 0
    for month, joined, left in zip(earlier, (12, 30, 41, 25, 18), (1, 2, 4, 3, 5), strict=True):
        session.add(ReaderMonth(month=month, joined=joined, unsubscribed=left, bounced=1,
                                complained=0, erased=0))
        net += joined - left - 1
    # The readers who joined in those months, inserted in bulk (so not counted again now).
    factories.many_subscribers(net, [list(s) for s in TOPIC_SETS], prefix="earlier")
    session.add(WorkerHeartbeat(name="web-1:4242", hostname="web-1", pid=4242,
                                heartbeat_at=now, edition_id=sends[-1].edition.id,
                                rate_per_s=14.0, scheduler=True))
    session.add(WorkerHeartbeat(name="web-2:977", hostname="web-2", pid=977,
                                heartbeat_at=now - timedelta(minutes=5)))
    session.commit()
    return sends
