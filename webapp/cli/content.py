from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import with_appcontext

from webapp import db
from webapp.editions.importer.errors import (
    MAX_REPORT_BYTES,
    ReportFormatError,
    ReportIncomplete,
    ReportTooLarge,
)
from webapp.editions.importer.parser import ParsedReport
from webapp.editions.importer.reading import ReadReport
from webapp.editions.importer.reading import read_report as read_report_data
from webapp.editions.importer.sources import read_limited
from webapp.editions.records import (
    EditionError,
    EditionExists,
    import_report,
    suggest_report_topics,
)
from webapp.plain_text import UnsafeText, check_text


def read_report_path(path: Path, month: str | None) -> ReadReport:
    """Read and parse a report file (PDF, Word or text, told by its content); a file too large
    is refused before it is read."""
    if path.stat().st_size > MAX_REPORT_BYTES:
        raise ReportTooLarge
    with path.open("rb") as handle:
        return read_report_data(read_limited(handle), month=month)


def read_report(path: Path, month: str | None) -> ParsedReport:
    """The parsed report of a file; ReportFormatError when it cannot be read."""
    return read_report_path(path, month).report


@click.command("import-report")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--month", help="YYYY-MM; by default the month in the report's header.")
@click.option("--dry-run", is_flag=True, help="Parse and suggest topics; store nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the parsed report as JSON.")
@click.option("--replace", is_flag=True, help="Replace the month's draft or approved edition.")
@click.option(
    "--allow-incomplete",
    metavar="REASON",
    help="Import even when the table of contents lists parts the report lacks; the reason "
    "is kept in the audit log.",
)
@with_appcontext
def import_report_command(
    path: Path,
    month: str | None,
    dry_run: bool,
    as_json: bool,
    replace: bool,
    allow_incomplete: str | None,
) -> None:
    """Import a monthly report (PDF, Word .docx or text) as a draft edition."""
    session = db.session()
    try:
        check_text(allow_incomplete or "")
        read = read_report_path(path, month)
        suggested = suggest_report_topics(session, read.report)
        if dry_run and suggested.report.missing and not (allow_incomplete or "").strip():
            raise ReportIncomplete(suggested.report.missing)
        if not dry_run:
            edition = import_report(
                session,
                suggested,
                replace=replace,
                allow_incomplete=allow_incomplete,
                cleanups=read.cleanups,
            )
    except EditionExists as error:
        session.rollback()
        raise click.ClickException(f"{path}: {error}; use --replace to replace it") from None
    except ReportIncomplete as error:
        session.rollback()
        for part in error.missing:
            click.echo(f"{path}: missing: {part}", err=True)
        raise click.ClickException(
            f"{path}: the table of contents lists {len(error.missing)} part(s) the report "
            "lacks, so it may have been cut short; nothing imported (use --allow-incomplete "
            "REASON to import it anyway)"
        ) from None
    except UnsafeText as error:
        raise click.ClickException(f"--allow-incomplete: {error}") from None
    except (ReportFormatError, EditionError) as error:
        session.rollback()
        raise click.ClickException(f"{path}: {error}") from None
    if not dry_run:
        session.commit()
    for part in suggested.report.missing:  # only here when a reason allowed it
        click.echo(f"{path}: missing, allowed by --allow-incomplete: {part}", err=True)
    if as_json:
        click.echo(json.dumps(suggested.as_json(), ensure_ascii=False, indent=2))
        return
    for key, item, topics in suggested.items():
        click.echo(f"[{key}] {item.published_on} {item.title}  ({', '.join(topics) or '-'})")
    total = len(suggested.items())
    report = suggested.report
    if dry_run:
        click.echo(f"{report.month}: {total} items parsed (dry run, nothing stored)")
    else:
        click.echo(f"{report.month}: {total} items imported as a draft edition (#{edition.id})")
