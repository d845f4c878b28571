"""SendBulkEmail's JSON body, written here instead of by botocore's serializer, and the checks
that stand in for botocore's parameter validation.

botocore walks every member of a request against the service model before encoding it: for a
50-reader call that walk cost more CPU than all of our own work on the call. Our requests hold
only strings, lists and structures under the model's own member names (nothing renamed, no
blob, timestamp or number), so the JSON botocore would send is `json.dumps` of the request
as it is; tests hold the two byte for byte. The part shared by a call's readers (the template,
headers, tags) is encoded once per variant; each reader's part is encoded as it comes.

The body reaches botocore through its events (`attach`, `params`): `before-parameter-build`
moves it out of the call's parameters into the request's context, botocore validates (if the
client does) and serializes what is left — the two required members, empty — and `before-call`
puts the body in place of that. Endpoint, signing, sending and errors stay botocore's. A
successful answer's 50 results are read with `json.loads` in `before-parse` (botocore's parser
walks them against the model at several times the cost); anything else is left to botocore.

So botocore never checks the real parameters; the checks here refuse, before anything leaves,
what its validator refused (a required value missing or empty) and what SES refuses that it
never checked (header names and values, their number, the template data's size): a reader who
cannot be written fails alone, a variant that cannot be written fails its call, and neither
reaches SES as a BadRequest, which would pause the send.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

from emails.mime import MessageUnbuildable

# SES v2's limits, from its API model (MessageHeader, MessageHeaderList, EmailTemplateData).
MAX_HEADERS = 15
MAX_HEADER_VALUE = 995
MAX_TEMPLATE_DATA = 262_144
_HEADER_NAME = re.compile(r"[!-9;-~]{1,126}")  # printable ASCII but ':', as the model's pattern
_HEADER_VALUE = re.compile(rf"[ -~]{{1,{MAX_HEADER_VALUE}}}")
_TAG = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what SES allows in tag names and values

# botocore's own encoding of a JSON body: json.dumps with its default options.
encode = json.JSONEncoder().encode
_string = encode_basestring_ascii  # what it does with a string

BODY = "PreparedBody"  # the call parameter that carries a prepared body; no SES member is named so
ENTRIES = "BulkEmailEntries"
RESULTS = "BulkEmailEntryResults"


def check_headers(headers: Sequence[dict[str, str]], where: str) -> None:
    """MessageUnbuildable unless SES takes these as a message's headers."""
    if len(headers) > MAX_HEADERS:
        raise MessageUnbuildable(
            f"{where}: {len(headers)} headers; SES takes at most {MAX_HEADERS}"
        )
    for header in headers:
        name, value = header["Name"], header["Value"]
        if not _HEADER_NAME.fullmatch(name):
            raise MessageUnbuildable(f"{where}: {name[:80]!r} cannot be a header name on SES")
        if not _HEADER_VALUE.fullmatch(value):
            raise MessageUnbuildable(
                f"{where}: the {name} header must be 1 to {MAX_HEADER_VALUE} printable ASCII "
                f"characters; it is {len(value)}: {value[:80]!r}"
            )


def check_tags(tags: Sequence[dict[str, str]], where: str) -> None:
    for tag in tags:
        for part in ("Name", "Value"):
            if not _TAG.fullmatch(tag[part]):
                raise MessageUnbuildable(
                    f"{where}: tag {part.lower()} {tag[part][:80]!r} must be 1 to 256 ASCII "
                    "letters, digits, '_' or '-'"
                )


def check_template_data(data: str, where: str) -> None:
    if len(data) > MAX_TEMPLATE_DATA:
        raise MessageUnbuildable(
            f"{where}: template data of {len(data)} characters; SES takes at most "
            f"{MAX_TEMPLATE_DATA}"
        )


def check_head(head: dict[str, Any]) -> None:
    """The part of a SendBulkEmail request its readers share: what botocore's validator and
    SES require of it. MessageUnbuildable names what is wrong."""
    if not head.get("FromEmailAddress"):
        raise MessageUnbuildable("the call has no sender")
    template = head["DefaultContent"]["Template"]
    content = template["TemplateContent"]
    if not all(isinstance(content.get(part), str) for part in ("Subject", "Html", "Text")):
        raise MessageUnbuildable("the template needs a subject, an HTML and a text part")
    check_template_data(template["TemplateData"], "the default template data")
    check_headers(template["Headers"], "the variant")
    check_tags(head.get("DefaultEmailTags", []), "the variant")


def head_text(head: dict[str, Any]) -> bytes:
    """The JSON body of a request made of `head` and entries, up to the first entry: botocore
    would write `head`'s members first, in order, then the entries (the last member)."""
    if ENTRIES in head:
        raise ValueError("the head of a request holds no entries")
    return (encode(head)[:-1] + f', "{ENTRIES}": [').encode("ascii")


def entry(to: str, tag: tuple[str, str], data: str, unsubscribe: str) -> dict[str, Any]:
    """One destination: its address, its own tag, template data and List-Unsubscribe."""
    return {
        "Destination": {"ToAddresses": [to]},
        "ReplacementTags": [{"Name": tag[0], "Value": tag[1]}],
        "ReplacementEmailContent": {"ReplacementTemplate": {"ReplacementTemplateData": data}},
        "ReplacementHeaders": [{"Name": "List-Unsubscribe", "Value": unsubscribe}],
    }


_ENTRY = (
    '{"Destination": {"ToAddresses": [%s]}, "ReplacementTags": [{"Name": %s, "Value": %s}], '
    '"ReplacementEmailContent": {"ReplacementTemplate": {"ReplacementTemplateData": %s}}, '
    '"ReplacementHeaders": [{"Name": "List-Unsubscribe", "Value": %s}]}'
)


def entry_text(to: str, tag: tuple[str, str], data: str, unsubscribe: str) -> str:
    """`encode(entry(...))`, written directly: only the values are encoded (a third of the CPU)."""
    return _ENTRY % (_string(to), _string(tag[0]), _string(tag[1]), _string(data),
                     _string(unsubscribe))


def body(head: bytes, entries: list[str]) -> bytes:
    """The whole JSON body from `head_text` and `entry_text`s, as botocore would write
    `{**head, ENTRIES: [entry(...), ...]}`."""
    return b"".join((head, ", ".join(entries).encode("ascii"), b"]}"))


def attach(client: Any) -> None:
    """Let `client.send_bulk_email(**params(body))` send that body as the request's, and read
    its successful answers."""
    events = client.meta.events
    events.register("before-parse.sesv2.SendBulkEmail", _read_answer,
                    unique_id="yuebao-bulk-answer")
    events.register("before-parameter-build.sesv2.SendBulkEmail", _take_body,
                    unique_id="yuebao-prepared-body-take")
    events.register("before-call.sesv2.SendBulkEmail", _put_body,
                    unique_id="yuebao-prepared-body-put")


def params(prepared: bytes) -> dict[str, Any]:
    """The call's parameters that send `prepared` as its body: the required members, empty,
    so that a client which validates parameters lets the call through."""
    return {BODY: prepared, "DefaultContent": {}, ENTRIES: []}


def _take_body(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    prepared = params.pop(BODY, None)
    if prepared is not None:
        context[BODY] = prepared


def _put_body(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    prepared = context.pop(BODY, None)
    if prepared is not None:
        params["body"] = prepared


def _read_answer(response_dict: dict[str, Any], customized_response_dict: dict[str, Any],
                 **_: Any) -> None:
    """A 2xx answer holding a list of result objects: taken as it is, and botocore given an
    empty object to parse. Errors and anything unexpected are botocore's to parse."""
    if not 200 <= response_dict.get("status_code", 0) < 300:
        return
    try:
        answer = json.loads(response_dict["body"])
    except (KeyError, TypeError, ValueError):
        return
    results = answer.get(RESULTS) if isinstance(answer, dict) else None
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        return
    customized_response_dict[RESULTS] = results
    response_dict["body"] = b"{}"
