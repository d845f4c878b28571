"""What the simulator remembers: sent messages, requests (whole or as digests), send quotas."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.tools.ses_simulator.config import RecordMode
from tests.tools.ses_simulator.content import Body


@dataclass(frozen=True)
class SentMessage:
    """One accepted message as one recipient gets it (a message to three makes three records)."""

    message_id: str  # the SES MessageId returned to the caller, shared by all its recipients
    recipient: str  # the destination this record is for
    sender: str  # From
    to: list[str]
    cc: list[str]
    bcc: list[str]
    reply_to: list[str]
    subject: str
    body: Body  # `html` and `text`; a templated message is rendered when they are first read
    headers: dict[str, str]  # From/To/Subject… and every custom header, as sent
    tags: dict[str, str]  # EmailTags / DefaultEmailTags + ReplacementTags
    configuration_set: str | None
    kind: str  # "SendEmail" or "SendBulkEmail"
    content_type: str  # "Simple", "Raw" or "Template"
    timestamp: datetime
    raw: bytes | None = None

    @property
    def html(self) -> str | None:
        return self.body.html

    @property
    def text(self) -> str | None:
        return self.body.text

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)


@dataclass(frozen=True)
class RequestRecord:
    """One SES API request in full (record_mode="full")."""

    method: str
    path: str
    operation: str | None
    headers: dict[str, str]
    body: bytes
    status: int
    recipients: int
    timestamp: float


@dataclass(frozen=True)
class RequestDigest:
    """One SES API request reduced to what a large run can afford (record_mode="digest")."""

    operation: str | None
    sha256: str
    size: int
    status: int
    recipients: int
    timestamp: float


@dataclass
class Recorder:
    """Thread-safe store of messages and requests; in digest mode it keeps only counts."""

    mode: RecordMode = "full"
    messages: list[SentMessage] = field(default_factory=list)
    requests: list[RequestRecord | RequestDigest] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add_messages(self, records: list[SentMessage]) -> None:
        kinds = Counter(record.kind for record in records)
        with self._lock:
            self.counts["messages"] += len(records)
            for kind, count in kinds.items():
                self.counts[f"messages.{kind}"] += count
            if self.mode == "full":
                self.messages.extend(records)

    def count_messages(self, kind: str, count: int) -> None:
        """Messages counted as add_messages() counts them, without records (digest mode)."""
        with self._lock:
            self.counts["messages"] += count
            self.counts[f"messages.{kind}"] += count

    def count_statuses(self, operation: str, statuses: Counter[str]) -> None:
        with self._lock:
            for status, count in statuses.items():
                self.counts[f"{operation}.{status}"] += count

    def add_request(
        self,
        method: str,
        path: str,
        operation: str | None,
        headers: dict[str, str],
        body: bytes,
        status: int,
        recipients: int,
    ) -> None:
        now = time.time()
        record: RequestRecord | RequestDigest
        if self.mode == "full":
            record = RequestRecord(method, path, operation, headers, body, status, recipients, now)
        else:
            digest = hashlib.sha256(body).hexdigest()
            record = RequestDigest(operation, digest, len(body), status, recipients, now)
        with self._lock:
            self.counts["requests"] += 1
            self.counts[f"requests.{status}"] += 1
            self.requests.append(record)

    def snapshot(self) -> tuple[list[SentMessage], list[RequestRecord | RequestDigest]]:
        with self._lock:
            return list(self.messages), list(self.requests)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self.requests.clear()
            self.counts.clear()


class Throttled(Exception):
    """A send refused by the account's quotas; the message is SES's own wording."""


class SendLimits:
    """MaxSendRate as a token bucket one second deep, and Max24HourSend over a rolling day.

    Both count recipients, not requests, as SES does. SES documents MaxSendRate as a rate that
    "you can exceed for short bursts, but not for a sustained period of time": the bucket holds
    one second's worth of recipients and refills at the rate, so a client that paces evenly at
    the rate is never refused for the spread of its requests' latency, and one that keeps above
    it is. Callers hold their own lock around check → commit so that two threads cannot both
    take the last tokens.
    """

    def __init__(self, max_send_rate: float, max_24_hour_send: float) -> None:
        self.max_send_rate = max_send_rate
        self.max_24_hour_send = max_24_hour_send
        self._day: deque[tuple[float, int]] = deque()
        self._in_day = 0
        self._spent = 0.0  # recipients taken from the rate's bucket, not yet refilled
        self._updated: float | None = None

    def _refill(self, now: float) -> None:
        if self._updated is None or now > self._updated:
            if self._updated is not None:
                elapsed = now - self._updated
                self._spent = max(0.0, self._spent - elapsed * self.max_send_rate)
            self._updated = now

    def check(self, recipients: int, now: float | None = None) -> None:
        """Raise Throttled if sending to `recipients` more now would break a quota."""
        now = time.monotonic() if now is None else now
        self._expire(now)
        self._refill(now)
        if self._in_day + recipients > self.max_24_hour_send:
            raise Throttled("Daily message quota exceeded.")
        if self._spent + recipients > self.max_send_rate + 1e-9:
            raise Throttled("Maximum sending rate exceeded.")

    def commit(self, recipients: int, now: float | None = None) -> None:
        if recipients <= 0:
            return
        now = time.monotonic() if now is None else now
        self._refill(now)
        self._day.append((now, recipients))
        self._in_day += recipients
        self._spent += recipients

    def sent_last_24_hours(self, now: float | None = None) -> int:
        self._expire(time.monotonic() if now is None else now)
        return self._in_day

    def reset(self) -> None:
        self._day.clear()
        self._in_day = 0
        self._spent, self._updated = 0.0, None

    def _expire(self, now: float) -> None:
        while self._day and self._day[0][0] <= now - 86_400.0:
            self._in_day -= self._day.popleft()[1]

    def describe(self) -> dict[str, Any]:
        return {"MaxSendRate": self.max_send_rate, "Max24HourSend": self.max_24_hour_send}
