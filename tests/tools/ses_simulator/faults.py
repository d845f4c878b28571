"""Failures on demand: what a test asks the simulator to get wrong, and for how long.

Every method is safe to call from any thread while requests are being served. The same faults
can be set from another process with POST /_sim/faults and a JSON body `{"kind": …, …}`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from email.utils import parseaddr
from typing import Any, Literal

from botocore.model import StringShape

from tests.tools.ses_simulator.model import service_model

_STATUS_SHAPE = service_model().shape_for("BulkEmailStatus")
assert isinstance(_STATUS_SHAPE, StringShape)
BULK_STATUSES: tuple[str, ...] = tuple(_STATUS_SHAPE.enum)

# The 5xx answers botocore sees from AWS front ends (codes from AWS's common errors).
SERVER_ERRORS = {500: "InternalFailure", 503: "ServiceUnavailable"}

BOUNCE_SUBTYPES = {
    "Undetermined": ("Undetermined",),
    "Permanent": ("General", "NoEmail", "Suppressed", "OnAccountSuppressionList"),
    "Transient": (
        "General",
        "MailboxFull",
        "MessageTooLarge",
        "ContentRejected",
        "AttachmentRejected",
    ),
}

OutcomeKind = Literal["Bounce", "Complaint", "Reject", "DeliveryDelay"]


@dataclass
class RequestFault:
    """One armed failure for the next `remaining` SES API requests (optionally of one op)."""

    kind: Literal["error", "timeout", "close"]
    remaining: int
    status: int = 500
    seconds: float = 0.0
    process: bool = False  # perform the send anyway, then fail to answer: the in-doubt case
    operation: str | None = None

    @property
    def code(self) -> str:
        return SERVER_ERRORS.get(self.status, "InternalFailure")


@dataclass
class ForcedStatus:
    status: str
    error: str
    attempts: int | None  # None: for ever; otherwise only the first N sends to the address
    used: int = 0


@dataclass
class Outcome:
    """What happens to a message after SES accepts it, per recipient address."""

    kind: OutcomeKind
    details: dict[str, Any] = field(default_factory=dict)
    times: int | None = None
    used: int = 0


class Faults:
    """The programmable failures; the simulator consults it on every request."""

    def __init__(self, default_timeout: float = 5.0) -> None:
        self._lock = threading.Lock()
        self._default_timeout = default_timeout
        self._requests: list[RequestFault] = []
        self._rejected: dict[str, str] = {}
        self._forced: dict[str, ForcedStatus] = {}
        self._outcomes: dict[str, Outcome] = {}
        self._paused = False

    # --- arming ---------------------------------------------------------------------------

    def fail_next(self, count: int = 1, *, status: int = 500, operation: str | None = None) -> None:
        """The next `count` requests answer 500 InternalFailure or 503 ServiceUnavailable."""
        if status not in SERVER_ERRORS:
            raise ValueError(f"status must be one of {sorted(SERVER_ERRORS)}")
        self._arm(RequestFault("error", count, status=status, operation=operation))

    def timeout_next(
        self,
        count: int = 1,
        *,
        seconds: float | None = None,
        close: bool = False,
        process: bool = False,
        operation: str | None = None,
    ) -> None:
        """The next `count` requests hang for `seconds` (or are dropped unanswered if `close`).

        With `process=True` the send still happens (messages recorded, events posted), so the
        client cannot tell whether it went out: exactly what the in-doubt delivery state is for.
        """
        wait = self._default_timeout if seconds is None else seconds
        kind: Literal["timeout", "close"] = "close" if close else "timeout"
        self._arm(RequestFault(kind, count, seconds=wait, process=process, operation=operation))

    def reject(self, addresses: Iterable[str], message: str = "Email address is blocked.") -> None:
        """SendEmail to any of these answers 400 MessageRejected; bulk: MESSAGE_REJECTED."""
        with self._lock:
            for address in _normalized(addresses):
                self._rejected[address] = message

    def pause_sending(self, paused: bool = True) -> None:
        """Account sending paused: SendingPausedException, ACCOUNT_SENDING_PAUSED, GetAccount."""
        with self._lock:
            self._paused = paused

    def force_bulk_status(
        self,
        addresses: Iterable[str],
        status: str,
        *,
        attempts: int | None = None,
        error: str | None = None,
    ) -> None:
        """Bulk entries to these addresses get `status` (for the first `attempts` sends only)."""
        if status not in BULK_STATUSES:
            raise ValueError(f"unknown BulkEmailStatus {status!r}; the model lists {BULK_STATUSES}")
        text = error if error is not None else f"Simulated {status}"
        with self._lock:
            for address in _normalized(addresses):
                self._forced[address] = ForcedStatus(status, text, attempts)

    def bounce(
        self,
        addresses: Iterable[str],
        bounce_type: str = "Permanent",
        sub_type: str | None = None,
        *,
        times: int | None = None,
    ) -> None:
        """Messages to these addresses bounce (Send, then Bounce; no Delivery)."""
        subtypes = BOUNCE_SUBTYPES.get(bounce_type)
        if subtypes is None:
            raise ValueError(f"bounce_type must be one of {sorted(BOUNCE_SUBTYPES)}")
        chosen = sub_type or subtypes[0]
        if chosen not in subtypes:
            raise ValueError(f"{bounce_type} bounces have sub-types {subtypes}, not {chosen!r}")
        self._outcome(
            addresses, "Bounce", {"bounceType": bounce_type, "bounceSubType": chosen}, times
        )

    def complain(
        self, addresses: Iterable[str], feedback_type: str = "abuse", *, times: int | None = None
    ) -> None:
        """Messages to these addresses are delivered, then complained about."""
        self._outcome(addresses, "Complaint", {"complaintFeedbackType": feedback_type}, times)

    def reject_event(
        self, addresses: Iterable[str], reason: str = "Bad content", *, times: int | None = None
    ) -> None:
        """SES accepts, then refuses to deliver (a virus): Send, then Reject."""
        self._outcome(addresses, "Reject", {"reason": reason}, times)

    def delay_delivery(
        self,
        addresses: Iterable[str],
        delay_type: str = "TransientCommunicationFailure",
        *,
        times: int | None = None,
    ) -> None:
        """Send, then DeliveryDelay, then Delivery."""
        self._outcome(addresses, "DeliveryDelay", {"delayType": delay_type}, times)

    def clear(self) -> None:
        """Disarm everything."""
        with self._lock:
            self._requests.clear()
            self._rejected.clear()
            self._forced.clear()
            self._outcomes.clear()
            self._paused = False

    def apply(self, spec: dict[str, Any]) -> None:
        """Arm a fault from JSON: `{"kind": "fail_next", "count": 2, "status": 503}`."""
        options = dict(spec)
        kind = options.pop("kind", None)
        methods: dict[str, Callable[..., None]] = {
            "fail_next": self.fail_next,
            "timeout_next": self.timeout_next,
            "reject": self.reject,
            "pause_sending": self.pause_sending,
            "force_bulk_status": self.force_bulk_status,
            "bounce": self.bounce,
            "complain": self.complain,
            "reject_event": self.reject_event,
            "delay_delivery": self.delay_delivery,
            "clear": self.clear,
        }
        if kind not in methods:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {sorted(methods)}")
        methods[kind](**options)

    def snapshot(self) -> dict[str, Any]:
        """What is armed now, for GET /_sim/faults and for debugging a test."""
        with self._lock:
            return {
                "paused": self._paused,
                "requests": [asdict(fault) for fault in self._requests],
                "rejected": dict(self._rejected),
                "forced": {a: asdict(f) for a, f in self._forced.items()},
                "outcomes": {a: asdict(o) for a, o in self._outcomes.items()},
            }

    # --- consulted by the simulator ---------------------------------------------------------

    @property
    def paused(self) -> bool:
        with self._lock:
            return self._paused

    def take_request_fault(self, operation: str) -> RequestFault | None:
        """The fault armed for this request, if any, counting it as used."""
        with self._lock:
            for fault in self._requests:
                if fault.operation in (None, operation):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._requests.remove(fault)
                    return fault
        return None

    # The three below are asked for every recipient: with nothing armed (every message of a
    # bench run) they answer without parsing the address.

    def rejection(self, address: str) -> str | None:
        if not self._rejected:
            return None
        with self._lock:
            return self._rejected.get(bare(address))

    def take_forced_status(self, address: str) -> ForcedStatus | None:
        """The status forced on a bulk entry to `address` this time, counting the attempt."""
        if not self._forced:
            return None
        with self._lock:
            forced = self._forced.get(bare(address))
            if forced is None or (forced.attempts is not None and forced.used >= forced.attempts):
                return None
            forced.used += 1
            return forced

    def take_outcome(self, address: str) -> Outcome | None:
        if not self._outcomes:
            return None
        with self._lock:
            outcome = self._outcomes.get(bare(address))
            if outcome is None or (outcome.times is not None and outcome.used >= outcome.times):
                return None
            outcome.used += 1
            return outcome

    def _arm(self, fault: RequestFault) -> None:
        if fault.remaining < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._requests.append(fault)

    def _outcome(
        self,
        addresses: Iterable[str],
        kind: OutcomeKind,
        details: dict[str, Any],
        times: int | None,
    ) -> None:
        with self._lock:
            for address in _normalized(addresses):
                self._outcomes[address] = Outcome(kind, details, times)


def bare(address: str) -> str:
    """`Name <a@b.c>` → `a@b.c`, lower-cased: how faults are keyed."""
    return (parseaddr(address)[1] or address).strip().lower()


def _normalized(addresses: Iterable[str]) -> list[str]:
    if isinstance(addresses, str):  # one address passed bare is a common slip
        addresses = [addresses]
    return [bare(address) for address in addresses]
