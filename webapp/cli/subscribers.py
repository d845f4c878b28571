from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from webapp import db
from webapp.config import current_settings
from webapp.readers.csv_values import Attestation, ConsentBasis
from webapp.readers.subscribers_csv import (
    CsvImportError,
    ImportOptions,
    export_subscribers_csv,
    import_subscribers_csv,
)


@click.group("subscribers", cls=AppGroup, help="Readers: CSV import and export.")
def subscribers_group() -> None:
    pass


def read_csv_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")  # Excel writes a BOM
    except UnicodeDecodeError as error:
        raise click.ClickException(
            f"{path}: not UTF-8 text (byte {error.start}); save the file as CSV UTF-8"
        ) from None


@subscribers_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows, report the others.")
@click.option(
    "--consent",
    "basis",
    type=click.Choice([b.value for b in ConsentBasis]),
    required=True,
    help="How the readers agreed: asked (they asked to subscribe, by a form or an email), "
    "clients (existing clients who agreed in writing) or other (say how in --consent-note).",
)
@click.option("--consent-note", default="", help="How they agreed, in your words.")
@click.option(
    "--all-topics", is_flag=True, help="Give readers without topics every topic (else refused)."
)
def import_command(
    path: Path, skip_invalid: bool, basis: str, consent_note: str, all_topics: bool
) -> None:
    """Import readers from a CSV file with columns email,name,topics,language,status."""
    try:
        attestation = Attestation.of(basis, consent_note)
    except ValueError:
        raise click.BadParameter("say how they agreed", param_hint="--consent-note") from None
    session = db.session()
    try:
        result = import_subscribers_csv(
            session,
            read_csv_text(path),
            erasure_key=current_settings().erasure_key,
            options=ImportOptions(attestation, all_topics=all_topics),
            skip_invalid=skip_invalid,
        )
    except CsvImportError as error:
        session.rollback()
        for problem in error.errors:
            click.echo(f"{path}:{problem.line}: {problem.message}", err=True)
        if error.whole_file:
            raise click.ClickException(
                "the file cannot be read as it is; nothing imported"
            ) from None
        raise click.ClickException(
            f"{len(error.errors)} invalid row(s); nothing imported "
            "(fix them, or use --skip-invalid to import the valid rows)"
        ) from None
    session.commit()
    for problem in result.skipped:
        click.echo(f"{path}:{problem.line}: skipped: {problem.message}", err=True)
    click.echo(f"{result.created} created, {result.updated} updated, {len(result.skipped)} skipped")


@subscribers_group.command("export")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Default: stdout.")
def export_command(out: Path | None) -> None:
    """Export every reader (all statuses) as CSV."""
    session = db.session()
    if out is None:
        export_subscribers_csv(session, sys.stdout)
        return
    tmp = out.with_name(out.name + ".tmp")
    # utf-8-sig so spreadsheet programs open the Chinese names correctly.
    with open(tmp, "w", encoding="utf-8-sig", newline="") as handle:
        count = export_subscribers_csv(session, handle)
    tmp.replace(out)
    click.echo(f"{count} readers written to {out}", err=True)
