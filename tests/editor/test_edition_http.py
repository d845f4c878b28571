"""The edition page: texts, items (edit, add, delete, reorder), approve, and the states."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.factories import Factories
from webapp.editions.records import get_edition
from webapp.models import Edition, EditionStatus, Item


def _reload(session: Session, month: str = "2024-07") -> Edition:
    session.expire_all()
    edition = get_edition(session, month)
    assert edition is not None
    return edition


def _item_form(item: Item, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "section": item.section.key,
        "title": item.title,
        "title_en": item.title_en or "",
        "published_on": item.published_on.isoformat(),
        "source": item.source,
        "url": item.url,
        "summary": item.summary,
        "summary_en": item.summary_en or "",
        "commentary": item.commentary or "",
        "topics": [t.slug for t in item.topics],
        "submit": "1",
    }
    data.update(changes)
    return data


def test_the_edition_page_lists_items_by_section_with_their_topics(
    editor_client: FlaskClient, july: Edition
) -> None:
    page = editor_client.get("/editor/editions/2024-07?lang=zh_CN").get_data(as_text=True)
    for heading in ("政策速递", "行业新闻", "交易资讯"):
        assert heading in page
    assert page.count('<li class="ed-item') == 26
    assert "人工智能" in page  # topic names as chips
    # The automatic subject is the placeholder of the empty subject field: the hook first.
    assert re.search(
        r'id="subject"[^>]*placeholder="党的二十届三中全会[^"]*｜元宇宙与数字经济月报 · 2024年7月"',
        page,
    )


def test_texts_are_saved_and_a_too_long_subject_keeps_what_was_typed(
    editor_client: FlaskClient, july: Edition, session: Session
) -> None:
    saved = editor_client.post("/editor/editions/2024-07",
                               data={"subject": "七月要闻", "preheader": "", "intro": "您好"})
    assert saved.status_code == 302
    assert (_reload(session).subject, _reload(session).intro) == ("七月要闻", "您好")
    too_long = editor_client.post("/editor/editions/2024-07?lang=en",
                                  data={"subject": "长" * 301, "intro": "我写的导语"})
    assert too_long.status_code == 400
    page = too_long.get_data(as_text=True)
    assert "我写的导语" in page and "长" * 301 in page
    assert _reload(session).intro == "您好"


def test_fixing_an_items_topic(
    editor_client: FlaskClient, july: Edition, session: Session
) -> None:
    item = july.sections[0].items[0]
    form = editor_client.get(f"/editor/editions/2024-07/items/{item.id}?lang=en")
    assert form.status_code == 200
    assert "★ suggested" in form.get_data(as_text=True)
    response = editor_client.post(f"/editor/editions/2024-07/items/{item.id}",
                                  data=_item_form(item, topics=["ai", "fintech"]))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"#item-{item.id}")
    stored = session.get(Item, item.id)
    assert stored is not None
    session.refresh(stored)
    assert {t.slug for t in stored.topics} == {"ai", "fintech"}


def test_an_item_form_with_errors_keeps_everything_typed(
    editor_client: FlaskClient, july: Edition, session: Session
) -> None:
    item = july.sections[0].items[0]
    response = editor_client.post(
        f"/editor/editions/2024-07/items/{item.id}?lang=en",
        data=_item_form(item, title="我改过的标题", url="ftp://nope", topics=[],
                        title_en="My English title"),
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Enter an http:// or https:// address." in page
    # No topic chosen: the suggested ones come back ticked, to check and save.
    assert "the suggested ones are ticked now" in page
    assert 'value="digital-economy" checked' in page
    assert "我改过的标题" in page and "ftp://nope" in page and "My English title" in page
    assert _reload(session).sections[0].items[0].title == item.title


def test_an_item_needs_a_topic_when_nothing_can_be_suggested(
    editor_client: FlaskClient, july: Edition
) -> None:
    item = july.sections[0].items[0]
    response = editor_client.post(
        f"/editor/editions/2024-07/items/{item.id}?lang=en",
        data=_item_form(item, title="无关", summary="无关", commentary="", topics=[]),
    )
    assert response.status_code == 400
    assert "Choose at least one topic" in response.get_data(as_text=True)


def test_a_new_item_with_suggested_topics(
    editor_client: FlaskClient, july: Edition, session: Session
) -> None:
    data = {
        "section": "deals",
        "title": "某人工智能公司完成新一轮融资",
        "published_on": "2024-07-30",
        "source": "36氪",
        "url": "https://example.com/deal",
        "summary": "融资用于大模型研发。",
        "suggest": "1",
    }
    suggested = editor_client.post("/editor/editions/2024-07/items/new?lang=en", data=data)
    assert suggested.status_code == 200  # nothing saved yet, the boxes are ticked
    page = suggested.get_data(as_text=True)
    assert re.search(r'value="investment" checked', page)
    assert "某人工智能公司完成新一轮融资" in page
    assert len(_reload(session).sections[2].items) == 4
    del data["suggest"]
    saved = editor_client.post("/editor/editions/2024-07/items/new",
                               data={**data, "topics": ["investment", "ai"], "submit": "1"})
    assert saved.status_code == 302
    deals = _reload(session).sections[2].items
    assert [i.title for i in deals][-1] == "某人工智能公司完成新一轮融资"
    assert {t.slug for t in deals[-1].topics} == {"investment", "ai"}


def test_delete_and_reorder(editor_client: FlaskClient, july: Edition, session: Session) -> None:
    first, second, third = (item.id for item in july.sections[2].items[:3])
    editor_client.post(f"/editor/editions/2024-07/items/{second}/delete")
    editor_client.post(f"/editor/editions/2024-07/items/{third}/move", data={"direction": "up"})
    deals = [item.id for item in _reload(session).sections[2].items]
    assert deals[:2] == [third, first]
    assert second not in deals and len(deals) == 3


def test_approve_then_an_edit_returns_it_to_draft(
    editor_client: FlaskClient, july: Edition, session: Session
) -> None:
    approved = editor_client.post("/editor/editions/2024-07/approve?lang=en",
                                  follow_redirects=True)
    assert "Approved." in approved.get_data(as_text=True)
    assert _reload(session).status == EditionStatus.APPROVED
    item = july.sections[0].items[0]
    edited = editor_client.post(f"/editor/editions/2024-07/items/{item.id}?lang=en",
                                data=_item_form(item, title="改过的标题"), follow_redirects=True)
    assert "The edition is a draft again" in edited.get_data(as_text=True)
    edition = _reload(session)
    assert edition.status == EditionStatus.DRAFT and edition.approved_at is None


def test_an_edition_without_topics_cannot_be_approved(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    factories.edition(items={"policy": [{"title": "no topics"}]})
    page = editor_client.post("/editor/editions/2024-07/approve?lang=en", follow_redirects=True)
    assert "No item has a topic" in page.get_data(as_text=True)
    assert _reload(session).status == EditionStatus.DRAFT


def test_an_edition_without_items_cannot_be_approved(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    factories.edition()
    page = editor_client.post("/editor/editions/2024-07/approve?lang=en", follow_redirects=True)
    assert "The edition has no items yet." in page.get_data(as_text=True)
    assert _reload(session).status == EditionStatus.DRAFT


@pytest.mark.parametrize("status", [EditionStatus.SENT, EditionStatus.SENDING,
                                    EditionStatus.SCHEDULED])
def test_edits_to_a_sent_or_sending_edition_are_refused(
    editor_client: FlaskClient, factories: Factories, session: Session, status: EditionStatus
) -> None:
    factories.edition(status=status, items={"policy": [{"title": "原标题", "topics": ["ai"]}]})
    item = _reload(session).sections[0].items[0]
    attempts = [
        ("/editor/editions/2024-07", {"subject": "改", "preheader": "", "intro": ""}),
        (f"/editor/editions/2024-07/items/{item.id}", _item_form(item, title="改")),
        ("/editor/editions/2024-07/items/new",
         _item_form(item, title="新", section="deals")),
        (f"/editor/editions/2024-07/items/{item.id}/delete", {}),
        (f"/editor/editions/2024-07/items/{item.id}/move", {"direction": "down"}),
        ("/editor/editions/2024-07/approve", {}),
    ]
    for url, data in attempts:
        page = editor_client.post(url + "?lang=en", data=data, follow_redirects=True)
        text = page.get_data(as_text=True)
        assert ("can no longer be changed" in text
                or "cannot be done while the edition is" in text), url
    edition = _reload(session)
    assert edition.status == status and edition.subject == ""
    assert [[i.title for i in s.items] for s in edition.sections] == [["原标题"], [], []]
    # The page itself shows it read-only: no edit buttons, a disabled texts form.
    page = editor_client.get("/editor/editions/2024-07?lang=en").get_data(as_text=True)
    assert "Add item" not in page and "<fieldset disabled>" in page


def test_a_refused_item_opens_on_a_summary_naming_each_field(
    editor_client: FlaskClient, july: Edition, session: Session
) -> None:
    data = {"section": "deals", "title": "", "published_on": "2024-07-30",
            "url": "https://example.com/deal", "summary": "融资。", "submit": "1"}
    page = editor_client.post(
        "/editor/editions/2024-07/items/new?lang=en", data=data
    ).get_data(as_text=True)
    summary = re.search(r'<div class="error-summary"[^>]*autofocus[^>]*>(.*?)</ul>', page, re.S)
    assert summary, "no error summary"
    links = dict(re.findall(r'<a href="#([\w-]+)">([^<]+)</a>', summary.group(1)))
    assert links["title"].startswith("Title: ")
    for field_id in links:
        assert re.search(rf'<[a-z]+ [^>]*id="{field_id}"', page), field_id
    assert len(_reload(session).sections[2].items) == 4  # nothing saved: the four of July
