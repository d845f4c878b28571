from __future__ import annotations

import click
from flask.cli import AppGroup

from webapp import db
from webapp.config import current_settings
from webapp.readers.subscriptions import purge_unconfirmed, resume_ended_pauses


@click.group("housekeeping", cls=AppGroup, help="Routine clean-up (the scheduler runs it daily).")
def housekeeping_group() -> None:
    pass


@housekeeping_group.command("purge-unconfirmed")
@click.option(
    "--days",
    type=click.IntRange(min=0),
    default=None,
    help="Age in days (default: UNCONFIRMED_RETENTION_DAYS).",
)
def purge_unconfirmed_command(days: int | None) -> None:
    """Delete readers who never confirmed their subscription, with their ledger entries."""
    age = current_settings().unconfirmed_retention_days if days is None else days
    session = db.session()
    count = purge_unconfirmed(session, age)
    session.commit()
    click.echo(f"{count} unconfirmed reader(s) older than {age} day(s) deleted")


@housekeeping_group.command("resume-paused")
def resume_paused_command() -> None:
    """Make readers whose pause has ended active again."""
    session = db.session()
    count = resume_ended_pauses(session)
    session.commit()
    click.echo(f"{count} paused reader(s) resumed")
