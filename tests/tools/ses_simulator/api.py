"""The SES v2 operations the simulator implements: GetAccount, SendEmail, SendBulkEmail."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from tests.tools.ses_simulator import content as mail
from tests.tools.ses_simulator.config import SimulatorConfig
from tests.tools.ses_simulator.content import Envelope, Rendered, SesError, bad_request
from tests.tools.ses_simulator.faults import Faults
from tests.tools.ses_simulator.records import Recorder, SendLimits, SentMessage, Throttled
from tests.tools.ses_simulator.template import TemplateDataError, parse_data

MAX_BULK_ENTRIES = 50
PAUSED = "Sending is paused for this account."

Accepted = Callable[[list[SentMessage]], None]


# The UUID part: random per process, then a counter, so ids stay unique across simulators
# and restarts without a uuid4() per message (4% of the simulator's CPU at 5,000/s).
_RANDOM = uuid.uuid4().hex
_ID_MIDDLE = f"{_RANDOM[:8]}-{_RANDOM[8:12]}-4{_RANDOM[13:16]}-{_RANDOM[16:20]}"
_ID_COUNTER = itertools.count(int(_RANDOM[20:], 16) % 2**40)


def new_message_id(prefix: str | None = None) -> str:
    """Shaped like SES's: `0100` + time, a UUID, `-000000`; `prefix` from id_prefix()."""
    number = next(_ID_COUNTER)  # atomic under the GIL: no lock needed
    return f"{prefix or id_prefix()}{number:012x}-000000"


def id_prefix() -> str:
    """The part of a message id before its counter: the time (ms) and this process's part."""
    return f"0100{int(time.time() * 1000):012x}-{_ID_MIDDLE}-"


class SesApi:
    """Operation handlers. Each takes the validated request dict and returns the response dict
    and the number of recipients it was for, or raises SesError."""

    def __init__(
        self,
        config: SimulatorConfig,
        recorder: Recorder,
        faults: Faults,
        on_accepted: Accepted,
        wants_records: Callable[[], bool] = lambda: True,
    ) -> None:
        self.config, self.recorder, self.faults = config, recorder, faults
        self.on_accepted = on_accepted
        # False when nothing would read a bulk call's SentMessages (digest mode, no events):
        # they are then only counted, which a 5,000/s bench run needs from the simulator.
        self.wants_records = wants_records
        self.limits = SendLimits(config.max_send_rate, config.max_24_hour_send)
        # Held from the quota check to its commit, so parallel sends cannot overshoot a quota.
        self._lock = threading.Lock()

    def call(self, operation: str, request: dict[str, Any]) -> tuple[dict[str, Any], int]:
        handlers = {
            "GetAccount": self.get_account,
            "SendEmail": self.send_email,
            "SendBulkEmail": self.send_bulk_email,
        }
        return handlers[operation](request)

    def sent_last_24_hours(self) -> int:
        with self._lock:
            return self.limits.sent_last_24_hours()

    def reset_limits(self) -> None:
        with self._lock:
            self.limits.reset()

    def set_limits(
        self, *, max_send_rate: float | None = None, max_24_hour_send: float | None = None
    ) -> None:
        with self._lock:
            if max_send_rate is not None:
                self.limits.max_send_rate = self.config.max_send_rate = max_send_rate
            if max_24_hour_send is not None:
                self.limits.max_24_hour_send = self.config.max_24_hour_send = max_24_hour_send

    def get_account(self, request: dict[str, Any]) -> tuple[dict[str, Any], int]:
        with self._lock:
            sent = self.limits.sent_last_24_hours()
            quota = self.limits.describe()
        account = {
            "DedicatedIpAutoWarmupEnabled": False,
            "EnforcementStatus": "HEALTHY",
            "ProductionAccessEnabled": True,
            "SendQuota": {
                "Max24HourSend": float(quota["Max24HourSend"]),
                "MaxSendRate": float(quota["MaxSendRate"]),
                "SentLast24Hours": float(sent),
            },
            "SendingEnabled": not self.faults.paused,
            "SuppressionAttributes": {"SuppressedReasons": ["BOUNCE", "COMPLAINT"]},
        }
        return account, 0

    def send_email(self, request: dict[str, Any]) -> tuple[dict[str, Any], int]:
        envelope, rendered, tags, configuration_set = self._single(request)
        recipients = envelope.recipients
        if not recipients:
            raise bad_request("Destination must contain at least one recipient.")
        headers = mail.final_headers(envelope, rendered)
        with self._lock:
            if self.faults.paused:
                raise SesError(400, "SendingPausedException", PAUSED)
            for address in recipients:
                reason = self.faults.rejection(address)
                if reason is not None:
                    raise SesError(400, "MessageRejected", reason)
            self._admit(len(recipients))
            self.limits.commit(len(recipients))
        message_id = new_message_id()
        records = self._records(
            message_id,
            envelope,
            rendered,
            headers,
            tags,
            configuration_set,
            "SendEmail",
            datetime.now(UTC),
        )
        self.recorder.add_messages(records)
        self.on_accepted(records)
        return {"MessageId": message_id}, len(recipients)

    def _single(
        self, request: dict[str, Any]
    ) -> tuple[Envelope, Rendered, dict[str, str], str | None]:
        body = request["Content"]
        kinds = [kind for kind in ("Simple", "Raw", "Template") if body.get(kind) is not None]
        if len(kinds) != 1:
            raise bad_request("Content must contain exactly one of Simple, Raw or Template.")
        configuration_set = request.get("ConfigurationSetName")
        if kinds[0] == "Raw":
            rendered, parsed = mail.raw(body["Raw"]["Data"])
            envelope = mail.raw_envelope(parsed, request)
            header_set, header_tags = mail.raw_ses_headers(parsed)
            api_tags = request.get("EmailTags")
            tags = mail.tag_dict(api_tags) if api_tags else header_tags
            return envelope, rendered, tags, configuration_set or header_set
        sender = request.get("FromEmailAddress")
        if not sender:
            raise bad_request("FromEmailAddress is required unless the content is Raw.")
        mail.check_address(sender, "FromEmailAddress")
        reply_to = request.get("ReplyToAddresses") or []
        envelope = mail.destination(request.get("Destination"), sender, reply_to)
        tags = mail.tag_dict(request.get("EmailTags"))
        if kinds[0] == "Simple":
            return envelope, mail.simple(body["Simple"]), tags, configuration_set
        template = body["Template"]
        self._require_inline(template)
        try:
            data = parse_data(template.get("TemplateData"))
        except TemplateDataError as error:
            raise bad_request(str(error)) from None
        headers = mail.header_list(template.get("Headers"))
        rendered = mail.templated(mail.Parsed.of(template), data, headers, self.config.escape_html)
        return envelope, rendered, tags, configuration_set

    def _require_inline(self, template: dict[str, Any]) -> None:
        if template.get("TemplateContent") is not None:
            return
        name = template.get("TemplateName") or template.get("TemplateArn")
        if name:  # stored templates are not simulated: as if none had been created
            raise SesError(404, "NotFoundException", f"Template {name} does not exist.")
        raise bad_request("Template must have TemplateContent, TemplateName or TemplateArn.")

    def send_bulk_email(self, request: dict[str, Any]) -> tuple[dict[str, Any], int]:
        entries = request["BulkEmailEntries"]
        if not entries:
            raise bad_request("BulkEmailEntries must contain at least one entry.")
        if len(entries) > MAX_BULK_ENTRIES:
            raise bad_request(f"BulkEmailEntries may not contain more than {MAX_BULK_ENTRIES}.")
        template = request["DefaultContent"].get("Template")
        if template is None:
            raise bad_request("DefaultContent must contain a Template.")
        name = template.get("TemplateName") or template.get("TemplateArn")
        if template.get("TemplateContent") is None and not name:
            raise bad_request("Template must have TemplateContent, TemplateName or TemplateArn.")
        sender = request.get("FromEmailAddress")
        if not sender:
            raise bad_request("FromEmailAddress is required.")
        mail.check_address(sender, "FromEmailAddress")
        reply_to = request.get("ReplyToAddresses") or []
        envelopes = [mail.destination(e["Destination"], sender, reply_to) for e in entries]
        try:
            defaults = parse_data(template.get("TemplateData"))
        except TemplateDataError as error:
            raise bad_request(str(error)) from None
        inline = template.get("TemplateContent") is not None
        bulk = _Bulk(
            template=template,
            parsed=mail.Parsed.of(template) if inline else None,
            escape=self.config.escape_html,
            data=defaults,
            headers=mail.header_list(template.get("Headers")),
            tags=mail.tag_dict(request.get("DefaultEmailTags")),
            configuration_set=request.get("ConfigurationSetName"),
            id_prefix=id_prefix(),
        )
        total = sum(len(envelope.recipients) for envelope in envelopes)
        results: list[dict[str, Any]] = []
        accepted: list[_Accepted] = []
        with self._lock:
            now = datetime.now(UTC)
            paused = self.faults.paused
            if not paused:
                self._admit(total)
            for entry, envelope in zip(entries, envelopes, strict=True):
                result, message = self._entry(bulk, entry, envelope, paused)
                results.append(result)
                if message is not None:
                    accepted.append(message)
            self.limits.commit(sum(len(m.envelope.recipients) for m in accepted))
        self.recorder.count_statuses("SendBulkEmail", Counter(r["Status"] for r in results))
        if not self.wants_records():
            recipients = sum(len(m.envelope.recipients) for m in accepted)
            self.recorder.count_messages("SendBulkEmail", recipients)
            return {"BulkEmailEntryResults": results}, total
        messages = [
            self._records(*message, bulk.configuration_set, "SendBulkEmail", now)
            for message in accepted
        ]
        self.recorder.add_messages([record for records in messages for record in records])
        for records in messages:
            self.on_accepted(records)
        return {"BulkEmailEntryResults": results}, total

    def _entry(
        self, bulk: _Bulk, entry: dict[str, Any], envelope: Envelope, paused: bool
    ) -> tuple[dict[str, Any], _Accepted | None]:
        """One BulkEmailEntryResult, and its message if it was accepted."""
        recipients = envelope.recipients
        if paused:
            return _failed("ACCOUNT_SENDING_PAUSED", PAUSED), None
        if bulk.parsed is None:
            name = bulk.template.get("TemplateName") or bulk.template.get("TemplateArn")
            return _failed("TEMPLATE_NOT_FOUND", f"Template {name} does not exist."), None
        if not recipients:
            return _failed("INVALID_PARAMETER", "Destination has no recipients."), None
        for address in recipients:
            forced = self.faults.take_forced_status(address)
            if forced is not None and forced.status != "SUCCESS":
                return _failed(forced.status, forced.error), None
        for address in recipients:
            reason = self.faults.rejection(address)
            if reason is not None:
                return _failed("MESSAGE_REJECTED", reason), None
        replacement = (entry.get("ReplacementEmailContent") or {}).get("ReplacementTemplate") or {}
        try:
            data = {**bulk.data, **parse_data(replacement.get("ReplacementTemplateData"))}
            tags = {**bulk.tags, **mail.tag_dict(entry.get("ReplacementTags"))}
            extra = mail.header_list(entry.get("ReplacementHeaders"))
            headers = mail.replace_headers(bulk.headers, extra)
            rendered = mail.templated(bulk.parsed, data, headers, bulk.escape)
            final = mail.final_headers(envelope, rendered)
        except TemplateDataError as error:
            return _failed("INVALID_PARAMETER", str(error)), None
        except SesError as error:
            return _failed("INVALID_PARAMETER", error.message), None
        message_id = new_message_id(bulk.id_prefix)
        message = _Accepted(message_id, envelope, rendered, final, tags)
        return {"Status": "SUCCESS", "MessageId": message_id}, message

    def _admit(self, recipients: int) -> None:
        try:
            self.limits.check(recipients)
        except Throttled as refusal:
            raise SesError(429, "TooManyRequestsException", str(refusal)) from None

    def _records(
        self,
        message_id: str,
        envelope: Envelope,
        rendered: Rendered,
        headers: dict[str, str],
        tags: dict[str, str],
        configuration_set: str | None,
        kind: str,
        now: datetime,
    ) -> list[SentMessage]:
        return [
            SentMessage(
                message_id=message_id,
                recipient=recipient,
                sender=envelope.sender,
                to=list(envelope.to),
                cc=list(envelope.cc),
                bcc=list(envelope.bcc),
                reply_to=list(envelope.reply_to),
                subject=rendered.subject,
                body=rendered.body,
                headers=headers,
                tags=tags,
                configuration_set=configuration_set,
                kind=kind,
                content_type=rendered.kind,
                timestamp=now,
                raw=rendered.raw,
            )
            for recipient in envelope.recipients
        ]


class _Accepted(NamedTuple):
    """A bulk entry's accepted message, before its SentMessage records are made (if ever)."""

    message_id: str
    envelope: Envelope
    rendered: Rendered
    headers: dict[str, str]
    tags: dict[str, str]


@dataclass(frozen=True)
class _Bulk:
    """What every entry of one SendBulkEmail call shares."""

    template: dict[str, Any]
    parsed: mail.Parsed | None  # None: not inline (stored templates are not simulated)
    escape: bool
    data: dict[str, Any]
    headers: list[tuple[str, str]]
    tags: dict[str, str]
    configuration_set: str | None
    id_prefix: str  # the call's message ids differ only in their counters


def _failed(status: str, error: str) -> dict[str, Any]:
    return {"Status": status, "Error": error}
