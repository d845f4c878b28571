"""webapp.delivery.variant_previews: variants with their readers, a real reader's email, the
preheader and shortened items of a preview, and progress per edition."""

from __future__ import annotations

from html import escape

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.config import settings_of
from webapp.delivery.variant_previews import (
    ReaderGetsNothing,
    ReaderNotFound,
    preheader_of,
    preview_for_reader,
    progress_by_edition,
    shortened_items,
    variant_readers,
)
from webapp.editions.previews import render_preview
from webapp.editions.records import get_edition
from webapp.models import Delivery, DeliveryStatus, Edition, SubscriberStatus, Suppression


@pytest.fixture
def edition(factories: Factories, session: Session) -> Edition:
    factories.edition(
        items={
            "policy": [{"title": "人工智能新规", "title_en": "New AI rules", "topics": ["ai"]},
                       {"title": "数据出境", "topics": ["data"]}],
            "deals": [{"title": "一笔交易", "topics": ["investment"]}],
        }
    )
    loaded = get_edition(session, "2024-07")
    assert loaded is not None
    return loaded


@pytest.mark.postgres
def test_variants_are_listed_with_their_readers(
    session: Session, factories: Factories, edition: Edition
) -> None:
    for _ in range(3):
        factories.subscriber(topics=["ai", "fintech"])
    factories.subscriber(topics=["data", "ai"], language="en")
    factories.subscriber(topics=["fintech"])  # nothing of theirs in this edition
    rows = variant_readers(session, edition)
    assert [(v.language, v.topics, v.readers) for v in rows] == [
        ("zh-CN", ("ai",), 3),
        ("en", ("ai", "data"), 1),
    ]
    assert rows[1].topics_param == "ai,data"


def test_a_real_reader_sees_their_own_variant_with_their_name(
    app: Flask, session: Session, factories: Factories, edition: Edition
) -> None:
    factories.subscriber(email="Li.Na@example.com", name="李娜", topics=["data", "fintech"])
    with app.app_context():
        shown = preview_for_reader(session, settings_of(app), edition, "li.na@EXAMPLE.com")
    assert shown.eligible
    assert shown.preview.variant.key == "zh-CN:data"
    html = shown.preview.message.html
    assert "李娜" in html and escape("数据出境") in html and escape("人工智能新规") not in html
    assert shown.preview.message.to == "Li.Na@example.com"
    assert "/u/test-" in shown.preview.message.text  # links lead to no real reader


def test_a_reader_who_would_not_get_it_is_said_so(
    app: Flask, session: Session, factories: Factories, edition: Edition
) -> None:
    factories.subscriber(email="paused@example.com", topics=["ai"],
                         status=SubscriberStatus.PAUSED)
    factories.subscriber(email="gone@example.com", topics=["ai"])
    session.add(Suppression(email_key="gone@example.com", reason="bounce", source="ses"))
    factories.subscriber(email="other@example.com", topics=["fintech"])
    session.commit()
    assert not preview_for_reader(session, settings_of(app), edition, "paused@example.com").eligible
    assert not preview_for_reader(session, settings_of(app), edition, "gone@example.com").eligible
    with pytest.raises(ReaderGetsNothing):
        preview_for_reader(session, settings_of(app), edition, "other@example.com")
    with pytest.raises(ReaderNotFound):
        preview_for_reader(session, settings_of(app), edition, "nobody@example.com")


def test_the_preheader_is_the_one_in_the_email(
    app: Flask, session: Session, edition: Edition
) -> None:
    automatic = render_preview(session, settings_of(app), "2024-07", topics="ai", language="en")
    # Its one item is the subject's hook; the preheader adds the report's name and month.
    assert automatic.message.subject.startswith("New AI rules | ")
    assert preheader_of(automatic) == "yuebao monthly report · July 2024"
    assert escape(preheader_of(automatic)) in automatic.message.html
    edition.preheader = "编辑写的预览文字"
    session.commit()
    own = render_preview(session, settings_of(app), "2024-07", topics="ai,data")
    assert preheader_of(own) == "编辑写的预览文字"
    assert "编辑写的预览文字" in own.message.html
    # English readers get the English preheader (here the automatic one), never the Chinese.
    english = render_preview(session, settings_of(app), "2024-07", topics="ai", language="en")
    assert "编辑写的预览文字" not in english.message.html
    assert preheader_of(english) == preheader_of(automatic)


def test_shortened_items_are_named(
    app: Flask, session: Session, factories: Factories
) -> None:
    long = "很长的摘要。" * 4000
    factories.edition("2024-09", items={"policy": [
        {"title": f"长条目{n}", "summary": long, "topics": ["ai"]} for n in range(3)]})
    preview = render_preview(session, settings_of(app), "2024-09", topics="ai")
    assert [i.title for i in shortened_items(preview)] == ["长条目0", "长条目1", "长条目2"]
    short = render_preview(session, settings_of(app), "2024-09", topics="ai")
    assert preview.variant.max_html_bytes <= 100_000 and short.html_bytes <= 100_000


@pytest.mark.postgres
def test_progress_is_counted_per_edition_in_one_query(
    session: Session, factories: Factories, edition: Edition
) -> None:
    other = factories.edition("2024-06", items={"policy": [{"topics": ["ai"]}]})
    statuses = [DeliveryStatus.SENT] * 3 + [DeliveryStatus.FAILED, DeliveryStatus.QUEUED,
                                            DeliveryStatus.SKIPPED]
    for n, status in enumerate(statuses):
        reader = factories.subscriber(topics=["ai"])
        session.add(Delivery(edition_id=edition.id, subscriber_id=reader.id, variant_key="zh-CN:ai",
                             token=f"t{n}", status=status))
    session.commit()
    progress = progress_by_edition(session)
    assert other.id not in progress
    mine = progress[edition.id]
    assert (mine.planned, mine.sent, mine.failed, mine.skipped) == (6, 3, 1, 1)
    assert (mine.settled, mine.percent) == (5, 83)
