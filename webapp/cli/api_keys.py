"""`yuebao api-keys`: make, list and revoke the keys of /api/v1."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from webapp import db
from webapp.accounts.api_keys import ApiKeyError, create_api_key, list_api_keys, revoke_api_key
from webapp.models import SCOPES, ApiKey, utcnow


@click.group("api-keys", cls=AppGroup, help="Keys for the REST API (/api/v1).")
def api_keys_group() -> None:
    pass


@api_keys_group.command("create")
@click.option("--name", required=True, help="What the key is for, e.g. the system using it.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(SCOPES),
    help="A scope the key has; repeat for several.",
)
def create(name: str, scopes: tuple[str, ...]) -> None:
    """Make a key and print it, this once: only its digest is kept."""
    session = db.session()
    try:
        made = create_api_key(session, name, scopes, actor="cli", now=utcnow())
    except ApiKeyError as error:
        raise click.ClickException(str(error)) from None
    session.commit()
    click.echo(f"created key {made.row.id} ({made.row.name}): {' '.join(made.row.scopes)}")
    click.echo("the key, shown only this once:")
    click.echo(made.key)


@api_keys_group.command("list")
def list_() -> None:
    """List keys: id, prefix, name, scopes, state, last used."""
    for key in list_api_keys(db.session()):
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never used"
        click.echo(
            f"{key.id}\tyb_{key.prefix}_…\t{key.name}\t{','.join(key.scopes)}\t{state}\t{used}"
        )


@api_keys_group.command("revoke")
@click.argument("key_id", type=int)
def revoke(key_id: int) -> None:
    """Refuse the key from now on."""
    session = db.session()
    key = session.get(ApiKey, key_id)
    if key is None:
        raise click.ClickException(f"no key with id {key_id}")
    try:
        revoke_api_key(session, key, actor="cli", now=utcnow())
    except ApiKeyError as error:
        raise click.ClickException(str(error)) from None
    session.commit()
    click.echo(f"revoked key {key.id} ({key.name})")
