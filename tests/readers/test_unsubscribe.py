"""RFC 8058 one-click unsubscribe at /u/<token>, and the page around it."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from tests.conftest import app_config
from tests.factories import Factories
from tests.mailbox import BROWSER, outbox
from webapp import create_app
from webapp.delivery.variants import count_variants
from webapp.editions.records import get_edition
from webapp.extensions import limiter
from webapp.models import ConsentSource, EditionStatus, Subscriber, SubscriberStatus

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def reader(factories: Factories) -> Subscriber:
    return factories.subscriber(email="leaving@example.com", topics=["ai"])


@pytest.mark.postgres
def test_one_click_works_without_cookies_or_csrf_token_and_at_once(
    tmp_path: Path, database_url: str, reader: Subscriber, factories: Factories, session: Session
) -> None:
    factories.edition(status=EditionStatus.SCHEDULED, items={"policy": [{"topics": ["ai"]}]})
    edition = get_edition(session, "2024-07")
    assert edition is not None and count_variants(session, edition) == {"zh-CN:ai": 1}

    strict = create_app(
        app_config(database_url, tmp_path, WTF_CSRF_ENABLED=True, RATELIMIT_ENABLED=True)
    )
    client = strict.test_client(use_cookies=False)
    response = client.post(
        f"/u/{reader.token}",
        data=ONE_CLICK,  # application/x-www-form-urlencoded, as mail providers send it
        headers={"User-Agent": "Mail provider one-click"},
    )
    assert 200 <= response.status_code < 300
    assert "Set-Cookie" not in response.headers

    session.expire_all()
    assert session.get(Subscriber, reader.id).status == SubscriberStatus.UNSUBSCRIBED  # type: ignore[union-attr]
    # Committed before the answer: the next plan leaves the reader out.
    assert count_variants(session, edition) == {}
    [record] = session.get(Subscriber, reader.id).consents  # type: ignore[union-attr]
    assert (record.action, record.source) == ("unsubscribe", ConsentSource.ONE_CLICK)
    assert record.user_agent == "Mail provider one-click" and record.text_version
    assert outbox(strict) == []  # no mail after a one-click unsubscribe


def test_one_click_accepts_multipart_bodies(
    client: FlaskClient, reader: Subscriber, session: Session
) -> None:
    response = client.post(
        f"/u/{reader.token}", data=ONE_CLICK, content_type="multipart/form-data"
    )
    assert response.status_code == 200
    session.refresh(reader)
    assert reader.status == SubscriberStatus.UNSUBSCRIBED


@pytest.mark.parametrize("body", [{}, {"List-Unsubscribe": "yes"}])
def test_a_post_without_the_one_click_body_changes_nothing(
    client: FlaskClient, reader: Subscriber, session: Session, body: dict[str, str]
) -> None:
    assert client.post(f"/u/{reader.token}", data=body).status_code == 400
    session.refresh(reader)
    assert reader.status == SubscriberStatus.ACTIVE


def test_one_click_is_exempt_even_from_application_wide_limits(
    tmp_path: Path, database_url: str, reader: Subscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limiter is a process-wide object: the limits set below are undone after the test.
    monkeypatch.setattr(limiter.limit_manager, "_application_limits", [])
    app = create_app(
        app_config(database_url, tmp_path, RATELIMIT_ENABLED=True, RATELIMIT_APPLICATION="5/minute")
    )
    client = app.test_client()
    assert [client.get("/archive").status_code for _ in range(6)][-1] == 429
    codes = {client.post(f"/u/{reader.token}", data=ONE_CLICK).status_code for _ in range(40)}
    assert codes == {200}


def test_get_shows_a_button_and_changes_nothing(
    client: FlaskClient, reader: Subscriber, session: Session
) -> None:
    page = client.get(f"/u/{reader.token}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "确定退订月报吗？" in text
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    session.refresh(reader)
    assert reader.status == SubscriberStatus.ACTIVE


def test_the_page_button_unsubscribes_and_offers_a_way_back(
    app: Flask, client: FlaskClient, reader: Subscriber, session: Session
) -> None:
    response = client.post(
        f"/u/{reader.token}", data={**ONE_CLICK, "via": "page"}, headers=BROWSER
    )
    assert response.status_code == 303
    after = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "您已退订" in after and "重新订阅" in after
    assert outbox(app) == []  # one rule for every way out: no mail follows

    client.post(f"/u/{reader.token}/resubscribe", headers=BROWSER)
    session.refresh(reader)
    assert reader.status == SubscriberStatus.ACTIVE
    records = reader.consents
    assert [(r.action, r.source) for r in records] == [
        ("unsubscribe", ConsentSource.FORM),
        ("resubscribe", ConsentSource.FORM),
    ]
    assert all(r.ip == "127.0.0.1" and r.user_agent == BROWSER["User-Agent"] for r in records)


def test_unsubscribing_twice_and_after_erasure_still_answers_2xx(
    client: FlaskClient, reader: Subscriber, session: Session
) -> None:
    assert client.post(f"/u/{reader.token}", data=ONE_CLICK).status_code == 200
    assert client.post(f"/u/{reader.token}", data=ONE_CLICK).status_code == 200
    session.refresh(reader)
    assert [r.action for r in reader.consents] == ["unsubscribe"]
    client.post(f"/p/{reader.token}/erase", data={"understood": "y"})
    assert client.post(f"/u/{reader.token}", data=ONE_CLICK).status_code == 200
    assert "该订阅已不存在" in client.get(f"/u/{reader.token}").get_data(as_text=True)


def test_a_complained_reader_cannot_resubscribe_by_link(
    client: FlaskClient, factories: Factories, session: Session
) -> None:
    from webapp.models import Suppression

    reader = factories.subscriber(email="spam@example.com", status=SubscriberStatus.UNSUBSCRIBED)
    session.add(Suppression(email_key="spam@example.com", reason="complaint", source="ses"))
    session.commit()
    client.post(f"/u/{reader.token}/resubscribe")
    session.refresh(reader)
    assert reader.status == SubscriberStatus.UNSUBSCRIBED


@pytest.mark.parametrize("way", ["one-click", "unsubscribe page", "preferences page"])
def test_no_mail_follows_an_unsubscribe_whichever_way_and_the_page_says_so(
    app: Flask, client: FlaskClient, factories: Factories, session: Session, way: str
) -> None:
    reader = factories.subscriber(email="gone@example.com", topics=["ai"], language="en")
    if way == "one-click":
        answer = client.post(f"/u/{reader.token}", data=ONE_CLICK)
    elif way == "unsubscribe page":
        before = client.get(f"/u/{reader.token}").get_data(as_text=True)
        assert "No email will follow" in before  # said before the button is pressed
        answer = client.post(
            f"/u/{reader.token}", data={**ONE_CLICK, "via": "page"}, follow_redirects=True
        )
    else:
        answer = client.post(
            f"/p/{reader.token}/unsubscribe", headers=BROWSER, follow_redirects=True
        )
    assert answer.status_code == 200
    assert "no email will follow" in answer.get_data(as_text=True).lower()
    session.refresh(reader)
    assert reader.status == SubscriberStatus.UNSUBSCRIBED
    assert outbox(app) == []
