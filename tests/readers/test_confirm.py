from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.factories import Factories
from tests.mailbox import BROWSER, link_in, outbox, run_jobs, subscribe
from webapp.config import settings_of
from webapp.models import ConsentSource, Subscriber, SubscriberStatus
from webapp.readers.links import (
    ExpiredLink,
    InvalidLink,
    read_signed,
    sign_email_change,
    sign_subscribe,
)


@contextmanager
def signed_days_ago(days: float) -> Iterator[None]:
    """Links signed inside this block carry a timestamp `days` in the past."""
    original = TimestampSigner.get_timestamp
    TimestampSigner.get_timestamp = lambda self: int(time.time() - days * 86400)  # type: ignore[method-assign]
    try:
        yield
    finally:
        TimestampSigner.get_timestamp = original  # type: ignore[method-assign]


def _pending(app: Flask, client: FlaskClient, session: Session) -> tuple[Subscriber, str]:
    subscribe(client, "confirm@example.com")
    link = link_in(outbox(app)[-1], "/confirm/")  # the worker answered the form and mailed
    reader = session.scalar(select(Subscriber))
    assert reader is not None
    return reader, link


def _status(session: Session, reader: Subscriber) -> SubscriberStatus:
    """The reader's status as stored now: requests change it through sessions of their own."""
    session.refresh(reader)
    return reader.status


@pytest.mark.postgres
def test_get_shows_a_button_and_changes_nothing(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    reader, link = _pending(app, client, session)
    page = client.get(link)  # what a mail filter's link scanner does
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "确认订阅</button>" in text and "confirm@example.com" in text
    session.refresh(reader)
    assert reader.status == SubscriberStatus.PENDING and reader.confirmed_at is None
    assert len(outbox(app)) == 1  # no welcome yet


@pytest.mark.postgres
def test_post_confirms_sends_the_welcome_and_twice_is_harmless(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    reader, link = _pending(app, client, session)
    first = client.post(link, headers=BROWSER)
    assert first.status_code == 303  # Post/Redirect/Get: reloading the answer posts nothing
    done = client.get(first.headers["Location"])
    assert done.status_code == 200 and "订阅成功" in done.get_data(as_text=True)
    assert "已确认" in client.get(link).get_data(as_text=True)  # a later visit
    second = client.post(link, headers=BROWSER, follow_redirects=True)
    assert second.status_code == 200 and "已确认" in second.get_data(as_text=True)

    session.refresh(reader)
    assert reader.status == SubscriberStatus.ACTIVE and reader.confirmed_at is not None
    confirms = [r for r in reader.consents if r.action == "confirm"]
    assert len(confirms) == 1
    assert confirms[0].source == ConsentSource.FORM and confirms[0].ip == "127.0.0.1"
    assert confirms[0].user_agent == BROWSER["User-Agent"] and confirms[0].text_version
    welcome = outbox(app)[1:]
    assert len(welcome) == 1
    assert welcome[0]["Subject"].startswith("欢迎订阅")
    assert welcome[0]["List-Unsubscribe"].strip() == f"<https://news.example.com/u/{reader.token}>"
    assert link_in(welcome[0], "/p/") == f"/p/{reader.token}"


def test_an_expired_link_offers_a_new_one_and_confirms_nothing(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    subscribe(client, "late@example.com")
    run_jobs(app)  # the worker answers the form
    reader = session.scalar(select(Subscriber))
    assert reader is not None
    with app.app_context(), signed_days_ago(7.1):
        signed = sign_subscribe(settings_of(app).secret_key, reader.id, reader.consents[0].id)
    for response in (client.get(f"/confirm/{signed}"), client.post(f"/confirm/{signed}")):
        assert response.status_code == 410
        page = response.get_data(as_text=True)
        assert "链接已过期" in page and 'action="/preferences/link"' in page
    session.refresh(reader)
    assert reader.status == SubscriberStatus.PENDING

    # The page's form sends a fresh confirmation to a pending reader.
    client.post("/preferences/link", data={"email": "late@example.com"})
    fresh = link_in(outbox(app)[-1], "/confirm/")
    assert client.post(fresh, follow_redirects=True).status_code == 200
    assert _status(session, reader) == SubscriberStatus.ACTIVE


# The second-to-last character: the last one of a base64 signature holds padding bits too, and
# a signature that already ends in "xx" would be left as it was.
@pytest.mark.parametrize("mangle", [lambda s: s[:-2] + ("yy" if s[-2] == "x" else "xx"),
                                    lambda s: "x" + s, lambda s: "x"])
def test_a_tampered_link_is_refused(
    app: Flask, client: FlaskClient, session: Session, mangle: object
) -> None:
    reader, link = _pending(app, client, session)
    bad = "/confirm/" + mangle(link.removeprefix("/confirm/"))  # type: ignore[operator]
    response = client.post(bad)
    assert response.status_code == 404 and "链接无效" in response.get_data(as_text=True)
    session.refresh(reader)
    assert reader.status == SubscriberStatus.PENDING


def test_a_link_signed_with_another_key_is_refused(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    reader, _link = _pending(app, client, session)
    forged = sign_subscribe("another-key", reader.id, reader.consents[0].id)
    assert client.post(f"/confirm/{forged}").status_code == 404


def test_an_old_link_cannot_undo_a_later_unsubscribe(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    reader, link = _pending(app, client, session)
    client.post(link)
    client.post(f"/u/{reader.token}", data={"List-Unsubscribe": "One-Click"})
    again = client.post(link)
    assert again.status_code == 410
    session.refresh(reader)
    assert reader.status == SubscriberStatus.UNSUBSCRIBED


def test_address_change_links_expire_sooner_than_subscribe_links(app: Flask) -> None:
    key = settings_of(app).secret_key
    with signed_days_ago(3):
        change = sign_email_change(key, 1, "new@example.com")
        subscribe_link = sign_subscribe(key, 1, 1)
    assert read_signed(key, subscribe_link).subscriber_id == 1
    with pytest.raises(ExpiredLink):
        read_signed(key, change)
    with pytest.raises(InvalidLink):
        read_signed(key, change + "x")


def test_confirmation_links_hold_no_address(
    app: Flask, client: FlaskClient, factories: Factories
) -> None:
    subscribe(client, "private.person@example.com")
    link = link_in(outbox(app)[-1], "/confirm/")
    payload = link.removeprefix("/confirm/").split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert b"private" not in decoded and b"example" not in decoded


def test_only_the_newest_request_can_be_confirmed_and_an_older_link_says_why(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    """Subscribing again while pending: the first email's link must not confirm the second
    request's choices (it used to, silently)."""
    subscribe(client, "twice@example.com", name="王小明", topics=["ai", "data"])
    first = link_in(outbox(app)[-1], "/confirm/")
    subscribe(client, "twice@example.com", topics=["fintech"], language="en")
    second = link_in(outbox(app)[-1], "/confirm/")
    reader = session.scalar(select(Subscriber))
    assert reader is not None

    for response in (client.get(first), client.post(first, headers=BROWSER)):
        assert response.status_code == 410
        page = response.get_data(as_text=True)
        # In the visitor's language (the console default here): who asks is not known yet.
        assert "此地址又提交了新的订阅请求" in page
        assert "只有最新邮件中的链接有效" in page
    assert _status(session, reader) == SubscriberStatus.PENDING

    # The newest link shows what it confirms before the button is pressed …
    shown = client.get(second).get_data(as_text=True)
    assert "<dd>twice@example.com</dd>" in shown
    assert "<li>Fintech &amp; digital currency</li>" in shown and "<li>AI</li>" not in shown
    assert "<dd>English</dd>" in shown
    # … and confirms exactly that.
    assert client.post(second, headers=BROWSER, follow_redirects=True).status_code == 200
    session.refresh(reader)
    assert reader.status == SubscriberStatus.ACTIVE
    assert ([t.slug for t in reader.topics], reader.language) == (["fintech"], "en")
    [confirmed] = [r for r in reader.consents if r.action == "confirm"]
    assert confirmed.detail is not None and confirmed.detail["topics"] == ["fintech"]
    # Confirmed now: the older link says so and changes nothing.
    assert "Already confirmed" in client.get(first).get_data(as_text=True)


def test_a_later_request_without_a_name_keeps_the_name_given_first(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    subscribe(client, "named@example.com", name="王小明", company="植德")
    subscribe(client, "named@example.com", topics=["fintech"])
    run_jobs(app)
    reader = session.scalar(select(Subscriber))
    assert reader is not None
    assert (reader.name, reader.company) == ("王小明", "植德")
    subscribe(client, "named@example.com", name="王 晓明")  # a name given anew replaces it
    run_jobs(app)
    session.refresh(reader)
    assert (reader.name, reader.company) == ("王 晓明", "植德")


def test_the_same_request_twice_keeps_the_first_link_working(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    """A double click or a retried form asks nothing new: both emails confirm the one request."""
    subscribe(client, "again@example.com", name="Ann")
    subscribe(client, "again@example.com")  # the same choices; no name this time
    first, second = (link_in(m, "/confirm/") for m in outbox(app))
    reader = session.scalar(select(Subscriber))
    assert reader is not None
    assert [r.action for r in reader.consents] == ["subscribe"]
    assert client.get(second).status_code == 200
    assert client.post(first, headers=BROWSER, follow_redirects=True).status_code == 200
    assert _status(session, reader) == SubscriberStatus.ACTIVE
    assert reader.name == "Ann"
