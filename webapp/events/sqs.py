"""SES events from an Amazon SQS queue (SES → SNS → SQS → worker): the durable path.

With `SES_EVENTS_QUEUE_URL` set, each worker runs a few queue threads. Each long-polls the
queue (ReceiveMessage, 10 at a time), checks every message as `/hooks/ses` checks a POST — the
SNS envelope's topic, certificate and signature; or, with raw message delivery, the SES event
alone — stores the good ones in the inbox (webapp.events.inbox: one INSERT … ON CONFLICT DO
NOTHING keyed by the notification's MessageId) and commits, and only then deletes them from
the queue (DeleteMessageBatch). The worker's events thread applies the inbox as it applies
what the hook stored.

A worker that dies anywhere before the delete leaves its messages in the queue: they come back
after the queue's visibility timeout, and the inbox's key makes the second store change
nothing. SQS delivers at least once; the inbox applies once.

A message that can never be valid (a bad signature, another topic, not an SES event) is logged
and deleted: receiving it again could not change the answer, and a dead-letter queue full of
forgeries would hide the real events waiting there. One that cannot be checked now (SNS's
certificate could not be fetched) is left in the queue, to come back after the visibility
timeout — and, after the queue's maxReceiveCount, to wait in the dead-letter queue for a redrive.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from emails.ses_events import parse_ses_event
from emails.sns import (
    SigningCertificates,
    SigningKeys,
    SnsError,
    SnsUnavailable,
    parse_envelope,
    parse_json,
    verify_message,
)
from webapp.config import Settings
from webapp.delivery.outages import DatabaseLost, Outage, is_operational
from webapp.events.inbox import Notification, store
from webapp.models import utcnow

log = logging.getLogger(__name__)

BATCH = 10  # the most ReceiveMessage returns and DeleteMessageBatch takes
# SQS keeps a message for at most 14 days. An envelope that waited in the queue while the
# workers were down is no replayed POST (only the topic may send to the queue): the hook's
# SNS_MAX_AGE_HOURS would turn a long outage into lost events.
QUEUE_MAX_AGE = timedelta(days=14)
# sqs.<region>.amazonaws.com[.cn], or the legacy <region>.queue.amazonaws.com[.cn]
_QUEUE_HOST = re.compile(
    r"sqs\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"|(?P<legacy>[a-z0-9-]+)\.queue\.amazonaws\.com(?:\.cn)?"
)


class QueueClient(Protocol):
    """What the queue threads use of boto3's SQS client (thread-safe, one per worker)."""

    def receive_message(self, **kwargs: Any) -> Any: ...

    def delete_message_batch(self, **kwargs: Any) -> Any: ...


@dataclass(frozen=True)
class QueueSettings:
    url: str
    region: str
    wait_seconds: int
    threads: int
    raw: bool
    topic_arns: tuple[str, ...]
    signing_keys: SigningKeys
    test_certificate: bytes | None = None
    max_age: timedelta = QUEUE_MAX_AGE

    @property
    def endpoint_url(self) -> str:
        """The queue URL's scheme and host: SQS's endpoint in the queue's region (or a local
        SQS in tests), so no second setting can disagree with the URL."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def queue_arn(self) -> str:
        """arn:aws:sqs:<region>:<account>:<name>, from the URL's path /<account>/<name>."""
        account, _, name = urlsplit(self.url).path.strip("/").partition("/")
        partition = "aws-cn" if self.region.startswith("cn-") else "aws"
        return f"arn:{partition}:sqs:{self.region}:{account}:{name}"


def queue_region(url: str, default: str) -> str:
    """The region named by an SQS queue URL's host; `default` for any other host."""
    match = _QUEUE_HOST.fullmatch(urlsplit(url).hostname or "")
    if match is None:
        return default
    return match["region"] or match["legacy"]


def queue_settings(settings: Settings) -> QueueSettings | None:
    """The queue threads' settings; None when SES_EVENTS_QUEUE_URL is unset."""
    url = settings.ses_events_queue_url
    if not url:
        return None
    cert = settings.sns_test_cert
    return QueueSettings(
        url=url,
        region=queue_region(url, settings.ses_region),
        wait_seconds=settings.ses_events_queue_wait_seconds,
        threads=settings.ses_events_queue_threads,
        raw=settings.ses_events_queue_raw,
        topic_arns=settings.sns_topic_arns,
        signing_keys=SigningCertificates(),
        test_certificate=Path(cert).read_bytes() if cert else None,
    )


def queue_client(settings: QueueSettings) -> QueueClient:
    """boto3's SQS client for the queue: credentials as boto3 finds them (the worker's role).

    The read timeout outlasts the long poll; a connection per thread."""
    import boto3
    from botocore.config import Config

    client: QueueClient = boto3.client(
        "sqs",
        region_name=settings.region,
        endpoint_url=settings.endpoint_url,
        config=Config(
            retries={"total_max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            read_timeout=settings.wait_seconds + 20,
            max_pool_connections=max(10, settings.threads),
        ),
    )
    return client


def check_message(body: str, settings: QueueSettings, now: datetime) -> Notification | None:
    """The SES event an SQS message carries, to store; None for SNS's subscription messages.

    SnsError when it must not be acted on; SnsUnavailable when it cannot be checked now.
    """
    data = body.encode()
    if settings.raw:
        # Raw delivery: the body is SES's event itself, with no envelope and no signature;
        # the queue's policy alone says who may send it. SNS's MessageId is not carried, but
        # a repeat of the same event has the same bytes: their digest is the inbox's key.
        event = parse_ses_event(parse_json(data, what="message"), now=now)
        key = "sqs-raw:" + hashlib.sha256(data).hexdigest()
        return Notification(key, settings.queue_arn, body, event.occurred_at)
    envelope = parse_envelope(data)
    verify_message(
        envelope,
        topic_arns=settings.topic_arns,
        signing_keys=settings.signing_keys,
        test_certificate=settings.test_certificate,
        max_age=settings.max_age,
        now=now,
    )
    if envelope["Type"] != "Notification":
        # A queue of another account must confirm its subscription: whoever set the queue up
        # opens the SubscribeURL (SNS confirms a queue of the topic's own account itself).
        log.warning(
            "SNS subscription message in the SES events queue; not an event",
            extra={"fields": {"type": envelope["Type"], "topic": envelope["TopicArn"],
                              "subscribe_url": envelope.get("SubscribeURL")}},
        )
        return None
    message = envelope["Message"]
    event = parse_ses_event(parse_json(message.encode(), what="Message"), now=now)
    return Notification(envelope["MessageId"], envelope["TopicArn"], message, event.occurred_at)


class QueuePoller:
    """Receives SES events from the queue, stores them, and deletes what is stored."""

    def __init__(
        self,
        settings: QueueSettings,
        sessions: sessionmaker[Session],
        client: QueueClient,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.client = client
        self.clock = clock

    def receive(self) -> list[dict[str, Any]]:
        """Up to 10 messages, waiting up to the long poll's seconds for the first."""
        answer = self.client.receive_message(
            QueueUrl=self.settings.url,
            MaxNumberOfMessages=BATCH,
            WaitTimeSeconds=self.settings.wait_seconds,
        )
        messages: list[dict[str, Any]] = answer.get("Messages", [])
        return messages

    def handle(self, messages: Sequence[dict[str, Any]], outage: Outage) -> int:
        """Check, store and commit, then delete; returns how many events were new.

        A database that fails is ridden out (the worker's `outage`) with the messages held:
        none is deleted before the commit that stored it.
        """
        now = self.clock()
        done: list[dict[str, Any]] = []
        notifications: list[Notification] = []
        for message in messages:
            fields = {"sqs_message_id": message.get("MessageId")}
            try:
                notification = check_message(message["Body"], self.settings, now)
            except SnsUnavailable as error:
                log.warning("SES event from the queue not checked now; it comes back",
                            extra={"fields": {**fields, "reason": error.reason}})
                continue
            except SnsError as error:
                log.warning("SES event from the queue refused and deleted",
                            extra={"fields": {**fields, "reason": error.reason}})
            else:
                if notification is not None:
                    notifications.append(notification)
            done.append(message)
        stored = 0
        if notifications:
            stored = outage.retry(lambda: self._store(notifications), "store queued SES events")
        self.delete(done)
        return stored

    def _store(self, notifications: Sequence[Notification]) -> int:
        with self.sessions() as session:
            stored = store(session.connection(), notifications)
            session.commit()
        return stored

    def delete(self, messages: Sequence[dict[str, Any]]) -> None:
        """DeleteMessageBatch. An entry SQS fails is logged, not retried: the message comes
        back after the visibility timeout and its second store changes nothing."""
        if not messages:
            return
        entries = [{"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]}
                   for n, message in enumerate(messages)]
        answer = self.client.delete_message_batch(QueueUrl=self.settings.url, Entries=entries)
        failed = answer.get("Failed") or []
        if failed:
            log.warning(
                "SQS kept some stored SES events; they come back and change nothing",
                extra={"fields": {"failed": len(failed), "of": len(entries),
                                  "codes": sorted({str(f.get("Code")) for f in failed})}},
            )

    def run_until(
        self, stop: threading.Event, outage: Outage, *, until_empty: bool = False
    ) -> None:
        """A queue thread: receive, store, delete, until `stop` (the batch in flight is
        finished first) or, with `until_empty`, until a receive comes back empty.

        The thread never ends on an SQS error (network, throttling, permissions): it is logged
        and tried again after a growing pause. A database lost for longer than the worker's
        grace ends it; the worker then exits.
        """
        failures = 0
        while not stop.is_set():
            try:
                messages = self.receive()
                if not messages and until_empty:
                    return
                self.handle(messages, outage)
                failures = 0
            except DatabaseLost:
                return  # the main thread ends the worker, with its exit status
            except SQLAlchemyError as error:
                if is_operational(error):  # asked to stop while the database was away
                    return
                failures += 1
                log.exception("SES events queue: a batch not stored; it comes back")
                stop.wait(min(60.0, 2.0 ** min(failures, 6)))
            except Exception:  # botocore's errors and anything else: logged, tried again
                failures += 1
                log.exception("SES events queue: could not receive or delete; trying again")
                stop.wait(min(60.0, 2.0 ** min(failures, 6)))


def start_queue_threads(
    settings: QueueSettings, sessions: sessionmaker[Session], stop: threading.Event,
    outage: Outage, *, client: QueueClient | None = None,
) -> list[threading.Thread]:
    """`settings.threads` queue threads sharing one client, started."""
    poller = QueuePoller(settings, sessions, client or queue_client(settings))
    threads = [
        threading.Thread(target=poller.run_until, args=(stop, outage),
                         name=f"sqs-{n}", daemon=True)
        for n in range(settings.threads)
    ]
    for thread in threads:
        thread.start()
    return threads
