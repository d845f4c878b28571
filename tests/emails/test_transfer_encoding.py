"""Each part is written in the shorter of base64 and quoted-printable, and measured as sent.

Gmail clips an HTML part above ~102 KB as received. The mail library chose quoted-printable
from the first ten lines of the HTML (its ASCII <head>), so Chinese HTML went out at more than
twice its size.
"""

from __future__ import annotations

import email
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from emails import EditionContent, MailSettings, Message, Recipient, UrlLinks, compile_variant
from emails import fill as fill_variant
from emails.mime import (
    BASE64,
    QUOTED_PRINTABLE,
    SEVEN_BIT,
    base64_budget,
    base64_bytes,
    sent_bytes,
    transfer_encoding,
)
from emails.transports.outbox import OutboxTransport
from tests.emails.conftest import BASE_URL, TOPICS
from tests.mailbox import part_as_sent

HEAD = '<!doctype html>\n<html><head><style type="text/css">body{margin:0;padding:0}</style>'
CJK_HTML = HEAD + "\n<body>" + "<p>二十届三中全会对数字经济作出系统部署。</p>\n" * 800
# MJML writes long lines; an English edition has the odd typographic quote.
ASCII_HTML = HEAD + "\n<body>" + "<p class=x>The EU’s AI Act is published in full.</p>" * 800


def message(html: str, text: str = "plain text") -> Message:
    return Message(sender="Report <r@example.com>", to="a@example.org", subject="s",
                   html=html, text=text)


def test_chinese_html_is_base64_even_though_its_head_is_ascii() -> None:
    raw = message(CJK_HTML).to_bytes()
    encoding, body = part_as_sent(raw, "text/html")
    assert encoding == BASE64 == transfer_encoding(CJK_HTML)
    assert len(body) == sent_bytes(CJK_HTML)
    assert len(body) < 1.4 * len(CJK_HTML.encode())  # quoted-printable was 2.2 times


def test_ascii_heavy_html_stays_quoted_printable_when_that_is_shorter() -> None:
    raw = message(ASCII_HTML).to_bytes()
    encoding, body = part_as_sent(raw, "text/html")
    assert encoding == QUOTED_PRINTABLE == transfer_encoding(ASCII_HTML)
    assert len(body) == sent_bytes(ASCII_HTML)
    assert len(body) < sent_bytes(ASCII_HTML, BASE64)


def test_short_ascii_lines_need_no_encoding() -> None:
    text = "Hello,\n\nconfirm here: https://example.com/confirm/abc\n"
    assert transfer_encoding(text) == SEVEN_BIT
    encoding, body = part_as_sent(message(ASCII_HTML, text=text).to_bytes(), "text/plain")
    assert (encoding, body) == (SEVEN_BIT, text.replace("\n", "\r\n").encode())


def test_the_chinese_text_part_is_base64_too() -> None:
    text = "本期月报梳理了 2024 年 7 月数字经济领域的政策动向、行业新闻与交易资讯。\n" * 40
    encoding, body = part_as_sent(message(CJK_HTML, text=text).to_bytes(), "text/plain")
    assert encoding == BASE64 and len(body) == sent_bytes(text)


@pytest.mark.parametrize("limit", [100_000, 78, 79, 84, 85, 1_000])
def test_the_base64_budget_is_the_most_that_fits(limit: int) -> None:
    most = base64_budget(limit)
    assert base64_bytes(most) <= limit < base64_bytes(most + 1)


def test_a_hundred_kilobytes_as_sent_hold_73_074_bytes_in_base64() -> None:
    # 1,282 lines of 76 characters and a CRLF: 99,996 bytes for 1,282 × 57 bytes.
    assert base64_budget(100_000) == 73_074
    assert base64_bytes(73_074) == 99_996


def test_the_outbox_eml_decodes_back_to_the_same_html_and_text(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient],
    tmp_path: Path,
) -> None:
    for language in ("zh-CN", "en"):
        # The full layout: the CJK-heavy HTML that base64 is for (a digest may go either way).
        variant = compile_variant(july_edition, TOPICS, language, settings=settings, layout="full")
        sent = fill_variant(variant, reader(language), UrlLinks(BASE_URL))
        name = OutboxTransport(tmp_path).send(sent).file
        assert name is not None
        raw = (tmp_path / name).read_bytes()
        assert part_as_sent(raw, "text/html")[0] == BASE64
        parsed = email.message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        html = parsed.get_body(preferencelist=("html",))
        plain = parsed.get_body(preferencelist=("plain",))
        assert html is not None and plain is not None
        assert html.get_content().replace("\r\n", "\n").rstrip("\n") == sent.html.rstrip("\n")
        assert plain.get_content().replace("\r\n", "\n") == sent.text
