"""What the import's cleanup changed, on the item's page: seen, undone (audited, CSRF-checked),
and links that still hold non-ASCII characters flagged."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import PASSWORD, app_config
from tests.factories import Factories
from webapp import create_app
from webapp.db import database
from webapp.models import AuditEntry, Edition, EditionStatus, Item, Role

CLEANED = {"summary": {"before": "于 7⽉ 15⽇在北京举行。", "after": "于7月15日在北京举行。"},
           "url": {"before": "https://ﬁnance.example.com/", "after": "https://finance.example.com/"}}


def _edition(factories: Factories, status: EditionStatus = EditionStatus.DRAFT) -> Edition:
    return factories.edition(status=status, items={"policy": [{
        "title": "标题", "summary": "于7月15日在北京举行。", "url": "https://finance.example.com/",
        "cleanup": CLEANED, "topics": ["ai"]}]})


def _item(session: Session) -> Item:
    session.expire_all()
    item = session.scalars(select(Item)).one()
    return item


def test_an_imported_item_shows_what_the_cleanup_changed(
    editor_client: FlaskClient, july: Edition, session: Session
) -> None:
    item = july.sections[0].items[0]
    assert item.cleanup is not None and "summary" in item.cleanup
    page = editor_client.get(f"/editor/editions/2024-07/items/{item.id}?lang=en")
    text = page.get_data(as_text=True)
    assert "Cleaned up on import" in text
    assert "<del> </del>" in text  # the extraction's space before 7月
    assert "Undo cleanup" in text
    listing = editor_client.get("/editor/editions/2024-07?lang=en").get_data(as_text=True)
    assert "cleaned up on import" in listing


def test_undo_puts_the_files_text_back_and_is_audited(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    edition = _edition(factories, EditionStatus.APPROVED)
    item_id = edition.sections[0].items[0].id
    response = editor_client.post(f"/editor/editions/2024-07/items/{item_id}/undo-cleanup")
    assert response.status_code == 302
    item = _item(session)
    assert item.summary == "于 7⽉ 15⽇在北京举行。"
    assert item.url == "https://ﬁnance.example.com/"
    assert item.cleanup is None
    assert item.section.edition.status == EditionStatus.DRAFT  # a change needs approving again
    audited = select(AuditEntry).where(AuditEntry.action == "item.undo_cleanup")
    entry = session.scalars(audited).one()
    assert entry.detail == {"item": item_id, "restored": ["summary", "url"], "kept": []}
    page = editor_client.get(f"/editor/editions/2024-07/items/{item_id}?lang=en")
    assert "Cleaned up on import" not in page.get_data(as_text=True)


def test_a_field_edited_since_keeps_the_edit(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    edition = _edition(factories)
    item = edition.sections[0].items[0]
    item.summary = "编辑改过的摘要。"
    session.commit()
    editor_client.post(f"/editor/editions/2024-07/items/{item.id}/undo-cleanup")
    item = _item(session)
    assert item.summary == "编辑改过的摘要。"
    assert item.url == "https://ﬁnance.example.com/"


def test_undo_changes_nothing_once_the_edition_is_sent(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    edition = _edition(factories, EditionStatus.SENT)
    item_id = edition.sections[0].items[0].id
    response = editor_client.post(f"/editor/editions/2024-07/items/{item_id}/undo-cleanup")
    assert response.status_code == 302
    item = _item(session)
    assert item.summary == "于7月15日在北京举行。" and item.cleanup == CLEANED


def test_undo_needs_the_csrf_token(
    database_url: str, tmp_path: Path, factories: Factories, session: Session
) -> None:
    edition = _edition(factories)
    item_id = edition.sections[0].items[0].id
    app = create_app(app_config(database_url, tmp_path, WTF_CSRF_ENABLED=True))
    editor = factories.user(role=Role.EDITOR, password=PASSWORD)
    client = app.test_client()
    token = client.get("/login").get_data(as_text=True).split(
        'name="csrf_token" type="hidden" value="')[1].split('"')[0]
    signed_in = client.post("/login", data={"email": editor.email, "password": PASSWORD,
                                            "csrf_token": token})
    assert signed_in.status_code == 302
    refused = client.post(f"/editor/editions/2024-07/items/{item_id}/undo-cleanup")
    assert refused.status_code == 400
    assert _item(session).cleanup == CLEANED
    database(app).engine.dispose()


def test_a_link_with_non_ascii_characters_is_flagged(
    editor_client: FlaskClient, factories: Factories
) -> None:
    edition = factories.edition(items={"policy": [
        {"title": "好链接", "url": "https://example.com/a", "topics": ["ai"]},
        {"title": "坏链接", "url": "https://example.com/⽂件.pdf", "topics": ["ai"]}]})
    good, bad = edition.sections[0].items
    flag = "not plain ASCII"
    page = editor_client.get(f"/editor/editions/2024-07/items/{bad.id}?lang=en")
    assert flag in page.get_data(as_text=True)
    page = editor_client.get(f"/editor/editions/2024-07/items/{good.id}?lang=en")
    assert flag not in page.get_data(as_text=True)
    listing = editor_client.get("/editor/editions/2024-07?lang=en").get_data(as_text=True)
    assert listing.count("Check the link") == 1
