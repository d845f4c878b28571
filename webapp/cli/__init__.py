"""The `yuebao` command: a Flask CLI group over `create_app`."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup, ScriptInfo

WORKER = "worker"


def init_app(app: Flask) -> None:
    from webapp.cli import (
        api_keys,
        backup,
        content,
        database,
        demo,
        editions,
        housekeeping,
        sending,
        stats,
        subscribers,
        translation,
        users,
        worker,
    )

    for command in (
        database.db_group,
        backup.backup_command,
        backup.restore_command,
        users.users_group,
        api_keys.api_keys_group,
        content.import_report_command,
        editions.preview_command,
        editions.test_send_command,
        translation.translate_command,
        sending.approve_command,
        sending.send_command,
        sending.send_status_command,
        sending.unschedule_command,
        sending.pause_command,
        sending.resume_command,
        sending.cancel_command,
        sending.in_doubt_command,
        sending.schedule_rule_command,
        subscribers.subscribers_group,
        demo.demo_group,
        housekeeping.housekeeping_group,
        worker.worker_command,
        stats.stats_command,
    ):
        app.cli.add_command(command)


def init_worker(app: Flask) -> None:
    """The worker's application has its own command only (`create_app(web=False)`)."""
    from webapp.cli import worker

    app.cli.add_command(worker.worker_command)


def _create_app() -> Flask:
    from webapp import create_app

    return create_app()


def _create_worker_app() -> Flask:
    from webapp import create_app

    return create_app(web=False)


class YuebaoGroup(FlaskGroup):
    """`yuebao worker` runs on an application without the web pages (a worker serves none, and
    what only pages import would stay resident in it for days); every other command, and the
    help, get the whole application."""

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == WORKER:
            ctx.ensure_object(ScriptInfo).create_app = _create_worker_app
        return super().get_command(ctx, name)


main = YuebaoGroup(
    name="yuebao",
    create_app=_create_app,
    help="yuebao — monthly report newsletter: database, content, readers and sending.",
)
