from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import click
from flask.cli import with_appcontext

from webapp import db
from webapp.config import current_settings
from webapp.delivery import sending
from webapp.delivery.engine import RunResult
from webapp.delivery.heartbeat import Heartbeat
from webapp.delivery.in_doubt import resolve_in_doubt
from webapp.delivery.locks import WorkerLockHeld, worker_lock
from webapp.delivery.outages import DatabaseLost
from webapp.delivery.runner import EngineUnavailable, build_engine, worker_name
from webapp.delivery.sending import (
    SendError,
    UntranslatedForEnglishReaders,
    first_month,
    set_schedule_rule,
)
from webapp.editions.records import EditionError
from webapp.models import Edition, EditionStatus, utcnow
from webapp.stats.progress import send_progress

MONTH = click.argument("month")


def _edition(month: str) -> Edition:
    try:
        return sending.load_edition(db.session(), month)
    except SendError as error:
        raise click.ClickException(str(error)) from None


def _commit_or_fail(action: str) -> None:
    try:
        db.session().commit()
    except Exception:
        db.session().rollback()
        raise
    click.echo(action)


@click.command("approve")
@MONTH
@click.option("--allow-untranslated", is_flag=True,
              help="Approve although English readers would get items in Chinese (marked).")
@with_appcontext
def approve_command(month: str, allow_untranslated: bool) -> None:
    """Approve MONTH's edition for sending."""
    edition = _edition(month)
    try:
        sending.approve(
            db.session(), edition, actor="cli", allow_untranslated=allow_untranslated
        )
    except UntranslatedForEnglishReaders as error:
        raise click.ClickException(
            f"{error}. Give the items English text, leave untranslated items out of English "
            f"editions in the editor, or approve with --allow-untranslated"
        ) from None
    except (SendError, EditionError) as error:
        raise click.ClickException(str(error)) from None
    _commit_or_fail(f"{month} approved")


def _parse_at(value: str) -> datetime:
    zone = ZoneInfo(current_settings().timezone)
    try:
        local = datetime.strptime(value, "%Y-%m-%d %H:%M")
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD HH:MM", param_hint="--at") from None
    return local.replace(tzinfo=zone)


@click.command("send")
@MONTH
@click.option("--now", "now", is_flag=True, help="Start sending now (the default).")
@click.option("--at", "at", help="Send at this local time (TIMEZONE): 'YYYY-MM-DD HH:MM'.")
@click.option("--wait", is_flag=True, help="Run the send to the end here, with a progress bar.")
@with_appcontext
def send_command(month: str, now: bool, at: str | None, wait: bool) -> None:
    """Plan and start (or schedule) MONTH's approved edition."""
    if now and at:
        raise click.UsageError("give --now or --at, not both")
    session = db.session()
    edition = _edition(month)
    try:
        if at:
            when = _parse_at(at)
            sending.schedule(session, edition, when, actor="cli")
            session.commit()
            click.echo(f"{month} scheduled for {when:%Y-%m-%d %H:%M %Z}")
            return
        plan = sending.start_send(session, edition, actor="cli")
    except SendError as error:
        session.rollback()
        raise click.ClickException(str(error)) from None
    session.commit()
    click.echo(
        f"{month}: {plan.planned} deliveries planned; excluded {plan.excluded} "
        f"(no matching items {plan.excluded_no_match}, suppressed "
        f"{plan.excluded_suppressed}, paused {plan.excluded_paused}, only untranslated items "
        f"{plan.excluded_untranslated})"
    )
    if wait:
        _wait(edition.id, plan.planned)


def _wait(edition_id: int, planned: int) -> None:
    """Send in this process; if a worker already holds the send (SQLite), follow it."""
    settings = current_settings()
    sessions = db.database().sessionmaker
    name = worker_name()
    try:
        with worker_lock(settings.database_url), Heartbeat(sessions, name) as heartbeat, \
                click.progressbar(length=planned, label="sending", show_pos=True) as bar:
            done = 0

            def progress(result: RunResult) -> None:
                nonlocal done
                settled = result.sent + result.failed + result.skipped + result.in_doubt
                bar.update(settled - done)
                done = settled

            engine = build_engine(settings, sessions, stop=threading.Event(), on_progress=progress,
                                  heartbeat=heartbeat, worker=name)
            outcome = engine.run(edition_id)
    except WorkerLockHeld:
        click.echo("a running worker holds this send; following its progress")
        _follow(edition_id)
        return
    except EngineUnavailable as error:
        raise click.ClickException(f"{error}; the worker will send when SES answers") from None
    except DatabaseLost as error:
        raise click.ClickException(f"{error}; a worker will send the rest") from None
    if outcome.paused_reason:
        click.echo(f"paused: {outcome.paused_reason}")
    _print_status(edition_id)


def _follow(edition_id: int) -> None:
    while True:
        session = db.session()
        session.expire_all()
        edition = session.get(Edition, edition_id)
        assert edition is not None  # nosec B101: narrows the type; the row was read a moment ago
        progress = send_progress(session, edition)
        click.echo(
            f"\r{progress['sent']}/{progress['planned']} sent, {progress['failed']} failed",
            nl=False,
        )
        if edition.status != EditionStatus.SENDING or not (
            progress["queued"] or progress["sending"]
        ):
            click.echo()
            break
        session.rollback()  # never wait with a transaction open
        time.sleep(1)
    _print_status(edition_id)


def _print_status(edition_id: int) -> None:
    session = db.session()
    session.expire_all()
    edition = session.get(Edition, edition_id)
    assert edition is not None  # nosec B101: narrows the type; the caller read the row
    p = send_progress(session, edition)
    click.echo(
        f"{p['month']} {p['status']}: {p['sent']} sent, {p['failed']} failed, "
        f"{p['skipped']} skipped, {p['in_doubt']} in doubt, {p['sending']} sending, "
        f"{p['queued']} queued of {p['planned']} planned"
    )
    if p["status"] in ("sending", "paused"):
        eta = "unknown" if p["eta_s"] is None else f"{p['eta_s']} s"
        click.echo(f"elapsed {p['elapsed_s']} s, {p['rate_now_per_min']} a minute now, "
                   f"time left {eta}")
    if p["in_doubt"]:
        click.echo(f"{p['in_doubt']} in doubt: see `yuebao in-doubt {p['month']}`")


@click.command("send-status")
@MONTH
@click.option("--json", "as_json", is_flag=True, help="Print DESIGN.md's progress JSON.")
@with_appcontext
def send_status_command(month: str, as_json: bool) -> None:
    """Show how MONTH's send is going."""
    edition = _edition(month)
    if as_json:
        click.echo(json.dumps(send_progress(db.session(), edition)))
    else:
        _print_status(edition.id)


@click.command("unschedule")
@MONTH
@with_appcontext
def unschedule_command(month: str) -> None:
    """Take MONTH's scheduled edition off the schedule; it is approved again."""
    edition = _edition(month)
    try:
        sending.unschedule(db.session(), edition, actor="cli")
    except SendError as error:
        db.session().rollback()
        raise click.ClickException(str(error)) from None
    _commit_or_fail(f"{month} unscheduled; it is approved again")


def _control(name: str, action: str) -> click.Command:
    @click.command(name, help=f"{action.capitalize()} MONTH's send.")
    @MONTH
    @with_appcontext
    def command(month: str) -> None:
        edition = _edition(month)
        operation = {"pause": sending.pause, "resume": sending.resume}.get(name)
        try:
            if operation is not None:
                operation(db.session(), edition, actor="cli")
                _commit_or_fail(f"{month} {action}d")
            else:
                skipped = sending.cancel(db.session(), edition, actor="cli")
                _commit_or_fail(f"{month} cancelled; {skipped} unsent deliveries skipped")
        except SendError as error:
            db.session().rollback()
            raise click.ClickException(str(error)) from None

    return command


pause_command = _control("pause", "pause")
resume_command = _control("resume", "resume")
cancel_command = _control("cancel", "cancel")


@click.command("in-doubt")
@MONTH
@click.option("--resend", "choice", flag_value="resend", help="Queue them to be sent again.")
@click.option("--mark-sent", "choice", flag_value="mark-sent", help="Record them as sent.")
@with_appcontext
def in_doubt_command(month: str, choice: str | None) -> None:
    """Show, or resolve, MONTH's deliveries whose fate the mail service never confirmed."""
    edition = _edition(month)
    session = db.session()
    count = sending.delivery_counts(session, edition.id)["in_doubt"]
    if choice is None:
        click.echo(f"{month}: {count} deliveries in doubt")
        if count:
            click.echo("choose --resend (a reader may get it twice) or --mark-sent (a reader "
                       "may miss it); check SES's sending statistics first")
        return
    resolved = resolve_in_doubt(session, edition, resend=choice == "resend", actor="cli")
    _commit_or_fail(f"{month}: {resolved} deliveries " + (
        "queued to be sent again" if choice == "resend" else "marked sent"))


@click.command("schedule-rule")
@click.option("--day", type=click.IntRange(1, 28), help="Day of the month (1–28).")
@click.option("--time", "at", help="HH:MM in TIMEZONE.")
@click.option("--off", is_flag=True, help="Switch the monthly rule off.")
@click.option("--this-month", is_flag=True,
              help="Send this month too, even if the day has passed (once a month still).")
@with_appcontext
def schedule_rule_command(day: int | None, at: str | None, off: bool, this_month: bool) -> None:
    """Every month, send the newest approved edition on --day at --time.

    A rule set after this month's day starts next month, unless --this-month."""
    session = db.session()
    zone = ZoneInfo(current_settings().timezone)
    now = utcnow()
    try:
        rule = set_schedule_rule(session, day=day, time=at, enabled=not off, actor="cli",
                                 zone=zone, now=now, this_month=this_month)
    except SendError as error:
        raise click.ClickException(str(error)) from None
    _commit_or_fail(
        "monthly rule off" if not rule.enabled
        else f"every month on day {rule.day} at {rule.time} ({current_settings().timezone}), "
        f"starting {first_month(rule, zone, now)}"
    )
