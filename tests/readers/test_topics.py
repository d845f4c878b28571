"""Topics readers can choose, and the keyword rules the importer suggests topics by."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.readers.topics import active_topics, keyword_rules, topics_by_slug

DEFAULTS = ["ai", "data", "digital-economy", "cross-border", "fintech", "investment"]


def test_a_fresh_database_offers_the_default_topics_in_display_order(session: Session) -> None:
    assert [t.slug for t in active_topics(session)] == DEFAULTS


def test_retired_topics_leave_the_choice_and_equal_positions_keep_creation_order(
    session: Session, factories: Factories
) -> None:
    factories.topic("ai").retired = True
    factories.topic("zz-first", position=3)
    factories.topic("aa-second", position=3)
    session.commit()
    slugs = [t.slug for t in active_topics(session)]
    assert "ai" not in slugs
    assert slugs[:4] == ["data", "digital-economy", "zz-first", "aa-second"]


def test_every_topic_is_known_by_slug_retired_or_not(
    session: Session, factories: Factories
) -> None:
    # The importer must recognise a retired topic in order to refuse it.
    factories.topic("legacy", retired=True)
    by_slug = topics_by_slug(session)
    assert sorted(by_slug) == sorted([*DEFAULTS, "legacy"])
    assert by_slug["legacy"].retired and by_slug["ai"].slug == "ai"


def test_keyword_rules_follow_topic_order_and_leave_out_retired_topics(
    session: Session, factories: Factories
) -> None:
    factories.topic("green-finance", position=0, keywords=["ESG", "绿色债券"])
    factories.topic("legacy", position=1, keywords=["元宇宙"], retired=True)
    factories.topic("no-rules", keywords=[])
    rules = keyword_rules(session)
    assert list(rules) == ["green-finance", *DEFAULTS, "no-rules"]
    assert rules["green-finance"] == ["ESG", "绿色债券"]
    assert rules["no-rules"] == []
    assert "ChatGPT" in rules["ai"]
