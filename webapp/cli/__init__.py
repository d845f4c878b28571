"""The `yuebao` command: a Flask CLI group over `create_app`."""

from __future__ import annotations

from flask import Flask
from flask.cli import FlaskGroup


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


def _create_app() -> Flask:
    from webapp import create_app

    return create_app()


main = FlaskGroup(
    name="yuebao",
    create_app=_create_app,
    help="yuebao — monthly report newsletter: database, content, readers and sending.",
)
