"""Drafting English through Amazon Translate from the editor console: the figures and the
confirmation, the worker's run, the drafts shown as such, accepting them, and approving."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.editor.test_edition_http import _item_form
from tests.factories import Factories
from webapp.config import install, settings_of
from webapp.db import database
from webapp.delivery.jobs import JobRunner
from webapp.editions.machine_translation import Translator
from webapp.editions.records import get_edition
from webapp.models import (
    AuditEntry,
    BackgroundJob,
    Edition,
    EditionStatus,
    EnglishStatus,
    JobKind,
    JobStatus,
)

MONTH = "2024-07"
PAGE = f"/editor/editions/{MONTH}"


@pytest.fixture
def translate_on(app: Flask) -> None:
    install(app, replace(settings_of(app), translate="aws", translate_terminology="firm"))


@pytest.fixture
def stubbed() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("translate", region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    with Stubber(client) as stubber:
        yield client, stubber


def _answer(stubber: Stubber, chinese: str, english: str) -> None:
    stubber.add_response(
        "translate_text",
        {"TranslatedText": english, "SourceLanguageCode": "zh", "TargetLanguageCode": "en"},
        {"Text": chinese, "SourceLanguageCode": "zh", "TargetLanguageCode": "en",
         "TerminologyNames": ["firm"]},
    )


def _edition(factories: Factories) -> Edition:
    return factories.edition(MONTH, title_en="Digital Economy Monthly", items={
        "policy": [{"title": "数据出境新规", "summary": "新规发布。", "topics": ["data"]}],
        "deals": [{"title": "某基金完成募资", "topics": ["investment"]},
                  {"title": "超长的条目", "topics": ["investment"]}],
    })


def _reload(session: Session) -> Edition:
    session.expire_all()
    edition = get_edition(session, MONTH)
    assert edition is not None
    return edition


def _work(app: Flask, client: Any) -> None:
    runner = JobRunner(settings_of(app), database(app).sessionmaker, worker="test-worker",
                       translator=Translator(client, terminology="firm", sleep=lambda _: None))
    assert runner.run_once().done == 1


def _jobs(session: Session) -> list[BackgroundJob]:
    session.expire_all()
    return list(session.scalars(select(BackgroundJob).where(
        BackgroundJob.kind == JobKind.TRANSLATE)))


def test_without_translate_the_console_says_how_to_enable_it(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    _edition(factories)
    page = editor_client.get(f"{PAGE}?lang=en").get_data(as_text=True)
    assert "data-translate-off" in page and "set TRANSLATE=aws" in page
    assert "Draft English for untranslated items</a>" not in page
    refused = editor_client.post(f"{PAGE}/translate?lang=en", data={"characters": "26"},
                                 follow_redirects=True)
    assert "Drafting English is off." in refused.get_data(as_text=True)
    assert _jobs(session) == []


@pytest.mark.postgres
@pytest.mark.usefixtures("translate_on")
def test_the_editor_sees_the_cost_confirms_and_reviews_the_drafts(
    app: Flask, editor_client: FlaskClient, factories: Factories, session: Session,
    stubbed: tuple[Any, Stubber],
) -> None:
    _edition(factories)
    characters = len("数据出境新规新规发布。某基金完成募资超长的条目")
    page = editor_client.get(f"{PAGE}?lang=en").get_data(as_text=True)
    assert "Draft English for untranslated items</a>" in page

    confirm = editor_client.get(f"{PAGE}/translate?lang=en").get_data(as_text=True)
    assert f'data-characters="{characters}"' in confirm
    assert 'data-cost="0.01"' in confirm and "US$15 per million characters" in confirm
    assert _jobs(session) == []  # nothing is sent before the confirmation

    # Someone changed the texts after the figures were shown: shown again, nothing queued.
    stale = editor_client.post(f"{PAGE}/translate?lang=en", data={"characters": "5"})
    assert stale.status_code == 409
    assert "check the new figures" in stale.get_data(as_text=True)
    assert _jobs(session) == []

    queued = editor_client.post(f"{PAGE}/translate", data={"characters": str(characters)})
    assert queued.status_code == 302 and queued.headers["Location"].endswith(f"{PAGE}/drafts")
    following = editor_client.get(f"{PAGE}/drafts?lang=en").get_data(as_text=True)
    assert 'http-equiv="refresh"' in following and "0 of 3 done" in following
    [job] = _jobs(session)
    assert job.payload is not None and job.payload["characters"] == characters
    again = editor_client.post(f"{PAGE}/translate?lang=en", data={"characters": str(characters)},
                               follow_redirects=True)
    assert "being drafted already" in again.get_data(as_text=True)
    assert len(_jobs(session)) == 1

    client, stubber = stubbed
    _answer(stubber, "数据出境新规", "New rules on data export")
    _answer(stubber, "新规发布。", "New rules were issued.")
    _answer(stubber, "某基金完成募资", "A fund closes its raise")
    stubber.add_client_error("translate_text", service_error_code="TextSizeLimitExceededException",
                             service_message="Input text size exceeds limit")
    _work(app, client)
    stubber.assert_no_pending_responses()

    [job] = _jobs(session)
    assert (job.status, job.progress_done, job.progress_total) == (JobStatus.DONE, 3, 3)
    review = editor_client.get(f"{PAGE}/drafts?lang=en").get_data(as_text=True)
    assert 'data-job-status="done"' in review and "http-equiv" not in review
    assert re.search(r"超长的条目</strong> — The text is too long for Amazon Translate "
                     r'<small class="muted" translate="no">Input text', review)
    assert review.count("data-draft-item=") == 2
    page = editor_client.get(f"{PAGE}?lang=en").get_data(as_text=True)
    assert "Last drafting: 1 items not drafted" in page
    assert page.count("machine draft — accept or edit") == 2
    assert page.count("data-untranslated>") == 1  # the failed one, left without English

    # Approving waits for the drafts, even with untranslated items allowed.
    approve = editor_client.post(f"{PAGE}/approve?lang=en", data={"allow_untranslated": "y"},
                                 follow_redirects=True)
    assert "no editor has accepted yet (2 items, 0 edition texts)" in approve.get_data(
        as_text=True)
    assert _reload(session).status == EditionStatus.DRAFT

    # One click on the edition page accepts one item.
    edition = _reload(session)
    data_item = edition.sections[0].items[0]
    accepted = editor_client.post(f"{PAGE}/drafts/accept", data={
        "items": str(data_item.id), "back": "edition"})
    assert accepted.headers["Location"].endswith(f"{PAGE}#item-{data_item.id}")
    edition = _reload(session)
    states = [i.english_status for s in edition.sections for i in s.items]
    assert states == [EnglishStatus.EDITOR, EnglishStatus.MACHINE, EnglishStatus.EDITOR]

    # "Accept all" accepts what the review page showed, nothing else.
    review = editor_client.get(f"{PAGE}/drafts").get_data(as_text=True)
    shown = re.search(r'name="items" type="hidden" value="([0-9,]*)"', review)
    assert shown is not None
    deal = edition.sections[2].items[1]
    deal.title_en, deal.english_status = "A late draft", EnglishStatus.MACHINE  # after viewing
    session.commit()
    editor_client.post(f"{PAGE}/drafts/accept", data={"items": shown.group(1), "texts": ""})
    edition = _reload(session)
    assert [i.english_status for i in edition.sections[2].items] == [
        EnglishStatus.EDITOR, EnglishStatus.MACHINE]
    entries = session.scalars(select(AuditEntry).where(
        AuditEntry.action.in_(["edition.translate", "edition.accept_english"])))
    assert [e.action for e in entries] == [
        "edition.translate", "edition.accept_english", "edition.accept_english"]


def test_accepting_an_item_of_another_edition_changes_nothing(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    _edition(factories)
    other = factories.edition("2024-08", items={"deals": [
        {"title": "甲", "title_en": "A", "english_status": "machine"}]})
    item_id = other.sections[2].items[0].id
    editor_client.post(f"{PAGE}/drafts/accept", data={"items": str(item_id)})
    session.expire_all()
    found = get_edition(session, "2024-08")
    assert found is not None and found.sections[2].items[0].english_status == EnglishStatus.MACHINE


def test_editing_and_saving_a_drafted_item_makes_its_english_the_editors(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    factories.edition(MONTH, items={"deals": [
        {"title": "甲", "title_en": "A (machine)", "english_status": "machine", "topics": ["ai"]}]})
    item = _reload(session).sections[2].items[0]
    page = editor_client.get(f"{PAGE}/items/{item.id}?lang=en").get_data(as_text=True)
    assert "data-machine-draft" in page and "Machine draft — accept or edit" in page

    saved = editor_client.post(f"{PAGE}/items/{item.id}",
                               data=_item_form(item, title_en="Fund A closes its raise"))
    assert saved.status_code == 302
    item = _reload(session).sections[2].items[0]
    assert (item.title_en, item.english_status) == ("Fund A closes its raise",
                                                    EnglishStatus.EDITOR)


def test_the_editions_drafted_texts_are_shown_and_accepted_together(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    factories.edition(MONTH, title_en="Monthly (machine)", english_drafts=["title_en"],
                      items={"deals": [{"title": "甲", "title_en": "A", "topics": ["ai"]}]})
    page = editor_client.get(f"{PAGE}?lang=en").get_data(as_text=True)
    assert "data-english-drafts" in page and "data-drafts-pending" in page
    review = editor_client.get(f"{PAGE}/drafts?lang=en").get_data(as_text=True)
    assert re.search(r'data-draft-text="title_en"><td>元宇宙与数字经济月报</td>'
                     r'<td lang="en">Monthly \(machine\)</td>', review)
    assert 'name="texts" type="hidden" value="title_en"' in review
    editor_client.post(f"{PAGE}/drafts/accept", data={"items": "", "texts": "title_en"})
    edition = _reload(session)
    assert edition.english_drafts is None and edition.title_en == "Monthly (machine)"
