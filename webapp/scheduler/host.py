"""Runs APScheduler 3 in the one worker that holds the scheduler lease.

Every worker tries for the lease every few seconds; the holder starts a BackgroundScheduler
with a SQLAlchemyJobStore (its table is made by our migrations) and stops it the moment it
cannot renew the lease, so the job store is never used by two running schedulers.

APScheduler's own thread ends for good when its job store raises (a locked SQLite database, a
PostgreSQL restart), and nothing in APScheduler says so. So each renewal is also a watchdog:
if that thread has ended, or no job has succeeded for SCHEDULER_STALE_AFTER, the holder stops
the scheduler and gives up the lease, and the next renewal (here or in another worker) starts
a fresh one. The lease row carries the last successful run for the admin console.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from webapp.config import Settings
from webapp.events.webhook_sender import send_due_webhooks
from webapp.models import ScheduleRule, utcnow
from webapp.models.worker import SCHEDULER_STALE_AFTER
from webapp.scheduler import jobs, lease

log = logging.getLogger(__name__)

LEASE_TTL = timedelta(seconds=30)
RENEW_EVERY = 5.0
# A job that runs once a day and failed is tried again this much later, not the next day.
RETRY_AFTER = timedelta(minutes=1)

# Jobs in the store are kept by reference to a module-level function; these look up the
# running host's sessions and configuration.
_current: SchedulerHost | None = None


def _run(name: str) -> None:
    host = _current
    if host is None:
        return
    try:
        outcome = host.job_functions[name](host.sessions, host.config, host.clock())
    except Exception:
        # Not recorded as a tick: the job runs again at its next interval, and if none
        # succeeds for SCHEDULER_STALE_AFTER the watchdog restarts the scheduler.
        log.exception("scheduled job failed", extra={"fields": {"job": name}})
        host.retry_later(name)
        return
    host.last_run = host.clock()
    if outcome:
        log.info("scheduled job ran", extra={"fields": {"job": name, "outcome": outcome}})


def job_start_due_sends() -> None:
    _run("start_due_sends")


def job_monthly_rule() -> None:
    _run("monthly_rule")


def job_housekeeping() -> None:
    _run("housekeeping")


def job_daily() -> None:
    _run("daily")


def job_send_webhooks() -> None:
    _run("send_webhooks")


def job_sync_rule() -> None:
    _run("sync_rule")


class SchedulerHost:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        holder: str,
        *,
        on_change: Callable[[bool], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = settings
        self.sessions = sessions
        self.holder = holder
        self.on_change = on_change
        self.clock = clock
        self.zone = ZoneInfo(settings.timezone)
        self.scheduler: BackgroundScheduler | None = None
        self.started_at: datetime | None = None
        self.last_run: datetime | None = None  # when a job last succeeded
        self.held_until: datetime | None = None  # the lease, as of our last renewal
        self._rule: tuple[int, str, bool] | None = None
        self.job_functions: dict[str, Callable[..., Any]] = {
            "start_due_sends": lambda s, c, now: jobs.start_due_sends(s, now),
            "monthly_rule": jobs.run_monthly_rule,
            "housekeeping": jobs.housekeeping,
            "daily": jobs.daily,
            "sync_rule": lambda s, c, now: self.sync_rule(),
            "send_webhooks": send_due_webhooks,
        }

    @property
    def running(self) -> bool:
        """APScheduler is started here and its thread is alive."""
        return self.scheduler is not None and self._thread_alive()

    def _thread_alive(self) -> bool:
        # APScheduler 3 has no public way to ask; BackgroundScheduler keeps its loop's thread
        # in `_thread`, which ends for good when the job store raises.
        thread = getattr(self.scheduler, "_thread", None)
        return isinstance(thread, threading.Thread) and thread.is_alive()

    def trouble(self, now: datetime) -> str | None:
        """Why the scheduler started here is not working, or None if it is (or is not here)."""
        if self.scheduler is None:
            return None
        if not self._thread_alive():
            return "APScheduler's thread has ended"
        last = self.last_run or self.started_at
        if last is not None and now - last > SCHEDULER_STALE_AFTER:
            return f"no scheduled job has succeeded since {last.isoformat()}"
        return None

    def tick(self) -> bool:
        """Check the scheduler, take or renew the lease, and start or stop APScheduler to match;
        True if holding."""
        now = self.clock()
        problem = self.trouble(now)
        if problem is not None:
            last_run = self.last_run.isoformat() if self.last_run else None
            log.error(
                "scheduler not working: stopping it and giving up the lease; the next renewal "
                "starts it again, here or in another worker",
                extra={"fields": {"holder": self.holder, "reason": problem, "last_run": last_run}},
            )
            self._stop()
            self._release()
            return False
        try:
            holding = lease.acquire(
                self.sessions, self.holder, LEASE_TTL, now,
                last_tick=self.last_run if self.scheduler is not None else None,
            )
        except SQLAlchemyError:
            return self._renewal_failed(now)
        if not holding:
            self.held_until = None
            if self.scheduler is not None:
                log.warning("scheduler lease lost; stopping the scheduler")
                self._stop()
            return False
        self.held_until = now + LEASE_TTL
        if self.scheduler is None:
            try:
                self._start(now)
            except Exception:
                log.exception("scheduler could not start; giving up the lease and trying again "
                              "at the next renewal")
                self._stop()
                self._release()
                return False
        return True

    def _renewal_failed(self, now: datetime) -> bool:
        """A database error while renewing: keep the scheduler only while the lease we hold
        outlasts the next renewal (after that another worker may take it)."""
        log.warning("scheduler lease renewal failed; trying again at the next renewal",
                    exc_info=True, extra={"fields": {"holder": self.holder}})
        if self.scheduler is None:
            return False
        if self.held_until is None or now + timedelta(seconds=RENEW_EVERY) >= self.held_until:
            log.error("scheduler lease lapses before the next renewal; stopping the scheduler",
                      extra={"fields": {"holder": self.holder}})
            self._stop()
            self.held_until = None
            return False
        return True

    def _start(self, now: datetime) -> None:
        global _current
        _current = self
        self.started_at, self.last_run = now, None
        engine = self.sessions.kw["bind"]
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename="apscheduler_jobs")},
            timezone=self.zone,
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self.scheduler = scheduler
        scheduler.start()
        # Due sends are looked for at once on a (re)start, then every 5 s (a cheap indexed query).
        scheduler.add_job(job_start_due_sends, "interval", seconds=5, id="start_due_sends",
                          replace_existing=True, misfire_grace_time=None,
                          next_run_time=datetime.now(self.zone))
        scheduler.add_job(job_housekeeping, "interval", minutes=1, id="housekeeping",
                          replace_existing=True, misfire_grace_time=None)
        # The rule also checks itself every minute against the month it last ran in, so a
        # rule that fell due while no worker ran starts once when one is back.
        scheduler.add_job(job_monthly_rule, "interval", minutes=1, id="monthly_rule_check",
                          replace_existing=True, misfire_grace_time=None)
        if scheduler.get_job("daily") is None:
            # Kept when stored: a run missed while the scheduler was down or dead (its next
            # run time is past) then runs at once.
            scheduler.add_job(job_daily, CronTrigger(hour=3, minute=17, timezone=self.zone),
                              id="daily", misfire_grace_time=None)
        # Webhooks wait at most a few seconds; a batch is small and each request times out.
        scheduler.add_job(job_send_webhooks, "interval", seconds=5, id="send_webhooks",
                          replace_existing=True, misfire_grace_time=None)
        scheduler.add_job(job_sync_rule, "interval", minutes=1, id="sync_rule",
                          replace_existing=True, misfire_grace_time=None)
        self._rule = None
        self.sync_rule()
        log.info("scheduler started", extra={"fields": {"holder": self.holder}})
        if self.on_change:
            self.on_change(True)

    def retry_later(self, name: str) -> None:
        """Run a failed once-a-day job again in RETRY_AFTER (jobs on an interval simply run
        again at their next interval, the monthly rule at its minutely check)."""
        function = {"daily": job_daily}.get(name)
        scheduler = self.scheduler
        if function is None or scheduler is None:
            return
        try:
            scheduler.add_job(function, "date", run_date=datetime.now(self.zone) + RETRY_AFTER,
                              id=f"{name}_retry", replace_existing=True, misfire_grace_time=None)
        except Exception:
            log.exception("scheduled job could not be set to run again",
                          extra={"fields": {"job": name}})

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
        scheduler, self.scheduler = self.scheduler, None
        if scheduler is not None:
            try:
                scheduler.shutdown(wait=False)
            except Exception:  # a half-started or already stopped scheduler
                log.warning("scheduler did not shut down cleanly", exc_info=True)
        self.started_at = None
        if _current is self:
            _current = None
        if self.on_change:
            self.on_change(False)

    def _release(self) -> None:
        self.held_until = None
        try:
            lease.release(self.sessions, self.holder)
        except SQLAlchemyError:  # it lapses by itself within LEASE_TTL
            log.warning("scheduler lease not released", exc_info=True)

    def close(self) -> None:
        self._stop()
        self._release()


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
