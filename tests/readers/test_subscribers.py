"""The consoles' counts of readers."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.models import SubscriberStatus
from webapp.readers.subscribers import count_by_status


def test_an_empty_list_counts_zero_for_every_status(session: Session) -> None:
    assert count_by_status(session) == {status.value: 0 for status in SubscriberStatus}


def test_readers_are_counted_per_status(session: Session, factories: Factories) -> None:
    for status in (SubscriberStatus.ACTIVE, SubscriberStatus.ACTIVE, SubscriberStatus.ACTIVE,
                   SubscriberStatus.PAUSED, SubscriberStatus.BOUNCED, SubscriberStatus.BOUNCED):
        factories.subscriber(status=status)
    assert count_by_status(session) == {
        "pending": 0,
        "active": 3,
        "paused": 1,
        "unsubscribed": 0,
        "bounced": 2,
        "complained": 0,
        "erased": 0,
    }
