"""Sending one variant to many readers in one call: SES SendBulkEmail, or outbox files.

The SES path turns a compiled variant into an inline SES template once
(emails.transports.bulk_template), and each reader into `ReplacementTemplateData` (their
greeting and tokens, or every slot's value), `ReplacementHeaders` (their own List-Unsubscribe)
and `ReplacementTags` (the delivery id), so a call carries 50 readers.
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
from emails.fill import ReaderValues, fill, greeting, reader_values
from emails.mime import MessageUnbuildable, list_unsubscribe
from emails.transports.bulk_body import (
    ENTRIES,
    attach,
    body,
    check_head,
    check_template_data,
    entry_text,
    head_text,
    params,
)
from emails.transports.bulk_body import entry as bulk_entry
from emails.transports.bulk_template import (
    BRACE,
    GREETING,
    TokenForm,
    shared_slots,
    slots_data,
    slots_template,
    token_form,
    token_json,
    token_reader,
)
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


# One encoder for every reader: json.dumps builds a new one per call when given options.
_template_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@dataclass(frozen=True, slots=True)
class OwnPart:
    """A reader's own part of a call, checked: their values, and their address and
    List-Unsubscribe as SES takes them."""

    values: ReaderValues
    to: str
    unsubscribe: str


def own_part(variant: Variant, recipient: Recipient, links: Links, form: TokenForm | None
             ) -> OwnPart:
    """The reader's own values: every slot (slots form) or only the greeting (token form).
    MessageUnbuildable when their address or List-Unsubscribe cannot be written."""
    if form is None:
        values = reader_values(variant, recipient, links)
    else:
        if recipient.language != variant.language:  # as reader_values refuses
            raise ValueError(f"{recipient.language} reader given a {variant.language} variant")
        html, text = greeting(variant, recipient)
        unsubscribe = links.unsubscribe(recipient.subscriber_token)
        values = ReaderValues(
            html={GREETING: html}, text={GREETING: text},
            list_unsubscribe=list_unsubscribe(unsubscribe, variant.unsubscribe_mailto),
        )
    return OwnPart(values, address(recipient.email),
                   header_value("List-Unsubscribe", values.list_unsubscribe))


def entry_data(values: ReaderValues, recipient: Recipient, form: TokenForm | None,
               shared: frozenset[str]) -> str:
    """The reader's ReplacementTemplateData in the call's form (JSON); MessageUnbuildable
    when it is more than SES takes."""
    if form is None:
        text = _template_json(slots_data(values, shared))
    else:
        text = token_json(values.html[GREETING], values.text[GREETING], recipient,
                          GREETING in shared)
    check_template_data(text, recipient.email)
    return text


def _bulk_entry(entry: BatchEntry, own: OwnPart, data: str) -> dict[str, Any]:
    """One destination: its template data, its own List-Unsubscribe, its delivery tag."""
    return bulk_entry(own.to, (DELIVERY_TAG, str(entry.delivery_id)), data, own.unsubscribe)


TEMPLATE_CACHE = 16  # variants' SES templates kept (~100 KB each)


@dataclass(frozen=True)
class _Head:
    """What a call's readers share, checked once: as parameters, and as the start of the
    JSON body botocore would write for them (emails.transports.bulk_body)."""

    variant: Variant
    form: TokenForm | None
    params: dict[str, Any]
    text: bytes


class SesBulkBatch:
    """SendBulkEmail with an inline template per variant (made into SES form once).

    Readers who agree on tracking get the token form (emails.transports.bulk_template): a call
    then carries the template once and, per reader, little more than two tokens. The JSON body
    is written here, not by botocore (emails.transports.bulk_body)."""

    max_batch = SES_MAX_DESTINATIONS

    def __init__(self, client: SESV2Client, configuration_set: str | None = None) -> None:
        self.client = client
        self.configuration_set = configuration_set
        self._templates: Recent[tuple[str, str, frozenset[str]], tuple[Variant, dict[str, Any]]] = (
            Recent(TEMPLATE_CACHE)
        )
        self._forms: Recent[tuple[str, str, bool], tuple[Variant, Links, TokenForm | None]] = (
            Recent(TEMPLATE_CACHE)
        )
        self._heads: Recent[tuple[str, str, int, frozenset[str]], _Head] = Recent(TEMPLATE_CACHE)
        attach(client)

    def token_form(self, variant: Variant, entries: Sequence[BatchEntry], links: Links
                   ) -> TokenForm | None:
        """The token form for these readers, if they all can take it."""
        if not entries:
            return None
        tracked = {e.recipient.tracking and e.recipient.delivery_token is not None
                   for e in entries}
        if len(tracked) != 1 or not all(token_reader(e.recipient) for e in entries):
            return None
        key = (variant.month, variant.key, tracked.pop())

        def make() -> tuple[Variant, Links, TokenForm | None]:
            return variant, links, token_form(variant, links, key[2])

        made_for, made_with, form = self._forms.get(key, make)
        if made_for is not variant or made_with is not links:  # recompiled since (branding)
            made_for, made_with, form = self._forms.replace(key, make)
        return form

    def request(
        self, variant: Variant, entries: Sequence[BatchEntry], links: Links
    ) -> dict[str, Any]:
        """The SendBulkEmail parameters for these readers, as botocore would take them."""
        form = self.token_form(variant, entries, links)
        own = [own_part(variant, entry.recipient, links, form) for entry in entries]
        shared = shared_slots([part.values for part in own])
        data = [entry_data(part.values, entry.recipient, form, shared)
                for entry, part in zip(entries, own, strict=True)]
        head = self._head(variant, form, shared)
        return {**head.params, ENTRIES: [
            _bulk_entry(entry, part, text) for entry, part, text in zip(entries, own, data,
                                                                        strict=True)
        ]}

    def _template(self, variant: Variant, form: TokenForm | None, shared: frozenset[str]
                  ) -> dict[str, Any]:
        if form is not None:
            return form.content(GREETING in shared)
        key = (variant.month, variant.key, shared)

        def make() -> tuple[Variant, dict[str, Any]]:
            return variant, slots_template(variant, shared)

        made_for, content = self._templates.get(key, make)
        if made_for is not variant:  # recompiled since (branding)
            made_for, content = self._templates.replace(key, make)
        return content

    def _head(self, variant: Variant, form: TokenForm | None, shared: frozenset[str]) -> _Head:
        """The request's shared part; MessageUnbuildable when SES could not take it."""
        key = (variant.month, variant.key, id(form), shared)

        def make() -> _Head:
            if "\r" in variant.subject or "\n" in variant.subject:  # as the mail library refuses
                raise MessageUnbuildable("the subject holds a line break")
            params: dict[str, Any] = {
                "FromEmailAddress": address(variant.sender),
                "DefaultContent": {"Template": {
                    "TemplateContent": self._template(variant, form, shared),
                    "TemplateData": json.dumps({BRACE: "{"}),
                    "Headers": [
                        {"Name": name, "Value": header_value(name, value)}
                        for name, value in variant.headers
                    ],
                }},
                "DefaultEmailTags": [
                    {"Name": tag_text(n), "Value": tag_text(v)} for n, v in variant.tags
                ],
            }
            if variant.reply_to:
                params["ReplyToAddresses"] = [address(variant.reply_to)]
            if self.configuration_set:
                params["ConfigurationSetName"] = self.configuration_set
            check_head(params)
            return _Head(variant, form, params, head_text(params))

        head = self._heads.get(key, make)
        if head.variant is not variant or head.form is not form:  # recompiled since (branding)
            head = self._heads.replace(key, make)
        return head

    def send_batch(
        self, variant: Variant, entries: Sequence[BatchEntry], links: Links
    ) -> list[EntryResult]:
        if len(entries) > self.max_batch:
            raise ValueError(f"at most {self.max_batch} destinations per SendBulkEmail call")
        # A reader whose own part cannot be written fails alone; one the variant's part
        # cannot be written for (its headers, its sender) fails the whole call.
        form = self.token_form(variant, entries, links)
        answers: list[EntryResult | None] = [None] * len(entries)
        own: list[tuple[int, BatchEntry, OwnPart]] = []
        for index, entry in enumerate(entries):
            try:
                own.append((index, entry, own_part(variant, entry.recipient, links, form)))
            except MessageUnbuildable as error:
                answers[index] = EntryResult(UNBUILDABLE, error=str(error))
        # Shared slots hold for any of these readers, so for those whose data fits too.
        shared = shared_slots([part.values for _, _, part in own])
        going: list[tuple[int, str]] = []
        for index, entry, part in own:
            try:
                data = entry_data(part.values, entry.recipient, form, shared)
            except MessageUnbuildable as error:
                answers[index] = EntryResult(UNBUILDABLE, error=str(error))
            else:
                going.append((index, entry_text(
                    part.to, (DELIVERY_TAG, str(entry.delivery_id)), data, part.unsubscribe)))
        if not going:
            return [answer for answer in answers if answer is not None]
        try:
            head = self._head(variant, form, shared)
        except MessageUnbuildable as error:
            raise Unbuildable(str(error)) from error
        prepared = body(head.text, [text for _, text in going])
        for (index, _), answer in zip(going, self._call(params(prepared), len(going)),
                                      strict=True):
            answers[index] = answer
        return [answer for answer in answers if answer is not None]

    def _call(self, call: dict[str, Any], count: int) -> list[EntryResult]:
        try:
            response = self.client.send_bulk_email(**call)
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
