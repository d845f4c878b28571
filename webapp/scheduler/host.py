"""Runs APScheduler 3 in the one worker that holds the scheduler lease.

Every worker tries for the lease every few seconds; the holder starts a BackgroundScheduler
with a SQLAlchemyJobStore (its table is made by our migrations) and stops it the moment it
cannot renew the lease, so the job store is never used by two running schedulers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from webapp.config import Settings
from webapp.models import ScheduleRule, utcnow
from webapp.scheduler import jobs, lease

log = logging.getLogger(__name__)

LEASE_TTL = timedelta(seconds=30)
RENEW_EVERY = 5.0

# Jobs in the store are kept by reference to a module-level function; these look up the
# running host's sessions and configuration.
_current: SchedulerHost | None = None


def _run(name: str) -> None:
    host = _current
    if host is None:
        return
    try:
        outcome = host.job_functions[name](host.sessions, host.config, utcnow())
        if outcome:
            log.info("scheduled job ran", extra={"fields": {"job": name, "outcome": outcome}})
    except Exception:
        log.exception("scheduled job failed", extra={"fields": {"job": name}})


def job_start_due_sends() -> None:
    _run("start_due_sends")


def job_monthly_rule() -> None:
    _run("monthly_rule")


def job_housekeeping() -> None:
    _run("housekeeping")


def job_daily() -> None:
    _run("daily")


def job_sync_rule() -> None:
    host = _current
    if host is not None:
        host.sync_rule()


class SchedulerHost:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        holder: str,
        *,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        self.config = settings
        self.sessions = sessions
        self.holder = holder
        self.on_change = on_change
        self.zone = ZoneInfo(settings.timezone)
        self.scheduler: BackgroundScheduler | None = None
        self._rule: tuple[int, str, bool] | None = None
        self.job_functions: dict[str, Callable[..., Any]] = {
            "start_due_sends": lambda s, c, now: jobs.start_due_sends(s, now),
            "monthly_rule": jobs.run_monthly_rule,
            "housekeeping": jobs.housekeeping,
            "daily": jobs.daily,
        }

    @property
    def running(self) -> bool:
        return self.scheduler is not None

    def tick(self) -> bool:
        """Take or renew the lease and start or stop APScheduler to match; True if holding."""
        holding = lease.acquire(self.sessions, self.holder, LEASE_TTL, utcnow())
        if holding and self.scheduler is None:
            self._start()
        elif not holding and self.scheduler is not None:
            log.warning("scheduler lease lost; stopping the scheduler")
            self._stop()
        return holding

    def _start(self) -> None:
        global _current
        _current = self
        engine = self.sessions.kw["bind"]
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")},
            timezone=self.zone,
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        scheduler.start()
        scheduler.add_job(job_start_due_sends, "interval", seconds=15, id="start_due_sends",
                          replace_existing=True, misfire_grace_time=None)
        scheduler.add_job(job_housekeeping, "interval", minutes=1, id="housekeeping",
                          replace_existing=True, misfire_grace_time=None)
        # The rule also checks itself every minute against the month it last ran in, so a
        # rule that fell due while no worker ran starts once when one is back.
        scheduler.add_job(job_monthly_rule, "interval", minutes=1, id="monthly_rule_check",
                          replace_existing=True, misfire_grace_time=None)
        scheduler.add_job(job_daily, CronTrigger(hour=3, minute=17, timezone=self.zone),
                          id="daily", replace_existing=True, misfire_grace_time=None)
        scheduler.add_job(job_sync_rule, "interval", minutes=1, id="sync_rule",
                          replace_existing=True, misfire_grace_time=None)
        self.scheduler = scheduler
        self._rule = None
        self.sync_rule()
        log.info("scheduler started", extra={"fields": {"holder": self.holder}})
        if self.on_change:
            self.on_change(True)

    def sync_rule(self) -> None:
        """Match the monthly job to the rule in our database (the console and CLI write it)."""
        if self.scheduler is None:
            return
        with self.sessions() as session:
            rule = session.scalar(select(ScheduleRule).limit(1))
            wanted = (rule.day, rule.time, rule.enabled) if rule is not None else None
        if wanted == self._rule:
            return
        self._rule = wanted
        if wanted is None or not wanted[2]:
            if self.scheduler.get_job("monthly_rule"):
                self.scheduler.remove_job("monthly_rule")
            return
        day, time, _ = wanted
        hour, minute = time.split(":")
        trigger = CronTrigger(day=day, hour=int(hour), minute=int(minute), timezone=self.zone)
        existing = self.scheduler.get_job("monthly_rule")
        if existing is not None and str(existing.trigger) == str(trigger):
            # Unchanged: keep the stored job, whose next run may be a missed one to catch up.
            return
        self.scheduler.add_job(
            job_monthly_rule,
            trigger,
            id="monthly_rule",
            replace_existing=True,
            # A rule that fell due while every worker was down still runs, once, on return.
            misfire_grace_time=None,
            coalesce=True,
        )

    def _stop(self) -> None:
        global _current
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
        if _current is self:
            _current = None
        if self.on_change:
            self.on_change(False)

    def close(self) -> None:
        self._stop()
        lease.release(self.sessions, self.holder)


def run_host(host: SchedulerHost, stop: threading.Event) -> None:
    """Keep trying for (and renewing) the lease until asked to stop."""
    try:
        while not stop.is_set():
            try:
                host.tick()
            except Exception:
                log.exception("scheduler lease check failed")
            stop.wait(RENEW_EVERY)
    finally:
        host.close()
