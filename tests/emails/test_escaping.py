"""Nothing an editor or reader typed can add markup or template code to an email."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from emails import MailSettings, Message, Recipient, UrlLinks, compile_variant, fill
from emails.system import KINDS, render_system_mail
from tests.emails.conftest import BASE_URL, make_edition, make_item

EVIL = '<script>alert("x")</script> {{ 7*7 }} {% if 1 %}yes{% endif %} &amp;'
EVIL_HTML = (
    "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; {{ 7*7 }} {% if 1 %}yes{% endif %} &amp;amp;"
)
EVIL_NAME = '<b onmouseover="x">Eve</b> {{ 7*7 }}'


def _assert_inert(message: Message) -> None:
    assert not re.search(r"<script", message.html, re.IGNORECASE)
    assert "<b onmouseover" not in message.html
    assert "49" not in message.html.replace("2024", "")  # {{ 7*7 }} was never evaluated


@pytest.fixture
def evil_message(settings: MailSettings, reader: Callable[..., Recipient]) -> Message:
    item = make_item(
        1, {"a"}, title=EVIL, summary=f"{EVIL}\n\n第二段 {EVIL}", commentary=EVIL, source=EVIL
    )
    edition = make_edition({"policy": [item]}, intro=EVIL, preheader=EVIL)
    variant = compile_variant(edition, {"a"}, "zh-CN", settings=settings)
    return fill(variant, reader(name=EVIL_NAME), UrlLinks(BASE_URL))


def test_typed_content_is_escaped_in_html(evil_message: Message) -> None:
    _assert_inert(evil_message)
    # title, source, summary ×2, commentary, intro, preheader
    assert evil_message.html.count(EVIL_HTML) >= 7
    assert "{{ 7*7 }}" in evil_message.html


def test_reader_name_is_escaped_when_filling(evil_message: Message) -> None:
    assert "&lt;b onmouseover=&#34;x&#34;&gt;Eve&lt;/b&gt; {{ 7*7 }}" in evil_message.html.replace(
        "&quot;", "&#34;"
    )
    assert EVIL_NAME in evil_message.text  # the text part is plain text: shown as typed


def test_text_part_shows_typed_text_literally(evil_message: Message) -> None:
    assert EVIL in evil_message.text
    assert "49" not in evil_message.text.replace("2024", "")


def test_a_forged_slot_marker_in_content_stays_text(
    settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    forged = "YB0123456789abcdef.unsubscribe."
    edition = make_edition({"policy": [make_item(1, {"a"}, summary=forged)]})
    message = fill(
        compile_variant(edition, {"a"}, "zh-CN", settings=settings), reader(), UrlLinks(BASE_URL)
    )
    assert forged in message.html and forged in message.text


def test_hostile_urls_cannot_break_out_of_attributes(
    settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    item = make_item(1, {"a"}, url='https://x.example/"><script>alert(1)</script>')
    edition = make_edition({"policy": [item]})
    variant = compile_variant(edition, {"a"}, "zh-CN", settings=settings)
    message = fill(variant, reader(tracking=False), UrlLinks(BASE_URL))
    assert "<script" not in message.html
    assert 'href="https://x.example/&#34;&gt;&lt;script&gt;' in message.html.replace(
        "&quot;", "&#34;"
    )


@pytest.mark.parametrize("kind", KINDS)
def test_system_mail_context_is_escaped(kind: str, settings: MailSettings) -> None:
    context = {
        "to": "eve@example.org",
        "name": EVIL_NAME,
        "action_url": 'https://x.example/a?b=1&c="><script>',
        "unsubscribe_url": "https://x.example/u/<script>",
        "inviter": EVIL_NAME,  # an invitation names its inviter, not the reader
        "role": "editor",
        "lifetime_days": "3",
    }
    message = render_system_mail(kind, "zh-CN", context, settings=settings)
    _assert_inert(message)
    assert "&lt;b onmouseover=" in message.html
    assert "https://x.example/a?b=1&amp;c=&#34;&gt;&lt;script&gt;" in message.html.replace(
        "&quot;", "&#34;"
    )
