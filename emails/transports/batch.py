"""Sending one variant to many readers in one call: SES SendBulkEmail, or outbox files.

The SES path turns a compiled variant into an inline SES template once, and each reader into
`ReplacementTemplateData` (their slot values), `ReplacementHeaders` (their own
List-Unsubscribe) and `ReplacementTags` (the delivery id), so a call carries 50 readers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from emails.cache import Recent
from emails.content import Links, Recipient
from emails.edition import Variant
from emails.fill import ReaderValues, fill, reader_values
from emails.mime import MessageUnbuildable
from emails.slots import SlotTemplate
from emails.transports.errors import (
    UNBUILDABLE,
    AnswerUnknown,
    Transient,
    Unbuildable,
    classify_client_error,
)
from emails.transports.ses import address, header_value, tag_text

if TYPE_CHECKING:
    from types_boto3_sesv2.client import SESV2Client

    from emails.transports import Transport

SES_MAX_DESTINATIONS = 50
DELIVERY_TAG = "delivery"
# Handlebars (SES's template language) would read `{{` in what an editor wrote as a
# placeholder; every literal `{` is sent as this variable instead, so content stays content.
_BRACE = "ob"


@dataclass(frozen=True)
class BatchEntry:
    delivery_id: int
    recipient: Recipient


@dataclass(frozen=True)
class EntryResult:
    status: str  # SES BulkEmailStatus; the outbox answers SUCCESS
    message_id: str | None = None
    error: str | None = None
    file: str | None = None  # the outbox file written for this entry


class BatchTransport(Protocol):
    max_batch: int

    def send_batch(
        self, variant: Variant, entries: Sequence[BatchEntry], links: Links
    ) -> list[EntryResult]:
        """One result per entry, in order; raises a TransportError when the whole call fails."""
        ...


class Handover(Protocol):
    """What a transport that answers reader by reader (SMTP) tells the engine as it goes."""

    def handing_over(self, entry: BatchEntry) -> bool:
        """This reader's message is about to go: record it in doubt (committed). False when
        the reader is no longer this worker's to send; the transport then skips it."""
        ...

    def handed_over(self, entry: BatchEntry, result: EntryResult) -> None:
        """The server took this reader's message: record it sent (committed)."""
        ...


@runtime_checkable
class StepwiseBatch(Protocol):
    """A batch transport whose readers go one at a time, each answered on its own: the engine
    marks each in doubt just before it goes instead of the whole chunk before the call."""

    max_batch: int

    def send_each(
        self, variant: Variant, entries: Sequence[BatchEntry], links: Links, handover: Handover
    ) -> list[EntryResult]: ...


class SingleMessageBatch:
    """Any one-message transport (the outbox) used one reader at a time."""

    max_batch = SES_MAX_DESTINATIONS

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def send_batch(
        self, variant: Variant, entries: Sequence[BatchEntry], links: Links
    ) -> list[EntryResult]:
        results = []
        for entry in entries:
            try:
                message = fill(variant, entry.recipient, links)
                message = replace(
                    message, tags={**message.tags, DELIVERY_TAG: str(entry.delivery_id)}
                )
                sent = self.transport.send(message)
            except MessageUnbuildable as error:  # this reader's message only; nothing left
                results.append(EntryResult(UNBUILDABLE, error=str(error)))
                continue
            results.append(EntryResult("SUCCESS", sent.message_id, file=sent.file))
        return results


def _escape_braces(text: str) -> str:
    return text.replace("{", "{{{" + _BRACE + "}}}")


def _template_text(
    template: SlotTemplate, prefix: str, shared: frozenset[str] = frozenset()
) -> str:
    parts = [_escape_braces(p) for p in template.parts]
    for index, name in template.positions:
        parts[index] = "{{{" + ("h_" if name in shared else prefix) + name + "}}}"
    return "".join(parts)


def ses_template(variant: Variant, shared: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The variant as SES TemplateContent; slots become unescaped `{{{h_x}}}`/`{{{t_x}}}`
    because their values are escaped (HTML) or plain (text) already. Text slots in `shared`
    take the HTML value (`{{{h_x}}}`): it is the same for every reader of the call."""
    return {
        "Subject": _escape_braces(variant.subject),
        "Html": _template_text(variant.html, "h_"),
        "Text": _template_text(variant.text, "t_", shared),
    }


def shared_slots(readers: Sequence[ReaderValues]) -> frozenset[str]:
    """Text slots whose value equals the HTML slot's for every reader given.

    Tracked links, tokens and most greetings need no escaping, so a reader's click URLs were
    sent twice, once per part: half of every reader's template data. They go once, and only
    where escaping changed nothing for all of a call's readers."""
    names = set(readers[0].text) if readers else set()
    for values in readers:
        names = {n for n in names if values.text[n] == values.html.get(n)}
    return frozenset(names)


def _bulk_entry(entry: BatchEntry, values: ReaderValues, shared: frozenset[str]) -> dict[str, Any]:
    """One destination: its slot values, its own List-Unsubscribe, its delivery tag."""
    data = {f"h_{k}": v for k, v in values.html.items()}
    data.update({f"t_{k}": v for k, v in values.text.items() if k not in shared})
    data[_BRACE] = "{"
    return {
        "Destination": {"ToAddresses": [address(entry.recipient.email)]},
        "ReplacementTags": [{"Name": DELIVERY_TAG, "Value": str(entry.delivery_id)}],
        "ReplacementEmailContent": {
            "ReplacementTemplate": {
                "ReplacementTemplateData": json.dumps(data, ensure_ascii=False)
            }
        },
        "ReplacementHeaders": [
            {
                "Name": "List-Unsubscribe",
                "Value": header_value("List-Unsubscribe", values.list_unsubscribe),
            }
        ],
    }


TEMPLATE_CACHE = 16  # variants' SES templates kept (~100 KB each)


class SesBulkBatch:
    """SendBulkEmail with an inline template per variant (compiled to SES form once)."""

    max_batch = SES_MAX_DESTINATIONS

    def __init__(self, client: SESV2Client, configuration_set: str | None = None) -> None:
        self.client = client
        self.configuration_set = configuration_set
        self._templates: Recent[tuple[str, str, frozenset[str]], dict[str, Any]] = Recent(
            TEMPLATE_CACHE
        )

    def request(
        self, variant: Variant, entries: Sequence[BatchEntry], links: Links
    ) -> dict[str, Any]:
        readers = [reader_values(variant, entry.recipient, links) for entry in entries]
        return self._request(variant, entries, readers)

    def _request(
        self, variant: Variant, entries: Sequence[BatchEntry], readers: Sequence[ReaderValues]
    ) -> dict[str, Any]:
        if "\r" in variant.subject or "\n" in variant.subject:  # as the mail library refuses
            raise MessageUnbuildable("the subject holds a line break")
        shared = shared_slots(readers)
        content = self._templates.get(
            (variant.month, variant.key, shared), lambda: ses_template(variant, shared)
        )
        template: dict[str, Any] = {
            "TemplateContent": content,
            "TemplateData": json.dumps({_BRACE: "{"}),
            "Headers": [
                {"Name": name, "Value": header_value(name, value)}
                for name, value in variant.headers
            ],
        }
        request: dict[str, Any] = {
            "FromEmailAddress": address(variant.sender),
            "DefaultContent": {"Template": template},
            "DefaultEmailTags": [
                {"Name": tag_text(n), "Value": tag_text(v)} for n, v in variant.tags
            ],
            "BulkEmailEntries": [
                _bulk_entry(entry, values, shared)
                for entry, values in zip(entries, readers, strict=True)
            ],
        }
        if variant.reply_to:
            request["ReplyToAddresses"] = [address(variant.reply_to)]
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        return request

    def send_batch(
        self, variant: Variant, entries: Sequence[BatchEntry], links: Links
    ) -> list[EntryResult]:
        if len(entries) > self.max_batch:
            raise ValueError(f"at most {self.max_batch} destinations per SendBulkEmail call")
        # A reader whose own part cannot be written fails alone; one the variant's part
        # cannot be written for (its headers, its sender) fails the whole call.
        answers: list[EntryResult | None] = [None] * len(entries)
        going: list[tuple[int, BatchEntry, ReaderValues]] = []
        for index, entry in enumerate(entries):
            try:
                values = reader_values(variant, entry.recipient, links)
                address(entry.recipient.email)
                header_value("List-Unsubscribe", values.list_unsubscribe)
            except MessageUnbuildable as error:
                answers[index] = EntryResult(UNBUILDABLE, error=str(error))
            else:
                going.append((index, entry, values))
        if not going:
            return [answer for answer in answers if answer is not None]
        try:
            request = self._request(
                variant, [entry for _, entry, _ in going], [values for _, _, values in going]
            )
        except MessageUnbuildable as error:
            raise Unbuildable(str(error)) from error
        for index, answer in zip(
            (index for index, _, _ in going), self._call(request, len(going)), strict=True
        ):
            answers[index] = answer
        return [answer for answer in answers if answer is not None]

    def _call(self, request: dict[str, Any], count: int) -> list[EntryResult]:
        try:
            response = self.client.send_bulk_email(**request)
        except ClientError as error:
            raise classify_client_error(dict(error.response)) from error
        except (ConnectTimeoutError, EndpointConnectionError) as error:
            raise Transient(f"could not reach SES: {error}") from error
        except (ReadTimeoutError, ConnectionClosedError) as error:
            raise AnswerUnknown(f"no answer from SES: {error}") from error
        results = response.get("BulkEmailEntryResults", [])
        if len(results) != count:
            raise AnswerUnknown(f"SES answered {len(results)} results for {count} entries")
        return [
            EntryResult(r.get("Status", "FAILED"), r.get("MessageId"), r.get("Error"))
            for r in results
        ]
