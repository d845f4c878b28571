"""A delivery as its reader sees it: found by its token, its email rebuilt, its links."""

from __future__ import annotations

from flask import Flask
from sqlalchemy.orm import Session

from tests.delivery.conftest import refresh
from tests.factories import Factories
from webapp.config import settings_of
from webapp.delivery.deliveries import delivery_message, find_delivery, link_target
from webapp.editions.records import get_edition
from webapp.mailer import edition_content
from webapp.models import Edition, EditionStatus

BASE = "https://news.example.com"  # BASE_URL in the test app


def test_a_delivery_is_found_by_its_token_with_its_reader_and_edition(
    session: Session, factories: Factories, approved: Edition
) -> None:
    reader = factories.subscriber(topics=["ai"], email="ann@example.com")
    row = factories.delivery(approved, reader)
    factories.delivery(approved)

    found = find_delivery(refresh(session), row.token)

    assert found is not None and found.id == row.id
    assert (found.subscriber.email, found.edition.month) == ("ann@example.com", "2024-07")


def test_no_delivery_for_an_unknown_empty_or_overlong_token(
    session: Session, factories: Factories, approved: Edition
) -> None:
    row = factories.delivery(approved)
    assert find_delivery(session, "") is None
    assert find_delivery(session, row.token[:-1]) is None
    assert find_delivery(session, row.token + "x" * (65 - len(row.token))) is None


def test_the_email_as_a_web_page_is_the_variant_the_reader_was_sent(
    app: Flask, session: Session, factories: Factories, approved: Edition
) -> None:
    reader = factories.subscriber(topics=["ai"], name="Ann", email="ann@example.com")
    row = factories.delivery(approved, reader, variant_key="zh-CN:ai")
    reader.topics = [factories.topic("data")]  # changed after the send: the page stays as sent
    session.commit()

    message = delivery_message(refresh(session), settings_of(app), row)

    assert message.to == "ann@example.com"
    assert "Ann" in message.text
    assert "AI policy" in message.text and "Fintech news" in message.text
    assert "Data policy" not in message.text and "A deal" not in message.text
    assert message.headers["List-Unsubscribe"] == f"<{BASE}/u/{reader.token}>"
    assert f"{BASE}/v/{row.token}" in message.text
    # Read on the web, nothing is tracked: no pixel, no click redirects.
    assert f"/o/{row.token}" not in message.html
    assert "/c/" not in message.html and "/c/" not in message.text
    assert "https://example.com/" in message.html


def test_link_n_is_the_nth_item_of_the_edition_as_the_email_numbers_them(
    session: Session, factories: Factories
) -> None:
    edition = factories.edition("2024-07", status=EditionStatus.SENT, items={
        "policy": [{"url": "https://a.example/policy-1"}],
        "industry": [{"url": "https://a.example/industry-1"},
                     {"url": "https://a.example/industry-2"}],
        "deals": [{"url": "https://a.example/deals-1"}],
    })
    # Reorder after creation, so neither ids nor creation order give the editor's order.
    policy, industry, _deals = edition.sections
    policy.position = 5
    first, second = industry.items
    first.position, second.position = 1, 0
    session.commit()
    row = factories.delivery(edition)

    expected = [
        "https://a.example/industry-2",
        "https://a.example/industry-1",
        "https://a.example/deals-1",
        "https://a.example/policy-1",
    ]
    assert [link_target(session, row.token, n) for n in range(1, 5)] == expected
    loaded = get_edition(refresh(session), "2024-07")
    assert loaded is not None
    numbered = {i.number: i.url for s in edition_content(loaded).sections for i in s.items}
    assert numbered == dict(enumerate(expected, start=1))  # the numbers the email carries
    assert link_target(session, row.token, 0) is None
    assert link_target(session, row.token, 5) is None


def test_a_token_leads_only_to_its_own_editions_links(
    session: Session, factories: Factories
) -> None:
    july = factories.edition("2024-07", status=EditionStatus.SENT,
                             items={"policy": [{"url": "https://a.example/july"}]})
    august = factories.edition("2024-08", status=EditionStatus.SENT,
                               items={"policy": [{"url": "https://a.example/august"}]})
    reader = factories.subscriber(topics=["ai"])
    in_july, in_august = factories.delivery(july, reader), factories.delivery(august, reader)
    assert link_target(session, in_july.token, 1) == "https://a.example/july"
    assert link_target(session, in_august.token, 1) == "https://a.example/august"
    assert link_target(session, "no-such-token", 1) is None
