"""`yuebao stats MONTH [--json]`: one edition's send progress and what its readers did."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from webapp import db
from webapp.delivery.sending import SendError, load_edition
from webapp.stats.figures import stats_json


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@click.command("stats")
@click.argument("month")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print DESIGN.md's send-progress JSON shape with the event figures added.",
)
@with_appcontext
def stats_command(month: str, as_json: bool) -> None:
    """Delivery stats of MONTH's edition (YYYY-MM)."""
    session = db.session()
    try:
        edition = load_edition(session, month)
    except SendError as error:
        raise click.ClickException(str(error)) from None
    data = stats_json(session, edition)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    rates = data["rates"]
    click.echo(f"{data['month']}  {data['status']}")
    click.echo(
        f"planned {data['planned']}  sent {data['sent']}  failed {data['failed']}  "
        f"skipped {data['skipped']}  queued {data['queued']}  in doubt {data['in_doubt']}"
    )
    lines = [
        ("delivered", data["delivered"], rates["delivered"]),
        ("bounced (hard)", data["hard_bounced"], rates["hard_bounced"]),
        ("bounced (soft)", data["soft_bounced"], rates["soft_bounced"]),
        ("complaints", data["complained"], rates["complained"]),
        ("unique opens (approximate)", data["unique_opens"], rates["opened"]),
        ("unique clicks", data["unique_clicks"], rates["clicked"]),
        ("unsubscribes", data["unsubscribed"], rates["unsubscribed"]),
    ]
    for label, count, rate in lines:
        click.echo(f"  {label:<28}{count:>8}  {_percent(rate):>7}")
