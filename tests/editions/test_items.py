"""webapp.editions.items: editing an edition follows DESIGN.md's states."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.editions.items import (
    ItemFields,
    ItemInvalid,
    ItemNotFound,
    LinkNotWeb,
    TextUnsafe,
    add_item,
    delete_item,
    move_item,
    suggest_item_topics,
    update_item,
    update_texts,
)
from webapp.editions.records import EditionLocked, get_edition
from webapp.models import AuditEntry, Edition, EditionStatus, Item, utcnow


def _edition(factories: Factories, session: Session, **kw: object) -> Edition:
    made = factories.edition(
        items={
            "policy": [{"title": "P1", "topics": ["ai"]}, {"title": "P2", "topics": ["data"]},
                       {"title": "P3", "topics": ["ai"]}],
            "deals": [{"title": "D1", "topics": ["investment"]}],
        },
        **kw,  # type: ignore[arg-type]
    )
    loaded = get_edition(session, made.month)
    assert loaded is not None
    return loaded


def _titles(edition: Edition, key: str) -> list[str]:
    section = next(s for s in edition.sections if s.key == key)
    return [i.title for i in section.items]


def _positions(edition: Edition, key: str) -> list[int]:
    section = next(s for s in edition.sections if s.key == key)
    return [i.position for i in section.items]


def _fields(**kw: object) -> ItemFields:
    values: dict[str, object] = {
        "section": "industry",
        "title": "新条目",
        "published_on": date(2024, 7, 30),
        "url": "https://example.com/new",
        "source": "新华社",
        "summary": "摘要",
        "topics": ("ai",),
    }
    values.update(kw)
    return ItemFields(**values)  # type: ignore[arg-type]


def _reload(session: Session, month: str = "2024-07") -> Edition:
    session.expire_all()
    edition = get_edition(session, month)
    assert edition is not None
    return edition


def test_texts_are_saved_trimmed_and_empty_means_automatic(
    session: Session, factories: Factories
) -> None:
    edition = _edition(factories, session)
    update_texts(session, edition, subject="  七月要闻 ", preheader="", intro="各位读者好",
                 actor="tester")
    session.commit()
    edition = _reload(session)
    assert (edition.subject, edition.preheader, edition.intro) == ("七月要闻", "", "各位读者好")
    last = session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc()))
    assert last == "edition.edit"


def test_an_edit_returns_an_approved_edition_to_draft(
    session: Session, factories: Factories
) -> None:
    edition = _edition(factories, session, status=EditionStatus.APPROVED, approved_at=utcnow())
    update_texts(session, edition, subject="新主题", preheader="", intro="", actor="tester")
    assert edition.status == EditionStatus.DRAFT
    assert edition.approved_at is None


def test_saving_unchanged_texts_keeps_the_approval(session: Session, factories: Factories) -> None:
    edition = _edition(factories, session, status=EditionStatus.APPROVED, approved_at=utcnow())
    update_texts(session, edition, subject="", preheader="", intro="", actor="tester")
    assert edition.status == EditionStatus.APPROVED


@pytest.mark.parametrize(
    "status", [EditionStatus.SCHEDULED, EditionStatus.SENDING, EditionStatus.PAUSED,
               EditionStatus.SENT, EditionStatus.CANCELLED]
)
def test_every_edit_is_refused_once_the_edition_is_past_approval(
    session: Session, factories: Factories, status: EditionStatus
) -> None:
    edition = _edition(factories, session, status=status)
    first = edition.sections[0].items[0]
    attempts = [
        lambda: update_texts(session, edition, subject="x", preheader="", intro="", actor="t"),
        lambda: add_item(session, edition, _fields(), actor="t"),
        lambda: update_item(session, edition, first.id, _fields(title="changed"), actor="t"),
        lambda: delete_item(session, edition, first.id, actor="t"),
        lambda: move_item(session, edition, first.id, 1, actor="t"),
    ]
    for attempt in attempts:
        with pytest.raises(EditionLocked) as refused:
            attempt()
        assert refused.value.status == status
        assert status.value in str(refused.value)
    session.rollback()
    edition = _reload(session)
    assert edition.status == status
    assert edition.subject == ""
    assert _titles(edition, "policy") == ["P1", "P2", "P3"]
    assert session.scalar(select(func.count(Item.id))) == 4


@pytest.mark.postgres
def test_add_item_appends_to_its_section_with_its_topics(
    session: Session, factories: Factories
) -> None:
    edition = _edition(factories, session)
    item = add_item(session, edition, _fields(section="policy", topics=("data", "ai"),
                                               title_en="  ", commentary=" 短评 "), actor="t")
    session.commit()
    edition = _reload(session)
    assert _titles(edition, "policy") == ["P1", "P2", "P3", "新条目"]
    assert _positions(edition, "policy") == [0, 1, 2, 3]
    stored = session.get(Item, item.id)
    assert stored is not None
    assert {t.slug for t in stored.topics} == {"ai", "data"}
    assert stored.title_en is None  # blank optional text is no text
    assert stored.commentary == "短评"


@pytest.mark.postgres
def test_a_new_section_puts_the_item_at_the_end_of_it(
    session: Session, factories: Factories
) -> None:
    edition = _edition(factories, session)
    p2 = edition.sections[0].items[1]
    update_item(session, edition, p2.id, _fields(section="deals", title="P2 now a deal",
                                                 topics=("investment",)), actor="t")
    session.commit()
    edition = _reload(session)
    assert _titles(edition, "policy") == ["P1", "P3"]
    assert _positions(edition, "policy") == [0, 1]
    assert _titles(edition, "deals") == ["D1", "P2 now a deal"]
    assert _positions(edition, "deals") == [0, 1]
    moved = session.get(Item, p2.id)
    assert moved is not None and [t.slug for t in moved.topics] == ["investment"]


@pytest.mark.postgres
def test_items_move_up_and_down_within_their_section(
    session: Session, factories: Factories
) -> None:
    edition = _edition(factories, session)
    p1, _p2, p3 = edition.sections[0].items
    assert move_item(session, edition, p3.id, -1, actor="t")
    assert move_item(session, edition, p1.id, 1, actor="t")
    session.commit()
    edition = _reload(session)
    assert _titles(edition, "policy") == ["P3", "P1", "P2"]
    assert _positions(edition, "policy") == [0, 1, 2]
    first = edition.sections[0].items[0]
    assert move_item(session, edition, first.id, -1, actor="t") is False  # already first


def test_delete_removes_the_item_and_closes_the_gap(session: Session, factories: Factories) -> None:
    edition = _edition(factories, session)
    p2 = edition.sections[0].items[1]
    delete_item(session, edition, p2.id, actor="t")
    session.commit()
    edition = _reload(session)
    assert _titles(edition, "policy") == ["P1", "P3"]
    assert _positions(edition, "policy") == [0, 1]
    assert session.get(Item, p2.id) is None
    with pytest.raises(ItemNotFound):
        delete_item(session, edition, p2.id, actor="t")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "example.com/no-scheme"}, "url"),
        ({"title": "   "}, "title"),
        ({"section": "sports"}, "section"),
        ({"topics": ("no-such-topic",)}, "topics"),
    ],
)
def test_invalid_fields_are_refused_and_nothing_changes(
    session: Session, factories: Factories, fields: dict[str, object], field: str
) -> None:
    edition = _edition(factories, session)
    with pytest.raises(ItemInvalid) as refused:
        add_item(session, edition, _fields(**fields), actor="t")
    assert refused.value.field == field
    session.rollback()
    assert session.scalar(select(func.count(Item.id))) == 4


def test_a_retired_topic_stays_on_an_item_that_has_it_but_is_not_given_anew(
    session: Session, factories: Factories
) -> None:
    factories.topic("old-topic", retired=True)
    edition = _edition(factories, session)
    p1 = edition.sections[0].items[0]
    p1.topics.append(factories.topic("old-topic"))
    session.commit()
    update_item(session, edition, p1.id, _fields(section="policy", topics=("ai", "old-topic")),
                actor="t")
    with pytest.raises(ItemInvalid):
        add_item(session, edition, _fields(topics=("old-topic",)), actor="t")


def test_topics_are_suggested_from_the_text_by_the_keyword_rules(session: Session) -> None:
    suggested = suggest_item_topics(
        session, section="policy", title="人工智能大模型新规", summary="生成式人工智能服务管理",
        commentary=None,
    )
    assert "ai" in suggested
    assert "investment" in suggest_item_topics(
        session, section="deals", title="某公司完成融资", summary="", commentary=None
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [({"title": "新\r\nBcc: x"}, "title"), ({"source": "a\x00b"}, "source"),
     ({"summary": "一\x1b二"}, "summary"), ({"title_en": "A\u2028B"}, "title_en")],
)
def test_an_item_with_a_refused_character_is_not_stored(
    factories: Factories, session: Session, change: dict[str, str], field: str
) -> None:
    edition = _edition(factories, session)
    with pytest.raises(TextUnsafe) as refused:
        add_item(session, edition, _fields(**change), actor="test")
    assert refused.value.field == field
    session.rollback()
    assert session.scalar(select(func.count()).select_from(Item)) == 4


@pytest.mark.parametrize(
    "url", ["https://example.com/a\r\nX: y", "https://", "javascript:alert(1)", "//example.com"]
)
def test_an_item_link_must_be_http_with_a_host(
    factories: Factories, session: Session, url: str
) -> None:
    edition = _edition(factories, session)
    with pytest.raises(LinkNotWeb):
        add_item(session, edition, _fields(url=url), actor="test")


def test_a_summary_keeps_its_line_breaks(factories: Factories, session: Session) -> None:
    edition = _edition(factories, session)
    item = add_item(session, edition, _fields(summary="一\r\n\t二"), actor="test")
    assert item.summary == "一\r\n\t二"


def test_a_subject_with_a_line_break_is_refused(factories: Factories, session: Session) -> None:
    edition = _edition(factories, session)
    with pytest.raises(TextUnsafe) as refused:
        update_texts(session, edition, subject="Hi\r\nBcc: x", preheader="", intro="",
                     actor="test")
    assert (refused.value.field, refused.value.problem.index) == ("subject", 2)
    assert edition.subject == ""
