"""`yuebao translate MONTH` and `yuebao approve` with machine drafts waiting."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import boto3
import pytest
from botocore.stub import Stubber
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.cli import translation
from webapp.config import install, settings_of
from webapp.editions.records import get_edition
from webapp.models import AuditEntry, EditionStatus, EnglishStatus

MONTH = "2024-07"


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stubber]:
    client = boto3.client("translate", region_name="eu-west-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
    monkeypatch.setattr(translation, "translate_client", lambda settings: client)
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def _answer(stubber: Stubber, chinese: str, english: str) -> None:
    stubber.add_response(
        "translate_text",
        {"TranslatedText": english, "SourceLanguageCode": "zh", "TargetLanguageCode": "en"},
        {"Text": chinese, "SourceLanguageCode": "zh", "TargetLanguageCode": "en"},
    )


@pytest.fixture
def edition(factories: Factories) -> None:
    factories.edition(MONTH, title_en="Monthly", items={"deals": [
        {"title": "甲基金完成募资", "topics": ["ai"]},
        {"title": "乙公司上市", "topics": ["ai"]},
    ]})


def test_without_translate_the_command_says_how_to_enable_it(
    runner: FlaskCliRunner, edition: None
) -> None:
    result = runner.invoke(args=["translate", MONTH, "--yes"])
    assert result.exit_code == 1
    assert "set TRANSLATE=aws" in result.output


@pytest.mark.postgres
def test_the_command_shows_the_cost_asks_and_drafts(
    app: Flask, runner: FlaskCliRunner, session: Session, edition: None, stubbed: Stubber
) -> None:
    install(app, replace(settings_of(app), translate="aws"))
    declined = runner.invoke(args=["translate", MONTH], input="n\n")
    assert declined.exit_code == 1
    assert "2 item(s) and 0 edition text(s) without English: 12 characters" in declined.output
    assert "estimated cost US$0.01" in declined.output

    _answer(stubbed, "甲基金完成募资", "Fund A closes its raise")
    stubbed.add_client_error("translate_text",
                             service_error_code="DetectedLanguageLowConfidenceException",
                             service_message="Low confidence")
    result = runner.invoke(args=["translate", MONTH], input="y\n")
    assert result.exit_code == 1, result.output
    assert "not drafted: 乙公司上市 — DetectedLanguageLowConfidenceException" in result.output
    assert "1 item(s) and 0 edition text(s) drafted (12 characters); 1 failed" in result.output

    session.expire_all()
    stored = get_edition(session, MONTH)
    assert stored is not None
    items = stored.sections[2].items
    assert [(i.title_en, i.english_status) for i in items] == [
        ("Fund A closes its raise", EnglishStatus.MACHINE), (None, EnglishStatus.EDITOR)]
    audit = session.scalar(select(AuditEntry).where(AuditEntry.action == "edition.translate"))
    assert audit is not None and audit.detail is not None
    assert (audit.detail["items"], audit.detail["failed"], audit.detail["characters"]) == (
        1, 1, 12)

    refused = runner.invoke(args=["approve", MONTH, "--allow-untranslated"])
    assert refused.exit_code == 1
    assert "machine-drafted English no editor accepted yet (1 item(s)" in refused.output
    session.expire_all()
    stored = get_edition(session, MONTH)
    assert stored is not None and stored.status == EditionStatus.DRAFT
