"""SendBulkEmail's body is written by us, exactly as botocore would write it, and checked first.

botocore's serializer and validator never see the real parameters any more (bulk_body), so
these tests hold our body to botocore's bytes for the same request, the request to botocore's
own validator, and the checks to refusing, before anything is sent, what SES would refuse.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.serialize
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.validate import ParamValidator

from emails import EditionContent, Recipient, compile_variant
from emails.content import UrlLinks
from emails.edition import Variant
from emails.mime import MessageUnbuildable
from emails.transports.batch import BatchEntry, SesBulkBatch
from emails.transports.bulk_body import (
    MAX_TEMPLATE_DATA,
    _read_answer,
    body,
    check_headers,
    check_tags,
    check_template_data,
    encode,
    entry,
    entry_text,
    head_text,
)
from emails.transports.bulk_template import token_data, token_json
from emails.transports.errors import Rejected, Unbuildable
from tests.emails.conftest import BASE_URL, TOPICS, make_settings

NAMES = ["王小明", None, 'Tom "&" <Jerry> {{x}} \\ back', "  Ann\tLee  "]
LINKS = UrlLinks(BASE_URL)


class Wire:
    """A sesv2 client whose calls stop at the wire: each body kept, a canned answer given."""

    def __init__(self, *, validation: bool = False) -> None:
        self.client = boto3.client(
            "sesv2", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="y",
            config=Config(parameter_validation=validation),
        )
        self.bodies: list[bytes] = []
        self.status = 200
        self.answer: Callable[[int], dict[str, Any]] = lambda count: {
            "BulkEmailEntryResults": [
                {"Status": "SUCCESS", "MessageId": f"m-{n}"} for n in range(count)
            ]
        }
        self.client.meta.events.register("before-send.sesv2.SendBulkEmail", self._send)

    def _send(self, request: Any, **_: Any) -> AWSResponse:
        self.bodies.append(request.body)
        count = len(json.loads(request.body)["BulkEmailEntries"])
        answer = json.dumps(self.answer(count)).encode()

        class Raw:
            def stream(self, *args: Any, **kwargs: Any) -> Iterator[bytes]:
                yield answer

        return AWSResponse(request.url, self.status, {"content-type": "application/json"}, Raw())


def _variant(july_edition: EditionContent) -> Variant:
    return compile_variant(july_edition, set(TOPICS), "zh-CN", settings=make_settings())


def _readers(reader: Callable[..., Recipient], **changes: object) -> list[BatchEntry]:
    return [BatchEntry(n, reader(name=name, **changes)) for n, name in enumerate(NAMES, 1)]


def _botocore_body(client: Any, request: dict[str, Any]) -> bytes:
    serializer = botocore.serialize.create_serializer("rest-json", include_validation=False)
    model = client.meta.service_model.operation_model("SendBulkEmail")
    serialized: bytes = serializer.serialize_to_request(request, model)["body"]
    return serialized


@pytest.mark.parametrize("form", ["tokens", "slots"])
@pytest.mark.parametrize("validation", [False, True])
def test_the_body_sent_is_botocores_for_the_same_request(
    july_edition: EditionContent, reader: Callable[..., Recipient], form: str, validation: bool
) -> None:
    wire = Wire(validation=validation)
    batch = SesBulkBatch(wire.client, "yuebao")
    if form == "slots":
        batch.token_form = lambda *args: None  # type: ignore[method-assign]
    variant = _variant(july_edition)
    entries = _readers(reader)
    request = batch.request(variant, entries, LINKS)

    results = batch.send_batch(variant, entries, LINKS)

    assert [r.message_id for r in results] == ["m-0", "m-1", "m-2", "m-3"]
    assert [r.status for r in results] == ["SUCCESS"] * 4
    assert wire.bodies == [_botocore_body(wire.client, request)]
    report = ParamValidator().validate(
        request, wire.client.meta.service_model.operation_model("SendBulkEmail").input_shape
    )
    assert not report.has_errors(), report.generate_report()


def test_other_calls_are_botocores_own(july_edition: EditionContent) -> None:
    wire = Wire()
    SesBulkBatch(wire.client)
    wire.client.send_bulk_email(
        DefaultContent={"Template": {"TemplateName": "t"}},
        BulkEmailEntries=[{"Destination": {"ToAddresses": ["a@example.com"]}}],
    )
    assert json.loads(wire.bodies[0]) == {
        "DefaultContent": {"Template": {"TemplateName": "t"}},
        "BulkEmailEntries": [{"Destination": {"ToAddresses": ["a@example.com"]}}],
    }


def test_an_error_answer_is_still_classified_by_its_code(
    july_edition: EditionContent, reader: Callable[..., Recipient]
) -> None:
    wire = Wire()
    wire.status = 400
    wire.answer = lambda count: {"__type": "MessageRejected",
                                 "message": "Email address is not verified."}
    with pytest.raises(Rejected, match="not verified"):
        SesBulkBatch(wire.client).send_batch(_variant(july_edition), _readers(reader), LINKS)


def test_an_answer_not_in_the_expected_shape_is_left_to_botocore() -> None:
    for status, answer in [(400, b'{"BulkEmailEntryResults": []}'), (200, b"not json"),
                           (200, b'{"BulkEmailEntryResults": "x"}'),
                           (200, b'{"BulkEmailEntryResults": ["x"]}')]:
        response = {"status_code": status, "body": answer}
        customized: dict[str, Any] = {}
        _read_answer(response_dict=response, customized_response_dict=customized)
        assert (response, customized) == ({"status_code": status, "body": answer}, {})
    response = {"status_code": 200, "body": b'{"BulkEmailEntryResults": [{"Status": "S"}]}'}
    _read_answer(response_dict=response, customized_response_dict=customized)
    assert (response["body"], customized) == (b"{}", {"BulkEmailEntryResults": [{"Status": "S"}]})


ODD = ['王小明 "x" \\ {{y}}', "a\tb\u2028c", "", "é</script>"]


def test_head_and_entries_written_directly_are_json_dumps_of_the_request() -> None:
    head = {"FromEmailAddress": "a@example.com", "DefaultContent": {"Template": {}}}
    args = [(f"r{n}@example.org", ("delivery", str(n)), odd, f"<https://x/u/{n}>")
            for n, odd in enumerate(ODD)]
    texts = [entry_text(*a) for a in args]
    assert texts == [encode(entry(*a)) for a in args]
    assert body(head_text(head), texts) == encode(
        {**head, "BulkEmailEntries": [entry(*a) for a in args]}).encode()
    with pytest.raises(ValueError):
        head_text({**head, "BulkEmailEntries": []})


@pytest.mark.parametrize("shared", [True, False])
def test_a_readers_token_data_written_directly_is_its_json(
    reader: Callable[..., Recipient], shared: bool
) -> None:
    for html, text in zip(ODD, reversed(ODD), strict=True):
        recipient = reader(name=text)
        assert token_json(html, text, recipient, shared) == json.dumps(
            token_data(html, text, recipient, shared), ensure_ascii=False, separators=(",", ":"))


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"headers": (("X-Long", "a" * 996),)}, "1 to 995 printable ASCII"),
        ({"headers": (("X-Empty", ""),)}, "X-Empty header"),
        ({"headers": tuple((f"X-H{n}", "v") for n in range(16))}, "at most 15"),
        ({"headers": (("Bad:Name", "v"),)}, "header name"),
        ({"tags": (("edition", ""),)}, "tag value"),
        ({"sender": ""}, "no sender"),
    ],
)
def test_a_variant_ses_would_refuse_fails_its_call_before_anything_is_sent(
    july_edition: EditionContent, reader: Callable[..., Recipient], change: dict[str, Any],
    error: str,
) -> None:
    wire = Wire()
    variant = dataclasses.replace(_variant(july_edition), **change)
    with pytest.raises(Unbuildable, match=error):
        SesBulkBatch(wire.client).send_batch(variant, _readers(reader), LINKS)
    assert wire.bodies == []


def test_a_reader_ses_would_refuse_fails_alone(
    july_edition: EditionContent, reader: Callable[..., Recipient]
) -> None:
    wire = Wire()
    entries = [BatchEntry(1, reader()), BatchEntry(2, reader(email="bad\nx@example.org")),
               BatchEntry(3, reader())]
    results = SesBulkBatch(wire.client).send_batch(_variant(july_edition), entries, LINKS)
    assert [r.status for r in results] == ["SUCCESS", "UNBUILDABLE", "SUCCESS"]
    assert len(json.loads(wire.bodies[0])["BulkEmailEntries"]) == 2


def test_the_checks_name_what_is_wrong() -> None:
    check_headers([{"Name": "List-Id", "Value": "<a.example.com>"}], "x")
    check_tags([{"Name": "delivery", "Value": "12"}], "x")
    check_template_data("a" * MAX_TEMPLATE_DATA, "x")
    with pytest.raises(MessageUnbuildable, match=r"reader@example\.org: template data of 262145"):
        check_template_data("a" * (MAX_TEMPLATE_DATA + 1), "reader@example.org")
    with pytest.raises(MessageUnbuildable, match="tag name"):
        check_tags([{"Name": "a b", "Value": "1"}], "x")
    with pytest.raises(MessageUnbuildable, match="List-Id header"):
        check_headers([{"Name": "List-Id", "Value": "月报"}], "x")
