"""The edition's layout: shown and tried in the preview, stored on the edition, audited."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.editions.records import get_edition
from webapp.models import AuditEntry, Edition, EditionLayout, EditionStatus

PREVIEW = "/editor/editions/2024-07/preview"


def _reload(session: Session) -> Edition:
    session.expire_all()
    edition = get_edition(session, "2024-07")
    assert edition is not None
    return edition


def test_the_preview_shows_the_layout_each_variant_gets_and_tries_another(
    editor_client: FlaskClient, july: Edition
) -> None:
    # Automatic: every topic is 26 items, a digest; one fintech item or two is the full email.
    every = editor_client.get(f"{PREVIEW}?language=zh-CN&lang=en").get_data(as_text=True)
    assert 'data-layout="digest"' in every and "automatic: digest above 10 items" in every
    assert 'name="layout" value="auto" checked' in every
    few = editor_client.get(f"{PREVIEW}?topics=fintech&language=zh-CN&lang=en")
    assert 'data-layout="full"' in few.get_data(as_text=True)
    # Trying a layout previews it (page and frame) without storing it.
    tried = editor_client.get(f"{PREVIEW}?language=en&layout=full&lang=en").get_data(as_text=True)
    assert 'data-layout="full"' in tried and "the edition's layout is “Automatic”" in tried
    assert "Use this layout" in tried
    frame = editor_client.get(f"{PREVIEW}/frame?language=zh-CN&layout=digest")
    assert "阅读全文" in frame.get_data(as_text=True)
    frame = editor_client.get(f"{PREVIEW}/frame?language=zh-CN&layout=full")
    assert "阅读全文" not in frame.get_data(as_text=True)


def test_choosing_a_layout_stores_it_audits_it_and_sends_an_approved_edition_back_to_draft(
    editor_client: FlaskClient, july: Edition, session: Session
) -> None:
    edition = _reload(session)
    edition.status = EditionStatus.APPROVED
    session.commit()
    response = editor_client.post(
        "/editor/editions/2024-07/layout?topics=ai&language=en&layout=full",
        data={"layout": "full"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"{PREVIEW}?topics=ai&language=en"
    edition = _reload(session)
    assert edition.layout == EditionLayout.FULL and edition.status == EditionStatus.DRAFT
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "edition.layout")
    ).one()
    assert entry.detail == {"from": "auto", "to": "full"}
    page = editor_client.get(f"{PREVIEW}?language=zh-CN&lang=en").get_data(as_text=True)
    assert 'data-layout="full"' in page and 'name="layout" value="full" checked' in page


def test_a_bad_layout_or_a_sent_edition_changes_nothing(
    editor_client: FlaskClient, july: Edition, session: Session
) -> None:
    bad = editor_client.post("/editor/editions/2024-07/layout?lang=en", data={"layout": "tabloid"})
    assert bad.status_code == 400 and "Not a valid choice" in bad.get_data(as_text=True)
    assert _reload(session).layout == EditionLayout.AUTO
    edition = _reload(session)
    edition.status = EditionStatus.SENT
    session.commit()
    locked = editor_client.post("/editor/editions/2024-07/layout?lang=en",
                                data={"layout": "digest"})
    assert locked.status_code == 302
    assert _reload(session).layout == EditionLayout.AUTO
    page = editor_client.get(f"{PREVIEW}?lang=en").get_data(as_text=True)
    assert "can no longer be changed" in page
    assert session.scalars(
        select(AuditEntry).where(AuditEntry.action == "edition.layout")
    ).first() is None


def test_the_cli_preview_takes_a_layout(
    runner: FlaskCliRunner, july: Edition, tmp_path: Path
) -> None:
    out = tmp_path / "preview.html"
    auto = runner.invoke(args=["preview", "2024-07", "--out", str(out)])
    assert auto.exit_code == 0 and "26 items, digest layout" in auto.output
    assert "阅读全文" in out.read_text()
    full = runner.invoke(args=["preview", "2024-07", "--layout", "full", "--out", str(out)])
    assert full.exit_code == 0 and "26 items, full layout" in full.output
    assert "阅读全文" not in out.read_text()
    bad = runner.invoke(args=["preview", "2024-07", "--layout", "tabloid", "--out", str(out)])
    assert bad.exit_code != 0 and "tabloid" in bad.output
