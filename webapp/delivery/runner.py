"""Builds the engine from configuration and runs whatever sends are waiting."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from emails import make_transport
from emails.transports.batch import BatchTransport, SesBulkBatch, SingleMessageBatch
from emails.transports.ses import AccountQuota, account_quota
from emails.transports.smtp import SmtpBatch
from webapp.branding import mail_brand
from webapp.config import Settings
from webapp.delivery import sending, store
from webapp.delivery.bucket import DbTokenBucket
from webapp.delivery.engine import (
    MAX_CONCURRENCY,
    QUOTA_PAUSE_PREFIX,
    DeliveryEngine,
    EngineConfig,
    Progress,
    RunResult,
    call_size,
    measure_latency,
)
from webapp.delivery.heartbeat import Heartbeat
from webapp.delivery.outages import Outage
from webapp.mailer import links, mail_settings, smtp_options
from webapp.models import Delivery, DeliveryStatus, Edition, EditionStatus

if TYPE_CHECKING:
    from types_boto3_sesv2.client import SESV2Client

log = logging.getLogger(__name__)

OUTBOX_RATE = 1000.0  # the outbox has no quota; this only keeps a runaway loop polite
# An SMTP call sends its readers one after another, paced to the rate: it lasts about half a
# second (a chunk is half a second's worth, engine.call_size). Sized by that, not by a
# measured round trip, it takes two or three connections to keep the rate busy.
SMTP_CALL_SECONDS = 0.5
# Connections a worker keeps open to the SMTP server at once: providers limit them per client
# (often to a handful), and a relay that refuses more answers 421, which only slows the send.
SMTP_MAX_CONNECTIONS = 4


class EngineUnavailable(RuntimeError):
    """SES could not tell us the account's sending rate (and none is configured)."""


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def ses_client(settings: Settings) -> SESV2Client:
    import boto3
    from botocore.config import Config

    # No retries inside botocore: a retried SendBulkEmail after a read timeout could reach
    # readers twice. The engine decides what is safe to retry.
    # total_max_attempts counts the first try, whatever the retry mode.
    # One pooled connection per call in flight. Parameter validation is off: SendBulkEmail's
    # body is written and checked by emails.transports.bulk_body (botocore sees two empty
    # members), and the other calls have one fixed shape, checked against botocore's model by
    # the SES simulator in the tests.
    client_config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=30,
        max_pool_connections=MAX_CONCURRENCY, parameter_validation=False,
    )
    return boto3.client(
        "sesv2",
        region_name=settings.ses_region,
        endpoint_url=settings.ses_endpoint_url,
        config=client_config,
    )


def build_engine(
    settings: Settings,
    sessions: sessionmaker[Session],
    *,
    stop: threading.Event | None = None,
    on_progress: Callable[[RunResult], None] | None = None,
    heartbeat: Progress | None = None,
    worker: str | None = None,
    outage: Outage | None = None,
) -> DeliveryEngine:
    """The engine for the configured transport, paced to SES's MaxSendRate (or the override),
    or to SMTP_MAX_SEND_RATE."""
    transport: BatchTransport
    override = settings.ses_max_send_rate
    if settings.mail_transport == "smtp":
        rate = settings.smtp_max_send_rate
        transport = SmtpBatch(smtp_options(settings), rate)
        latency = SMTP_CALL_SECONDS
    elif settings.mail_transport == "ses":
        client = ses_client(settings)
        transport = SesBulkBatch(client, settings.ses_configuration_set)
        try:
            latency = measure_latency(client.get_account)
            rate = override or account_quota(client).max_send_rate
        except (BotoCoreError, ClientError) as error:
            if not override:
                raise EngineUnavailable(f"SES GetAccount failed: {error}") from error
            latency, rate = 0.1, override
    else:
        transport = SingleMessageBatch(make_transport("outbox", directory=settings.outbox_dir))
        latency = 0.005
        rate = override or OUTBOX_RATE
    engine_config = EngineConfig.for_rate(
        rate, latency, transport.max_batch, tracking=settings.tracking,
        db_grace=settings.worker_db_grace_seconds,
    )
    if settings.mail_transport == "smtp":
        engine_config.concurrency = min(engine_config.concurrency, SMTP_MAX_CONNECTIONS)
    log.info(
        "delivery engine ready",
        extra={"fields": {"rate": rate, "chunk": engine_config.chunk_size,
                          "concurrency": engine_config.concurrency}},
    )
    bucket = DbTokenBucket(sessions, rate)
    return DeliveryEngine(
        sessions,
        transport,
        links(settings),
        mail_settings(settings),
        engine_config,
        worker=worker or worker_name(),
        stop=stop,
        on_progress=on_progress,
        bucket=bucket,
        heartbeat=heartbeat,
        outage=outage,
        branded=lambda session: mail_brand(session, settings),
    )


def resume_after_quota(
    settings: Settings,
    sessions: sessionmaker[Session],
    *,
    account: Callable[[], AccountQuota] | None = None,
) -> list[str]:
    """Editions SES paused for the daily quota resume once the quota has room for a whole call.

    A call of 50 does not go through a quota with 30 left: resuming on any room at all paused
    the edition again at its first call, over and over. GetAccount is asked with no
    transaction open.
    """
    if settings.mail_transport != "ses":
        return []
    with sessions() as session:
        paused = dict(session.execute(
            select(Edition.id, func.count(Delivery.id))
            .join(Delivery, (Delivery.edition_id == Edition.id)
                  & (Delivery.status == DeliveryStatus.QUEUED), isouter=True)
            .where(Edition.status == EditionStatus.PAUSED,
                   Edition.pause_reason.startswith(QUOTA_PAUSE_PREFIX))
            .group_by(Edition.id)
        ).tuples().all())
    if not paused:
        return []
    try:
        quota = (account or (lambda: account_quota(ses_client(settings))))()
    except (BotoCoreError, ClientError) as error:
        log.warning("quota unknown; paused sends wait", extra={"fields": {"reason": str(error)}})
        return []
    call = call_size(settings.ses_max_send_rate or quota.max_send_rate, SesBulkBatch.max_batch)
    room = quota.remaining_24_hours
    resumed = []
    with sessions() as session:
        for edition_id, queued in paused.items():
            edition = session.get(Edition, edition_id)
            still = edition is not None and edition.status == EditionStatus.PAUSED and (
                edition.pause_reason or "").startswith(QUOTA_PAUSE_PREFIX)
            if edition is not None and still and room >= min(call, max(queued, 1)):
                sending.resume(session, edition, actor="system")
                resumed.append(edition.month)
        session.commit()
    return resumed


def run_pending(
    settings: Settings,
    sessions: sessionmaker[Session],
    stop: threading.Event,
    *,
    heartbeat: Heartbeat | None = None,
    outage: Outage | None = None,
) -> int:
    """Run every send that has queued deliveries; returns how many editions were worked on.

    Database failures are ridden out through `outage` (one for the whole worker): DatabaseLost
    once they outlast its grace.
    """
    outage = outage or Outage(settings.worker_db_grace_seconds, stop=stop)

    def editions_with_work() -> list[int]:
        with sessions() as session:
            return store.editions_with_work(session)

    resumed = outage.retry(lambda: resume_after_quota(settings, sessions), "resume after quota")
    if resumed:
        log.info("sends resumed after the daily quota", extra={"fields": {"months": resumed}})
    pending = outage.retry(editions_with_work, "look for work")
    if not pending:
        return 0
    try:
        engine = build_engine(
            settings,
            sessions,
            stop=stop,
            heartbeat=heartbeat,
            worker=heartbeat.name if heartbeat else None,
            outage=outage,
        )
    except EngineUnavailable as error:
        log.warning("sending postponed", extra={"fields": {"reason": str(error)}})
        return 0
    for edition_id in pending:
        if stop.is_set():
            break
        outcome = engine.run(edition_id)
        log.info("send run ended", extra={"fields": {"edition_id": edition_id, **vars(outcome)}})
    return len(pending)
