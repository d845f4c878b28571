"""The SES v2 operations through a real boto3 sesv2 client."""

from __future__ import annotations

import json
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

import pytest
from botocore.exceptions import ClientError
from types_boto3_sesv2.client import SESV2Client

from tests.simulator.conftest import SENDER, bulk_email, ses_client, simple_email
from tests.tools.ses_simulator import SesSimulator
from tests.tools.ses_simulator.model import output_shape, validate

pytestmark = pytest.mark.servers  # starts servers or processes: not under libfaketime


def test_get_account_reports_quota_and_validates_against_the_model(
    make_simulator: Callable[..., SesSimulator],
) -> None:
    sim = make_simulator(max_send_rate=14, max_24_hour_send=50_000)
    account = ses_client(sim).get_account()
    assert account["SendQuota"] == {
        "Max24HourSend": 50_000.0,
        "MaxSendRate": 14.0,
        "SentLast24Hours": 0.0,
    }
    assert account["SendingEnabled"] is True
    assert account["ProductionAccessEnabled"] is True
    payload: dict[str, Any] = dict(account)
    payload.pop("ResponseMetadata")
    assert validate(output_shape("GetAccount"), payload) == []


def test_send_email_simple_records_one_message_per_recipient_with_headers_and_tags(
    sim: SesSimulator, ses: SESV2Client
) -> None:
    headers = [
        {"Name": "List-Unsubscribe", "Value": "<https://yuebao.example.com/u/tok>"},
        {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
        {"Name": "X-Yuebao-Delivery", "Value": "42"},
    ]
    request = simple_email(
        ["a@example.com", "b@example.com"],
        subject="2024-07 月报",
        Destination={"ToAddresses": ["a@example.com"], "BccAddresses": ["b@example.com"]},
        ReplyToAddresses=["reply@example.com"],
        EmailTags=[{"Name": "delivery", "Value": "42"}, {"Name": "edition", "Value": "2024-07"}],
        ConfigurationSetName="yuebao",
    )
    request["Content"]["Simple"]["Headers"] = headers
    message_id = ses.send_email(**request)["MessageId"]

    first, second = sim.messages
    assert {first.recipient, second.recipient} == {"a@example.com", "b@example.com"}
    assert first.message_id == second.message_id == message_id
    assert first.sender == SENDER
    assert first.to == ["a@example.com"] and first.bcc == ["b@example.com"]
    assert first.subject == "2024-07 月报"
    assert (first.text, first.html) == ("text body", "<p>html body</p>")
    assert first.header("list-unsubscribe") == "<https://yuebao.example.com/u/tok>"
    assert first.headers["X-Yuebao-Delivery"] == "42"
    assert first.headers["Reply-To"] == "reply@example.com"
    assert "b@example.com" not in first.headers["To"]
    assert first.tags == {"delivery": "42", "edition": "2024-07"}
    assert first.configuration_set == "yuebao"
    assert (first.kind, first.content_type) == ("SendEmail", "Simple")


def test_send_email_raw_is_parsed_with_its_custom_headers(
    sim: SesSimulator, ses: SESV2Client
) -> None:
    mime = EmailMessage()
    mime["From"] = SENDER
    mime["To"] = "reader@example.com"
    mime["Subject"] = "原始邮件"
    mime["List-Id"] = "<monthly.yuebao.example.com>"
    mime["X-SES-MESSAGE-TAGS"] = "delivery=7, edition=2024-07"
    mime.set_content("plain 文本")
    mime.add_alternative("<p>html 文本</p>", subtype="html")

    message_id = ses.send_email(Content={"Raw": {"Data": mime.as_bytes()}})["MessageId"]

    (message,) = sim.messages
    assert message.message_id == message_id
    assert message.recipient == "reader@example.com"
    assert message.subject == "原始邮件"
    assert message.text is not None and message.text.strip() == "plain 文本"
    assert message.html is not None and message.html.strip() == "<p>html 文本</p>"
    assert message.header("List-Id") == "<monthly.yuebao.example.com>"
    assert message.tags == {"delivery": "7", "edition": "2024-07"}
    assert message.header("X-SES-MESSAGE-TAGS") is None
    assert message.raw == mime.as_bytes()
    assert message.content_type == "Raw"


def test_send_email_inline_template(sim: SesSimulator, ses: SESV2Client) -> None:
    ses.send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": ["t@example.com"]},
        Content={
            "Template": {
                "TemplateContent": {
                    "Subject": "{{month}} 月报",
                    "Html": "<p>{{reader.name}}</p>",
                    "Text": "{{reader.name}}{{missing}}",
                },
                "TemplateData": json.dumps({"month": "2024-07", "reader": {"name": "王"}}),
                "Headers": [{"Name": "X-Variant", "Value": "v1"}],
            }
        },
    )
    (message,) = sim.messages
    assert (message.subject, message.html, message.text) == ("2024-07 月报", "<p>王</p>", "王")
    assert message.headers["X-Variant"] == "v1"


def test_bulk_of_fifty_substitutes_per_entry_data_headers_and_tags(
    sim: SesSimulator, ses: SESV2Client
) -> None:
    addresses = [f"reader{i}@example.com" for i in range(50)]
    request = bulk_email(
        addresses,
        template={
            "Subject": "{{month}} for {{name}}",
            "Html": "<p>{{name}} · {{month}}</p>",
            "Text": "{{name}} {{month}}",
        },
        DefaultEmailTags=[{"Name": "edition", "Value": "2024-07"}],
    )
    template = request["DefaultContent"]["Template"]
    template["TemplateData"] = json.dumps({"month": "2024-07", "name": "default"})
    template["Headers"] = [
        {"Name": "List-Unsubscribe", "Value": "<https://default>"},
        {"Name": "List-Id", "Value": "<monthly.example.com>"},
    ]
    for i, entry in enumerate(request["BulkEmailEntries"]):
        entry["ReplacementHeaders"] = [{"Name": "List-Unsubscribe", "Value": f"<https://u/{i}>"}]
        entry["ReplacementTags"] = [{"Name": "delivery", "Value": str(i)}]

    response = ses.send_bulk_email(**request)
    results = response["BulkEmailEntryResults"]

    assert [r["Status"] for r in results] == ["SUCCESS"] * 50
    by_id = {m.message_id: m for m in sim.messages}
    assert len(by_id) == 50
    for i, result in enumerate(results):  # results come back in entry order
        message = by_id[result["MessageId"]]
        assert message.recipient == f"reader{i}@example.com"
        assert message.subject == f"2024-07 for reader{i}"
        assert message.html == f"<p>reader{i} · 2024-07</p>"
        assert message.text == f"reader{i} 2024-07"
        assert message.headers["List-Unsubscribe"] == f"<https://u/{i}>"
        assert message.headers["List-Id"] == "<monthly.example.com>"
        assert message.tags == {"edition": "2024-07", "delivery": str(i)}
        assert message.kind == "SendBulkEmail"
    payload: dict[str, Any] = dict(response)
    payload.pop("ResponseMetadata")
    assert validate(output_shape("SendBulkEmail"), payload) == []


def test_bulk_of_fifty_one_entries_is_refused(sim: SesSimulator, ses: SESV2Client) -> None:
    request = bulk_email([f"r{i}@example.com" for i in range(51)])
    with pytest.raises(ClientError) as caught:
        ses.send_bulk_email(**request)
    assert caught.value.response["Error"]["Code"] == "BadRequestException"
    assert "50" in caught.value.response["Error"]["Message"]
    assert sim.messages == []


TEMPLATE = {"Subject": "{{x}}|{{{x}}}", "Text": "{{x}}|{{{x}}}", "Html": "<b>{{x}}</b>{{{x}}}"}
VALUE = '<a href="x">R&D\'s</a>'
ESCAPED = "&lt;a href&#x3D;&quot;x&quot;&gt;R&amp;D&#x27;s&lt;/a&gt;"


def test_values_are_not_escaped_by_default_as_aws_documents(
    sim: SesSimulator, ses: SESV2Client
) -> None:
    request = bulk_email(["e@example.com"], template=TEMPLATE)
    request["DefaultContent"]["Template"]["TemplateData"] = json.dumps({"x": VALUE})
    request["BulkEmailEntries"][0].pop("ReplacementEmailContent")
    ses.send_bulk_email(**request)
    (message,) = sim.messages
    assert message.html == f"<b>{VALUE}</b>{VALUE}"


def test_handlebars_escaping_double_braces_escape_and_triple_do_not(
    make_simulator: Callable[..., SesSimulator],
) -> None:
    sim = make_simulator(escape_html=True)
    request = bulk_email(["e@example.com"], template=TEMPLATE)
    entry = request["BulkEmailEntries"][0]
    entry["ReplacementEmailContent"]["ReplacementTemplate"]["ReplacementTemplateData"] = json.dumps(
        {"x": VALUE}
    )
    ses_client(sim).send_bulk_email(**request)
    (message,) = sim.messages
    assert message.html == f"<b>{ESCAPED}</b>{VALUE}"
    assert message.subject == f"{ESCAPED}|{VALUE}"
    assert message.text == f"{ESCAPED}|{VALUE}"


def test_stored_template_names_are_not_found(sim: SesSimulator, ses: SESV2Client) -> None:
    request = bulk_email(["n@example.com"])
    request["DefaultContent"]["Template"] = {"TemplateName": "monthly", "TemplateData": "{}"}
    (result,) = ses.send_bulk_email(**request)["BulkEmailEntryResults"]
    assert result["Status"] == "TEMPLATE_NOT_FOUND"
    with pytest.raises(ses.exceptions.NotFoundException):
        ses.send_email(
            FromEmailAddress=SENDER,
            Destination={"ToAddresses": ["n@example.com"]},
            Content={"Template": {"TemplateName": "monthly", "TemplateData": "{}"}},
        )
    assert sim.messages == []


def test_bad_replacement_data_fails_only_its_entry(sim: SesSimulator, ses: SESV2Client) -> None:
    request = bulk_email(["ok@example.com", "bad@example.com"])
    bad = request["BulkEmailEntries"][1]["ReplacementEmailContent"]["ReplacementTemplate"]
    bad["ReplacementTemplateData"] = "{not json"
    results = ses.send_bulk_email(**request)["BulkEmailEntryResults"]
    assert [r["Status"] for r in results] == ["SUCCESS", "INVALID_PARAMETER"]
    assert [m.recipient for m in sim.messages] == ["ok@example.com"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ({"Name": "Subject", "Value": "again"}, "Duplicate header 'Subject'"),
        ({"Name": "X-Name", "Value": "王"}, "printable US-ASCII"),
    ],
)
def test_headers_ses_would_refuse_are_refused(
    sim: SesSimulator, ses: SESV2Client, header: dict[str, str], expected: str
) -> None:
    request = simple_email("h@example.com")
    request["Content"]["Simple"]["Headers"] = [header]
    with pytest.raises(ClientError) as caught:
        ses.send_email(**request)
    assert caught.value.response["Error"]["Code"] == "BadRequestException"
    assert expected in caught.value.response["Error"]["Message"]
    assert sim.messages == []


def test_tags_outside_the_ses_alphabet_are_refused(sim: SesSimulator, ses: SESV2Client) -> None:
    request = simple_email("t@example.com", EmailTags=[{"Name": "edition", "Value": "2024/07"}])
    with pytest.raises(ses.exceptions.BadRequestException):
        ses.send_email(**request)


def test_more_than_fifty_recipients_in_one_message_is_refused(ses: SESV2Client) -> None:
    request = simple_email([f"r{i}@example.com" for i in range(51)])
    with pytest.raises(ClientError) as caught:
        ses.send_email(**request)
    assert caught.value.response["Error"]["Message"] == "Recipient count exceeds 50."
