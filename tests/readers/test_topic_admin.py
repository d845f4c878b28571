"""Topics as an admin manages them: add, rename, describe, reorder, retire, keyword rules.

A retired topic leaves the forms and the importer's suggestions; readers keep the link to it.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.models import AuditEntry, Subscriber, SubscriberStatus, Topic, User
from webapp.readers.topic_admin import (
    MAX_KEYWORD,
    MAX_NAME,
    TopicError,
    TopicText,
    all_topics,
    create_topic,
    move_topic,
    parse_keywords,
    readers_of,
    set_retired,
    update_topic,
)
from webapp.readers.topics import active_topics

DEFAULTS = ["ai", "data", "digital-economy", "cross-border", "fintech", "investment"]
GREEN = TopicText(
    name_zh=" 绿色 金融 ",
    name_en="Green   finance",
    description_zh=" 可持续金融 ",
    description_en=" Sustainable finance\n",
    keywords=[" ESG ", "绿色债券", "", "ESG"],
)


def _topic(session: Session, slug: str) -> Topic:
    session.expire_all()
    found = session.scalar(select(Topic).where(Topic.slug == slug))
    assert found is not None, slug
    return found


def _active(session: Session) -> list[str]:
    session.expire_all()
    return [t.slug for t in active_topics(session)]


def _audit(session: Session) -> list[tuple[str, str, Any]]:
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
    return [(e.action, e.target, e.detail) for e in entries]


def _rows(session: Session) -> tuple[int, int]:
    session.expire_all()
    topics = session.scalar(select(func.count()).select_from(Topic)) or 0
    return topics, session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def test_keywords_are_one_per_line_or_comma_separated_without_blanks_or_repeats() -> None:
    text = "绿色债券\nESG, 碳中和，碳达峰、ESG\n\n   \n 可持续 金融 "
    assert parse_keywords(text) == ["绿色债券", "ESG", "碳中和", "碳达峰", "可持续 金融"]
    assert parse_keywords("") == []


def test_every_topic_is_listed_in_display_order_with_retired_ones_last(
    session: Session, factories: Factories
) -> None:
    factories.topic("ai").retired = True
    factories.topic("first", position=0)
    session.commit()
    assert [t.slug for t in all_topics(session)] == ["first", *DEFAULTS[1:], "ai"]


# Adding and editing


def test_a_new_topic_comes_last_with_tidy_names_and_keyword_rules(
    session: Session, admin: User
) -> None:
    created = create_topic(session, "  Green-Finance ", GREEN, actor=admin)
    session.commit()

    topic = _topic(session, "green-finance")
    assert topic.id == created.id
    assert (topic.name_zh, topic.name_en) == ("绿色 金融", "Green finance")
    assert (topic.description_zh, topic.description_en) == ("可持续金融", "Sustainable finance")
    assert topic.keywords == ["ESG", "绿色债券"] and not topic.retired
    assert _active(session) == [*DEFAULTS, "green-finance"]
    assert _audit(session) == [("topic.create", "green-finance", None)]


def test_a_short_name_of_64_characters_is_accepted(session: Session, admin: User) -> None:
    create_topic(session, "a" * 64, GREEN, actor=admin)
    session.commit()
    assert _topic(session, "a" * 64).name_en == "Green finance"


@pytest.mark.parametrize(
    "slug",
    ["Not a slug", "green_finance", "-green", "green-", "green--finance", "", "a" * 65, "绿色"],
)
def test_a_short_name_that_is_not_a_slug_is_refused(
    session: Session, admin: User, slug: str
) -> None:
    before = _rows(session)
    with pytest.raises(TopicError):
        create_topic(session, slug, GREEN, actor=admin)
    session.commit()
    assert _rows(session) == before


@pytest.mark.parametrize("slug", ["ai", " AI ", "legacy"])
def test_a_short_name_in_use_is_refused_even_by_a_retired_topic(
    session: Session, factories: Factories, admin: User, slug: str
) -> None:
    factories.topic("legacy", retired=True)
    before = _rows(session)
    with pytest.raises(TopicError):
        create_topic(session, slug, GREEN, actor=admin)
    session.commit()
    assert _rows(session) == before
    assert _topic(session, "ai").name_en == "AI"


BAD_TEXT = {
    "no Chinese name": TopicText(name_zh="  ", name_en="Green finance"),
    "no English name": TopicText(name_zh="绿色金融", name_en=""),
    "long name": TopicText(name_zh="绿色金融", name_en="x" * (MAX_NAME + 1)),
    "long keyword": TopicText(
        name_zh="绿色金融", name_en="Green", keywords=["k" * (MAX_KEYWORD + 1)]
    ),
}


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT.keys())
def test_a_new_topic_without_proper_names_or_keywords_is_refused(
    session: Session, admin: User, text: TopicText
) -> None:
    before = _rows(session)
    with pytest.raises(TopicError):
        create_topic(session, "green-finance", text, actor=admin)
    session.commit()
    assert _rows(session) == before


def test_names_and_keywords_at_their_limits_are_accepted(session: Session, admin: User) -> None:
    text = TopicText(name_zh="绿" * MAX_NAME, name_en="G" * MAX_NAME, keywords=["k" * MAX_KEYWORD])
    create_topic(session, "green-finance", text, actor=admin)
    session.commit()
    assert _topic(session, "green-finance").keywords == ["k" * MAX_KEYWORD]


def test_an_edit_changes_the_topic_and_the_audit_names_the_fields(
    session: Session, factories: Factories, admin: User
) -> None:
    topic = factories.topic("green-finance", name_zh="绿色金融", name_en="Green finance",
                            keywords=["ESG"])
    text = TopicText(name_zh="绿色金融", name_en="Green finance & ESG",
                     description_en="Sustainable finance", keywords=["ESG", "碳中和"])

    assert update_topic(session, topic, text, actor=admin)
    session.commit()

    topic = _topic(session, "green-finance")
    assert (topic.name_zh, topic.name_en, topic.description_en, topic.keywords) == (
        "绿色金融", "Green finance & ESG", "Sustainable finance", ["ESG", "碳中和"]
    )
    assert _audit(session) == [
        ("topic.edit", "green-finance", {"fields": ["description_en", "keywords", "name_en"]})
    ]


def test_an_edit_that_only_differs_in_spacing_or_repeats_is_no_change(
    session: Session, factories: Factories, admin: User
) -> None:
    topic = factories.topic("green-finance", name_zh="绿色金融", name_en="Green finance",
                            description_zh="", description_en="", keywords=["ESG"])
    text = TopicText(name_zh=" 绿色金融 ", name_en="Green  finance", keywords=["ESG", " ESG "])
    before = _rows(session)
    assert not update_topic(session, topic, text, actor=admin)
    session.commit()
    assert _rows(session) == before


def _with_new_keywords(text: TopicText) -> TopicText:
    """The refused text with new keywords too, so that a partial change would show."""
    return TopicText(text.name_zh, text.name_en, keywords=[*text.keywords, "new"])


@pytest.mark.parametrize("text", BAD_TEXT.values(), ids=BAD_TEXT.keys())
def test_a_refused_edit_changes_no_field_at_all(
    session: Session, factories: Factories, admin: User, text: TopicText
) -> None:
    topic = factories.topic("green-finance", name_zh="旧", name_en="Old", keywords=["old"])
    before = _rows(session)
    with pytest.raises(TopicError):
        update_topic(session, topic, _with_new_keywords(text), actor=admin)
    session.commit()
    assert _rows(session) == before
    topic = _topic(session, "green-finance")
    assert (topic.name_zh, topic.name_en, topic.keywords) == ("旧", "Old", ["old"])


# Reordering


def test_a_topic_swaps_places_with_its_neighbour(session: Session, admin: User) -> None:
    assert move_topic(session, _topic(session, "data"), -1, actor=admin)
    session.commit()
    assert _active(session) == ["data", "ai", *DEFAULTS[2:]]
    assert move_topic(session, _topic(session, "data"), +1, actor=admin)
    session.commit()
    assert _active(session) == DEFAULTS
    assert [p.position for p in active_topics(session)] == [1, 2, 3, 4, 5, 6]
    assert _audit(session) == [
        ("topic.move", "data", {"position": 1}),
        ("topic.move", "data", {"position": 2}),
    ]


def test_a_move_skips_retired_topics(
    session: Session, factories: Factories, admin: User
) -> None:
    factories.topic("data").retired = True
    session.commit()
    assert move_topic(session, _topic(session, "digital-economy"), -1, actor=admin)
    session.commit()
    assert _active(session) == ["digital-economy", "ai", *DEFAULTS[3:]]


@pytest.mark.parametrize(("slug", "step"), [("ai", -1), ("investment", +1), ("legacy", -1)])
def test_the_ends_and_retired_topics_do_not_move(
    session: Session, factories: Factories, admin: User, slug: str, step: int
) -> None:
    factories.topic("legacy", position=3, retired=True)
    before = _rows(session)
    assert not move_topic(session, _topic(session, slug), step, actor=admin)
    session.commit()
    assert _rows(session) == before
    assert _active(session) == DEFAULTS


# Readers of a topic, and retiring it


def test_readers_of_a_topic_count_those_receiving_and_those_with_no_other_topic(
    session: Session, factories: Factories
) -> None:
    factories.topic("legacy", retired=True)
    factories.subscriber(topics=["ai"])  # only this one
    factories.subscriber(topics=["ai", "data"])
    factories.subscriber(topics=["ai", "legacy"])  # a retired topic is no other choice
    factories.subscriber(topics=["ai"], status=SubscriberStatus.PAUSED)  # receives again soon
    factories.subscriber(topics=["ai"], status=SubscriberStatus.UNSUBSCRIBED)
    factories.subscriber(topics=["ai"], status=SubscriberStatus.PENDING)
    factories.subscriber(topics=["data"])
    assert readers_of(session, _topic(session, "ai")) == (4, 3)
    assert readers_of(session, _topic(session, "investment")) == (0, 0)


def test_a_retired_topic_leaves_the_choice_and_readers_keep_it_until_it_returns_last(
    session: Session, factories: Factories, admin: User
) -> None:
    reader = factories.subscriber(topics=["ai", "data"])

    assert set_retired(session, _topic(session, "ai"), True, actor=admin)
    session.commit()
    assert _active(session) == DEFAULTS[1:]
    assert sorted(t.slug for t in session.get_one(Subscriber, reader.id).topics) == ["ai", "data"]

    assert set_retired(session, _topic(session, "ai"), False, actor=admin)
    session.commit()
    assert _active(session) == [*DEFAULTS[1:], "ai"]
    assert sorted(t.slug for t in session.get_one(Subscriber, reader.id).topics) == ["ai", "data"]
    assert _audit(session) == [("topic.retire", "ai", None), ("topic.restore", "ai", None)]


@pytest.mark.parametrize(("slug", "retired"), [("ai", False), ("legacy", True)])
def test_retiring_a_retired_topic_or_restoring_an_active_one_changes_nothing(
    session: Session, factories: Factories, admin: User, slug: str, retired: bool
) -> None:
    factories.topic("legacy", position=3, retired=True)
    before = _rows(session)
    assert not set_retired(session, _topic(session, slug), retired, actor=admin)
    session.commit()
    assert _rows(session) == before
    assert _topic(session, slug).retired == retired
    assert _topic(session, "legacy").position == 3


def test_the_last_topic_readers_can_choose_cannot_be_retired(
    session: Session, admin: User
) -> None:
    for slug in DEFAULTS[1:]:
        set_retired(session, _topic(session, slug), True, actor=admin)
    session.commit()
    before = _rows(session)
    with pytest.raises(TopicError):
        set_retired(session, _topic(session, "ai"), True, actor=admin)
    session.commit()
    assert _rows(session) == before
    assert _active(session) == ["ai"]
