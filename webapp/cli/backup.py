from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy.orm import Session, sessionmaker

from webapp import migrate
from webapp.backup import BackupError, backup, backup_taken_at, restore
from webapp.config import current_settings
from webapp.db import database, make_engine
from webapp.delivery.jobs import index_older_files
from webapp.readers.erasure_journal import JournalError, journal_path, read_journal
from webapp.readers.own_data import reapply_erasures


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_command(path: Path) -> None:
    """Write a backup of the database to PATH (a new file), while yuebao keeps running.

    SQLite: the online backup API. PostgreSQL: pg_dump -Fc."""
    try:
        result = backup(current_settings().database_url, path)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backup written to {result.path} ({result.method}, {result.size:,} bytes), "
               f"taken at {result.taken_at:%Y-%m-%d %H:%M:%S} UTC")


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--journal", "journals", multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Erasure journal to re-apply (repeatable; default: the one under "
                   "YUEBAO_VAR_DIR). Give each web machine's journal.")
@with_appcontext
def restore_command(path: Path, journals: tuple[Path, ...]) -> None:
    """Restore the backup at PATH into the configured database, which must be empty, then
    erase again the readers erased after the backup was taken.

    Stop the web and worker processes first."""
    settings = current_settings()
    url = settings.database_url
    try:
        # Read before anything changes: a journal that cannot be read refuses the restore.
        entries = [e for j in journals or (journal_path(settings.var_dir),)
                   for e in read_journal(j)]
        database().engine.dispose()
        method = restore(url, path)
    except (BackupError, JournalError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"restored {path} ({method})")
    migrate.upgrade(url)  # a backup from an older version gets this version's schema
    engine = make_engine(url)
    try:
        since = backup_taken_at(engine)
        # The restored index of outbox files lacks those written since the backup: index them
        # while the restored readers still have their addresses, so that the erasures applied
        # again below redact them too.
        index_older_files(sessionmaker(engine), Path(settings.outbox_dir))
        with Session(engine) as session:
            result = reapply_erasures(session, settings, sorted(entries, key=lambda e: e.at),
                                      since)
            session.commit()
    finally:
        engine.dispose()
    taken = f"taken at {since:%Y-%m-%d %H:%M:%S} UTC" if since else "of unknown date"
    click.echo(f"backup {taken}; erasures re-applied from the journal: {result.erased} "
               f"reader(s) erased again, {result.suppressed} address hash(es) suppressed, "
               f"{result.skipped} already erased")
