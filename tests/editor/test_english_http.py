"""The English edition in the editor console: its texts and policy, an item's English fields,
untranslated counts in the preview, the approve gate, and items the keywords found no topic for."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.editor.test_edition_http import _item_form, _reload
from tests.factories import Factories
from webapp.models import AuditEntry, Edition, EditionStatus, EnglishStatus, UntranslatedPolicy


def _english_form(**changes: str) -> dict[str, str]:
    data = {
        "title_en": "", "subject_en": "", "preheader_en": "", "intro_en": "",
        "section_policy": "", "section_industry": "", "section_deals": "",
        "untranslated": "marked", "submit": "1",
    }
    data.update(changes)
    return data


def _draft(factories: Factories) -> Edition:
    return factories.edition(
        items={
            "policy": [
                {"title": "欧盟人工智能法", "summary": "摘要", "topics": ["ai"],
                 "title_en": "EU AI Act", "summary_en": "Summary"},
                {"title": "数据出境新规", "summary": "摘要", "topics": ["data"]},
            ],
            "deals": [{"title": "某基金完成募资", "topics": ["investment"]}],
        },
    )


def test_the_english_edition_texts_and_policy_are_saved(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    _draft(factories)
    page = editor_client.get("/editor/editions/2024-07?lang=en").get_data(as_text=True)
    assert "2 of 3 items have no English text yet." in page
    assert page.count("data-untranslated>") == 2
    assert re.search(r'id="title_en"[^>]*placeholder="yuebao monthly report"', page)

    saved = editor_client.post("/editor/editions/2024-07/english", data=_english_form(
        title_en="Digital Economy Monthly", subject_en="July in brief",
        intro_en="Welcome.", section_policy="Policy watch", untranslated="omit",
    ))
    assert saved.status_code == 302 and saved.headers["Location"].endswith("#english")
    edition = _reload(session)
    assert (edition.title_en, edition.subject_en, edition.intro_en) == (
        "Digital Economy Monthly", "July in brief", "Welcome.",
    )
    assert edition.untranslated == UntranslatedPolicy.OMIT
    assert [s.title_en for s in edition.sections] == ["Policy watch", "", ""]
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "edition.edit_english"))
    assert entry is not None and entry.detail["untranslated"] == "omit"


def test_a_control_character_in_an_english_text_is_refused_and_nothing_changes(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    _draft(factories)
    refused = editor_client.post("/editor/editions/2024-07/english?lang=en", data=_english_form(
        title_en="Digital\x07Economy", untranslated="omit",
    ))
    assert refused.status_code == 400
    assert "U+0007 at character 8" in refused.get_data(as_text=True)  # the forms' one rule
    edition = _reload(session)
    assert edition.title_en == "" and edition.untranslated == UntranslatedPolicy.MARKED


def test_an_approved_edition_returns_to_draft_when_its_english_changes(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    _draft(factories).status = EditionStatus.APPROVED
    session.commit()
    page = editor_client.post("/editor/editions/2024-07/english?lang=en",
                              data=_english_form(untranslated="omit"), follow_redirects=True)
    assert "The edition is a draft again" in page.get_data(as_text=True)
    assert _reload(session).status == EditionStatus.DRAFT


def test_an_items_english_commentary_is_saved_under_the_configured_labels(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    edition = factories.edition(items={"policy": [
        {"title": "条目", "summary": "摘要", "commentary": "短评", "topics": ["ai"]}]})
    item = edition.sections[0].items[0]
    page = editor_client.get(f"/editor/editions/2024-07/items/{item.id}?lang=en")
    text = page.get_data(as_text=True)
    assert "Commentary (植德短评)" in text and "English commentary (Our view)" in text
    saved = editor_client.post(f"/editor/editions/2024-07/items/{item.id}", data=_item_form(
        item, title_en="Item", summary_en="Summary", commentary_en="Our take."))
    assert saved.status_code == 302
    stored = _reload(session).sections[0].items[0]
    assert stored.commentary_en == "Our take." and stored.english_status == EnglishStatus.EDITOR
    page = editor_client.get("/editor/editions/2024-07?lang=en").get_data(as_text=True)
    assert "0 of 1 items have no English text yet." in page


def test_the_preview_counts_untranslated_items_per_variant(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    _draft(factories)
    factories.subscriber(topics=["ai", "data"], language="en")
    factories.subscriber(topics=["ai"], language="en")
    factories.subscriber(topics=["data"])
    session.commit()
    page = editor_client.get("/editor/editions/2024-07/preview?lang=en&language=en"
                             "&topics=ai,data").get_data(as_text=True)
    assert '<td class="num" data-untranslated="1">1 in Chinese, marked</td>' in page
    assert '<td class="num" data-untranslated="0">0</td>' in page
    assert '<dd data-preview="untranslated">1 in Chinese, marked</dd>' in page

    _reload(session).untranslated = UntranslatedPolicy.OMIT
    session.commit()
    page = editor_client.get("/editor/editions/2024-07/preview?lang=en&language=en"
                             "&topics=ai,data").get_data(as_text=True)
    assert '<dd data-preview="untranslated">1 left out</dd>' in page
    assert '<td class="num" data-untranslated="1">1 left out</td>' in page


def test_approving_for_english_readers_of_untranslated_items_asks_for_a_confirmation(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    _draft(factories)
    factories.subscriber(topics=["data", "investment"], language="en")
    factories.subscriber(topics=["ai"], language="en")  # gets only the translated item
    session.commit()

    asked = editor_client.post("/editor/editions/2024-07/approve?lang=en")
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    assert "1 English readers would get 2 items that have no English text." in page
    assert 'name="allow_untranslated"' in page
    assert 'name="confirming" type="hidden" value="1"' in page
    assert _reload(session).status == EditionStatus.DRAFT

    unticked = editor_client.post("/editor/editions/2024-07/approve?lang=en",
                                  data={"confirming": "1"})
    assert unticked.status_code == 400
    assert "Tick the box to approve" in unticked.get_data(as_text=True)
    assert _reload(session).status == EditionStatus.DRAFT

    confirmed = editor_client.post("/editor/editions/2024-07/approve?lang=en",
                                   data={"confirming": "1", "allow_untranslated": "y"})
    assert confirmed.status_code == 302
    assert _reload(session).status == EditionStatus.APPROVED


def test_without_english_readers_approving_asks_nothing_more(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    _draft(factories)
    factories.subscriber(topics=["data", "investment"])
    session.commit()
    approved = editor_client.post("/editor/editions/2024-07/approve?lang=en")
    assert approved.status_code == 302
    assert _reload(session).status == EditionStatus.APPROVED


def test_an_item_the_keywords_found_no_topic_for_is_named_and_blocks_approval(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    edition = factories.edition(items={"policy": [
        {"title": "一条与任何关键词都无关的消息", "summary": "无"},
        {"title": "人工智能新规", "topics": ["ai"]},
    ]})
    page = editor_client.get("/editor/editions/2024-07?lang=en").get_data(as_text=True)
    assert page.count("data-no-keyword-match>No keyword matched; choose topics.") == 1

    refused = editor_client.post("/editor/editions/2024-07/approve?lang=en",
                                 follow_redirects=True)
    assert "1 items have no topic, so no reader would get them" in refused.get_data(as_text=True)
    assert _reload(session).status == EditionStatus.DRAFT

    item = edition.sections[0].items[0]
    form = editor_client.get(f"/editor/editions/2024-07/items/{item.id}?lang=en")
    assert "No keyword matched; choose topics." in form.get_data(as_text=True)
    suggest = editor_client.post(f"/editor/editions/2024-07/items/{item.id}?lang=en",
                                 data={**_item_form(item), "suggest": "1", "submit": ""})
    assert "No keyword matched; choose topics." in suggest.get_data(as_text=True)


def test_the_preview_of_an_english_reader_left_with_nothing_says_they_get_no_email(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    _draft(factories).untranslated = UntranslatedPolicy.OMIT
    factories.subscriber(topics=["investment"], language="en", email="deals@example.com")
    session.commit()
    page = editor_client.get("/editor/editions/2024-07/preview?lang=en"
                             "&reader=deals@example.com").get_data(as_text=True)
    assert "deals@example.com gets no email for this edition" in page
