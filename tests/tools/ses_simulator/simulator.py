"""SesSimulator: the object tests hold. Starts the server, owns state, publishes events."""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from tests.tools.ses_simulator import events, sns
from tests.tools.ses_simulator.api import SesApi
from tests.tools.ses_simulator.config import SimulatorConfig, require_loopback_url
from tests.tools.ses_simulator.faults import Faults, bare
from tests.tools.ses_simulator.records import Recorder, RequestDigest, RequestRecord, SentMessage
from tests.tools.ses_simulator.server import SimulatorServer, serve_in_thread


class SesSimulator:
    """A local SES v2 endpoint with programmable quotas, faults and SNS event publishing.

    `SesSimulator(max_send_rate=100)` or `SesSimulator(SimulatorConfig(...))`; then `start()`
    (or `with SesSimulator() as sim:`) and point boto3 at `sim.endpoint_url`.
    """

    def __init__(self, config: SimulatorConfig | None = None, **options: Any) -> None:
        # A copy: set_limits() and the admin API change it, and a config may be shared.
        self.config = dataclasses.replace(config or SimulatorConfig(), **options)
        self.faults = Faults(self.config.default_timeout)
        self.recorder = Recorder(self.config.record_mode)
        self.api = SesApi(
            self.config, self.recorder, self.faults, self._accepted, self._wants_records
        )
        self.identity = sns.default_identity()
        self.stopping = threading.Event()
        self.subscription_arn = f"{self.config.topic_arn}:{uuid.uuid4()}"
        self.subscription_token = secrets.token_hex(32)
        self.subscription_confirmed = False
        self.unsubscribed = False
        self._server: SimulatorServer | None = None
        self._thread: threading.Thread | None = None
        self._publisher: sns.Publisher | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> SesSimulator:
        if self._server is not None:
            return self
        self.stopping.clear()
        self._server = SimulatorServer((self.config.host, self.config.port), self)
        self._thread = serve_in_thread(self._server)
        keep = self.config.record_mode == "full"
        self._publisher = sns.Publisher(
            self.config.event_retries, self.config.event_retry_backoff, keep_delivered=keep
        )
        if self.config.cert_path:
            self.write_cert(self.config.cert_path)
        return self

    def stop(self) -> None:
        """Stop serving; queued events not yet posted are dropped (flush_events() first)."""
        self.stopping.set()  # releases requests held by timeout faults
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._publisher is not None:
            self._publisher.stop()
        self._server = self._thread = self._publisher = None

    def __enter__(self) -> SesSimulator:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget messages, requests, quota usage, faults and posted events."""
        self.recorder.reset()
        self.faults.clear()
        self.api.reset_limits()
        if self._publisher is not None:
            self._publisher.reset()

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("start() the simulator first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- what was sent -----------------------------------------------------------------------

    @property
    def messages(self) -> list[SentMessage]:
        """One record per recipient of every accepted message (empty in digest mode)."""
        return self.recorder.snapshot()[0]

    @property
    def requests(self) -> list[RequestRecord | RequestDigest]:
        return self.recorder.snapshot()[1]

    def messages_to(self, address: str) -> list[SentMessage]:
        wanted = bare(address)
        return [m for m in self.messages if bare(m.recipient) == wanted]

    def stats(self) -> dict[str, Any]:
        """Counts that survive digest mode, plus quota usage and event delivery."""
        counts: dict[str, Any] = self.recorder.stats()
        counts["sent_last_24_hours"] = self.api.sent_last_24_hours()
        if self._publisher is not None:
            counts["notifications_delivered"] = self._publisher.delivered_count
            counts["notification_failures"] = len(self._publisher.failures)
        return counts

    def set_limits(
        self, *, max_send_rate: float | None = None, max_24_hour_send: float | None = None
    ) -> None:
        """Change the account's quotas while running (GetAccount reports the new ones)."""
        self.api.set_limits(max_send_rate=max_send_rate, max_24_hour_send=max_24_hour_send)

    # --- SNS ---------------------------------------------------------------------------------

    @property
    def cert_pem(self) -> bytes:
        return self.identity.cert_pem

    def write_cert(self, path: str | Path) -> Path:
        """Write the signing certificate (for SNS_TEST_CERT) and return its path."""
        target = Path(path)
        target.write_bytes(self.cert_pem)
        return target

    @property
    def events_url(self) -> str | None:
        return self.config.events_url

    @events_url.setter
    def events_url(self, url: str | None) -> None:
        if url is not None:
            require_loopback_url(url)
        self.config.events_url = url

    @property
    def topic_arn(self) -> str:
        return self.config.topic_arn

    @topic_arn.setter
    def topic_arn(self, arn: str) -> None:
        self.config.topic_arn = arn
        self.subscription_arn = f"{arn}:{uuid.uuid4()}"

    @property
    def notifications(self) -> list[dict[str, Any]]:
        """Every envelope the endpoint accepted, in posting order (full mode)."""
        return [d.envelope for d in list(self._require_publisher().delivered)]

    @property
    def event_failures(self) -> list[sns.FailedAttempt]:
        return list(self._require_publisher().failures)

    @property
    def events_dropped(self) -> list[dict[str, Any]]:
        return list(self._require_publisher().dropped)

    def flush_events(self, timeout: float = 10.0) -> bool:
        """Wait until every queued notification has been posted (or given up on)."""
        return self._require_publisher().flush(timeout)

    def publish_event(
        self, event: dict[str, Any], *, delay: float = 0.0, version: str | None = None
    ) -> dict[str, Any]:
        """Post any SES event record, signed and wrapped in a Notification; returns the envelope."""
        publisher, url = self._require_publisher(), self._require_events_url()
        envelope = sns.notification(
            self.topic_arn, json.dumps(event), self._cert_url(), self._unsubscribe_url()
        )
        signed = sns.sign(envelope, self.identity, version or self.config.signature_version)
        publisher.submit(url, signed, self.subscription_arn, delay)
        return signed

    def send_subscription_confirmation(self, version: str | None = None) -> dict[str, Any]:
        """Post a SubscriptionConfirmation; GET its SubscribeURL to confirm."""
        publisher, url = self._require_publisher(), self._require_events_url()
        subscribe_url = (
            f"{self.endpoint_url}/_sim/confirm-subscription?Action=ConfirmSubscription"
            f"&TopicArn={quote(self.topic_arn)}&Token={self.subscription_token}"
        )
        envelope = sns.subscription_confirmation(
            self.topic_arn, self.subscription_token, subscribe_url, self._cert_url()
        )
        signed = sns.sign(envelope, self.identity, version or self.config.signature_version)
        publisher.submit(url, signed, self.subscription_arn)
        return signed

    def emit(
        self, event_type: str, message_id: str, recipient: str | None = None, **details: Any
    ) -> dict[str, Any]:
        """A late event for a recorded message, e.g. a complaint days after delivery."""
        records = [m for m in self.messages if m.message_id == message_id]
        if not records:
            raise KeyError(f"no recorded message {message_id!r} (digest mode keeps none)")
        chosen = recipient or records[0].recipient
        mail = events.mail_object(records[0], [r.recipient for r in records], self.config.region)
        return self.publish_event(events.single(event_type, mail, chosen, details))

    def _publishing(self) -> bool:
        return not (self.config.events_url is None or self.unsubscribed or self._publisher is None)

    def _wants_records(self) -> bool:
        """Whether anything reads accepted messages: the record (full mode) or their events."""
        return self.recorder.mode == "full" or self._publishing()

    def _accepted(self, records: list[SentMessage]) -> None:
        """Queue the events of one accepted message, as a configuration set would."""
        if not self._publishing():
            return
        if self.config.events_require_configuration_set and not records[0].configuration_set:
            return
        outcomes = {bare(r.recipient): self.faults.take_outcome(r.recipient) for r in records}
        first, later = self.config.send_event_delay, self.config.event_delay
        for stage, event in events.for_message(records, outcomes, self.config.region):
            self.publish_event(event, delay=first + stage * later)

    def _cert_url(self) -> str:
        return f"{self.endpoint_url}/_sim/cert.pem"

    def _unsubscribe_url(self) -> str:
        return (
            f"{self.endpoint_url}/_sim/unsubscribe?Action=Unsubscribe"
            f"&SubscriptionArn={quote(self.subscription_arn)}"
        )

    def _require_publisher(self) -> sns.Publisher:
        if self._publisher is None:
            raise RuntimeError("start() the simulator first")
        return self._publisher

    def _require_events_url(self) -> str:
        if self.config.events_url is None:
            raise RuntimeError("set events_url (a loopback URL) to publish events")
        return self.config.events_url
