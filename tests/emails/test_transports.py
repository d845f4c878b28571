"""The outbox and SES transports, behind one protocol and registry."""

from __future__ import annotations

import email
import os
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws
from moto.ses.models import ses_backends

from emails import (
    TRANSPORTS,
    EditionContent,
    MailSettings,
    Message,
    Recipient,
    SendResult,
    UrlLinks,
    compile_variant,
    fill,
    make_transport,
)
from emails.transports.outbox import OutboxTransport
from emails.transports.ses import SesTransport, tag_text
from tests.emails.conftest import BASE_URL

REGION = "eu-west-1"


@pytest.fixture
def message(
    july_edition: EditionContent, settings: MailSettings, reader: Callable[..., Recipient]
) -> Message:
    variant = compile_variant(july_edition, {"fintech"}, "zh-CN", settings=settings)
    return fill(
        variant, reader(email="ann@example.org", subscriber_token="SUBTOK"), UrlLinks(BASE_URL)
    )


def test_registry_and_factory(tmp_path: Path) -> None:
    assert set(TRANSPORTS) == {"ses", "outbox", "smtp"}
    assert isinstance(make_transport("outbox", directory=tmp_path), OutboxTransport)
    with pytest.raises(ValueError, match="carrier-pigeon"):
        make_transport("carrier-pigeon")


def test_outbox_writes_parseable_eml_files(message: Message, tmp_path: Path) -> None:
    outbox = make_transport("outbox", directory=tmp_path / "outbox")
    first = outbox.send(message)
    second = outbox.send(message)
    assert isinstance(first, SendResult) and first.message_id != second.message_id
    files = sorted((tmp_path / "outbox").iterdir())
    assert [f.suffix for f in files] == [".eml", ".eml"]  # no temp files left behind
    assert all(f.name[0].isdigit() and " " not in f.name and "<" not in f.name for f in files)

    parsed = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Message-ID"] == f"<{first.message_id}>"
    assert parsed["To"] == "ann@example.org"
    assert parsed["Subject"] == message.subject
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert parsed["List-Unsubscribe"] == f"<{BASE_URL}/u/SUBTOK>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["List-Id"] == "<monthly.yuebao.example.com>"
    html = parsed.get_body(preferencelist=("html",))
    assert html is not None and "香港金管局与法国央行" in html.get_content()


def test_outbox_failure_leaves_no_partial_file(
    message: Message, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_replace(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        OutboxTransport(tmp_path).send(message)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield


def test_ses_sends_through_moto(aws: None, message: Message) -> None:
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity="example.com")
    transport = make_transport("ses", region=REGION, configuration_set="yuebao")
    result = transport.send(message)
    assert result.message_id
    backend = ses_backends["123456789012"][REGION]
    assert backend.sent_message_count == 1
    sent = backend.sent_messages[0]
    assert sent.destinations == {"ToAddresses": ["ann@example.org"]}
    assert sent.subject == message.subject
    assert "report@example.com" in sent.source


def test_ses_request_carries_headers_configuration_set_and_clean_tags(message: Message) -> None:
    client = boto3.client(
        "sesv2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y"
    )
    tagged = Message(
        **{
            **message.__dict__,
            "tags": {"kind": "edition", "edition": "2024-07", "variant key": "zh-CN:ai,数据"},
        }
    )
    expected = {
        "FromEmailAddress": "=?utf-8?b?5qSN5b635pyI5oql?= <report@example.com>",
        "Destination": {"ToAddresses": ["ann@example.org"]},
        "ReplyToAddresses": ["contact@example.com"],
        "ConfigurationSetName": "yuebao-events",
        "EmailTags": [
            {"Name": "kind", "Value": "edition"},
            {"Name": "edition", "Value": "2024-07"},
            {"Name": "variant_key", "Value": "zh-CN_ai___"},
        ],
        "Content": {
            "Simple": {
                "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": message.text, "Charset": "UTF-8"},
                    "Html": {"Data": message.html, "Charset": "UTF-8"},
                },
                "Headers": [
                    {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
                    {"Name": "List-Id", "Value": "<monthly.yuebao.example.com>"},
                    {"Name": "Feedback-ID", "Value": "edition:yuebao"},
                    {"Name": "List-Unsubscribe", "Value": f"<{BASE_URL}/u/SUBTOK>"},
                ],
            }
        },
    }
    with Stubber(client) as stubber:
        stubber.add_response("send_email", {"MessageId": "ses-123"}, expected)
        result = SesTransport(client=client, configuration_set="yuebao-events").send(tagged)
        stubber.assert_no_pending_responses()
    assert result == SendResult("ses-123")


def test_ses_leaves_out_an_unset_configuration_set(message: Message) -> None:
    client = boto3.client(
        "sesv2", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y"
    )
    request = SesTransport(client=client).request(message)
    assert "ConfigurationSetName" not in request
    with Stubber(client) as stubber:
        stubber.add_response("send_email", {"MessageId": "m"}, {**request, "Content": ANY})
        SesTransport(client=client).send(message)


def test_tag_text_keeps_only_what_ses_allows() -> None:
    assert tag_text("zh-CN:ai,data") == "zh-CN_ai_data"
    assert tag_text("植德 month/2024.07") == "___month_2024_07"
