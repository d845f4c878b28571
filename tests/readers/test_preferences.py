from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import app_config
from tests.factories import Factories
from tests.mailbox import BROWSER, link_in, outbox
from webapp import create_app
from webapp.models import ConsentRecord, ConsentSource, Subscriber, SubscriberStatus
from webapp.readers.links import rotate_preferences_token
from webapp.readers.preferences import add_months
from webapp.readers.subscriptions import resume_ended_pauses

FORM: dict[str, Any] = {
    "topics": ["ai"],
    "language": "zh-CN",
    "name": "",
    "company": "",
    "tracking": "y",
}


@pytest.fixture
def reader(factories: Factories) -> Subscriber:
    return factories.subscriber(email="pref@example.com", topics=["ai"], language="zh-CN")


def _actions(session: Session, reader: Subscriber) -> list[ConsentRecord]:
    session.expire_all()
    stmt = select(ConsentRecord).where(ConsentRecord.subscriber_id == reader.id)
    return list(session.scalars(stmt.order_by(ConsentRecord.id)))


def _status(session: Session, reader: Subscriber) -> SubscriberStatus:
    """The reader's status as stored now: requests change it through sessions of their own."""
    session.refresh(reader)
    return reader.status


def test_the_page_shows_the_readers_choices_in_their_language(
    client: FlaskClient, factories: Factories
) -> None:
    english = factories.subscriber(email="en@example.com", topics=["data"], language="en")
    page = client.get(f"/p/{english.token}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and '<html lang="en">' in text
    assert 'name="topics" value="data" data-topic checked>' in text
    assert 'name="topics" value="ai" data-topic>' in text
    assert '<input type="radio" name="language" value="en" checked>' in text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"
    # A choice made on the site wins over the subscription's language.
    assert '<html lang="zh-CN">' in client.get(f"/p/{english.token}?lang=zh_CN").get_data(
        as_text=True
    )


@pytest.mark.postgres
def test_each_change_is_saved_with_its_own_ledger_entry(
    client: FlaskClient, reader: Subscriber, session: Session
) -> None:
    response = client.post(
        f"/p/{reader.token}",
        data={**FORM, "topics": ["data", "fintech"], "language": "en", "name": "Ann"},
        headers=BROWSER,
    )
    assert response.status_code == 303
    assert "Your preferences are saved." in client.get(response.headers["Location"]).get_data(
        as_text=True
    )
    session.refresh(reader)
    assert [t.slug for t in reader.topics] == ["data", "fintech"]
    assert (reader.language, reader.name, reader.tracking) == ("en", "Ann", True)
    records = _actions(session, reader)
    assert [r.action for r in records] == ["topics", "language", "profile"]
    assert records[0].detail == {"from": ["ai"], "to": ["data", "fintech"]}
    assert records[1].detail == {"from": "zh-CN", "to": "en"}
    for record in records:
        assert record.source == ConsentSource.FORM and record.text_version
        assert (record.ip, record.user_agent) == ("127.0.0.1", BROWSER["User-Agent"])

    client.post(f"/p/{reader.token}", data={**FORM, "topics": ["data", "fintech"],
                                            "language": "en", "name": "Ann", "tracking": ""})
    session.refresh(reader)
    assert reader.tracking is False
    assert [r.action for r in _actions(session, reader)][-1] == "tracking"


def test_a_retired_topic_the_reader_has_is_kept_when_they_change_their_choices(
    client: FlaskClient, factories: Factories, session: Session
) -> None:
    # Retired topics are not on the form; restoring one must give it back to its readers.
    reader = factories.subscriber(email="kept@example.com", topics=["ai", "legacy"])
    factories.topic("legacy").retired = True
    session.commit()
    response = client.post(f"/p/{reader.token}",
                           data={**FORM, "topics": ["data"], "language": "en"}, headers=BROWSER)
    assert response.status_code == 303
    session.refresh(reader)
    assert sorted(t.slug for t in reader.topics) == ["data", "legacy"]
    assert _actions(session, reader)[-2].detail == {"from": ["ai", "legacy"],
                                                    "to": ["data", "legacy"]}


def test_no_topic_is_refused(client: FlaskClient, reader: Subscriber, session: Session) -> None:
    response = client.post(f"/p/{reader.token}", data={**FORM, "topics": []})
    assert response.status_code == 400 and "请至少选择一个主题。" in response.get_data(as_text=True)
    session.refresh(reader)
    assert [t.slug for t in reader.topics] == ["ai"] and _actions(session, reader) == []


def test_a_new_address_takes_effect_once_confirmed_there(
    app: Flask, client: FlaskClient, reader: Subscriber, session: Session
) -> None:
    response = client.post(f"/p/{reader.token}/email", data={"email": "New@Example.com"})
    assert response.status_code == 303
    [message] = outbox(app)
    assert message["To"] == "New@example.com"
    assert message["Subject"].startswith("请确认您订阅")
    session.refresh(reader)
    assert reader.email == "pref@example.com"  # not before the new address confirms

    link = link_in(message, "/confirm/")
    assert "确认新的邮箱地址" in client.get(link).get_data(as_text=True)
    session.refresh(reader)
    assert reader.email == "pref@example.com"  # a GET (link scanner) changes nothing
    assert client.post(link, headers=BROWSER, follow_redirects=True).status_code == 200
    session.refresh(reader)
    assert (reader.email, reader.email_key, reader.new_email) == (
        "New@example.com",
        "new@example.com",
        None,
    )
    change = _actions(session, reader)[-1]
    assert change.action == "email"
    assert change.detail == {"from": "pref@example.com", "to": "New@example.com"}


def test_an_address_in_use_is_not_taken_over(
    app: Flask, client: FlaskClient, reader: Subscriber, factories: Factories, session: Session
) -> None:
    other = factories.subscriber(email="taken@example.com")
    client.post(f"/p/{reader.token}/email", data={"email": "taken@example.com"})
    [message] = outbox(app)
    # The owner of that address gets their own link; the requester learns nothing new.
    assert message["To"] == "taken@example.com"
    assert link_in(message, "/p/") == f"/p/{other.token}"
    session.refresh(reader)
    assert reader.email == "pref@example.com" and reader.new_email is None


def test_pause_resumes_by_itself_or_on_request(
    client: FlaskClient, reader: Subscriber, session: Session
) -> None:
    client.post(f"/p/{reader.token}/pause", data={"months": "2"})
    session.refresh(reader)
    assert reader.status == SubscriberStatus.PAUSED and reader.paused_until is not None
    days = (reader.paused_until - datetime.now(UTC)).days
    assert 58 <= days <= 62
    assert "我们将于" in client.get(f"/p/{reader.token}").get_data(as_text=True)

    assert resume_ended_pauses(session, datetime.now(UTC) + timedelta(days=30)) == 0
    assert resume_ended_pauses(session, datetime.now(UTC) + timedelta(days=63)) == 1
    session.commit()
    assert _status(session, reader) == SubscriberStatus.ACTIVE and reader.paused_until is None

    client.post(f"/p/{reader.token}/pause", data={"months": "1"})
    client.post(f"/p/{reader.token}/resume")
    session.refresh(reader)
    assert reader.status == SubscriberStatus.ACTIVE
    actions = [r.action for r in _actions(session, reader)]
    assert actions == ["pause", "resume", "pause", "resume"]


@pytest.mark.parametrize("months", ["0", "4", "x"])
def test_a_pause_lasts_one_to_three_months(
    client: FlaskClient, reader: Subscriber, session: Session, months: str
) -> None:
    client.post(f"/p/{reader.token}/pause", data={"months": months})
    session.refresh(reader)
    assert reader.status == SubscriberStatus.ACTIVE


def test_add_months_keeps_the_day_or_takes_the_months_last() -> None:
    start = datetime(2025, 1, 31, 8, tzinfo=UTC)
    assert add_months(start, 1) == datetime(2025, 2, 28, 8, tzinfo=UTC)
    assert add_months(start, 3) == datetime(2025, 4, 30, 8, tzinfo=UTC)
    assert add_months(datetime(2025, 11, 15, tzinfo=UTC), 2) == datetime(2026, 1, 15, tzinfo=UTC)


def test_unsubscribe_and_come_back_from_the_preferences_page(
    app: Flask, client: FlaskClient, reader: Subscriber, session: Session
) -> None:
    client.post(f"/p/{reader.token}/unsubscribe", headers=BROWSER)
    session.refresh(reader)
    assert reader.status == SubscriberStatus.UNSUBSCRIBED
    assert outbox(app) == []  # no "you have unsubscribed" mail, as after one-click
    page = client.get(f"/p/{reader.token}").get_data(as_text=True)
    assert "重新订阅" in page
    client.post(f"/p/{reader.token}/resubscribe", headers=BROWSER)
    assert _status(session, reader) == SubscriberStatus.ACTIVE
    assert [r.action for r in _actions(session, reader)] == ["unsubscribe", "resubscribe"]


@pytest.mark.postgres
def test_a_rotated_token_opens_preferences_no_more_but_still_unsubscribes(
    client: FlaskClient, reader: Subscriber, session: Session
) -> None:
    old = reader.token
    new = rotate_preferences_token(session, reader, actor="admin@example.com")
    session.commit()
    assert new != old
    assert client.get(f"/p/{old}").status_code == 404
    assert client.get(f"/p/{new}").status_code == 200
    assert client.get(f"/u/{old}").status_code == 200
    response = client.post(f"/u/{old}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    session.refresh(reader)
    assert reader.status == SubscriberStatus.UNSUBSCRIBED
    rotate_preferences_token(session, reader)  # a second rotation keeps both old ones
    session.commit()
    assert client.post(f"/u/{old}", data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert client.post(f"/u/{new}", data={"List-Unsubscribe": "One-Click"}).status_code == 200


@pytest.mark.parametrize("path", ["/p/{}", "/p/{}/export", "/u/{}"])
def test_unknown_tokens_are_refused(client: FlaskClient, path: str) -> None:
    for token in ("a" * 43, "short", "test-abcdefghijklmnop"):
        response = client.get(path.format(token))
        assert response.status_code == 404
        assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_link_form_answers_the_same_either_way(
    app: Flask, client: FlaskClient, factories: Factories
) -> None:
    known = factories.subscriber(email="known@example.com")
    pages = []
    for address in ("known@example.com", "unknown@example.com"):
        response = client.post(
            "/preferences/link", data={"email": address}, follow_redirects=True
        )
        assert response.status_code == 200
        pages.append(response.get_data(as_text=True).replace(address, "ADDRESS"))
    assert pages[0] == pages[1]
    [message] = outbox(app)
    assert message["To"] == "known@example.com"
    assert link_in(message, "/p/") == f"/p/{known.token}"
    assert message["List-Unsubscribe-Post"].strip() == "List-Unsubscribe=One-Click"


def test_the_preferences_form_requires_a_csrf_token(
    tmp_path: Path, database_url: str, reader: Subscriber, session: Session
) -> None:
    client = create_app(app_config(database_url, tmp_path, WTF_CSRF_ENABLED=True)).test_client()
    for path in ("", "/email", "/pause", "/unsubscribe", "/erase"):
        response = client.post(f"/p/{reader.token}{path}", data={**FORM, "email": "x@y.cn",
                                                                 "months": "1",
                                                                 "understood": "y"})
        assert response.status_code == 400, path
    session.refresh(reader)
    assert reader.status == SubscriberStatus.ACTIVE and reader.email == "pref@example.com"
    # With the token from the page, the same form goes through.
    page = client.get(f"/p/{reader.token}").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    ok = client.post(f"/p/{reader.token}", data={**FORM, "topics": ["data"], "csrf_token": token})
    assert ok.status_code == 303


def test_the_same_address_is_no_change(
    app: Flask, client: FlaskClient, reader: Subscriber
) -> None:
    response = client.post(f"/p/{reader.token}/email", data={"email": "PREF@example.com"})
    assert response.status_code == 303
    assert "没有需要更改的内容。" in client.get(f"/p/{reader.token}").get_data(as_text=True)
    assert outbox(app) == []
