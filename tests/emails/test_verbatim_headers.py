"""List and feedback headers go out as plain ASCII lines, whatever the length of BASE_URL.

A real domain makes `<https://…/u/TOKEN>` longer than a 78-column line; folded by the SMTP
policy it became an RFC 2047 encoded word that no receiver reads as a one-click link.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest

from emails import (
    EditionContent,
    MailSettings,
    Message,
    Recipient,
    UrlLinks,
    compile_variant,
    fill,
    make_transport,
    render_system_mail,
)
from emails.mime import VerbatimHeaderError
from emails.transports.batch import BatchEntry, SesBulkBatch
from emails.transports.ses import SesTransport
from tests.emails.conftest import make_settings

# 200 characters, as a firm's newsletter under a long path might have.
LONG_BASE = "https://newsletter.meritsandtree.com/" + "long-path-segment/" * 9
LONG_BASE += "x" * (200 - len(LONG_BASE))
MAILTO = "unsubscribe@newsletter.meritsandtree.com"
TOKEN = "S" * 43
VERBATIM = ("List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "Feedback-ID")


@pytest.fixture
def long_settings() -> MailSettings:
    return make_settings(
        base_url=LONG_BASE,
        unsubscribe_mailto=MAILTO,
        list_id="monthly-report.newsletter.meritsandtree.com",
        feedback_id="meritsandtree",
    )


def header_lines(raw: bytes) -> dict[str, bytes]:
    """Each header of the raw message as written, continuation lines included."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    lines: dict[str, bytes] = {}
    for line in re.split(rb"\r\n(?![ \t])", head):
        name = line.split(b":", 1)[0].decode("ascii")
        lines[name] = line
    return lines


def assert_verbatim(raw: bytes, expected: dict[str, str]) -> None:
    lines = header_lines(raw)
    for name, value in expected.items():
        assert lines[name] == f"{name}: {value}".encode("ascii"), lines[name]
        assert b"=?" not in lines[name] and b"\r\n" not in lines[name]


def edition_message(
    edition: EditionContent, settings: MailSettings, recipient: Recipient
) -> Message:
    variant = compile_variant(edition, {"fintech", "ai"}, "zh-CN", settings=settings)
    return fill(variant, recipient, UrlLinks(settings.base_url))


def test_an_edition_written_to_the_outbox_keeps_its_headers_on_one_line(
    july_edition: EditionContent,
    long_settings: MailSettings,
    reader: Callable[..., Recipient],
    tmp_path: Path,
) -> None:
    message = edition_message(july_edition, long_settings, reader(subscriber_token=TOKEN))
    make_transport("outbox", directory=tmp_path).send(message)
    (written,) = tmp_path.glob("*.eml")
    raw = written.read_bytes()
    unsubscribe = f"<{LONG_BASE}/u/{TOKEN}>, <mailto:{MAILTO}>"
    assert len(unsubscribe) > 250
    assert_verbatim(
        raw,
        {
            "List-Unsubscribe": unsubscribe,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": "<monthly-report.newsletter.meritsandtree.com>",
            "Feedback-ID": "edition:meritsandtree",
        },
    )
    assert b"Subject: =?utf-8?" in raw  # the rest is still folded and encoded as before
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))


@pytest.mark.parametrize(
    ("kind", "mail_type"),
    [("confirm", "confirmation"), ("welcome", "system"), ("preferences_link", "system"),
     ("password_reset", "system")],
)
def test_reader_and_system_mails_keep_their_headers_on_one_line(
    kind: str, mail_type: str, long_settings: MailSettings, tmp_path: Path
) -> None:
    context = {
        "to": "ann@example.org",
        "action_url": f"{LONG_BASE}/p/{TOKEN}",
        "unsubscribe_url": f"{LONG_BASE}/u/{TOKEN}",
    }
    message = render_system_mail(kind, "en", context, settings=long_settings)
    make_transport("outbox", directory=tmp_path).send(message)
    (written,) = tmp_path.glob("*.eml")
    expected = {"Feedback-ID": f"{mail_type}:meritsandtree"}
    if kind in ("welcome", "preferences_link"):
        expected["List-Unsubscribe"] = f"<{LONG_BASE}/u/{TOKEN}>, <mailto:{MAILTO}>"
        expected["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    assert_verbatim(written.read_bytes(), expected)


def test_feedback_id_differs_per_mail_type(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    context = {"to": "a@example.org", "action_url": "https://x.example/a",
               "unsubscribe_url": "https://x.example/u/t"}
    ids = {
        edition_message(july_edition, settings, reader()).headers["Feedback-ID"],
        render_system_mail("confirm", "en", context, settings=settings).headers["Feedback-ID"],
        render_system_mail("welcome", "en", context, settings=settings).headers["Feedback-ID"],
    }
    assert ids == {"edition:yuebao", "confirmation:yuebao", "system:yuebao"}


def test_ses_sends_the_values_unchanged(
    july_edition: EditionContent, long_settings: MailSettings, reader: Callable[..., Recipient]
) -> None:
    client = boto3.client(
        "sesv2", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    recipient = reader(subscriber_token=TOKEN)
    message = edition_message(july_edition, long_settings, recipient)
    sent = SesTransport(client=client).request(message)["Content"]["Simple"]["Headers"]
    assert {h["Name"]: h["Value"] for h in sent} == {
        name: message.headers[name] for name in VERBATIM
    }
    assert f"<{LONG_BASE}/u/{TOKEN}>" in message.headers["List-Unsubscribe"]

    variant = compile_variant(july_edition, {"fintech"}, "zh-CN", settings=long_settings)
    bulk = SesBulkBatch(client).request(
        variant, [BatchEntry(1, recipient)], UrlLinks(LONG_BASE)
    )
    shared = bulk["DefaultContent"]["Template"]["Headers"]
    own = bulk["BulkEmailEntries"][0]["ReplacementHeaders"]
    assert all("=?" not in h["Value"] for h in [*shared, *own])
    assert own == [{"Name": "List-Unsubscribe",
                    "Value": f"<{LONG_BASE}/u/{TOKEN}>, <mailto:{MAILTO}>"}]


def test_a_header_that_cannot_be_one_ascii_line_is_a_clear_error(
    july_edition: EditionContent, reader: Callable[..., Recipient]
) -> None:
    with pytest.raises(VerbatimHeaderError, match="List-Id"):
        edition_message(july_edition, make_settings(list_id="月报.example.com"), reader())
    with pytest.raises(VerbatimHeaderError, match="870"):
        Message(sender="a@example.com", to="b@example.com", subject="s", html="h", text="t",
                headers={"List-Unsubscribe": f"<https://example.com/{'u' * 900}>"})
