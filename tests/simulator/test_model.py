"""Requests are checked against botocore's own sesv2 model, member by member."""

from __future__ import annotations

import base64
import copy
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from botocore.model import ListShape, Shape, StringShape, StructureShape

from tests.simulator.conftest import SENDER, bulk_email, ses_client, simple_email
from tests.tools.ses_simulator import SesSimulator
from tests.tools.ses_simulator.model import (
    SUPPORTED_OPERATIONS,
    input_shape,
    operation,
    route,
    validate,
)

pytestmark = pytest.mark.servers  # starts servers or processes: not under libfaketime

Path = tuple[str | int, ...]

HEADERS = [{"Name": "X-Edition", "Value": "2024-07"}]
ATTACHMENT = {
    "RawContent": base64.b64encode(b"%PDF-1.4").decode(),
    "FileName": "report.pdf",
    "ContentDisposition": "ATTACHMENT",
    "ContentType": "application/pdf",
}
COMMON: dict[str, Any] = {
    "ReplyToAddresses": ["reply@example.com"],
    "ConfigurationSetName": "yuebao",
    "ConfigurationOverrides": {"Tracking": {"OpenTrackingEnabled": "DISABLED"}},
}
RAW = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: s\r\n\r\nbody\r\n"


def samples() -> dict[str, dict[str, Any]]:
    """A rich valid request for every request shape the simulator accepts."""
    send_simple = simple_email("a@example.com", EmailTags=[{"Name": "d", "Value": "1"}], **COMMON)
    send_simple["Content"]["Simple"]["Headers"] = HEADERS
    send_simple["Content"]["Simple"]["Attachments"] = [ATTACHMENT]
    send_simple["ListManagementOptions"] = {"ContactListName": "readers", "TopicName": "policy"}
    send_template = {
        "FromEmailAddress": SENDER,
        "Destination": {"ToAddresses": ["a@example.com"], "CcAddresses": ["c@example.com"]},
        "Content": {
            "Template": {
                "TemplateContent": {"Subject": "{{s}}", "Text": "t", "Html": "h"},
                "TemplateData": '{"s": "x"}',
                "Headers": HEADERS,
            }
        },
    }
    bulk = bulk_email(["a@example.com", "b@example.com"], **COMMON)
    bulk["DefaultEmailTags"] = [{"Name": "edition", "Value": "2024-07"}]
    bulk["DefaultContent"]["Template"]["Headers"] = HEADERS
    bulk["BulkEmailEntries"][0]["ReplacementHeaders"] = HEADERS
    bulk["BulkEmailEntries"][0]["ReplacementTags"] = [{"Name": "delivery", "Value": "1"}]
    return {
        "GetAccount": {},
        "SendEmail:Simple": send_simple,
        "SendEmail:Raw": {"Content": {"Raw": {"Data": base64.b64encode(RAW).decode()}}},
        "SendEmail:Template": send_template,
        "SendBulkEmail": bulk,
    }


def required_members(shape: Shape, value: Any, path: Path = ()) -> Iterator[Path]:
    """Every required member present in `value`, walking the shape through the sample."""
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name in shape.required_members:
            yield (*path, name)
        for name, member in shape.members.items():
            if name in value:
                yield from required_members(member, value[name], (*path, name))
    elif isinstance(shape, ListShape) and isinstance(value, list):
        for index, item in enumerate(value):
            yield from required_members(shape.member, item, (*path, index))


def leaves(shape: Shape, value: Any, path: Path = ()) -> Iterator[tuple[Path, Shape]]:
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                yield from leaves(member, value[name], (*path, name))
    elif isinstance(shape, ListShape) and isinstance(value, list):
        yield path, shape
        for index, item in enumerate(value):
            yield from leaves(shape.member, item, (*path, index))
    else:
        yield path, shape


def replaced(request: dict[str, Any], path: Path, new: Any = None) -> dict[str, Any]:
    """A copy of `request` with the member at `path` removed (new is None) or replaced."""
    changed = copy.deepcopy(request)
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    if new is None:
        del target[path[-1]]
    else:
        target[path[-1]] = new
    return changed


def dotted(path: Path) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text


def post(sim: SesSimulator, op: str, body: dict[str, Any] | bytes) -> tuple[int, dict[str, Any]]:
    """A raw HTTP request, as botocore would send it but without its client-side checks."""
    http = operation(op).http
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        sim.endpoint_url + http["requestUri"],
        data=data if http["method"] != "GET" else None,
        method=http["method"],
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        payload = json.loads(error.read() or b"{}")
        payload["type"] = error.headers.get("x-amzn-ErrorType")
        return error.code, payload


@pytest.mark.parametrize("name", sorted(samples()))
def test_samples_are_valid_and_accepted(sim: SesSimulator, name: str) -> None:
    op = name.split(":")[0]
    request = samples()[name]
    assert validate(input_shape(op), request) == []
    status, _ = post(sim, op, request)
    assert status == 200


@pytest.mark.parametrize("name", sorted(samples()))
def test_every_missing_required_member_is_a_bad_request_naming_it(
    sim: SesSimulator, name: str
) -> None:
    op = name.split(":")[0]
    request = samples()[name]
    paths = list(required_members(input_shape(op), request))
    assert paths or op == "GetAccount"
    for path in paths:
        status, body = post(sim, op, replaced(request, path))
        assert status == 400, path
        assert body["type"] == "BadRequestException"
        assert f"Value null at '{dotted(path)}'" in body["message"], body["message"]
    assert sim.messages == []


@pytest.mark.parametrize("name", sorted(samples()))
def test_every_wrongly_typed_member_is_a_bad_request_naming_it(
    sim: SesSimulator, name: str
) -> None:
    op = name.split(":")[0]
    request = samples()[name]
    checked = 0
    for path, shape in leaves(input_shape(op), request):
        if not path:
            continue
        wrong: Any = 12345 if shape.type_name in ("string", "blob", "list") else "wrong"
        if isinstance(shape, StringShape) and shape.enum:
            wrong = "NOT_IN_THE_ENUM"
        status, body = post(sim, op, replaced(request, path, wrong))
        assert status == 400, (path, body)
        assert f"'{dotted(path)}'" in body["message"], body["message"]
        checked += 1
    assert checked > 0 or op == "GetAccount"


def test_length_and_pattern_constraints_come_from_the_model(sim: SesSimulator) -> None:
    request = samples()["SendEmail:Simple"]
    many = [{"Name": f"X-H{i}", "Value": "v"} for i in range(16)]
    too_many = replaced(request, ("Content", "Simple", "Headers"), many)
    status, body = post(sim, "SendEmail", too_many)
    assert status == 400
    assert "length less than or equal to 15" in body["message"]
    bad_name = replaced(request, ("Content", "Simple", "Headers"), [{"Name": "A:B", "Value": "v"}])
    status, body = post(sim, "SendEmail", bad_name)
    assert status == 400
    assert "Content.Simple.Headers[0].Name' failed to satisfy constraint" in body["message"]
    assert "regular expression pattern" in body["message"]


def test_botocore_parses_the_error_into_code_and_message(sim: SesSimulator) -> None:
    unchecked = ses_client(sim, parameter_validation=False)
    with pytest.raises(ClientError) as caught:
        unchecked.send_email(FromEmailAddress=SENDER)  # type: ignore[call-arg]
    error = caught.value.response["Error"]
    assert error["Code"] == "BadRequestException"
    assert error["Message"] == (
        "1 validation error detected: Value null at 'Content' failed to satisfy constraint: "
        "Member must not be null"
    )
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_invalid_json_is_a_bad_request(sim: SesSimulator) -> None:
    status, body = post(sim, "SendEmail", b"{not json")
    assert (status, body["type"]) == (400, "BadRequestException")


def test_routes_are_the_models_request_uris() -> None:
    for op in SUPPORTED_OPERATIONS:
        http = operation(op).http
        assert route(http["method"], http["requestUri"]) == op
    assert route("GET", "/v2/email/outbound-emails") is None
    assert route("GET", "/v2/email/identities/example.com") == "GetEmailIdentity"


def test_unknown_paths_and_unsupported_operations_are_404(sim: SesSimulator) -> None:
    request = urllib.request.Request(sim.endpoint_url + "/v2/email/nothing-here", method="GET")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 404
    with pytest.raises(ClientError) as unsupported:
        ses_client(sim).list_email_identities()
    assert unsupported.value.response["Error"]["Code"] == "UnknownOperationException"
    assert unsupported.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
