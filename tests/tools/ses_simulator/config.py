"""The simulator's settings, and the loopback-only rule every outgoing URL must pass."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

RecordMode = Literal["full", "digest"]

ACCOUNT_ID = "123456789012"
DEFAULT_TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT_ID}:yuebao-ses-events"


@dataclass
class SimulatorConfig:
    """Everything a test or the CLI may tune; the defaults mimic a fresh production account."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: the OS picks a free port
    region: str = "us-east-1"
    max_send_rate: float = 14.0
    max_24_hour_send: float = 50_000.0
    latency: float = 0.0  # seconds added to every SES API request
    jitter: float = 0.0  # up to this many extra seconds, uniformly random
    record_mode: RecordMode = "full"
    # AWS documents that SES does not HTML-escape values rendered into templates; set True to
    # get Handlebars' own behaviour, where {{x}} escapes and {{{x}}} does not.
    escape_html: bool = False
    # SES events, posted as SNS notifications. None: events are off.
    events_url: str | None = None
    topic_arn: str = DEFAULT_TOPIC_ARN
    signature_version: Literal["1", "2"] = "1"
    # Seconds before the Send event. 0 means it may reach the app before the SendEmail answer
    # does, a race real SES makes unlikely but not impossible.
    send_event_delay: float = 0.0
    event_delay: float = 0.0  # seconds between the Send event and each one after it
    event_retries: int = 3  # further attempts after a failed POST, as SNS retries
    event_retry_backoff: float = 0.05  # seconds, doubled on each retry
    events_require_configuration_set: bool = False  # real SES publishes only with one
    cert_path: str | None = None  # also write the signing certificate's PEM here
    default_timeout: float = 5.0  # how long a `timeout` fault holds a request by default

    def __post_init__(self) -> None:
        require_loopback_host(self.host)
        if self.events_url is not None:
            require_loopback_url(self.events_url)
        if self.record_mode not in ("full", "digest"):
            raise ValueError(f"record_mode must be 'full' or 'digest', not {self.record_mode!r}")
        if self.signature_version not in ("1", "2"):
            raise ValueError("signature_version must be '1' or '2'")


def require_loopback_host(host: str) -> None:
    """Refuse anything but loopback: the simulator must never reach or expose the network."""
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the SES simulator only talks to loopback, not {host!r}")


def require_loopback_url(url: str) -> None:
    """Same rule for a URL the simulator would POST to."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"events URL must be http://127.0.0.1…, not {url!r}")
    require_loopback_host(parts.hostname or "")
