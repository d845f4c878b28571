"""The app's side of email: settings and links from the configuration, the transport it
names, system mails queued with the change that calls for them, and an edition as content."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from emails import Message
from emails.edition import url_limit
from emails.transports.outbox import OutboxTransport
from emails.transports.ses import SesTransport
from tests.factories import Factories
from webapp.config import Settings, load_settings
from webapp.mailer import (
    edition_content,
    links,
    mail_settings,
    message_payload,
    parse_topics,
    payload_message,
    queue_mail,
    record_outbox_file,
    transport,
)
from webapp.models import BackgroundJob, JobKind, JobStatus, OutboxFile

NOW = datetime(2024, 7, 1, 9, 0, tzinfo=UTC)

# An organisation's newsletter under a deep path: 200 characters, the longest BASE_URL served.
LONG_BASE = "https://newsletters.research-institute-for-digital-economy.example.com.cn/" + (
    "publications/monthly-briefings/metaverse-and-digital-economy/zh-cn/subscribers/"
)
LONG_BASE += "x" * (200 - len(LONG_BASE))
TOKEN = "T" * 43  # a subscriber token (token_urlsafe(32))
DELIVERY = "D" * 64  # the longest delivery token the size guard allows for


def _settings(tmp_path: Path, **env: str) -> Settings:
    base = {"SECRET_KEY": "s", "ERASURE_KEY": "e", "YUEBAO_VAR_DIR": str(tmp_path / "var")}
    return load_settings({**base, **env})


def test_links_are_built_under_a_long_https_base_url(tmp_path: Path) -> None:
    assert len(LONG_BASE) == 200
    made = links(_settings(tmp_path, BASE_URL=LONG_BASE + "/"))  # a trailing slash or not
    urls = {
        made.unsubscribe(TOKEN): "/u/" + TOKEN,
        made.preferences(TOKEN): "/p/" + TOKEN,
        made.view(DELIVERY): "/v/" + DELIVERY,
        made.open_pixel(DELIVERY): f"/o/{DELIVERY}.gif",
        made.click(DELIVERY, 120): f"/c/{DELIVERY}/120",
        made.archive("2024-07"): "/archive/2024-07",
    }
    for url, path in urls.items():
        assert url == LONG_BASE + path
        assert len(url) <= url_limit(LONG_BASE), url  # every per-reader URL fits the email


def test_mail_settings_are_the_configured_ones(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        BASE_URL=LONG_BASE + "/",
        ORG_NAME="数字经济研究院",
        ORG_POSTAL_ADDRESS="上海市浦东新区世纪大道 100 号",
        MAIL_FROM="月报 <report@news.example.com>",
        MAIL_REPLY_TO="editors@news.example.com",
        LIST_ID="<monthly.news.example.com>",
        FEEDBACK_ID="yuebao-prod",
        UNSUBSCRIBE_MAILTO="unsubscribe@news.example.com",
    )
    mail = mail_settings(settings)
    assert (mail.org_name, mail.org_postal_address, mail.mail_from, mail.reply_to) == (
        "数字经济研究院", "上海市浦东新区世纪大道 100 号", "月报 <report@news.example.com>",
        "editors@news.example.com",
    )
    assert (mail.list_id, mail.feedback_id, mail.unsubscribe_mailto, mail.base_url) == (
        "<monthly.news.example.com>", "yuebao-prod", "unsubscribe@news.example.com", LONG_BASE,
    )


def test_unset_reply_to_and_unsubscribe_mailbox_stay_unset(tmp_path: Path) -> None:
    mail = mail_settings(_settings(tmp_path, MAIL_REPLY_TO="", UNSUBSCRIBE_MAILTO=""))
    assert (mail.reply_to, mail.unsubscribe_mailto) == (None, None)


def test_the_outbox_transport_writes_into_the_configured_folder(tmp_path: Path) -> None:
    outbox = tmp_path / "elsewhere" / "outbox"
    chosen = transport(_settings(tmp_path, MAIL_TRANSPORT="outbox", OUTBOX_DIR=str(outbox)))
    assert isinstance(chosen, OutboxTransport)
    sent = chosen.send(Message(sender="a@example.com", to="b@example.com", subject="s",
                               html="<p>h</p>", text="t"))
    assert sent.file is not None and (outbox / sent.file).exists()


def test_the_ses_transport_uses_the_configured_region_endpoint_and_set(tmp_path: Path) -> None:
    chosen = transport(_settings(
        tmp_path, MAIL_TRANSPORT="ses", SES_REGION="ap-southeast-1",
        SES_ENDPOINT_URL="http://127.0.0.1:9/ses", SES_CONFIGURATION_SET="yuebao-events",
    ))
    assert isinstance(chosen, SesTransport)
    assert chosen.client.meta.region_name == "ap-southeast-1"
    assert chosen.client.meta.endpoint_url == "http://127.0.0.1:9/ses"
    assert chosen.configuration_set == "yuebao-events"


# System mails


def _message(**kw: object) -> Message:
    fields: dict[str, object] = {
        "sender": "月报 <report@news.example.com>", "to": "reader@example.com",
        "subject": "请确认订阅", "html": "<p>确认</p>", "text": "确认",
        "headers": {"X-Entity-Ref-ID": "abc"}, "tags": {"kind": "confirm"},
        "reply_to": "editors@news.example.com",
    }
    fields.update(kw)
    return Message(**fields)  # type: ignore[arg-type]


@pytest.mark.postgres
def test_a_queued_mail_is_a_pending_job_holding_the_whole_message(
    session: Session, factories: Factories
) -> None:
    reader = factories.subscriber()
    message = _message()
    queue_mail(session, message, subscriber_id=reader.id, now=NOW)
    session.commit()
    session.expire_all()
    [job] = session.scalars(select(BackgroundJob))
    assert (job.kind, job.status, job.attempts, job.subscriber_id, job.next_attempt_at) == (
        JobKind.MAIL, JobStatus.PENDING, 0, reader.id, NOW
    )
    assert payload_message(job.payload or {}) == message


def test_a_queued_mail_is_rolled_back_with_the_change_that_called_for_it(
    session: Session,
) -> None:
    queue_mail(session, _message(), now=NOW)
    session.rollback()
    assert session.scalars(select(BackgroundJob)).all() == []


def test_a_message_is_stored_as_plain_json() -> None:
    assert message_payload(_message()) == {
        "sender": "月报 <report@news.example.com>", "to": "reader@example.com",
        "subject": "请确认订阅", "html": "<p>确认</p>", "text": "确认",
        "headers": {"X-Entity-Ref-ID": "abc"}, "tags": {"kind": "confirm"},
        "reply_to": "editors@news.example.com",
    }


def test_a_stored_message_without_headers_tags_or_reply_to_reads_back() -> None:
    payload = message_payload(_message(headers={}, tags={}, reply_to=None))
    del payload["headers"], payload["tags"], payload["reply_to"]
    assert payload_message(payload) == _message(headers={}, tags={}, reply_to=None)


@pytest.mark.parametrize("payload", [
    {},
    {"sender": "a@example.com", "to": "b@example.com", "subject": "s", "html": "h"},
    {**message_payload(_message()), "headers": ["not", "a", "mapping"]},
    {**message_payload(_message()), "tags": "kind"},
])
def test_a_row_that_holds_no_message_is_refused_plainly(payload: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="not a stored message"):
        payload_message(payload)


def test_an_outbox_file_is_indexed_once_by_whose_message_it_holds(
    session: Session, factories: Factories
) -> None:
    reader = factories.subscriber()
    record_outbox_file(session, "20240701T090000Z-a.eml", subscriber_id=reader.id)
    record_outbox_file(session, "20240701T090000Z-a.eml", subscriber_id=None)  # a retry
    record_outbox_file(session, "20240701T090001Z-b.eml")
    session.commit()
    rows = session.execute(select(OutboxFile.name, OutboxFile.subscriber_id,
                                  OutboxFile.delivery_id).order_by(OutboxFile.name)).all()
    assert [tuple(r) for r in rows] == [
        ("20240701T090000Z-a.eml", reader.id, None), ("20240701T090001Z-b.eml", None, None)
    ]


# An edition as content


def test_an_edition_becomes_content_numbered_across_sections(
    session: Session, factories: Factories
) -> None:
    factories.edition("2024-06", items={"policy": [{}, {}]})  # so ids and numbers differ
    edition = factories.edition("2024-07", subject="七月", preheader="本月要点", intro="你好",
                                items={
        "policy": [{"title": "政策一", "title_en": "Policy one", "topics": ["data", "ai"],
                    "url": "https://a.example/1", "source": "新华社", "summary": "摘要",
                    "summary_en": "Summary", "commentary": "点评",
                    "published_on": date(2024, 7, 2)}],
        "industry": [],
        "deals": [{"title": "交易一", "url": "https://a.example/2"},
                  {"title": "交易二", "url": "https://a.example/3"}],
    })
    content = edition_content(edition)
    assert (content.month, content.title, content.subject, content.preheader, content.intro) == (
        "2024-07", "元宇宙与数字经济月报", "七月", "本月要点", "你好"
    )
    assert [s.key for s in content.sections] == ["policy", "industry", "deals"]
    assert [(i.number, i.title, i.url) for s in content.sections for i in s.items] == [
        (1, "政策一", "https://a.example/1"), (2, "交易一", "https://a.example/2"),
        (3, "交易二", "https://a.example/3"),
    ]
    first = content.sections[0].items[0]
    assert first.id == edition.sections[0].items[0].id
    assert (first.title_en, first.source, first.summary, first.summary_en, first.commentary,
            first.published_on) == ("Policy one", "新华社", "摘要", "Summary", "点评",
                                    date(2024, 7, 2))
    assert first.topics == frozenset({"ai", "data"})


# Topics asked for on the command line


def test_no_topics_asked_for_means_every_known_one() -> None:
    assert parse_topics(None, ["ai", "data"]) == ["ai", "data"]
    assert parse_topics("", iter(["ai", "data"])) == ["ai", "data"]


def test_topics_asked_for_are_taken_in_order_without_blanks() -> None:
    assert parse_topics(" data , ai,, ", ["ai", "data", "fintech"]) == ["data", "ai"]


def test_an_unknown_topic_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError) as refused:
        parse_topics("ai,robots,AI", ["ai", "data"])
    assert str(refused.value) == "unknown topic(s) robots, AI; known: ai, data"
