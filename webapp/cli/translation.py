from __future__ import annotations

import click
from flask.cli import with_appcontext

from webapp import db
from webapp.config import current_settings
from webapp.editions.drafts import DraftUnit, TranslationOff, draft_english, plan_drafts
from webapp.editions.machine_translation import (
    PRICE_PER_MILLION_CHARACTERS_USD,
    Translator,
    translate_client,
)
from webapp.editions.records import EditionError, EditionLocked, get_edition


@click.command("translate")
@click.argument("month")
@click.option("--yes", is_flag=True, help="Do not ask before sending the texts.")
@with_appcontext
def translate_command(month: str, yes: bool) -> None:
    """Draft English for MONTH's untranslated items through Amazon Translate.

    Shows the characters and the estimated cost first. The drafts are machine drafts: an
    editor accepts or edits each in the console before the edition can be approved.
    """
    settings = current_settings()
    if settings.translate != "aws":
        raise click.ClickException(str(TranslationOff()))
    session = db.session()
    edition = get_edition(session, month)
    if edition is None:
        raise click.ClickException(f"there is no edition for {month}")
    if not edition.editable:
        raise click.ClickException(str(EditionLocked(edition)))
    plan = plan_drafts(edition)
    session.rollback()
    if not plan.units:
        click.echo(f"nothing to translate: every text of {month} has English text or a draft")
        return
    click.echo(
        f"{plan.items} item(s) and {plan.edition_texts} edition text(s) without English: "
        f"{plan.characters} characters, estimated cost US${plan.cost_usd} "
        f"(Amazon Translate standard, US${PRICE_PER_MILLION_CHARACTERS_USD} per million "
        f"characters; an estimate)"
    )
    if not yes:
        click.confirm("Send them to Amazon Translate?", abort=True)

    def announce(unit: DraftUnit, failure: str | None) -> None:
        if failure is not None:
            click.echo(f"  not drafted: {unit.label[:60]} — {failure}", err=True)

    translator = Translator(translate_client(settings),
                            terminology=settings.translate_terminology)
    try:
        run = draft_english(db.database().sessionmaker, month, translator, actor="cli",
                            scope=plan.scope, announce=announce)
    except EditionError as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"{run.items} item(s) and {run.edition_texts} edition text(s) drafted "
        f"({run.characters} characters); {len(run.failed)} failed, "
        f"{len(run.changed)} changed meanwhile and left as they are. Accept or edit the "
        f"drafts in the editor before approving."
    )
    if run.stopped:
        raise click.ClickException(f"Amazon Translate stopped the run: {run.stopped}")
    if run.failed:
        raise click.ClickException(f"{len(run.failed)} item(s) could not be drafted (above)")
