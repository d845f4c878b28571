"""Headers, the text part and the RFC 5322 form of edition messages."""

from __future__ import annotations

import dataclasses
import email
import re
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage

import pytest

from emails import (
    EditionContent,
    MailSettings,
    Message,
    Recipient,
    UrlLinks,
    compile_variant,
    default_preheader,
    default_subject,
    fill,
)
from emails.system import KINDS, render_system_mail
from tests.emails.conftest import BASE_URL, TOPICS, make_edition, make_item, make_settings

LINKS = UrlLinks(BASE_URL)
EXTERNAL = re.compile(
    r"fonts\.googleapis|fonts\.gstatic|googleapis|cdn|unpkg|jsdelivr|@import|<link|<script",
    re.IGNORECASE,
)


def _edition_message(
    edition: EditionContent, settings: MailSettings, recipient: Recipient, language: str = "zh-CN"
) -> Message:
    return fill(compile_variant(edition, TOPICS, language, settings=settings), recipient, LINKS)


def test_edition_headers(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    message = _edition_message(july_edition, settings, reader(subscriber_token="SUBTOK"))
    assert message.headers["List-Unsubscribe"] == f"<{BASE_URL}/u/SUBTOK>"
    assert message.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.headers["List-Id"] == "<monthly.yuebao.example.com>"
    assert message.headers["Feedback-ID"] == "edition:yuebao"
    assert message.tags == {"kind": "edition", "edition": "2024-07"}
    assert message.reply_to == "contact@example.com"


def test_list_unsubscribe_carries_the_mailto_only_when_configured(
    july_edition: EditionContent, reader: Callable[..., Recipient]
) -> None:
    settings = make_settings(unsubscribe_mailto="unsubscribe@example.com")
    message = _edition_message(july_edition, settings, reader(subscriber_token="SUBTOK"))
    assert message.headers["List-Unsubscribe"] == (
        f"<{BASE_URL}/u/SUBTOK>, <mailto:unsubscribe@example.com>"
    )


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_every_edition_message_has_a_readable_text_part_and_visible_unsubscribe(
    july_edition: EditionContent,
    settings: MailSettings,
    reader: Callable[..., Recipient],
    language: str,
) -> None:
    message = _edition_message(july_edition, settings, reader(language), language)
    assert "<" not in message.text.replace("<b>", "")  # plain text, not an HTML dump
    assert f"{BASE_URL}/u/" in message.text and f"{BASE_URL}/p/" in message.text
    assert "[26] " in message.text  # numbered link references
    assert re.search(rf'<a href="{BASE_URL}/u/[^"]+"[^>]*>(退订|Unsubscribe)</a>', message.html)
    heading = "交易资讯" if language == "zh-CN" else "Deals"
    assert f"{heading}\n" in message.text


def test_rfc5322_round_trip_keeps_subject_parts_and_headers(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    message = _edition_message(july_edition, settings, reader(subscriber_token="SUBTOK"))
    raw = message.to_bytes()
    assert raw.isascii()  # 8-bit-clean: Chinese is encoded
    assert b"Subject: =?utf-8?" in raw  # RFC 2047
    assert raw.count(b"MIME-Version:") == 1
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == july_edition.subject
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert plain is not None and html is not None
    assert plain.get_content().replace("\r\n", "\n") == message.text
    assert html.get_content().replace("\r\n", "\n").rstrip("\n") == message.html.rstrip("\n")
    assert parsed["List-Unsubscribe"] == f"<{BASE_URL}/u/SUBTOK>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["Feedback-ID"] == "edition:yuebao"
    assert parsed["Message-ID"].endswith("@example.com>")
    assert parsed["From"].addresses[0].display_name == "植德月报"
    assert parsed["Date"] is not None


def test_default_subject_and_preheader() -> None:
    titles = ["第一条标题", "第二条", "第三条", "第四条"]
    subject = default_subject("元宇宙与数字经济月报", "2024-07", titles, "zh-CN")
    assert subject == "第一条标题｜元宇宙与数字经济月报 · 2024年7月"
    assert default_subject("Report", "2024-07", ["A" * 200], "en").endswith(" | Report, July 2024")
    assert len(default_subject("Report", "2024-07", ["A" * 200], "en")) < 100
    preheader = default_preheader("元宇宙与数字经济月报", "2024-07", titles, "zh-CN")
    assert preheader == "本期要点：第一条标题；第二条；第三条"
    assert default_preheader("R", "2024-07", ["a", "b"], "en") == "In this issue: a; b"


def test_preheader_is_hidden_text(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    html = _edition_message(july_edition, settings, reader()).html
    match = re.search(
        r'<div style="display:none;[^"]*">([^<&]*)(?:&#847;&zwnj;&nbsp;)+</div>', html
    )
    assert match is not None and match.group(1) == july_edition.preheader


def _all_emails(
    edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> Iterator[Message]:
    for language in ("zh-CN", "en"):
        yield _edition_message(edition, settings, reader(language), language)
        for kind in KINDS:
            context = {
                "to": "a@example.org",
                "action_url": f"{BASE_URL}/x",
                "unsubscribe_url": f"{BASE_URL}/u/t",
                "inviter": "lead@example.org",  # an invitation's own values
                "role": "editor",
                "lifetime_days": "3",
            }
            yield render_system_mail(kind, language, context, settings=settings)


def test_no_external_fonts_or_cdns_in_any_email(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    count = 0
    for message in _all_emails(july_edition, settings, reader):
        assert not EXTERNAL.search(message.html), message.subject
        assert "PingFang SC" in message.html and "Microsoft YaHei" in message.html
        count += 1
    assert count == 2 * (1 + len(KINDS))  # an edition and every system mail, per language


def test_automatic_subject_and_preheader_name_only_the_readers_items(
    settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    edition = make_edition(
        {
            "policy": [make_item(1, ["ai"], title="政策一号"), make_item(2, ["data"])],
            "deals": [make_item(3, ["investment"], title="交易一号"), make_item(4, ["ai"])],
        },
        subject="",
        preheader="",
    )
    variant = compile_variant(edition, ["investment"], "zh-CN", settings=settings)
    message = fill(variant, reader(), UrlLinks(BASE_URL))
    assert message.subject == "交易一号｜元宇宙与数字经济月报 · 2024年7月"
    # It holds one item, named in the subject: the preheader names the report and month.
    assert ">元宇宙与数字经济月报 · 2024年7月&#847;" in message.html
    assert "政策一号" not in message.subject and "政策一号" not in message.html
    # English readers never get a Chinese subject: the Chinese titles are left out of it.
    ai = compile_variant(edition, ["ai"], "en", settings=settings)
    assert ai.subject == "Monthly report, July 2024"


def test_an_edited_subject_is_used_as_written(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    edited = dataclasses.replace(
        july_edition, subject="七月要闻", preheader="三中全会专题",
        subject_en="July highlights", preheader_en="The Third Plenum",
    )
    written = {"zh-CN": ("七月要闻", "三中全会专题"), "en": ("July highlights", "The Third Plenum")}
    for language, (subject, preheader) in written.items():
        variant = compile_variant(edited, ["ai"], language, settings=settings)
        message = fill(variant, reader(language), UrlLinks(BASE_URL))
        assert message.subject == subject
        assert f">{preheader}&#847;&zwnj;&nbsp;" in message.html
