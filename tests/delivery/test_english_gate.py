"""English readers and items without English text: the approve gate and the plan."""

from __future__ import annotations

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.delivery import sending
from webapp.delivery.sending import UntranslatedForEnglishReaders
from webapp.delivery.variants import EnglishExposure, count_variants, english_exposure
from webapp.models import (
    AuditEntry,
    Delivery,
    Edition,
    EditionStatus,
    SubscriberStatus,
    UntranslatedPolicy,
)

ENGLISH = {"title_en": "EU AI Act published", "summary_en": "It applies from August."}


@pytest.fixture
def draft(factories: Factories) -> Edition:
    """Two AI items (one in English), a data item and a deal without English text."""
    return factories.edition(
        "2024-07",
        items={
            "policy": [
                {"title": "欧盟人工智能法", "summary": "摘要", "topics": ["ai"], **ENGLISH},
                {"title": "数据出境新规", "summary": "摘要", "topics": ["data"]},
            ],
            "industry": [{"title": "人工智能行业新闻", "topics": ["ai"]}],
            "deals": [{"title": "某基金完成募资", "topics": ["investment"]}],
        },
    )


def _approvals(session: Session) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).where(AuditEntry.action == "edition.approve")))


@pytest.mark.postgres
def test_approving_with_english_readers_of_untranslated_items_needs_a_confirmation(
    session: Session, factories: Factories, draft: Edition
) -> None:
    factories.subscriber(topics=["ai"], language="en")
    factories.subscriber(topics=["ai", "investment"], language="en")
    factories.subscriber(topics=["data"], language="en", status=SubscriberStatus.PAUSED)
    factories.subscriber(topics=["data", "investment"])  # Chinese: gets Chinese, of course
    session.commit()

    # Two readers; two items: the AI news and the deal.
    assert english_exposure(session, draft) == EnglishExposure(2, 2)
    with pytest.raises(UntranslatedForEnglishReaders) as refused:
        sending.approve(session, draft, actor="test")
    assert (refused.value.readers, refused.value.items) == (2, 2)
    session.rollback()
    assert draft.status == EditionStatus.DRAFT and _approvals(session) == []

    sending.approve(session, draft, actor="test", allow_untranslated=True)
    session.commit()
    assert draft.status == EditionStatus.APPROVED
    [entry] = _approvals(session)
    assert entry.detail == {"untranslated": {"readers": 2, "items": 2}}


@pytest.mark.postgres
def test_without_english_readers_of_those_items_approving_needs_nothing(
    session: Session, factories: Factories, draft: Edition
) -> None:
    factories.subscriber(topics=["ai", "data", "investment"])  # Chinese
    factories.subscriber(topics=["cross-border"], language="en")  # no item of theirs
    factories.subscriber(topics=["ai"], language="en", status=SubscriberStatus.UNSUBSCRIBED)
    session.commit()
    assert english_exposure(session, draft) == EnglishExposure(0, 0)
    sending.approve(session, draft, actor="test")
    assert draft.status == EditionStatus.APPROVED


@pytest.mark.postgres
def test_with_omit_nobody_gets_chinese_and_readers_left_with_nothing_get_no_email(
    session: Session, factories: Factories, draft: Edition
) -> None:
    draft.untranslated = UntranslatedPolicy.OMIT
    mixed = factories.subscriber(topics=["ai", "investment"], language="en")
    only_deals = factories.subscriber(topics=["investment"], language="en")
    chinese = factories.subscriber(topics=["investment"])
    session.commit()

    assert english_exposure(session, draft) == EnglishExposure(0, 0)
    sending.approve(session, draft, actor="test")  # no English reader gets Chinese text
    session.commit()
    assert count_variants(session, draft) == {"en:ai,investment": 1, "zh-CN:investment": 1}

    plan = sending.start_send(session, draft, actor="test")
    session.commit()
    assert (plan.planned, plan.excluded_untranslated, plan.excluded_no_match) == (2, 1, 0)
    planned = set(session.scalars(select(Delivery.subscriber_id)))
    assert planned == {mixed.id, chinese.id} and only_deals.id not in planned
    # The reason is recorded with the send.
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "edition.send"))
    assert entry is not None and entry.detail["excluded_untranslated"] == 1


def test_with_marked_english_readers_are_planned_as_before(
    session: Session, factories: Factories, draft: Edition
) -> None:
    only_deals = factories.subscriber(topics=["investment"], language="en")
    sending.approve(session, draft, actor="test", allow_untranslated=True)
    plan = sending.start_send(session, draft, actor="test")
    session.commit()
    assert (plan.planned, plan.excluded_untranslated) == (1, 0)
    assert session.scalar(select(Delivery.subscriber_id)) == only_deals.id


@pytest.mark.postgres
def test_the_cli_approves_untranslated_items_for_english_readers_only_when_told(
    runner: FlaskCliRunner, session: Session, factories: Factories, draft: Edition
) -> None:
    factories.subscriber(topics=["investment"], language="en")
    session.commit()
    refused = runner.invoke(args=["approve", "2024-07"])
    assert refused.exit_code != 0
    assert "1 English reader(s) would get 1 item(s) of the 2024-07 edition without English " \
        "text" in refused.output and "--allow-untranslated" in refused.output
    session.expire_all()
    assert session.get(Edition, draft.id).status == EditionStatus.DRAFT  # type: ignore[union-attr]

    allowed = runner.invoke(args=["approve", "2024-07", "--allow-untranslated"])
    assert allowed.exit_code == 0, allowed.output
    session.expire_all()
    assert session.get(Edition, draft.id).status == EditionStatus.APPROVED  # type: ignore[union-attr]


@pytest.mark.postgres
def test_the_cli_refuses_an_edition_with_an_item_without_a_topic(
    runner: FlaskCliRunner, session: Session, factories: Factories
) -> None:
    edition = factories.edition(
        items={"policy": [{"title": "无关键词的条目"}, {"title": "有主题", "topics": ["ai"]}]}
    )
    result = runner.invoke(args=["approve", "2024-07", "--allow-untranslated"])
    assert result.exit_code != 0
    assert "1 item(s) of the 2024-07 edition have no topic" in result.output
    assert "无关键词的条目" in result.output
    session.expire_all()
    assert session.get(Edition, edition.id).status == EditionStatus.DRAFT  # type: ignore[union-attr]
