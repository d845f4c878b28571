"""A line break in a header-bound field never wedges a send.

The edition form used to take the subject "Hi\\r\\nBcc: x"; approving went through, and the
send then stopped on the mail library's "Header values may not contain linefeed…" with every
delivery left in doubt.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.delivery.conftest import delivery_statuses, refresh
from tests.factories import Factories
from webapp.models import Delivery, Edition, EditionStatus, Item, TestSend

BAD_SUBJECT = "Hi\r\nBcc: x"


def _july(factories: Factories, status: EditionStatus, **kw: object) -> Edition:
    return factories.edition(
        "2024-07",
        status=status,
        items={"policy": [{"title": "AI policy", "topics": ["ai"]},
                          {"title": "Data policy", "topics": ["ai"]}]},
        **kw,
    )


def test_the_edition_form_refuses_a_subject_with_a_line_break(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    edition = _july(factories, EditionStatus.DRAFT)
    response = editor_client.post(
        "/editor/editions/2024-07",
        data={"subject": BAD_SUBJECT, "preheader": "", "intro": ""},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 400
    assert "Line breaks are not allowed here (character 3)." in response.get_data(as_text=True)
    assert refresh(session).get(Edition, edition.id).subject == ""  # type: ignore[union-attr]


def test_approve_refuses_an_edition_holding_a_line_break_and_lists_it(
    editor_client: FlaskClient, factories: Factories, session: Session
) -> None:
    # Stored before the forms checked it (or through another way in).
    edition = _july(factories, EditionStatus.DRAFT, subject=BAD_SUBJECT)
    item = edition.sections[0].items[1]
    item.url = "https://example.com/a\r\nX-Injected: 1"
    session.commit()

    response = editor_client.post(
        "/editor/editions/2024-07/approve", headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "This edition cannot go out until this is fixed:" in page
    assert "Subject: Line breaks are not allowed here (character 3)." in page
    assert "Item 2 “Data policy”, Link:" in page
    assert refresh(session).get(Edition, edition.id).status == EditionStatus.DRAFT  # type: ignore[union-attr]


def test_approve_from_the_cli_refuses_it_too(
    runner: FlaskCliRunner, factories: Factories
) -> None:
    _july(factories, EditionStatus.DRAFT, preheader="a\x00b")
    result = runner.invoke(args=["approve", "2024-07"])
    assert result.exit_code != 0
    assert "preheader: control character U+0000 at character 2" in result.output


def test_a_test_send_of_such_an_edition_is_refused(
    editor_client: FlaskClient, factories: Factories, session: Session, tmp_path: Path
) -> None:
    _july(factories, EditionStatus.DRAFT, subject=BAD_SUBJECT)
    response = editor_client.post(
        "/editor/editions/2024-07/test-send",
        data={"addresses": "me@example.com", "all_topics": "y", "language": "zh-CN"},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 400
    assert "Subject: Line breaks are not allowed here" in response.get_data(as_text=True)
    assert session.scalars(select(TestSend)).all() == []
    assert not list((tmp_path / "var" / "outbox").glob("*.eml"))


@pytest.mark.postgres
def test_a_message_that_cannot_be_built_fails_its_deliveries_and_the_send_goes_on(
    runner: FlaskCliRunner, factories: Factories, session: Session, backend: str,
    tmp_path: Path,
) -> None:
    # Approved before the rule existed; written straight to the database (both languages'
    # subjects: English readers get subject_en).
    _july(factories, EditionStatus.APPROVED, subject=BAD_SUBJECT, subject_en=BAD_SUBJECT)
    for n in range(20):
        factories.subscriber(topics=["ai"], language="en" if n % 2 else "zh-CN")

    result = runner.invoke(args=["send", "2024-07", "--now", "--wait"])

    assert result.exit_code == 0, result.output
    assert delivery_statuses(session) == {"failed": 20}
    reasons = {d.error for d in session.scalars(select(Delivery))}
    assert len(reasons) == 1 and "linefeed" in (reasons.pop() or "")
    assert refresh(session).scalar(select(Edition.status)) == EditionStatus.SENT
    assert not list((tmp_path / "var" / "outbox").glob("*.eml"))


def test_one_readers_message_failing_leaves_the_others_sent(
    runner: FlaskCliRunner, factories: Factories, session: Session, tmp_path: Path
) -> None:
    _july(factories, EditionStatus.APPROVED)
    for _ in range(4):
        factories.subscriber(topics=["ai"])
    # An address stored before the rule: only this reader's To header cannot be written.
    odd = factories.subscriber(topics=["ai"], email="odd@example.com\r\nBcc: x@example.net")

    result = runner.invoke(args=["send", "2024-07", "--now", "--wait"])

    assert result.exit_code == 0, result.output
    assert delivery_statuses(session) == {"sent": 4, "failed": 1}
    failed = session.scalar(select(Delivery).where(Delivery.status == "failed"))
    assert failed is not None and failed.subscriber_id == odd.id
    assert len(list((tmp_path / "var" / "outbox").glob("*.eml"))) == 4


def test_a_click_on_a_bad_stored_link_goes_to_the_email_not_a_500(
    client: FlaskClient, factories: Factories, session: Session
) -> None:
    edition = _july(factories, EditionStatus.SENT)
    session.execute(update(Item).values(url="https://example.com/a\r\nSet-Cookie: x=1"))
    session.commit()
    delivery = factories.delivery(edition)

    response = client.get(f"/c/{delivery.token}/1")

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/v/{delivery.token}")
    assert "Set-Cookie" not in response.headers
    assert client.get(f"/v/{delivery.token}").status_code == 200
