from __future__ import annotations

import itertools

import pytest
from sqlalchemy.orm import Session

from emails import variant_key
from tests.factories import Factories
from webapp.delivery.variants import count_variants
from webapp.editions.records import get_edition
from webapp.models import Subscriber, SubscriberStatus, Suppression

SLUGS = ["ai", "data", "digital-economy", "cross-border", "fintech", "investment"]


@pytest.mark.postgres
def test_sql_variant_keys_match_emails_variant_key(
    session: Session, factories: Factories
) -> None:
    edition = factories.edition(
        items={
            "policy": [{"topics": ["ai", "data"]}, {"topics": ["digital-economy"]}],
            "deals": [{"topics": ["investment", "ai"]}],
        }
    )
    readers: list[Subscriber] = []
    # Every subset of the six topics, in both languages, with topics given in odd orders.
    for size in range(0, 4):
        for combo in itertools.combinations(reversed(SLUGS), size):
            for language in ("zh-CN", "en"):
                readers.append(factories.subscriber(topics=list(combo), language=language))
    factories.subscriber(topics=["ai"], status=SubscriberStatus.PAUSED)
    factories.subscriber(topics=["ai"], status=SubscriberStatus.UNSUBSCRIBED)
    suppressed = factories.subscriber(topics=["ai"], email="gone@example.com")
    session.add(Suppression(email_key="gone@example.com", reason="bounce", source="ses"))
    session.commit()

    loaded = get_edition(session, edition.month)
    assert loaded is not None
    counts = count_variants(session, loaded)

    edition_topics = {"ai", "data", "digital-economy", "investment"}
    expected: dict[str, int] = {}
    for reader in readers:
        if reader is suppressed:
            continue
        mine = {t.slug for t in reader.topics} & edition_topics
        if mine:
            key = variant_key(mine, reader.language, edition_topics)
            expected[key] = expected.get(key, 0) + 1
    assert counts == expected
    assert "zh-CN:ai,data" in counts  # sorted, whatever order the reader picked them in
    assert not any(key.endswith(":") for key in counts)


def test_an_edition_without_topics_has_no_variants(
    session: Session, factories: Factories
) -> None:
    edition = factories.edition(items={"policy": [{}]})
    factories.subscriber(topics=["ai"])
    loaded = get_edition(session, edition.month)
    assert loaded is not None
    assert count_variants(session, loaded) == {}
