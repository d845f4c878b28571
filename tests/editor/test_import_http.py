"""Importing a report in the console: upload or paste; errors shown next to the line."""

from __future__ import annotations

import io

from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.editor.conftest import SAMPLE
from tests.factories import Factories
from webapp.models import Edition, EditionStatus, Item

TEXT = SAMPLE.read_text(encoding="utf-8")


def test_an_uploaded_report_becomes_a_draft_and_opens(
    editor_client: FlaskClient, july: Edition, session: Session
) -> None:
    assert july.status == EditionStatus.DRAFT
    assert session.scalar(select(func.count(Item.id))) == 26
    page = editor_client.get("/editor/editions/2024-07", follow_redirects=True)
    text = page.get_data(as_text=True)
    assert "已导入 26 条条目，存为草稿。" in text  # the flash, in the editor's language
    assert "党的二十届三中全会《决定》" in text


def test_pasted_text_works_too(editor_client: FlaskClient, session: Session) -> None:
    response = editor_client.post("/editor/editions/new", data={"report_text": TEXT})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/editor/editions/2024-07")
    assert session.scalar(select(func.count(Edition.id))) == 1


def test_a_broken_report_shows_the_line_and_keeps_the_text(
    editor_client: FlaskClient, session: Session
) -> None:
    lines = TEXT.split("\n")
    at = next(n for n, line in enumerate(lines, 1) if line.startswith("发布日期"))
    lines[at - 1] = "发布日期：七月某日"
    response = editor_client.post("/editor/editions/new?lang=en",
                                  data={"report_text": "\n".join(lines), "month": "2024-07"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f"Line {at}:" in page
    faulty = f'<li class="at-fault"><span class="line-no">{at}</span><code>' + "发布日期：七月某日"
    assert faulty in page
    assert f'<span class="line-no">{at - 1}</span>' in page  # the lines around it too
    assert "七月某日" in page.split("<textarea", 1)[1]  # what was typed stays in the box
    assert 'value="2024-07"' in page
    assert session.scalar(select(func.count(Edition.id))) == 0


def test_an_uploaded_broken_file_lands_in_the_text_box_for_fixing(
    editor_client: FlaskClient,
) -> None:
    broken = TEXT.replace("发布日期：2024年 7月 24日", "发布日期：不详", 1).encode()
    response = editor_client.post(
        "/editor/editions/new?lang=en", data={"report_file": (io.BytesIO(broken), "july.txt")}
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "The report could not be read" in page
    assert "发布日期：不详" in page.split("<textarea", 1)[1]


def test_a_gb18030_text_file_imports_like_the_utf8_one(
    editor_client: FlaskClient, session: Session
) -> None:
    data = {"report_file": (io.BytesIO(TEXT.encode("gb18030")), "july.txt")}
    response = editor_client.post("/editor/editions/new?lang=en", data=data)
    assert response.status_code == 302
    assert session.scalar(select(func.count(Item.id))) == 26


def test_nothing_given_is_a_form_error(editor_client: FlaskClient) -> None:
    response = editor_client.post("/editor/editions/new?lang=en", data={"report_text": "  "})
    assert response.status_code == 400
    assert "Choose a file or paste the report" in response.get_data(as_text=True)


def test_an_existing_month_needs_replace_and_a_sent_one_is_kept(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    factories.edition("2024-07", items={"policy": [{"title": "old"}]})
    refused = editor_client.post("/editor/editions/new?lang=en", data={"report_text": TEXT})
    assert refused.status_code == 400
    assert "already exists" in refused.get_data(as_text=True)
    replaced = editor_client.post("/editor/editions/new",
                                  data={"report_text": TEXT, "replace": "y"})
    assert replaced.status_code == 302
    assert session.scalar(select(func.count(Item.id))) == 26

    factories.edition("2024-06", status=EditionStatus.SENT, items={"policy": [{"title": "sent"}]})
    kept = editor_client.post("/editor/editions/new?lang=en",
                              data={"report_text": TEXT, "month": "2024-06", "replace": "y"})
    assert kept.status_code == 400
    assert "can no longer be changed" in kept.get_data(as_text=True)
    session.expire_all()
    assert "sent" in session.scalars(select(Item.title)).all()
