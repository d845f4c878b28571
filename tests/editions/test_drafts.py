"""Machine drafts of missing English through Amazon Translate, tested with botocore's Stubber
against the real `translate` client (moto has no Translate)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.config import settings_of
from webapp.db import database
from webapp.delivery import sending
from webapp.delivery.jobs import JobRunner
from webapp.delivery.sending import MachineDraftsPending
from webapp.editions.drafting_job import queue_drafts
from webapp.editions.drafts import TranslationOff, accept_drafts, draft_english, plan_drafts
from webapp.editions.english import EnglishTexts, update_english
from webapp.editions.machine_translation import (
    MAX_REQUEST_BYTES,
    Translator,
    chunks,
    estimated_cost_usd,
)
from webapp.editions.records import get_edition
from webapp.mailer import edition_content
from webapp.models import AuditEntry, Edition, EditionStatus, EnglishStatus, Item, JobStatus

MONTH = "2024-07"


@pytest.fixture
def translate() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("translate", region_name="ap-northeast-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def answer(stubber: Stubber, chinese: str, english: str, **expected: Any) -> None:
    stubber.add_response(
        "translate_text",
        {"TranslatedText": english, "SourceLanguageCode": "zh", "TargetLanguageCode": "en"},
        {"Text": chinese, "SourceLanguageCode": "zh", "TargetLanguageCode": "en", **expected},
    )


def refuse(stubber: Stubber, code: str, status: int = 400) -> None:
    stubber.add_client_error("translate_text", service_error_code=code,
                             service_message=f"{code} happened", http_status_code=status)


@pytest.fixture
def edition(factories: Factories) -> Edition:
    """An item in English already, two without (one with a summary and commentary)."""
    return factories.edition(MONTH, items={
        "policy": [
            {"title": "欧盟人工智能法", "title_en": "EU AI Act", "topics": ["ai"]},
            {"title": "数据出境新规", "summary": "新规发布。", "commentary": "值得关注。",
             "topics": ["data"]},
        ],
        "deals": [{"title": "某基金完成募资", "topics": ["investment"]}],
    })


def _items(session: Session) -> dict[str, Item]:
    session.expire_all()
    found = get_edition(session, MONTH)
    assert found is not None
    return {i.title: i for s in found.sections for i in s.items}


def _run(app: Flask, client: Any, **options: Any) -> Any:
    sleeps: list[float] = []
    terminology = options.pop("terminology", None)
    run = draft_english(database(app).sessionmaker, MONTH,
                        Translator(client, terminology=terminology, sleep=sleeps.append),
                        actor="test", **options)
    run.sleeps = sleeps
    return run


def test_the_plan_counts_characters_and_estimates_the_cost(edition: Edition) -> None:
    plan = plan_drafts(edition)
    # The edition's title (its sections have their usual names), then two items.
    ids = [i.id for s in edition.sections for i in s.items]
    assert plan.scope == ["edition", f"item:{ids[1]}", f"item:{ids[2]}"]
    assert plan.units[0].texts == {"title_en": "元宇宙与数字经济月报"}
    assert plan.items == 2 and plan.edition_texts == 1
    texts = ["元宇宙与数字经济月报", "数据出境新规", "新规发布。", "值得关注。", "某基金完成募资"]
    assert plan.characters == sum(len(text) for text in texts)
    assert estimated_cost_usd(1_000_000) == Decimal("15.00")
    assert estimated_cost_usd(1234) == Decimal("0.02")  # 0.0185, never under-estimated
    assert plan.cost_usd == Decimal("0.01")


@pytest.mark.postgres
def test_drafts_are_stored_as_machine_drafts_with_the_terminology(
    app: Flask, session: Session, edition: Edition, translate: tuple[Any, Stubber]
) -> None:
    client, stubber = translate
    glossary = {"TerminologyNames": ["firm-glossary"]}
    answer(stubber, "元宇宙与数字经济月报", "Metaverse and Digital Economy Monthly", **glossary)
    answer(stubber, "数据出境新规", "New rules on data export", **glossary)
    answer(stubber, "新规发布。", "New rules were issued.", **glossary)
    answer(stubber, "值得关注。", "Worth watching.", **glossary)
    answer(stubber, "某基金完成募资", "A fund closes its raise", **glossary)

    shown = plan_drafts(edition).characters
    run = _run(app, client, terminology="firm-glossary")

    assert (run.items, run.edition_texts, run.failed, run.stopped) == (2, 1, [], None)
    items = _items(session)
    data = items["数据出境新规"]
    assert (data.title_en, data.summary_en, data.commentary_en) == (
        "New rules on data export", "New rules were issued.", "Worth watching.")
    assert data.english_status == EnglishStatus.MACHINE
    assert items["欧盟人工智能法"].english_status == EnglishStatus.EDITOR  # untouched
    stored = get_edition(session, MONTH)
    assert stored is not None
    assert stored.title_en == "Metaverse and Digital Economy Monthly"
    assert stored.english_drafts == ["title_en"]
    # Drafts are not the edition's English yet: readers and previews get none of it.
    content = edition_content(stored)
    assert content.title_en == ""
    assert [i.translated for s in content.sections for i in s.items] == [True, False, False]
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "edition.translate"))
    assert [e.detail for e in audit] == [{
        "items": 2, "edition_texts": 1, "failed": 0, "changed": 0,
        "characters": run.characters, "stopped": None}]
    assert run.characters == shown
    assert plan_drafts(stored).units == ()  # nothing left to draft: drafts are not redone


def test_throttling_is_retried_with_backoff(
    app: Flask, session: Session, factories: Factories, translate: tuple[Any, Stubber]
) -> None:
    factories.edition(MONTH, title_en="Monthly", items={"deals": [{"title": "某基金完成募资"}]})
    client, stubber = translate
    refuse(stubber, "ThrottlingException")
    refuse(stubber, "TooManyRequestsException")
    refuse(stubber, "ServiceUnavailableException", 503)
    answer(stubber, "某基金完成募资", "A fund\ncloses its raise ")  # a title is one line

    run = _run(app, client)

    assert run.sleeps == [1.0, 2.0, 4.0]
    assert (run.items, run.failed) == (1, [])
    assert _items(session)["某基金完成募资"].title_en == "A fund closes its raise"


def test_a_failed_item_is_reported_and_left_whole_while_the_others_are_drafted(
    app: Flask, session: Session, edition: Edition, translate: tuple[Any, Stubber]
) -> None:
    client, stubber = translate
    answer(stubber, "元宇宙与数字经济月报", "Monthly")
    answer(stubber, "数据出境新规", "New rules on data export")  # its title goes through …
    refuse(stubber, "TextSizeLimitExceededException")  # … its summary does not
    answer(stubber, "某基金完成募资", "A fund closes its raise")

    run = _run(app, client)

    assert [(f.label, f.reason) for f in run.failed] == [
        ("数据出境新规", "TextSizeLimitExceededException: TextSizeLimitExceededException happened")]
    items = _items(session)
    failed = items["数据出境新规"]  # none of its fields, not the title alone
    assert (failed.title_en, failed.summary_en, failed.english_status) == (
        None, None, EnglishStatus.EDITOR)
    assert items["某基金完成募资"].english_status == EnglishStatus.MACHINE
    assert run.items == 1


def test_throttled_past_every_attempt_fails_that_item_only(
    app: Flask, session: Session, factories: Factories, translate: tuple[Any, Stubber]
) -> None:
    factories.edition(MONTH, title_en="Monthly",
                      items={"deals": [{"title": "甲"}, {"title": "乙"}]})
    client, stubber = translate
    for _ in range(5):
        refuse(stubber, "ThrottlingException")
    answer(stubber, "乙", "B")

    run = _run(app, client)

    assert [f.label for f in run.failed] == ["甲"]
    assert "after 5 attempts" in run.failed[0].reason
    assert len(run.sleeps) == 4
    assert _items(session)["乙"].title_en == "B"


def test_a_missing_terminology_stops_the_run_at_once(
    app: Flask, session: Session, edition: Edition, translate: tuple[Any, Stubber]
) -> None:
    client, stubber = translate
    refuse(stubber, "ResourceNotFoundException")

    run = _run(app, client, terminology="gone")

    assert run.stopped is not None and run.stopped.startswith("ResourceNotFoundException")
    assert run.drafted == []
    assert all(i.english_status == EnglishStatus.EDITOR for i in _items(session).values())


def test_a_long_text_goes_in_pieces_cut_between_sentences(
    app: Flask, session: Session, factories: Factories, translate: tuple[Any, Stubber]
) -> None:
    sentence = "数字经济发展迅速。" * 400  # 3,600 characters, 10,800 bytes
    summary = sentence + "\n" + "第二段。"
    factories.edition(MONTH, title_en="Monthly",
                      items={"deals": [{"title": "长", "summary": summary}]})
    pieces = chunks(summary)
    assert [len(p.encode()) <= MAX_REQUEST_BYTES for p in pieces] == [True, True]
    assert "".join(pieces) == summary and pieces[0].endswith("。")
    client, stubber = translate
    answer(stubber, "长", "Long")
    answer(stubber, pieces[0], "First part.")
    answer(stubber, pieces[1].strip(), "Still the first.\nSecond paragraph.")

    _run(app, client)

    assert _items(session)["长"].summary_en == "First part. Still the first.\nSecond paragraph."


def test_an_item_edited_meanwhile_keeps_the_edit(
    app: Flask, session: Session, factories: Factories, translate: tuple[Any, Stubber]
) -> None:
    factories.edition(MONTH, title_en="Monthly", items={"deals": [{"title": "甲"}]})
    client, _ = translate

    class EditingTranslator(Translator):
        def translate(self, text: str) -> str:
            with database(app).sessionmaker() as other:  # an editor saves English meanwhile
                item = _items(other)["甲"]
                item.title_en = "A, by the editor"
                other.commit()
            return "A"

    run = draft_english(database(app).sessionmaker, MONTH, EditingTranslator(client),
                        actor="test")
    assert run.drafted == [] and len(run.changed) == 1
    item = _items(session)["甲"]
    assert (item.title_en, item.english_status) == ("A, by the editor", EnglishStatus.EDITOR)


@pytest.mark.postgres
def test_an_edition_with_unaccepted_drafts_cannot_be_approved(
    session: Session, factories: Factories
) -> None:
    edition = factories.edition(MONTH, title_en="Monthly", items={"deals": [
        {"title": "甲", "title_en": "A", "topics": ["ai"], "english_status": "machine"},
        {"title": "乙", "title_en": "B", "topics": ["ai"]},
    ]})
    with pytest.raises(MachineDraftsPending) as refused:
        sending.approve(session, edition, actor="test", allow_untranslated=True)
    assert (refused.value.items, refused.value.texts) == (1, 0)
    assert edition.status == EditionStatus.DRAFT

    accepted = accept_drafts(session, edition, items=[edition.sections[2].items[0].id],
                             actor="test")
    session.commit()
    assert accepted == 1
    sending.approve(session, edition, actor="test")
    assert edition.status == EditionStatus.APPROVED


@pytest.mark.postgres
def test_drafted_edition_texts_wait_for_acceptance_or_a_save(
    session: Session, factories: Factories
) -> None:
    edition = factories.edition(MONTH, title_en="Monthly (machine)", english_drafts=["title_en"],
                                items={"deals": [{"title": "甲", "title_en": "A",
                                                  "topics": ["ai"]}]})
    with pytest.raises(MachineDraftsPending) as refused:
        sending.approve(session, edition, actor="test")
    assert (refused.value.items, refused.value.texts) == (0, 1)
    # Saving the English edition form, which showed the draft, makes it the editor's.
    update_english(session, edition, EnglishTexts(title="Monthly (machine)"), actor="test")
    session.commit()
    assert edition.english_drafts is None
    assert edition_content(edition).title_en == "Monthly (machine)"
    sending.approve(session, edition, actor="test")
    assert edition.status == EditionStatus.APPROVED


def test_the_worker_gives_up_a_job_once_translate_is_switched_off(
    app: Flask, session: Session, edition: Edition, editor: Any
) -> None:
    # Queued while TRANSLATE was aws; the worker now runs with it off: nothing is sent.
    job = queue_drafts(session, edition, enabled=True,
                       characters=plan_drafts(edition).characters, actor=editor)
    session.commit()
    runner = JobRunner(settings_of(app), database(app).sessionmaker, worker="test")
    assert runner.run_once().failed == 1
    session.refresh(job)
    assert job.status == JobStatus.FAILED and "TRANSLATE is off" in (job.last_error or "")
    assert all(i.english_status == EnglishStatus.EDITOR for i in _items(session).values())
    with pytest.raises(TranslationOff):
        queue_drafts(session, edition, enabled=False, characters=0, actor=editor)
