"""The scheduler's jobs, as plain functions of (sessions, settings, now) so tests can drive them
with any clock."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from webapp.config import Settings
from webapp.delivery import sending
from webapp.delivery.heartbeat import requeue_stale_claims
from webapp.delivery.in_doubt import Settled, settle_outbox, settle_ses
from webapp.delivery.jobs import purge_finished_jobs
from webapp.delivery.runner import resume_after_quota
from webapp.events.webhook_sender import forget_old_messages
from webapp.models import Edition, EditionStatus, ScheduleRule
from webapp.models.event import Event
from webapp.readers.csv_jobs import forget_import_rows, forget_old_exports
from webapp.readers.subscriptions import purge_unconfirmed, resume_ended_pauses

log = logging.getLogger(__name__)


def start_due_sends(sessions: sessionmaker[Session], now: datetime) -> list[str]:
    """Start every scheduled edition whose time has come — once, even with two schedulers.

    The row is locked (SKIP LOCKED: a second scheduler passes it by) and its state checked
    under that lock, so a send that came due while every worker was down starts exactly once.
    """
    started = []
    with sessions() as session:
        due = list(
            session.scalars(
                select(Edition.id).where(
                    Edition.status == EditionStatus.SCHEDULED, Edition.scheduled_at <= now
                )
            )
        )
    for edition_id in due:
        # One edition that cannot start (its transaction rolled back, so it stays scheduled
        # and is tried again at the next run) must not hold back the others.
        try:
            month = _start_scheduled(sessions, edition_id)
        except Exception:
            log.exception("scheduled send could not start; trying again at the next run",
                          extra={"fields": {"edition_id": edition_id}})
            continue
        if month is not None:
            started.append(month)
    return started


def _start_scheduled(sessions: sessionmaker[Session], edition_id: int) -> str | None:
    with sessions() as session:
        edition = session.scalar(
            select(Edition).where(Edition.id == edition_id).with_for_update(skip_locked=True)
        )
        if edition is None or edition.status != EditionStatus.SCHEDULED:
            return None
        # scheduled → approved under a condition, then start_send takes it to sending, all
        # in one transaction: on SQLite (no row locks) this conditional UPDATE is what lets
        # only one of two schedulers through; the loser updates no row.
        claimed = session.execute(
            update(Edition)
            .where(Edition.id == edition_id, Edition.status == EditionStatus.SCHEDULED)
            .values(status=EditionStatus.APPROVED)
        )
        if not getattr(claimed, "rowcount", 0):
            return None
        session.refresh(edition)
        loaded = sending.load_edition(session, edition.month)
        plan = sending.start_send(session, loaded, actor="scheduler")
        session.commit()
        log.info("scheduled send started",
                 extra={"fields": {"month": loaded.month, **plan.as_json()}})
        return loaded.month


def rule_due_month(rule: ScheduleRule, zone: ZoneInfo, now: datetime) -> str | None:
    """The month (YYYY-MM, in the configured zone) whose moment of the rule has passed and
    not run yet, or None.

    That is this month's once its moment has passed. Before it, last month's, if that one never
    ran: a run that failed (or a scheduler that was down) at the end of a month, e.g. a rule on
    the 28th at 23:59 in February, is not skipped by the month turning — unless the rule was
    made after that moment.
    """
    local = now.astimezone(zone)
    moment = sending.rule_moment(rule.day, rule.time, zone, local)
    if local >= moment:
        month = local.strftime("%Y-%m")
        return month if rule.last_run_month != month else None
    previous = sending.rule_moment(
        rule.day, rule.time, zone, local.replace(day=1) - timedelta(days=1)
    )
    month = previous.strftime("%Y-%m")
    if rule.last_run_month is not None and rule.last_run_month >= month:
        return None
    return month if rule.created_at <= previous else None


def run_monthly_rule(
    sessions: sessionmaker[Session], settings: Settings, now: datetime
) -> str | None:
    """'Send the newest approved edition' once a month, when the rule's moment has passed.

    The month is marked as run in the same transaction that starts the send: if anything fails,
    neither happens and the next run (every minute) tries again.
    """
    zone = ZoneInfo(settings.timezone)
    with sessions() as session:
        rule = session.scalar(
            select(ScheduleRule).where(ScheduleRule.enabled.is_(True)).with_for_update()
        )
        month = rule_due_month(rule, zone, now) if rule is not None else None
        if rule is None or month is None:
            return None
        rule.last_run_month = month
        newest = session.scalar(
            select(Edition)
            .where(Edition.status == EditionStatus.APPROVED)
            .order_by(Edition.month.desc())
            .limit(1)
        )
        if newest is None:
            session.commit()
            log.warning("monthly rule: no approved edition to send")
            return None
        edition = sending.load_edition(session, newest.month)
        sending.start_send(session, edition, actor=sending.RULE_ACTOR)
        session.commit()
        return edition.month


def housekeeping(
    sessions: sessionmaker[Session], settings: Settings, now: datetime
) -> dict[str, int]:
    """Frequent upkeep: stale claims back to the queue, in-doubt deliveries settled, sends
    whose last deliveries were settled finished, quota pauses lifted, ended reader pauses
    ended."""
    with sessions() as session:
        requeued = requeue_stale_claims(session, now)
        wait = timedelta(minutes=settings.in_doubt_wait_minutes)
        if settings.mail_transport == "outbox":
            settled = settle_outbox(session, Path(settings.outbox_dir), wait, now)
        elif settings.mail_transport == "ses":
            settled = settle_ses(session, wait, now)
        else:  # SMTP leaves no trace to settle by: an editor resends or marks sent
            settled = Settled()
        resumed = resume_ended_pauses(session, now)
        finished = sending.finish_settled_sends(session, now)
        session.commit()
    resume_after_quota(settings, sessions)  # asks SES, so with no transaction open
    return {"requeued_claims": requeued, "settled_sent": settled.sent,
            "requeued_in_doubt": settled.requeued, "readers_resumed": resumed,
            "sends_finished": len(finished)}


def daily(
    sessions: sessionmaker[Session], settings: Settings, now: datetime
) -> dict[str, int]:
    """Once a day: purge unconfirmed readers, trim old event payloads, forget finished jobs
    and webhook messages, delete CSV exports a day old and the rows of imports given up."""
    with sessions() as session:
        purged = purge_unconfirmed(session, settings.unconfirmed_retention_days, now)
        cutoff = now - timedelta(days=settings.event_payload_retention_days)
        trimmed = session.execute(
            update(Event)
            .where(Event.occurred_at < cutoff, Event.payload.is_not(None))
            .values(payload=None)
        )
        exports = forget_old_exports(session, settings.var_dir, now)  # before their jobs go
        forget_import_rows(session)
        jobs = purge_finished_jobs(session, now)
        webhooks = forget_old_messages(session, now)
        session.commit()
    return {"purged": purged, "trimmed": int(getattr(trimmed, "rowcount", 0) or 0),
            "jobs_forgotten": jobs, "exports_deleted": exports, "webhooks_forgotten": webhooks}
