from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.conftest import app_config
from tests.factories import Factories
from tests.mailbox import BROWSER, SIGNUP, link_in, outbox, run_jobs, subscribe
from webapp import create_app
from webapp.config import settings_of
from webapp.models import (
    BackgroundJob,
    ConsentRecord,
    ConsentSource,
    JobStatus,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from webapp.readers.consent import CONSENT_VERSION
from webapp.readers.suppressions import address_hash


def _reader(session: Session, address: str) -> Subscriber | None:
    session.expire_all()
    return session.scalar(select(Subscriber).where(Subscriber.email_key == address.lower()))


def test_the_form_offers_topics_with_descriptions_and_the_consent_notice(
    client: FlaskClient,
) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "人工智能" in page and "大模型、生成式人工智能的进展" in page
    boxes = re.findall(r'<input type="checkbox" name="(\w+)"[^>]*>', page)
    assert boxes == ["all_topics"] + ["topics"] * 6 + ["consent"]
    assert not re.findall(r'<input type="checkbox"[^>]* checked', page)  # nothing pre-ticked
    assert re.search(r'<input type="radio" name="language" value="zh-CN"[^>]* checked>', page)
    assert "亚马逊云服务（Amazon SES）" in page and "中国大陆境外" in page
    english = client.get("/?lang=en").get_data(as_text=True)
    assert "Data &amp; data compliance" in english
    assert "outside mainland China" in english


@pytest.mark.postgres
def test_a_new_reader_is_pending_until_they_confirm(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    response = subscribe(client, "Ann@Example.com", name=" 王  小明 ", company="植德")
    assert response.status_code == 200
    assert "请查收邮件" in response.get_data(as_text=True)
    assert _reader(session, "ann@example.com") is None  # the worker answers the form

    run_jobs(app)
    reader = _reader(session, "ann@example.com")
    assert reader is not None and reader.status == SubscriberStatus.PENDING
    assert [t.slug for t in reader.topics] == ["ai", "data"]
    assert (reader.name, reader.company, reader.language) == ("王 小明", "植德", "zh-CN")
    [record] = reader.consents
    assert (record.action, record.source, record.text_version) == (
        "subscribe",
        ConsentSource.FORM,
        CONSENT_VERSION,
    )
    assert record.ip == "127.0.0.1" and record.user_agent == BROWSER["User-Agent"]
    assert record.detail == {"topics": ["ai", "data"], "language": "zh-CN"}

    [message] = outbox(app)
    assert message["To"] == "Ann@example.com"
    assert message["Subject"].startswith("请确认订阅")
    assert link_in(message, "/confirm/")


def test_all_topics_works_without_javascript(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    subscribe(client, "all@example.com", topics=[], all_topics="y")
    run_jobs(app)
    reader = _reader(session, "all@example.com")
    assert reader is not None and len(reader.topics) == 6


@pytest.mark.postgres
def test_known_and_unknown_addresses_get_the_same_answer(
    app: Flask, client: FlaskClient, factories: Factories, session: Session
) -> None:
    known = factories.subscriber(email="known@example.com", topics=["fintech"])
    factories.subscriber(email="left@example.com", status=SubscriberStatus.COMPLAINED)
    session.add(Suppression(email_key="left@example.com", reason="complaint", source="ses"))
    session.commit()

    pages = {}
    for address in ("known@example.com", "new@example.com", "left@example.com"):
        response = subscribe(client, address)
        assert response.status_code == 200
        pages[address] = response.get_data(as_text=True).replace(address, "ADDRESS")
    assert pages["known@example.com"] == pages["new@example.com"] == pages["left@example.com"]

    sent = {m["To"]: m for m in outbox(app)}
    assert set(sent) == {"known@example.com", "new@example.com"}  # never to a suppressed one
    # The known reader is told how to manage the subscription; nothing about it changed.
    assert link_in(sent["known@example.com"], "/p/") == f"/p/{known.token}"
    assert "/confirm/" not in str(sent["known@example.com"])
    session.refresh(known)
    assert [t.slug for t in known.topics] == ["fintech"] and not known.consents


def test_subscribing_twice_while_pending_sends_a_fresh_link(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    subscribe(client, "twice@example.com")
    subscribe(client, "twice@example.com", topics=["fintech"], language="en")
    run_jobs(app)
    reader = _reader(session, "twice@example.com")
    assert reader is not None and reader.status == SubscriberStatus.PENDING
    assert [t.slug for t in reader.topics] == ["fintech"] and reader.language == "en"
    first, second = outbox(app)
    assert link_in(first, "/confirm/") != link_in(second, "/confirm/")
    assert second["Subject"].startswith("Please confirm")
    assert [r.action for r in reader.consents] == ["subscribe", "subscribe"]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"email": "not-an-address"}, "请输入有效的邮箱地址。"),
        ({"topics": []}, "请至少选择一个主题。"),
        ({"topics": ["no-such-topic"]}, "请至少选择一个主题。"),
        ({"consent": ""}, "请勾选同意以接收月报。"),
    ],
)
def test_invalid_input_is_refused_and_changes_nothing(
    app: Flask, client: FlaskClient, session: Session, fields: dict[str, object], error: str
) -> None:
    data = {"email": "someone@example.com", **SIGNUP, **fields}
    response = client.post("/", data=data)
    assert response.status_code == 400
    assert error in response.get_data(as_text=True)
    assert session.scalar(select(Subscriber.id)) is None
    assert outbox(app) == []


def test_the_honeypot_answers_like_any_other_and_does_nothing(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    trapped = subscribe(client, "bot@example.com", website="http://spam.example")
    normal = subscribe(client, "human@example.com")
    assert trapped.get_data(as_text=True).replace("bot@", "X@") == normal.get_data(
        as_text=True
    ).replace("human@", "X@")
    assert _reader(session, "bot@example.com") is None
    assert [m["To"] for m in outbox(app)] == ["human@example.com"]


def test_an_erased_reader_may_subscribe_anew_through_double_opt_in(
    app: Flask, client: FlaskClient, factories: Factories, session: Session
) -> None:
    reader = factories.subscriber(email="back@example.com", topics=["ai"])
    client.post(f"/p/{reader.token}/erase", data={"understood": "y"})
    hashed = address_hash(settings_of(app).erasure_key, "back@example.com")
    assert session.scalar(select(Suppression).where(Suppression.address_hash == hashed))

    subscribe(client, "back@example.com")
    [confirmation] = outbox(app)
    assert confirmation["To"] == "back@example.com"
    # Suppressed until the person confirms: no edition can go out before that.
    assert session.scalar(select(Suppression).where(Suppression.address_hash == hashed))

    client.post(link_in(confirmation, "/confirm/"), headers=BROWSER)
    session.expire_all()
    assert session.scalar(select(Suppression).where(Suppression.address_hash == hashed)) is None
    anew = _reader(session, "back@example.com")
    assert anew is not None and anew.id != reader.id and anew.status == SubscriberStatus.ACTIVE
    actions = [r.action for r in anew.consents]
    assert actions == ["subscribe", "unsuppress", "confirm"]
    lifted = session.scalar(select(ConsentRecord).where(ConsentRecord.action == "unsuppress"))
    assert lifted is not None and lifted.ip == "127.0.0.1"


def test_accept_language_picks_the_default_and_the_choice_is_remembered(
    client: FlaskClient,
) -> None:
    english = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    page = english.get_data(as_text=True)
    assert '<html lang="en">' in page
    assert '<input type="radio" name="language" value="en" checked>' in page
    client.get("/?lang=zh_CN", headers={"Accept-Language": "en"})
    remembered = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="zh-CN">' in remembered and "订阅" in remembered


def _strict(tmp_path: Path, database_url: str, **extra: object) -> Flask:
    return create_app(app_config(database_url, tmp_path, **extra))


def test_the_subscribe_form_requires_a_csrf_token(tmp_path: Path, database_url: str) -> None:
    client = _strict(tmp_path, database_url, WTF_CSRF_ENABLED=True).test_client()
    response = client.post("/", data={"email": "csrf@example.com", **SIGNUP})
    assert response.status_code == 400
    assert not list((tmp_path / "var" / "outbox").glob("*.eml"))


def test_subscribing_is_rate_limited_per_address_and_per_ip(
    tmp_path: Path, database_url: str
) -> None:
    app = _strict(tmp_path, database_url, RATELIMIT_ENABLED=True)
    same = app.test_client()
    codes = [subscribe(same, "target@example.com").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    # Another address from another client is not held back by that address's limit …
    other = app.test_client()
    fresh = other.post(
        "/",
        data={"email": "fresh@example.com", **SIGNUP},
        environ_base={"REMOTE_ADDR": "10.0.0.2"},
    )
    assert fresh.status_code == 303
    # … but one IP cycling through addresses is.
    many = [
        other.post(
            "/",
            data={"email": f"x{n}@example.com", **SIGNUP},
            environ_base={"REMOTE_ADDR": "10.0.0.3"},
        ).status_code
        for n in range(11)
    ]
    assert many == [303] * 10 + [429]


def test_a_mail_that_cannot_be_sent_does_not_change_the_answer(
    app: Flask, client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken:
        def send(self, message: object) -> object:
            raise ConnectionError("SES unreachable")

    monkeypatch.setattr("webapp.delivery.jobs.transport", lambda config: Broken())
    response = subscribe(client, "unlucky@example.com")
    assert response.status_code == 200 and "请查收邮件" in response.get_data(as_text=True)
    # The worker answers the form, then cannot send the mail: it waits for its next attempt,
    # it is not lost.
    jobs = run_jobs(app)
    assert (jobs.done, jobs.retried) == (1, 1)
    reader = _reader(session, "unlucky@example.com")
    assert reader is not None and reader.status == SubscriberStatus.PENDING  # can ask again
    job = session.scalar(select(BackgroundJob).where(BackgroundJob.status == JobStatus.PENDING))
    assert job is not None and job.status == JobStatus.PENDING and job.subscriber_id == reader.id
    assert job.last_error == "ConnectionError: SES unreachable"
