from __future__ import annotations

from pathlib import Path

import click
from flask.cli import with_appcontext

from emails import MAX_HTML_BYTES
from webapp import db
from webapp.config import current_settings
from webapp.editions.previews import PreviewError, render_preview, send_test
from webapp.editions.records import EditionError


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


@click.command("preview")
@click.argument("month")
@click.option("--topics", help="Comma-separated topic slugs; default: every topic.")
@click.option("--lang", "language", type=click.Choice(["zh-CN", "en"]), default="zh-CN")
@click.option("--layout", type=click.Choice(["auto", "full", "digest"]),
              help="Preview this layout instead of the edition's own choice.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the HTML part.")
@click.option("--eml", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the whole message as an .eml file.")
@with_appcontext
def preview_command(
    month: str,
    topics: str | None,
    language: str,
    layout: str | None,
    out: Path,
    eml: Path | None,
) -> None:
    """Write the email a reader of these topics would get for MONTH (YYYY-MM)."""
    try:
        preview = render_preview(
            db.session(), current_settings(), month, topics=topics, language=language,
            layout=layout,
        )
    except PreviewError as error:
        raise click.ClickException(str(error)) from None
    _write(out, preview.message.html.encode())
    if eml is not None:
        _write(eml, preview.message.to_bytes())
    variant = preview.variant
    click.echo(f"variant {variant.key}: {len(variant.item_ids)} items, {variant.layout} layout")
    click.echo(f"subject: {preview.message.subject}")
    click.echo(
        f"HTML: {preview.html_bytes:,} bytes, {preview.sent_html_bytes:,} as sent "
        f"({preview.html_encoding}); limit {MAX_HTML_BYTES:,} as sent, "
        f"at most {variant.max_sent_html_bytes:,} for any reader"
    )
    if variant.shortened:
        click.echo(f"shortened to fit: items {', '.join(map(str, variant.shortened))}")
    click.echo(f"written to {out}" + (f" and {eml}" if eml else ""))


@click.command("test-send")
@click.argument("month")
@click.option("--to", "to", multiple=True, required=True, help="An address; repeat for more.")
@click.option("--topics", help="Comma-separated topic slugs; default: every topic.")
@click.option("--lang", "language", type=click.Choice(["zh-CN", "en"]), default="zh-CN")
@with_appcontext
def test_send_command(month: str, to: tuple[str, ...], topics: str | None, language: str) -> None:
    """Send MONTH's edition as a test (marked subject; not a delivery, not in stats)."""
    session = db.session()
    try:
        records = send_test(
            session, current_settings(), month, list(to), topics=topics, language=language
        )
    except (PreviewError, EditionError) as error:
        session.rollback()
        raise click.ClickException(str(error)) from None
    session.commit()
    failed = [r for r in records if r.error]
    for record in records:
        outcome = f"failed: {record.error}" if record.error else f"sent ({record.message_id})"
        click.echo(f"{record.to_address}: {outcome}")
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(records)} test messages failed")
